"""Lineage: one row per step of every execution, written in its own transaction, and the queries over it."""

from __future__ import annotations

import logging
import statistics
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ibflow.core.ids import ExecutionId, StrategyId
from ibflow.db.engine import SessionFactory
from ibflow.db.models.executions import StrategyExecution, WorkflowLineage
from ibflow.db.states import StepStatus
from ibflow.workflow.redact import to_lineage

log = logging.getLogger(__name__)

STEP_NAMES: tuple[str, ...] = (
    "load_strategy",
    "check_broker",
    "resolve_contract",
    "fetch_market_data",
    "compute_indicators",
    "render_charts",
    "analyze",
    "decide_signal",
    "size_and_check_risk",
    "place_orders",
    "record_portfolio",
)
"""The 11 steps of an execution, in order; the names key lineage and statistics and never change."""


@dataclass(frozen=True)
class StepRecord:
    """What a step did, ready to be written."""

    step_index: int
    step_name: str
    status: StepStatus
    started_at: datetime
    duration_ms: int
    input: Any = None
    output: Any = None
    error: str | None = None
    traceback: str | None = None


def record_step(sessions: SessionFactory, execution_id: ExecutionId, record: StepRecord) -> bool:
    """Write one lineage row in its own transaction; never raise.

    When the row cannot be written with its payload, it is written once more without it (with a note), so
    an execution keeps its 11 rows; False when even that fails.
    """
    try:
        _write(sessions, execution_id, record, to_lineage(record.input), to_lineage(record.output))
        return True
    except Exception as exc:
        log.exception("could not record lineage of step %s of execution %s", record.step_name, execution_id)
        note = {"lineage": f"the step's payload could not be stored: {type(exc).__name__}"}
    try:
        _write(sessions, execution_id, record, None, note)
        return True
    except Exception:
        log.exception("could not record even a bare lineage row for step %s", record.step_name)
        return False


def _write(
    sessions: SessionFactory, execution_id: ExecutionId, record: StepRecord, step_input: Any, output: Any
) -> None:
    with sessions() as session:
        session.add(
            WorkflowLineage(
                execution_id=execution_id,
                step_index=record.step_index,
                step_name=record.step_name,
                status=record.status,
                input=step_input,
                output=output,
                error=record.error,
                traceback=record.traceback,
                started_at=record.started_at,
                duration_ms=record.duration_ms,
            )
        )
        session.commit()


@dataclass(frozen=True)
class ExecutionLineage:
    """An execution with its steps in order."""

    execution: StrategyExecution
    steps: list[WorkflowLineage]

    @property
    def has_errors(self) -> bool:
        """Tell whether any step failed."""
        return any(step.status is StepStatus.FAILED for step in self.steps)

    @property
    def total_duration_ms(self) -> int:
        """Sum of the steps' durations."""
        return sum(step.duration_ms for step in self.steps)


def execution_lineage(session: Session, execution_id: ExecutionId) -> ExecutionLineage | None:
    """Return an execution and its lineage rows in step order, or None."""
    execution = session.get(StrategyExecution, execution_id)
    if execution is None:
        return None
    steps = session.scalars(
        select(WorkflowLineage)
        .where(WorkflowLineage.execution_id == execution_id)
        .order_by(WorkflowLineage.step_index)
    ).all()
    return ExecutionLineage(execution, list(steps))


def step_lineage(session: Session, execution_id: ExecutionId, step: int | str) -> WorkflowLineage | None:
    """Return one step of an execution, by index (1..11) or by name."""
    query = select(WorkflowLineage).where(WorkflowLineage.execution_id == execution_id)
    if isinstance(step, int):
        query = query.where(WorkflowLineage.step_index == step)
    else:
        query = query.where(WorkflowLineage.step_name == step)
    return session.scalars(query).one_or_none()


def recent_executions(session: Session, strategy_id: StrategyId, limit: int = 20) -> list[StrategyExecution]:
    """Return the newest executions of a strategy first."""
    return list(
        session.scalars(
            select(StrategyExecution)
            .where(StrategyExecution.strategy_id == strategy_id)
            .order_by(StrategyExecution.id.desc())
            .limit(limit)
        )
    )


@dataclass(frozen=True)
class StepStatistics:
    """How one step behaves over many executions."""

    step_name: str
    count: int
    succeeded: int
    failed: int
    skipped: int
    success_rate: float
    duration_min_ms: int
    duration_avg_ms: float
    duration_p95_ms: int
    duration_max_ms: int
    common_errors: list[tuple[str, int]]


def step_statistics(
    session: Session,
    *,
    now: datetime,
    strategy_id: StrategyId | None = None,
    days: int | None = None,
    top_errors: int = 3,
) -> list[StepStatistics]:
    """Return per-step counts, success rate, duration min / avg / p95 / max and the most common errors."""
    query = select(
        WorkflowLineage.step_name,
        WorkflowLineage.status,
        WorkflowLineage.duration_ms,
        WorkflowLineage.error,
    )
    if strategy_id is not None:
        query = query.join(StrategyExecution).where(StrategyExecution.strategy_id == strategy_id)
    if days is not None:
        query = query.where(WorkflowLineage.started_at >= now - timedelta(days=days))
    rows: dict[str, list[tuple[StepStatus, int, str | None]]] = {name: [] for name in STEP_NAMES}
    for name, status, duration, error in session.execute(query):
        rows.setdefault(name, []).append((status, duration, error))
    return [_stats(name, items, top_errors) for name, items in rows.items() if items]


def _stats(name: str, items: list[tuple[StepStatus, int, str | None]], top: int) -> StepStatistics:
    ran = [d for s, d, _ in items if s is not StepStatus.SKIPPED]
    durations = sorted(ran) or [0]
    succeeded = sum(1 for s, _, _ in items if s is StepStatus.SUCCEEDED)
    failed = sum(1 for s, _, _ in items if s is StepStatus.FAILED)
    errors = Counter((e or "").splitlines()[0][:200] for s, _, e in items if s is StepStatus.FAILED and e)
    p95_index = max(0, min(len(durations) - 1, round(0.95 * (len(durations) - 1))))
    return StepStatistics(
        step_name=name,
        count=len(items),
        succeeded=succeeded,
        failed=failed,
        skipped=len(items) - succeeded - failed,
        success_rate=succeeded / (succeeded + failed) if succeeded + failed else 0.0,
        duration_min_ms=durations[0],
        duration_avg_ms=statistics.fmean(durations),
        duration_p95_ms=durations[p95_index],
        duration_max_ms=durations[-1],
        common_errors=errors.most_common(top),
    )
