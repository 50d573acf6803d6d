"""Steps 10-11 of an execution: place the orders through the trading core, then record the portfolio."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ibflow.db.models.orders import Order
from ibflow.db.states import SignalAction
from ibflow.trading.lifecycle.submission import SubmitStatus, submit_entry
from ibflow.trading.portfolio.valuation import take_snapshot
from ibflow.trading.positions.exits import exit_position
from ibflow.workflow.engine import StepContext, StepResult
from ibflow.workflow.steps.data import RunState
from ibflow.workflow.steps.decide import entry_intent, limits_of, market_snapshot


def place_orders(ctx: StepContext[RunState]) -> StepResult:
    """Send the bracket for a BUY (risk re-checked under the account lock) or the exit for a SELL."""
    state = ctx.state
    if state.signal is None or state.handle is None:
        raise RuntimeError("earlier steps did not run")
    deps = state.deps
    intent = entry_intent(state, ctx.execution_id)
    if state.signal.action is SignalAction.SELL:
        exit_result = exit_position(
            deps.sessions,
            broker=state.handle.broker,
            locks=deps.locks,
            account_id=intent.account_id,
            strategy_id=intent.strategy_id,
            conid=intent.conid,
            reason="signal",
            clock=deps.clock,
            risk_env=deps.risk_settings,
            broker_env=deps.broker_settings,
            execution_id=ctx.execution_id,
            signal_id=state.signal_id,
        )
        state.summary["exit"] = _jsonable(exit_result)
        return StepResult(input={"intent": intent}, output=state.summary["exit"])
    result = submit_entry(
        deps.sessions,
        broker=state.handle.broker,
        locks=deps.locks,
        intent=intent,
        limits=limits_of(state.snapshot),
        snapshot=market_snapshot(state),
        clock=deps.clock,
        risk_env=deps.risk_settings,
        broker_env=deps.broker_settings,
    )
    orders = _orders(ctx, result.order_ids)
    output = {
        "status": result.status.value,
        "detail": result.detail,
        "reason": result.reason,
        "orders": orders,
    }
    state.summary["orders"] = orders
    state.summary["submit"] = result.status.value
    if result.status is SubmitStatus.BLOCKED:
        return StepResult(
            input={"intent": intent}, output=output, stop_reason=f"risk block at submit: {result.detail}"
        )
    return StepResult(input={"intent": intent}, output=output)


def _orders(ctx: StepContext[RunState], order_ids: tuple[int, ...]) -> list[dict[str, Any]]:
    if not order_ids:
        return []
    rows = ctx.session.scalars(select(Order).where(Order.id.in_(order_ids)).order_by(Order.id)).all()
    return [
        {
            "id": o.id,
            "client_order_id": o.client_order_id,
            "broker_order_id": o.broker_order_id,
            "role": o.role.value,
            "type": o.order_type.value,
            "side": o.side.value,
            "quantity": str(o.quantity),
            "limit_price": None if o.limit_price is None else str(o.limit_price),
            "stop_price": None if o.stop_price is None else str(o.stop_price),
            "state": o.state.value,
        }
        for o in rows
    ]


def _jsonable(value: Any) -> Any:
    from ibflow.workflow.redact import to_lineage

    return to_lineage(value)


def record_portfolio(ctx: StepContext[RunState]) -> StepResult:
    """Value the account from the broker's numbers and keep a snapshot."""
    state = ctx.state
    if state.handle is None:
        raise RuntimeError("check_broker did not run")
    snapshot = take_snapshot(
        ctx.session, broker=state.handle.broker, account_id=state.handle.account_id, clock=state.deps.clock
    )
    return StepResult(
        input={"account_id": state.handle.account_id},
        output={
            "cash": snapshot.cash,
            "equity": snapshot.equity,
            "positions_value": snapshot.positions_value,
            "realized_pnl": snapshot.realized_pnl,
            "unrealized_pnl": snapshot.unrealized_pnl,
            "positions": snapshot.positions,
        },
    )
