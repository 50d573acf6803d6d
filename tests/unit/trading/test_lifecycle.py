"""A bracket's whole life against the paper broker: entry, fills, position, exit by target or stop, trade."""

from __future__ import annotations

from decimal import Decimal

import pytest
from tests.unit.trading.trading_world import ACCOUNT, World

from ibflow.core.money import quantize
from ibflow.db.states import OrderState, PositionStatus
from ibflow.trading.lifecycle.submission import SubmitStatus


def _paper_fills(world: World, broker_order_id: str | None) -> list[tuple[Decimal, Decimal, Decimal]]:
    since = world.clock.now().replace(year=2000)
    return [
        (e.quantity, e.price, e.commission)
        for e in world.paper.executions(ACCOUNT, since)
        if e.broker_order_id == broker_order_id
    ]


@pytest.mark.parametrize(("first", "outcome"), [("target", "won"), ("stop", "lost")])
def test_a_bracket_from_entry_to_trade(world: World, first: str, outcome: str) -> None:
    strategy_id = world.strategy()
    plan = world.plan(first)  # type: ignore[arg-type]
    result, intent = world.enter(strategy_id, plan)

    assert result.status is SubmitStatus.PLACED, result.detail
    parent, stop, target = (world.order(order_id) for order_id in result.order_ids)
    assert (parent.state, stop.state, target.state) == (
        OrderState.WORKING,
        OrderState.INACTIVE,
        OrderState.INACTIVE,
    )
    assert parent.client_order_id.endswith(f"-{intent.execution_id}-entry")
    assert stop.client_order_id.endswith(f"-{intent.execution_id}-stop")
    assert target.client_order_id.endswith(f"-{intent.execution_id}-target")
    assert None not in (parent.broker_order_id, stop.broker_order_id, target.broker_order_id)
    assert (parent.limit_price, stop.stop_price, target.limit_price) == (plan.entry, plan.stop, plan.target)

    world.sync()  # the marketable entry fills on the next look
    parent, stop, target = (world.order(order_id) for order_id in result.order_ids)
    position = world.position(strategy_id)
    assert parent.state is OrderState.FILLED
    assert (stop.state, target.state) == (OrderState.WORKING, OrderState.WORKING)
    assert position is not None
    assert (position.status, position.quantity) == (PositionStatus.OPEN, parent.quantity)
    assert world.signal(intent.signal_id).outcome == "open"

    world.clock.set(plan.hit_at)
    world.sync()

    parent, stop, target = (world.order(order_id) for order_id in result.order_ids)
    closer, other = (target, stop) if first == "target" else (stop, target)
    assert closer.state is OrderState.FILLED
    assert other.state is OrderState.CANCELLED  # one-cancels-other at the broker, followed in our books
    position = world.position(strategy_id)
    assert position is not None
    assert (position.status, position.quantity) == (PositionStatus.CLOSED, Decimal(0))
    assert world.broker_held() == 0

    [trade] = world.trades()
    bought = _paper_fills(world, parent.broker_order_id)
    sold = _paper_fills(world, closer.broker_order_id)
    quantity = sum(q for q, _, _ in bought)
    entry_price = sum(q * p for q, p, _ in bought) / quantity
    exit_price = sum(q * p for q, p, _ in sold) / quantity
    commissions = sum(c for _, _, c in bought + sold)
    gross = (exit_price - entry_price) * quantity
    risk = (entry_price - plan.stop) * quantity
    assert (trade.quantity, trade.entry_price, trade.exit_price) == (quantity, entry_price, exit_price)
    assert (trade.gross_pnl, trade.commissions, trade.net_pnl) == (gross, commissions, gross - commissions)
    assert trade.initial_risk == risk
    assert trade.r_multiple == quantize((gross - commissions) / risk)
    assert trade.exit_reason == first
    assert (trade.r_multiple > 0) is (first == "target")
    assert world.signal(intent.signal_id).outcome == outcome
    assert position.realized_pnl == trade.net_pnl
