"""The lineage viewer's reads: which strategy and execution to show, and what ``execution_detail`` leaves out.

The page shows ``execution_detail`` (the API's ``/lineage/execution/{id}``) and adds the step start times
(for the timeline), each chart's size, the LLM calls' rendered prompt and raw text, and the risk decision
laid out check by check.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ibflow.db.models import Strategy, StrategyExecution
from ibflow.db.models.executions import Chart, LlmCall, WorkflowLineage
from ibflow.trading.risk.checks import RiskReason
from ibflow.workflow.queries.executions import list_executions


@dataclass(frozen=True)
class StepStart:
    """When a step started, in milliseconds after the execution's first step started."""

    index: int
    offset_ms: int
    duration_ms: int


@dataclass(frozen=True)
class LlmText:
    """One LLM call as sent and as answered (the prompt has its secrets redacted already)."""

    id: int
    provider: str
    model: str
    purpose: str
    rendered_prompt: str
    raw_response: str | None
    error: str | None
    images: int


@dataclass(frozen=True)
class RiskCheck:
    """One risk check of an entry: ``passed``, ``blocked`` (the first failing one) or ``not reached``."""

    code: str
    result: str
    detail: str


def strategy_choices(session: Session) -> list[tuple[int, str]]:
    """Return every strategy as (id, name), by name."""
    return [
        (int(i), n) for i, n in session.execute(select(Strategy.id, Strategy.name).order_by(Strategy.name))
    ]


def latest_execution(session: Session, strategy_id: int | None) -> int | None:
    """Return the newest execution of ``strategy_id`` (of any strategy when None), or None."""
    query = select(func.max(StrategyExecution.id))
    if strategy_id is not None:
        query = query.where(StrategyExecution.strategy_id == strategy_id)
    found = session.scalar(query)
    return None if found is None else int(found)


def strategy_of(session: Session, execution_id: int) -> int | None:
    """Return the strategy an execution belongs to, or None when there is no such execution."""
    found = session.scalar(select(StrategyExecution.strategy_id).where(StrategyExecution.id == execution_id))
    return None if found is None else int(found)


def execution_choices(session: Session, strategy_id: int, limit: int = 50) -> list[dict[str, Any]]:
    """Return a strategy's newest executions (``list_executions`` items), newest first."""
    return list_executions(session, strategy_id=strategy_id, limit=limit)


def step_starts(session: Session, execution_id: int) -> dict[int, StepStart]:
    """Return each step's start offset and duration, keyed by step index."""
    rows = session.execute(
        select(WorkflowLineage.step_index, WorkflowLineage.started_at, WorkflowLineage.duration_ms)
        .where(WorkflowLineage.execution_id == execution_id)
        .order_by(WorkflowLineage.step_index)
    ).all()
    if not rows:
        return {}
    first: datetime = min(started for _, started, _ in rows)
    return {
        int(index): StepStart(int(index), int((started - first).total_seconds() * 1000), int(duration))
        for index, started, duration in rows
    }


def chart_sizes(session: Session, execution_id: int) -> dict[int, tuple[int, int]]:
    """Return each chart's (width, height) in pixels, keyed by chart id."""
    rows = session.execute(
        select(Chart.id, Chart.width, Chart.height).where(Chart.execution_id == execution_id)
    ).all()
    return {int(i): (int(w), int(h)) for i, w, h in rows}


def llm_texts(session: Session, execution_id: int) -> list[LlmText]:
    """Return the execution's LLM calls with their rendered prompt and raw answer, in call order."""
    rows = session.scalars(select(LlmCall).where(LlmCall.execution_id == execution_id).order_by(LlmCall.id))
    return [
        LlmText(
            id=row.id,
            provider=row.provider,
            model=row.model,
            purpose=row.purpose,
            rendered_prompt=row.rendered_prompt,
            raw_response=row.raw_response,
            error=row.error,
            images=len(row.image_refs or []),
        )
        for row in rows
    ]


def risk_checks(decision: dict[str, Any] | None) -> list[RiskCheck]:
    """Lay a risk decision (``RiskDecision.as_dict``) out as every check in the order they run.

    The checks stop at the first that fails: those before it passed, the ones after were not reached.
    """
    if not isinstance(decision, dict) or "allowed" not in decision:
        return []
    if decision["allowed"]:
        return [RiskCheck(reason.value, "passed", "") for reason in RiskReason]
    blocked = str(decision.get("reason") or "")
    codes = [reason.value for reason in RiskReason]
    if blocked not in codes:
        return [RiskCheck(blocked or "BLOCKED", "blocked", str(decision.get("detail") or ""))]
    at = codes.index(blocked)
    return [
        RiskCheck(code, "passed", "")
        if position < at
        else RiskCheck(code, "blocked", str(decision.get("detail") or ""))
        if position == at
        else RiskCheck(code, "not reached", "")
        for position, code in enumerate(codes)
    ]
