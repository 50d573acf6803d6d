"""A flatten or a manual close is remembered on the position before anything is cancelled, and only there.

Found by the simulation's soak (seed 600562803) and an adversarial review of the fix: a crash between the
cancels and the sell forgot the exit, leaving the position with its protection cancelled for days; a request
left on a closed position sold the strategy's next round trip; an exit lost in flight and proven absent
dropped the flatten; and a request waiting on a working exit re-synced the account every cycle.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine
from tests.unit.trading.trading_world import Crash, World, build_world

from ibflow.brokers.paper.faults import Fault
from ibflow.core import faultpoints
from ibflow.core.clock import ManualClock
from ibflow.db.engine import SessionFactory
from ibflow.db.states import OrderRole, OrderState, PositionStatus
from ibflow.trading.positions.exits import ExitStatus

_MINUTE = timedelta(minutes=1)

pytestmark = pytest.mark.usefixtures("retries_on_clock")


def _held(world: World) -> int:
    strategy_id = world.strategy()
    world.enter(strategy_id, world.plan("target", quiet=timedelta(hours=3)))
    world.advance(2 * _MINUTE)
    world.track()
    assert world.held(strategy_id) > 0
    return strategy_id


def _restart_and_track(world: World, downtime: timedelta = timedelta(days=3)) -> None:
    world.advance(downtime)
    world.reconcile()  # the restart
    world.advance(_MINUTE)
    world.track()


def test_a_flatten_a_crash_cut_off_after_its_cancels_is_finished_by_tracking_after_the_restart(
    world: World, crash_at: list[str]
) -> None:
    strategy_id = _held(world)
    held = world.held(strategy_id)

    crash_at.append(faultpoints.EXIT_AFTER_CANCELS)
    with pytest.raises(Crash):
        world.flatten()
    assert world.broker_held() == held  # cut off: protection cancelled, nothing sold
    assert world.orders(OrderRole.EXIT) == []

    _restart_and_track(world)

    [sale] = world.orders(OrderRole.EXIT)
    assert sale.quantity == held
    assert world.held(strategy_id) == 0 == world.broker_held()
    position = world.position(strategy_id)
    assert position is not None
    assert position.exit_requested is None


def test_a_position_the_flattens_own_sync_opened_is_finished_after_a_crash_too(
    world: World, crash_at: list[str]
) -> None:
    strategy_id = world.strategy()
    world.enter(strategy_id, world.plan("target", quiet=timedelta(hours=3)))
    world.advance(2 * _MINUTE)  # the entry fills at the broker; no tracking cycle has applied it

    crash_at.append(faultpoints.EXIT_AFTER_CANCELS)
    with pytest.raises(Crash):
        world.flatten()
    assert world.broker_held() > 0

    _restart_and_track(world)

    assert world.held(strategy_id) == 0 == world.broker_held()


def test_a_position_the_flattens_own_sync_opened_is_finished_after_a_crash_in_its_cancels(
    world: World, crash_at: list[str]
) -> None:
    strategy_id = world.strategy()
    world.enter(strategy_id, world.plan("target", quiet=timedelta(hours=3)))
    world.advance(2 * _MINUTE)  # the entry fills at the broker; no tracking cycle has applied it

    crash_at.append(faultpoints.CANCEL_AFTER_BROKER_CALL)  # the first cancel reached the broker
    with pytest.raises(Crash):
        world.flatten()
    assert world.broker_held() > 0

    _restart_and_track(world, timedelta(minutes=5))  # back before the target (still working) is reached
    assert world.orders(OrderRole.TARGET)[0].state is OrderState.CANCELLED

    assert world.held(strategy_id) == 0 == world.broker_held()


def test_a_manual_close_a_crash_cut_off_after_its_cancels_is_finished_after_the_restart(
    world: World, crash_at: list[str]
) -> None:
    strategy_id = _held(world)

    crash_at.append(faultpoints.EXIT_AFTER_CANCELS)
    with pytest.raises(Crash):
        world.exit(strategy_id, reason="manual")
    assert world.broker_held() > 0

    _restart_and_track(world)

    assert world.held(strategy_id) == 0 == world.broker_held()


def test_a_flatten_of_a_position_its_stop_closed_meanwhile_never_sells_the_next_round_trip(
    world: World,
) -> None:
    strategy_id = world.strategy()
    plan = world.plan("stop", quiet=timedelta(minutes=5))
    world.enter(strategy_id, plan)
    world.advance(2 * _MINUTE)
    world.track()
    assert world.held(strategy_id) > 0
    world.clock.set(plan.hit_at + 2 * _MINUTE)  # the stop filled at the broker; tracking has not seen it yet

    world.flatten()

    position = world.position(strategy_id)
    assert position is not None
    assert position.status is PositionStatus.CLOSED
    assert position.exit_requested is None
    # later, the strategy enters again
    world.enter(strategy_id, world.plan("target", quiet=timedelta(hours=3)))
    world.advance(2 * _MINUTE)
    world.track()
    assert world.orders(OrderRole.EXIT) == []
    assert world.held(strategy_id) > 0


def test_a_flatten_whose_exit_was_lost_in_flight_and_proven_absent_sells_again(world: World) -> None:
    strategy_id = _held(world)

    world.broker.inject(Fault.LOSE_IN_FLIGHT, "place_order")
    [result] = world.flatten().exits
    assert result.status is ExitStatus.UNKNOWN

    for _ in range(4):  # past the grace period: the lost exit is proven absent, and the flatten goes on
        world.advance(timedelta(seconds=61))
        world.track()

    lost, *again = world.orders(OrderRole.EXIT)
    assert lost.state is OrderState.REJECTED
    assert [order.state for order in again] == [OrderState.FILLED]
    assert world.held(strategy_id) == 0 == world.broker_held()


@pytest.fixture
def slow_world(engine: Engine, sessions: SessionFactory, clock: ManualClock) -> World:
    """A market where a market order fills a little each minute."""
    return build_world(engine, sessions, clock, participation=0.0002)


def test_a_close_waiting_on_a_working_exit_costs_no_extra_broker_calls_and_ends_with_it(
    slow_world: World,
) -> None:
    world = slow_world
    strategy_id = world.strategy()
    world.enter(strategy_id, world.plan("target", quiet=timedelta(hours=3)))
    for _ in range(6):
        world.advance(_MINUTE)
        world.track()
    assert world.held(strategy_id) > 0
    assert world.exit(strategy_id).status is ExitStatus.SENT
    assert world.exit(strategy_id, reason="manual").status is ExitStatus.EXIT_PENDING

    costs = []
    for _ in range(30):
        position = world.position(strategy_id)
        assert position is not None
        if position.exit_requested is None:
            break
        before = dict(world.broker.calls)
        world.advance(_MINUTE)
        world.track()
        costs.append(sum(count - before.get(name, 0) for name, count in world.broker.calls.items()))
    before = dict(world.broker.calls)
    world.advance(_MINUTE)
    world.track()
    baseline = sum(count - before.get(name, 0) for name, count in world.broker.calls.items())

    assert costs
    assert max(costs) <= baseline  # waiting is one tracking cycle's reads, no second sync
    assert world.held(strategy_id) == 0 == world.broker_held()
    assert len(world.orders(OrderRole.EXIT)) == 1  # the working exit sold it all: nothing else was sent
