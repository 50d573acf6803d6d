"""Tracking brings the broker's orders and executions into our books, step by allowed step."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from tests.unit.trading.trading_world import AAPL, World

from ibflow.brokers.base import BrokerOrderStatus
from ibflow.db.states import ORDER_TRANSITIONS, OrderState
from ibflow.trading.lifecycle.orders import BROKER_STATES, state_for, transition_path
from ibflow.trading.lifecycle.submission import SubmitStatus

S = OrderState


def test_every_broker_status_has_a_state_and_an_unknown_one_raises() -> None:
    assert set(BROKER_STATES) == set(BrokerOrderStatus)
    assert state_for(BrokerOrderStatus.SUBMITTED, Decimal(0)) is S.WORKING
    assert state_for(BrokerOrderStatus.SUBMITTED, Decimal(5)) is S.PARTIALLY_FILLED
    with pytest.raises(ValueError, match="unknown broker order status"):
        state_for("half-filled", Decimal(0))  # type: ignore[arg-type]


def test_a_state_the_row_cannot_reach_in_one_step_is_reached_along_allowed_steps() -> None:
    assert transition_path(S.INACTIVE, S.FILLED) == [S.WORKING, S.FILLED]
    assert transition_path(S.SUBMITTING, S.CANCELLED) == [S.WORKING, S.CANCELLED]
    assert transition_path(S.FILLED, S.WORKING) is None
    for start in S:
        for end in S:
            path = transition_path(start, end)
            for before, after in zip([start, *(path or [])], path or [], strict=False):
                assert after in ORDER_TRANSITIONS[before]


def test_a_child_that_activated_and_filled_between_two_looks_is_recorded_step_by_step(world: World) -> None:
    strategy_id = world.strategy()
    plan = world.plan("target")
    result, _intent = world.enter(strategy_id, plan)
    world.clock.set(plan.hit_at)  # no look in between: entry and target both filled meanwhile

    world.sync()

    _parent, stop, target = (world.order(order_id) for order_id in result.order_ids)
    assert [(e.from_state, e.to_state) for e in world.order_events(target.id)][2:] == [
        (S.SUBMITTING, S.INACTIVE),
        (S.INACTIVE, S.WORKING),
        (S.WORKING, S.FILLED),
    ]
    assert stop.state is S.CANCELLED
    assert world.held(strategy_id) == 0
    assert len(world.trades()) == 1


def test_the_same_executions_read_again_change_nothing(world: World) -> None:
    strategy_id = world.strategy()
    result, _intent = world.enter(strategy_id, world.plan("target"))
    world.sync()
    before = (len(world.fills()), len(world.events("order.state_changed")), world.held(strategy_id))

    report = world.sync()

    assert report.new_fills == 0
    assert report.state_changes == 0
    assert (len(world.fills()), len(world.events("order.state_changed")), world.held(strategy_id)) == before
    assert world.order(result.order_ids[0]).filled_quantity == world.held(strategy_id)


def _unfilled_entry(
    world: World, start: datetime, expires_in: timedelta | None
) -> tuple[int, tuple[int, ...]]:
    world.clock.set(start)
    price = world.price()
    entry = (price * Decimal("0.985")).quantize(Decimal("0.01"))
    # Precondition from the market's own path: the limit is never reached in the next hour.
    low = min(world.market.path_price(AAPL, start + timedelta(minutes=m)) for m in range(60))
    assert low > float(entry)
    strategy_id = world.strategy()
    intent = world.intent(
        strategy_id,
        entry=entry,
        stop=(entry * Decimal("0.99")).quantize(Decimal("0.01")),
        target=(price * Decimal("1.02")).quantize(Decimal("0.01")),
        expires_in=expires_in,
    )
    result = world.submit(intent)
    assert result.status is SubmitStatus.PLACED
    return intent.signal_id or 0, result.order_ids


def test_an_unfilled_entry_is_cancelled_at_its_signal_expiry(world: World) -> None:
    signal_id, order_ids = _unfilled_entry(world, world.clock.now(), timedelta(minutes=20))
    world.advance(timedelta(minutes=10))
    assert world.expire() == []

    world.advance(timedelta(minutes=10))
    assert world.expire() == [order_ids[0]]

    parent, stop, target = (world.order(order_id) for order_id in order_ids)
    assert (parent.state, stop.state, target.state) == (S.CANCELLED, S.CANCELLED, S.CANCELLED)
    assert parent.filled_quantity == 0
    assert world.signal(signal_id).outcome == "expired"
    assert world.broker_order(parent.broker_order_id).status is BrokerOrderStatus.CANCELLED


def test_an_entry_still_working_at_the_end_of_the_trading_day_ends_with_it(world: World) -> None:
    late = datetime(2026, 3, 5, 4, 40, tzinfo=UTC)  # 23:40 in New York
    signal_id, order_ids = _unfilled_entry(world, late, None)
    parent = world.order(order_ids[0])
    assert parent.expires_at == datetime(2026, 3, 5, 5, 0, tzinfo=UTC)  # midnight in New York

    world.advance(timedelta(minutes=25))
    world.track()

    parent, stop, target = (world.order(order_id) for order_id in order_ids)
    assert parent.state is S.EXPIRED  # the broker's DAY expiry, followed
    assert (stop.state, target.state) == (S.CANCELLED, S.CANCELLED)
    assert world.signal(signal_id).outcome == "expired"
