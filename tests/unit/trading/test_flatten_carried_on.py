"""A flatten (or a manual close) that has to wait is carried on by tracking, not dropped.

A flatten sells nothing while a cancel is unconfirmed (the order could still sell too). It used to end there:
the trader saw ``exit.cancel_unconfirmed`` and the position stayed, its protection cancelled. Now the request
stays on the position (``exit_requested``) and each tracking cycle carries it on once nothing it waits for is
pending; a signal exit is the strategy's, and is decided again by its next run instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from tests.unit.trading.trading_world import World

from ibflow.core import faultpoints
from ibflow.db.states import OrderRole, OrderState
from ibflow.trading.positions.exits import ExitStatus

_MINUTE = timedelta(minutes=1)


pytestmark = pytest.mark.usefixtures("retries_on_clock")


def _held_with_an_unconfirmable_stop(world: World) -> tuple[int, int]:
    strategy_id = world.strategy()
    result, _intent = world.enter(strategy_id, world.plan("target", quiet=timedelta(hours=3)))
    world.advance(2 * _MINUTE)
    world.track()
    assert world.held(strategy_id) > 0
    stop_id = result.order_ids[1]
    stop = world.order(stop_id).broker_order_id or ""
    world.broker.hide_from_live_orders({stop})  # the gateway in trouble: a cancel cannot be seen
    world.broker.status_unreadable({stop})
    return strategy_id, stop_id


def test_a_flatten_that_must_wait_is_finished_by_tracking(world: World) -> None:
    strategy_id, stop_id = _held_with_an_unconfirmable_stop(world)

    result = world.flatten()

    [exit_result] = result.exits
    assert exit_result.status is ExitStatus.CANCEL_UNCONFIRMED
    position = world.position(strategy_id)
    assert position is not None
    assert position.exit_requested == "flatten"
    assert world.broker_held() > 0

    world.advance(_MINUTE)
    world.track()  # still waiting on the stop's cancel: nothing sold
    assert world.orders(OrderRole.EXIT) == []

    world.broker.hide_from_live_orders(set())  # the gateway is back: the stop shows cancelled
    world.broker.status_unreadable(set())
    world.advance(_MINUTE)
    world.track()

    assert world.order(stop_id).state is OrderState.CANCELLED
    [sale] = world.orders(OrderRole.EXIT)
    assert sale.state is OrderState.FILLED
    assert world.held(strategy_id) == 0 == world.broker_held()
    position = world.position(strategy_id)
    assert position is not None
    assert position.exit_requested is None


def test_a_signal_exit_that_must_wait_is_not_carried_on(world: World) -> None:
    strategy_id, _stop_id = _held_with_an_unconfirmable_stop(world)

    result = world.exit(strategy_id)

    assert result.status is ExitStatus.CANCEL_UNCONFIRMED
    position = world.position(strategy_id)
    assert position is not None
    assert position.exit_requested is None
    world.broker.hide_from_live_orders(set())
    world.broker.status_unreadable(set())
    world.advance(_MINUTE)
    world.track()
    assert world.orders(OrderRole.EXIT) == []  # the strategy's next run decides again
    assert world.broker_held() > 0


class _Crash(BaseException):
    """Stands for SIGKILL at a crash point: what was committed stays, nothing after it runs."""


@pytest.fixture
def crash_at() -> Iterator[list[str]]:
    """Crash at the fault points put in the list (each once)."""
    armed: list[str] = []

    def handler(name: str) -> None:
        if name in armed:
            armed.remove(name)
            raise _Crash(name)

    faultpoints.install_handler(handler)
    yield armed
    faultpoints.install_handler(None)


def test_a_flatten_a_crash_cut_off_after_its_cancels_is_finished_by_tracking_after_the_restart(
    world: World, crash_at: list[str]
) -> None:
    # Found by the simulation's soak (seed 600562803): the cancels were confirmed, the process died before
    # the sell, and the position sat unprotected for three days until someone flattened again.
    strategy_id = world.strategy()
    world.enter(strategy_id, world.plan("target", quiet=timedelta(hours=3)))
    world.advance(2 * _MINUTE)
    world.track()
    held = world.held(strategy_id)
    assert held > 0

    crash_at.append(faultpoints.EXIT_AFTER_CANCELS)
    with pytest.raises(_Crash):
        world.flatten()
    assert world.broker_held() == held  # cut off: protection cancelled, nothing sold
    assert world.orders(OrderRole.EXIT) == []
    position = world.position(strategy_id)
    assert position is not None
    assert position.exit_requested == "flatten"  # remembered before anything was cancelled

    world.advance(timedelta(days=3))
    world.reconcile()  # the restart
    world.advance(_MINUTE)
    world.track()

    [sale] = world.orders(OrderRole.EXIT)
    assert sale.quantity == held
    assert world.held(strategy_id) == 0 == world.broker_held()
    position = world.position(strategy_id)
    assert position is not None
    assert position.exit_requested is None
