"""One execution explained: its 11 steps, the signal and its reasoning, the risk decision and sizing, the
charts, the LLM calls, and the orders it placed with every later event and fill."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ibflow.core.display import DEFAULT_TICK
from ibflow.core.errors import NotFound
from ibflow.core.ids import ExecutionId
from ibflow.db.models.executions import Chart, LlmCall, TradingSignal
from ibflow.db.models.orders import Fill, Order, OrderEvent
from ibflow.db.models.strategies import Strategy
from ibflow.db.states import StepStatus
from ibflow.workflow.lineage import execution_lineage
from ibflow.workflow.queries.trading_views import OrderView, View, jsonable, order_views, ticks


@dataclass(frozen=True)
class StepView(View):
    """One step: what it did, how long it took, and the full reason when it did not succeed."""

    index: int
    name: str
    status: str
    duration_ms: int
    note: str
    input: Any
    output: Any


@dataclass(frozen=True)
class OrderHistory(View):
    """An order with its state changes and fills, in time order."""

    order: OrderView
    events: list[dict[str, Any]]
    fills: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        """Return the order, its events and fills as JSON-ready values."""
        return {"order": self.order.as_dict(), "events": self.events, "fills": self.fills}


@dataclass(frozen=True)
class ExecutionDetail:
    """Everything ``ibflow show EXECUTION`` prints."""

    id: int
    strategy: str
    symbol: str
    trigger: str
    status: str
    scheduled_for: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    stop_reason: str | None
    steps: list[StepView]
    signal: dict[str, Any] | None
    risk: dict[str, Any] | None
    charts: list[dict[str, Any]]
    llm_calls: list[dict[str, Any]]
    orders: list[OrderHistory]
    tick: Decimal

    def as_dict(self) -> dict[str, Any]:
        """Return the detail as JSON-ready values."""
        plain = {
            name: jsonable(getattr(self, name))
            for name in (
                "id",
                "strategy",
                "symbol",
                "trigger",
                "status",
                "scheduled_for",
                "started_at",
                "finished_at",
                "error",
                "stop_reason",
                "signal",
                "risk",
                "charts",
                "llm_calls",
                "tick",
            )
        }
        return {
            **plain,
            "steps": [step.as_dict() for step in self.steps],
            "orders": [order.as_dict() for order in self.orders],
        }


def step_note(status: StepStatus, error: str | None, output: Any) -> str:
    """Say why a step did not succeed, in full (empty for a success)."""
    if status is StepStatus.SUCCEEDED:
        return ""
    if error:
        return error
    if isinstance(output, dict):
        return str(output.get("reason", ""))
    return ""


def execution_detail(session: Session, execution_id: int) -> ExecutionDetail:
    """Gather one execution; raise ``NotFound`` when there is none with that id."""
    lineage = execution_lineage(session, ExecutionId(execution_id))
    if lineage is None:
        raise NotFound(f"execution {execution_id} does not exist (see `ibflow executions`)")
    execution = lineage.execution
    strategy = session.get(Strategy, execution.strategy_id)
    summary = execution.summary or {}
    signal = session.scalars(select(TradingSignal).where(TradingSignal.execution_id == execution_id)).first()
    orders = list(session.scalars(select(Order).where(Order.execution_id == execution_id).order_by(Order.id)))
    tick = ticks(session, [strategy.conid]).get(strategy.conid, DEFAULT_TICK) if strategy else DEFAULT_TICK
    return ExecutionDetail(
        id=execution.id,
        strategy=strategy.name if strategy else str(execution.strategy_id),
        symbol=strategy.symbol if strategy else "",
        trigger=execution.trigger.value,
        status=execution.status.value,
        scheduled_for=execution.scheduled_for,
        started_at=execution.started_at,
        finished_at=execution.finished_at,
        error=execution.error,
        stop_reason=summary.get("stop_reason"),
        steps=[
            StepView(
                step.step_index,
                step.step_name,
                step.status.value,
                step.duration_ms,
                step_note(step.status, step.error, step.output),
                step.input,
                step.output,
            )
            for step in lineage.steps
        ],
        signal=_signal(signal),
        risk=summary.get("risk"),
        charts=_charts(session, execution_id),
        llm_calls=_llm_calls(session, execution_id),
        orders=[_history(session, view) for view in order_views(session, orders)],
        tick=tick,
    )


def _signal(row: TradingSignal | None) -> dict[str, Any] | None:
    if row is None:
        return None
    detail: dict[str, Any] = jsonable(
        {
            "id": row.id,
            "action": row.action.value,
            "confidence": row.confidence,
            "entry": row.entry,
            "stop_loss": row.stop_loss,
            "take_profit": row.take_profit,
            "timeframe": row.timeframe,
            "reasoning": row.reasoning,
            "key_factors": list(row.key_factors or []),
            "expires_at": row.expires_at,
            "model": row.model,
            "prompt_version_id": row.prompt_version_id,
            "outcome": row.outcome,
            "reason": row.reason,
            "reason_detail": row.reason_detail,
        }
    )
    return detail


def _charts(session: Session, execution_id: int) -> list[dict[str, Any]]:
    rows = session.scalars(select(Chart).where(Chart.execution_id == execution_id).order_by(Chart.id))
    return [
        {
            "id": row.id,
            "timeframe": row.timeframe,
            "store_key": row.store_key,
            "sha256": row.sha256,
            "size_bytes": row.size_bytes,
        }
        for row in rows
    ]


def _llm_calls(session: Session, execution_id: int) -> list[dict[str, Any]]:
    rows = session.scalars(select(LlmCall).where(LlmCall.execution_id == execution_id).order_by(LlmCall.id))
    return [
        jsonable(
            {
                "id": row.id,
                "provider": row.provider,
                "model": row.model,
                "input_tokens": row.input_tokens,
                "output_tokens": row.output_tokens,
                "cost": row.cost,
                "latency_ms": row.latency_ms,
                "error": row.error,
            }
        )
        for row in rows
    ]


def _history(session: Session, view: OrderView) -> OrderHistory:
    events = session.scalars(
        select(OrderEvent).where(OrderEvent.order_id == view.id).order_by(OrderEvent.id)
    ).all()
    fills = session.scalars(
        select(Fill).where(Fill.order_id == view.id).order_by(Fill.filled_at, Fill.id)
    ).all()
    return OrderHistory(
        order=view,
        events=[
            {
                "at": event.created_at.isoformat(),
                "from": event.from_state.value if event.from_state else None,
                "to": event.to_state.value,
                "reason": event.reason,
            }
            for event in events
        ],
        fills=[
            {
                "at": fill.filled_at.isoformat(),
                "side": fill.side.value,
                "quantity": str(fill.quantity),
                "price": str(fill.price),
                "commission": str(fill.commission),
                "broker_exec_id": fill.broker_exec_id,
            }
            for fill in fills
        ],
    )
