"""Read resources (viewer): status, positions, orders, trades, signals, executions and an execution's lineage.

Each calls the same query the CLI's read command uses and answers its ``as_dict`` (prices as exact strings).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from ibflow.api.deps import MAX_ID, ContainerDep, ReadSessionDep, RowId
from ibflow.api.roles import Viewer
from ibflow.db.states import ExecutionStatus, ExecutionTrigger, OrderState
from ibflow.workflow.queries.execution_detail import execution_detail
from ibflow.workflow.queries.executions import list_executions
from ibflow.workflow.queries.status import status_report
from ibflow.workflow.queries.trading_views import list_orders, list_signals, list_trades, open_positions

router = APIRouter(tags=["reads"])
Limit = Annotated[int, Query(ge=1, le=500)]
StrategyId = Annotated[int | None, Query(ge=1, le=MAX_ID)]


@router.get("/status")
def status(caller: Viewer, db: ReadSessionDep, app: ContainerDep) -> dict[str, Any]:
    """Trading state, accounts, positions, working orders, mismatches and next runs (no broker call)."""
    del caller
    return status_report(db, accounts=app.account_kinds(), clock=app.clock).as_dict()


@router.get("/positions")
def positions(caller: Viewer, db: ReadSessionDep, strategy_id: StrategyId = None) -> list[dict[str, Any]]:
    """Open positions with their live stop and target."""
    del caller
    return [item.as_dict() for item in open_positions(db, strategy_id=strategy_id)]


@router.get("/orders")
def orders(
    caller: Viewer,
    db: ReadSessionDep,
    *,
    state: Annotated[OrderState | None, Query()] = None,
    working: bool = False,
    strategy_id: StrategyId = None,
    limit: Limit = 50,
) -> list[dict[str, Any]]:
    """Orders, newest first; ``working=true`` for every unfinished one, or one ``state``."""
    del caller
    chosen = "working" if working else (state.value if state is not None else None)
    return [item.as_dict() for item in list_orders(db, state=chosen, strategy_id=strategy_id, limit=limit)]


@router.get("/trades")
def trades(
    caller: Viewer,
    db: ReadSessionDep,
    since: datetime | None = None,
    strategy_id: StrategyId = None,
    limit: Limit = 100,
) -> list[dict[str, Any]]:
    """Closed trades, newest first."""
    del caller
    return [item.as_dict() for item in list_trades(db, since=since, strategy_id=strategy_id, limit=limit)]


@router.get("/signals")
def signals(
    caller: Viewer,
    db: ReadSessionDep,
    strategy_id: StrategyId = None,
    action: Annotated[str | None, Query(pattern="^(?i)(BUY|SELL|HOLD|NO_SIGNAL)$")] = None,
    limit: Limit = 50,
) -> list[dict[str, Any]]:
    """Signals and what came of them, newest first."""
    del caller
    return [item.as_dict() for item in list_signals(db, strategy_id=strategy_id, action=action, limit=limit)]


@router.get("/executions")
def executions(
    caller: Viewer,
    db: ReadSessionDep,
    *,
    strategy_id: StrategyId = None,
    status: ExecutionStatus | None = None,
    trigger: ExecutionTrigger | None = None,
    since: datetime | None = None,
    limit: Limit = 20,
) -> list[dict[str, Any]]:
    """Executions, newest first, each with its outcome and whole reason."""
    del caller
    return list_executions(
        db, strategy_id=strategy_id, status=status, trigger=trigger, since=since, limit=limit
    )


@router.get("/lineage/execution/{execution_id}")
def lineage(caller: Viewer, db: ReadSessionDep, execution_id: RowId) -> dict[str, Any]:
    """One execution step by step: the 11 steps, signal, risk, sizing, charts, LLM calls, orders and fills."""
    del caller
    return execution_detail(db, execution_id).as_dict()
