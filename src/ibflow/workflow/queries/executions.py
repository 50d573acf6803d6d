"""The execution list the CLI (``ibflow executions``), the API (``GET /executions``) and the pages share."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ibflow.core.display import decimal_text
from ibflow.db.models import Strategy, StrategyExecution
from ibflow.db.states import ExecutionStatus, ExecutionTrigger
from ibflow.workflow.outcome import execution_outcome


def list_executions(
    session: Session,
    *,
    strategy_id: int | None = None,
    status: ExecutionStatus | None = None,
    trigger: ExecutionTrigger | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before: int | None = None,
    limit: int = 20,
) -> list[dict[str, Any]]:
    """Return the newest executions as plain data, each with its outcome and whole reason.

    ``since``/``until`` bound ``created_at`` (``until`` excluded); ``before`` is a cursor: only executions
    with a smaller id, so the next page of a long history costs what the first does (no OFFSET).
    """
    statement = select(StrategyExecution, Strategy.name).join(Strategy).order_by(StrategyExecution.id.desc())
    if strategy_id is not None:
        statement = statement.where(StrategyExecution.strategy_id == strategy_id)
    if status is not None:
        statement = statement.where(StrategyExecution.status == status)
    if trigger is not None:
        statement = statement.where(StrategyExecution.trigger == trigger)
    if since is not None:
        statement = statement.where(StrategyExecution.created_at >= since)
    if until is not None:
        statement = statement.where(StrategyExecution.created_at < until)
    if before is not None:
        statement = statement.where(StrategyExecution.id < before)
    return [execution_item(execution, name) for execution, name in session.execute(statement.limit(limit))]


def latest_by_strategy(session: Session, strategy_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Return each strategy's newest execution (as ``execution_item``), keyed by strategy id."""
    if not strategy_ids:
        return {}
    newest = (
        select(func.max(StrategyExecution.id))
        .where(StrategyExecution.strategy_id.in_(strategy_ids))
        .group_by(StrategyExecution.strategy_id)
    )
    statement = (
        select(StrategyExecution, Strategy.name).join(Strategy).where(StrategyExecution.id.in_(newest))
    )
    return {
        execution.strategy_id: execution_item(execution, name)
        for execution, name in session.execute(statement)
    }


def execution_item(execution: StrategyExecution, name: str) -> dict[str, Any]:
    """One execution: when, trigger, status, outcome, seconds, the reason it stopped or failed, the signal's
    action and the entry order in brief (``BUY 10 LMT 187.5, submitted``)."""
    summary = execution.summary or {}
    seconds = None
    if execution.started_at and execution.finished_at:
        seconds = (execution.finished_at - execution.started_at).total_seconds()
    risk = summary.get("risk") if isinstance(summary.get("risk"), dict) else None
    reason = execution.error or summary.get("stop_reason") or summary.get("reason") or summary.get("submit")
    if reason is None and risk and not risk.get("allowed", True):
        reason = f"risk {risk.get('reason')}: {risk.get('detail')}"
    finished = execution.status.value in ("succeeded", "failed")
    when = execution.scheduled_for or execution.started_at or execution.created_at
    return {
        "id": execution.id,
        "strategy": name,
        "when": when.isoformat(),
        "started": None if execution.started_at is None else execution.started_at.isoformat(),
        "trigger": execution.trigger.value,
        "status": execution.status.value,
        "outcome": execution_outcome(execution.status, summary) if finished else execution.status.value,
        "seconds": seconds,
        "reason": None if reason is None else str(reason),
        "action": _action(summary),
        "order": _order(summary),
    }


def _action(summary: dict[str, Any]) -> str | None:
    signal = summary.get("signal")
    action = signal.get("action") if isinstance(signal, dict) else None
    return None if action is None else str(action)


def _order(summary: dict[str, Any]) -> str | None:
    orders = [o for o in summary.get("orders") or [] if isinstance(o, dict)]
    entry = next((o for o in orders if o.get("role") == "entry"), orders[0] if orders else None)
    if entry is None:
        return None
    price = entry.get("limit_price") or entry.get("stop_price")
    words = [entry.get("side"), _plain(entry.get("quantity")), entry.get("type"), _plain(price)]
    return " ".join(str(w) for w in words if w) + f", {entry.get('state')}"


def _plain(number: Any) -> str | None:
    try:
        return None if number is None else decimal_text(Decimal(str(number)))
    except InvalidOperation:
        return str(number)
