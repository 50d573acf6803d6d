"""Lineage: one row per step of every execution, written in its own transaction, and the queries over it."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

from sqlalchemy import Select, Table, func, insert, select
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


_LINEAGE_TABLE = cast("Table", WorkflowLineage.__table__)


def _write(
    sessions: SessionFactory, execution_id: ExecutionId, record: StepRecord, step_input: Any, output: Any
) -> None:
    row = {
        "execution_id": execution_id,
        "step_index": record.step_index,
        "step_name": record.step_name,
        "status": record.status,
        "input": step_input,
        "output": output,
        "error": record.error,
        "traceback": record.traceback,
        "started_at": record.started_at,
        "duration_ms": record.duration_ms,
    }
    with sessions() as session:  # one Core INSERT of the table, without the ORM's bulk machinery
        session.execute(insert(_LINEAGE_TABLE), row)
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


_Q = TypeVar("_Q", bound="Select[*tuple[Any, ...]]")


def step_statistics(
    session: Session,
    *,
    now: datetime,
    strategy_id: StrategyId | None = None,
    days: int | None = None,
    top_errors: int = 3,
    step_names: Sequence[str] = STEP_NAMES,
    last_runs: int | None = None,
) -> list[StepStatistics]:
    """Return per-step counts, success rate, duration min / avg / p95 / max and the most common errors.

    Aggregated in the database (a handful of indexed queries per step), never by pulling lineage rows into
    Python: over a million rows each step answers in milliseconds. ``days`` counts back from ``now``;
    ``last_runs`` (with ``strategy_id``) keeps the strategy's newest executions only.
    """
    found = []
    for name in step_names:
        stats = _step_stats(
            session, name, now=now, strategy_id=strategy_id, days=days, top=top_errors, last_runs=last_runs
        )
        if stats is not None:
            found.append(stats)
    return found


def _step_stats(
    session: Session,
    name: str,
    *,
    now: datetime,
    strategy_id: StrategyId | None,
    days: int | None,
    top: int,
    last_runs: int | None = None,
) -> StepStatistics | None:
    def scoped(query: _Q) -> _Q:
        runs = select(StrategyExecution.id).where(StrategyExecution.strategy_id == strategy_id)
        if last_runs is not None:
            runs = runs.order_by(StrategyExecution.id.desc()).limit(last_runs)
        if (
            days is not None
        ):  # the step's recent rows (step, started_at index), then the strategy's among them
            query = query.where(
                WorkflowLineage.step_name == name, WorkflowLineage.started_at >= now - timedelta(days=days)
            )
            return query.where(WorkflowLineage.execution_id.in_(runs)) if strategy_id is not None else query
        if strategy_id is not None and name in STEP_NAMES:
            # the strategy's executions, then each one's row of this step through the unique index
            return query.where(
                WorkflowLineage.execution_id.in_(runs),
                WorkflowLineage.step_index == STEP_NAMES.index(name) + 1,
            )
        return query.where(WorkflowLineage.step_name == name)

    per_status = {  # one pass: count, min, sum and max of the durations for each status
        status: (int(count), int(low or 0), int(total or 0), int(high or 0))
        for status, count, low, total, high in session.execute(
            scoped(
                select(
                    WorkflowLineage.status,
                    func.count(),
                    func.min(WorkflowLineage.duration_ms),
                    func.sum(WorkflowLineage.duration_ms),
                    func.max(WorkflowLineage.duration_ms),
                )
            ).group_by(WorkflowLineage.status)
        )
    }
    counts = {status: values[0] for status, values in per_status.items()}
    total = sum(counts.values())
    if total == 0:
        return None
    ran = WorkflowLineage.status != StepStatus.SKIPPED
    ran_groups = [values for status, values in per_status.items() if status is not StepStatus.SKIPPED]
    runs = sum(values[0] for values in ran_groups)
    low = min((values[1] for values in ran_groups), default=0)
    high = max((values[3] for values in ran_groups), default=0)
    mean = sum(values[2] for values in ran_groups) / runs if runs else 0.0
    p95 = 0
    if runs:
        rank = max(0, min(runs - 1, round(0.95 * (runs - 1))))
        p95 = int(
            session.scalar(
                scoped(select(WorkflowLineage.duration_ms).where(ran))
                .order_by(WorkflowLineage.duration_ms)
                .offset(rank)
                .limit(1)
            )
            or 0
        )
    failed = counts.get(StepStatus.FAILED, 0)
    errors = (
        _common_errors(
            session,
            scoped(select(WorkflowLineage.error, func.count())).where(
                WorkflowLineage.status == StepStatus.FAILED, WorkflowLineage.error.is_not(None)
            ),
            top,
        )
        if failed
        else []
    )
    succeeded = counts.get(StepStatus.SUCCEEDED, 0)
    return StepStatistics(
        step_name=name,
        count=total,
        succeeded=succeeded,
        failed=failed,
        skipped=total - succeeded - failed,
        success_rate=succeeded / (succeeded + failed) if succeeded + failed else 0.0,
        duration_min_ms=int(low or 0),
        duration_avg_ms=float(mean or 0.0),
        duration_p95_ms=p95,
        duration_max_ms=int(high or 0),
        common_errors=errors,
    )


def _common_errors(session: Session, failures: Select[str | None, int], top: int) -> list[tuple[str, int]]:
    """The most common first lines of the failed steps' errors (grouped in SQL, merged by first line)."""
    grouped = session.execute(
        failures.group_by(WorkflowLineage.error).order_by(func.count().desc()).limit(max(50, top * 10))
    )
    errors: Counter[str] = Counter()
    for error, count in grouped:
        if error:
            errors[error.splitlines()[0][:200]] += int(count)
    return errors.most_common(top)
