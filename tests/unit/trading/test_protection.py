"""Children always cover exactly what is held: partial fills, expiry, a child part-filling, exits after."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine
from tests.unit.trading.trading_world import ACCOUNT, World, build_world

from ibflow.core.clock import ManualClock
from ibflow.core.ids import BrokerOrderId
from ibflow.db.engine import SessionFactory
from ibflow.db.models import Order
from ibflow.db.states import OrderRole, OrderState
from ibflow.trading.lifecycle.submission import SubmitStatus
from ibflow.trading.positions.exits import ExitStatus

_MINUTE = timedelta(minutes=1)


@pytest.fixture
def world(engine: Engine, sessions: SessionFactory, clock: ManualClock) -> World:
    # A thin market: about 20 shares of AAPL fill a minute at midday, so 100 shares fill in parts.
    return build_world(engine, sessions, clock, participation=0.002)


def _legs(world: World, order_ids: tuple[int, ...]) -> tuple[Order, Order, Order]:
    parent, stop, target = (world.order(order_id) for order_id in order_ids)
    return parent, stop, target


def _covers(world: World, child: Order, held: Decimal) -> bool:
    at_broker = world.broker_order(child.broker_order_id)
    ours = child.quantity - child.filled_quantity
    return ours == held and at_broker.quantity - at_broker.filled_quantity == held


def test_partial_fills_expiry_and_a_child_part_filling_keep_the_children_covering(world: World) -> None:
    strategy_id = world.strategy()
    plan = world.plan("stop", quiet=timedelta(minutes=10))
    world.clock.set(plan.start)
    intent = world.intent(
        strategy_id, entry=plan.entry, stop=plan.stop, target=plan.target, expires_in=timedelta(minutes=3)
    )
    result = world.submit(intent)
    assert result.status is SubmitStatus.PLACED
    assert world.order(result.order_ids[0]).quantity == Decimal(100)

    for _ in range(2):  # two minutes of partial fills
        world.track()
        world.advance(_MINUTE)
    parent, stop, target = _legs(world, result.order_ids)
    assert parent.state is OrderState.PARTIALLY_FILLED
    assert 0 < parent.filled_quantity < parent.quantity

    world.advance(_MINUTE)  # the signal's expiry
    assert world.expire() == [parent.id]

    parent, stop, target = _legs(world, result.order_ids)
    filled = parent.filled_quantity
    assert parent.state is OrderState.CANCELLED
    assert 0 < filled < Decimal(100)
    assert world.held(strategy_id) == filled == world.broker_held()
    assert _covers(world, stop, filled)
    assert _covers(world, target, filled)

    world.clock.set(plan.hit_at)  # the stop triggers and fills in parts
    world.track()
    parent, stop, target = _legs(world, result.order_ids)
    held = world.held(strategy_id)
    assert 0 < stop.filled_quantity < filled
    assert held == filled - stop.filled_quantity == world.broker_held()
    assert _covers(world, target, held)  # reduced by as much as the stop filled
    assert _covers(world, stop, held)
    assert world.broker.calls["modify_order"] == 0  # the paper broker shrinks them itself; we follow

    exit_result = world.exit(strategy_id)
    assert exit_result.status is ExitStatus.SENT
    stop, target = world.order(stop.id), world.order(target.id)
    assert exit_result.quantity == held  # exactly what was still held after the cancels
    assert (stop.state, target.state) == (OrderState.CANCELLED, OrderState.CANCELLED)

    for _ in range(10):  # the market exit fills in parts too
        world.advance(_MINUTE)
        world.track()
        assert world.held(strategy_id) >= 0
        assert world.broker_held() >= 0
    assert world.held(strategy_id) == 0 == world.broker_held()
    [trade] = world.trades()
    assert trade.quantity == filled


def test_a_sell_cancels_the_entrys_remainder_first_and_sells_only_what_is_held(world: World) -> None:
    strategy_id = world.strategy()
    plan = world.plan("target", quiet=timedelta(minutes=10))
    result, _intent = world.enter(strategy_id, plan)
    world.track()
    world.advance(_MINUTE)
    world.track()
    parent = world.order(result.order_ids[0])
    assert parent.state is OrderState.PARTIALLY_FILLED
    held = world.held(strategy_id)
    assert 0 < held < parent.quantity

    exit_result = world.exit(strategy_id)

    parent, stop, target = _legs(world, result.order_ids)
    assert exit_result.status is ExitStatus.SENT
    assert parent.state is OrderState.CANCELLED
    assert exit_result.quantity == parent.filled_quantity == held
    cancel_requests = [
        (event.id, order.role)
        for order in (parent, stop, target)
        for event in world.order_events(order.id)
        if event.to_state in (OrderState.CANCEL_PENDING, OrderState.CANCELLED)
    ]
    assert min(cancel_requests)[1] is OrderRole.ENTRY  # the entry's remainder goes first
    assert (stop.state, target.state) == (OrderState.CANCELLED, OrderState.CANCELLED)
    for _ in range(10):
        world.advance(_MINUTE)
        world.track()
        assert world.held(strategy_id) >= 0
    assert world.held(strategy_id) == 0 == world.broker_held()


def test_a_stop_cancelled_outside_while_the_entry_still_buys_is_reported_at_once(world: World) -> None:
    strategy_id = world.strategy()
    plan = world.plan("target", quiet=timedelta(minutes=30))
    result, _intent = world.enter(strategy_id, plan)
    for _ in range(2):  # the entry fills in parts
        world.track()
        world.advance(_MINUTE)
    parent, stop, _target = _legs(world, result.order_ids)
    assert parent.state is OrderState.PARTIALLY_FILLED
    world.paper.cancel_from_outside(ACCOUNT, BrokerOrderId(stop.broker_order_id or ""))

    report = world.watch()

    position = world.position(strategy_id)
    assert position is not None
    assert report.missing_stop == [position.id]
    [event] = world.events("protection.waiting")
    assert "its entry still buys" in event.message
    assert world.broker.calls["place_order"] == 0  # decided once the entry ends, not now
    world.watch()
    assert len(world.events("protection.waiting")) == 1  # said once an hour, not every run
