"""Lineage beyond one whole execution (viewer): one step, a strategy's recent runs, a step's statistics.

``GET /lineage/execution/{id}`` (the whole execution) lives with the other reads; these are the other three
endpoints of the original design, over ``workflow.lineage``.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import select

from ibflow.api.deps import MAX_ID, ContainerDep, ReadSessionDep, RowId
from ibflow.api.roles import Viewer
from ibflow.core.errors import NotFound
from ibflow.core.ids import ExecutionId, StrategyId
from ibflow.db.models import Strategy
from ibflow.db.models.executions import StrategyExecution, WorkflowLineage
from ibflow.workflow.lineage import STEP_NAMES, recent_executions, step_lineage, step_statistics

router = APIRouter(prefix="/lineage", tags=["lineage"])


@router.get("/execution/{execution_id}/step/{step_name}")
def execution_step(caller: Viewer, db: ReadSessionDep, execution_id: RowId, step_name: str) -> dict[str, Any]:
    """One step of an execution: its status, timing, input, output and error."""
    del caller
    _known_step(step_name)
    if db.get(StrategyExecution, execution_id) is None:
        raise NotFound(f"execution {execution_id} does not exist")
    row = step_lineage(db, ExecutionId(execution_id), step_name)
    if row is None:
        raise NotFound(f"execution {execution_id} has no {step_name} step recorded")
    return {"execution_id": execution_id, **_step(row), "input": row.input, "output": row.output}


@router.get("/strategy/{strategy_id}/recent")
def strategy_recent(
    caller: Viewer,
    db: ReadSessionDep,
    strategy_id: RowId,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> list[dict[str, Any]]:
    """A strategy's newest executions first, each with the status and duration of its steps."""
    del caller
    if db.get(Strategy, strategy_id) is None:
        raise NotFound(f"strategy {strategy_id} does not exist")
    executions = recent_executions(db, StrategyId(strategy_id), limit)
    steps: dict[int, list[dict[str, Any]]] = {e.id: [] for e in executions}
    if executions:
        rows = db.scalars(
            select(WorkflowLineage)
            .where(WorkflowLineage.execution_id.in_(list(steps)))
            .order_by(WorkflowLineage.execution_id, WorkflowLineage.step_index)
        )
        for row in rows:
            steps[row.execution_id].append(_step(row))
    return [
        {
            "id": e.id,
            "trigger": e.trigger.value,
            "status": e.status.value,
            "scheduled_for": e.scheduled_for,
            "started_at": e.started_at,
            "finished_at": e.finished_at,
            "error": e.error,
            "steps": steps[e.id],
        }
        for e in executions
    ]


@router.get("/step/{step_name}/statistics")
def statistics(
    *,
    caller: Viewer,
    db: ReadSessionDep,
    app: ContainerDep,
    step_name: str,
    strategy_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    days: Annotated[int | None, Query(ge=1, le=3650)] = None,
) -> dict[str, Any]:
    """How one step behaved: counts, success rate, duration min / avg / p95 / max, the commonest errors.

    Over every execution, or one strategy's (``strategy_id``), over all time or the last ``days``.
    """
    del caller
    _known_step(step_name)
    found = step_statistics(
        db,
        now=app.clock.now(),
        strategy_id=StrategyId(strategy_id) if strategy_id is not None else None,
        days=days,
        step_names=(step_name,),
    )
    if not found:
        return {"step_name": step_name, "count": 0, "strategy_id": strategy_id, "days": days}
    stats = asdict(found[0])
    stats["common_errors"] = [{"error": text, "count": count} for text, count in found[0].common_errors]
    return {**stats, "strategy_id": strategy_id, "days": days}


def _known_step(step_name: str) -> None:
    if step_name not in STEP_NAMES:
        raise NotFound(f"no step named {step_name!r}; the steps are {', '.join(STEP_NAMES)}")


def _step(row: WorkflowLineage) -> dict[str, Any]:
    return {
        "step_index": row.step_index,
        "step_name": row.step_name,
        "status": row.status.value,
        "started_at": row.started_at,
        "duration_ms": row.duration_ms,
        "error": row.error,
    }
