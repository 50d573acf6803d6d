"""``/strategies``: list, read, create or update from a strategy document, pause, resume, archive.

The body of a create or update is a strategy file as JSON (the fields of docs/strategies.md), checked by
the same service as ``ibflow strategy apply``: every bad field at once, with what is allowed.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Body, Request
from pydantic import BaseModel, ConfigDict, Field

from ibflow.api.deps import ContainerDep, ReadSessionDep, RowId, SessionDep
from ibflow.api.roles import Trader, Viewer
from ibflow.core.errors import NotFound, Unavailable, ValidationError
from ibflow.core.ids import StrategyId
from ibflow.db.models import Strategy
from ibflow.db.states import StrategyState
from ibflow.trading.audit import jsonable
from ibflow.workflow.runtime.schedule import describe
from ibflow.workflow.strategies.files import as_document
from ibflow.workflow.strategies.lookup import find_strategy
from ibflow.workflow.strategies.service import apply_strategy_file, change_state
from ibflow.workflow.strategies.stored import file_of
from ibflow.workflow.strategies.views import strategy_summaries, upcoming_runs

router = APIRouter(prefix="/strategies", tags=["strategies"])
Document = dict[str, Any]


class StateBody(BaseModel):
    """Why the state changes; kept in the audit log."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="from the API", max_length=500)


@router.get("")
def list_strategies(
    caller: Viewer, db: ReadSessionDep, include_archived: bool = False
) -> list[dict[str, Any]]:
    """Every strategy with its state, schedule and next run (archived ones on request)."""
    del caller
    return [row.as_json() for row in strategy_summaries(db, include_archived=include_archived)]


@router.get("/{strategy_id}")
def read_strategy(
    caller: Viewer, db: ReadSessionDep, app: ContainerDep, strategy_id: RowId
) -> dict[str, Any]:
    """One strategy: its file, state, the schedule in words and the next five runs."""
    del caller
    return _detail(db, app, _strategy(db, strategy_id))


@router.post("", status_code=201)
def create_strategy(
    caller: Trader,
    db: SessionDep,
    app: ContainerDep,
    body: Document = Body(...),  # noqa: B008 - FastAPI's idiom
) -> dict[str, Any]:
    """Create a strategy from a document; 422 lists every bad field."""
    existing = db.query(Strategy.id).filter(Strategy.name == str(body.get("name", "")).strip()).first()
    if existing is not None:
        raise ValidationError(
            "a strategy with this name exists", {"name": "use PUT /strategies/{id} to change it"}
        )
    return _apply(caller.username, db, app, body)


@router.put("/{strategy_id}")
def update_strategy(
    caller: Trader,
    db: SessionDep,
    app: ContainerDep,
    strategy_id: RowId,
    body: Document = Body(...),  # noqa: B008 - FastAPI's idiom
) -> dict[str, Any]:
    """Update a strategy to match a document (its ``name`` must be the strategy's); changes are audited."""
    strategy = _strategy(db, strategy_id)
    if str(body.get("name", "")).strip() != strategy.name:
        raise ValidationError("the document names another strategy", {"name": f"must be {strategy.name!r}"})
    return _apply(caller.username, db, app, body)


def _state_route(target: StrategyState, verb: str) -> None:
    def change(
        caller: Trader, db: SessionDep, app: ContainerDep, strategy_id: RowId, body: StateBody | None = None
    ) -> dict[str, Any]:
        reason = body.reason if body is not None else "from the API"
        change_state(
            db, _strategy(db, strategy_id), target, clock=app.clock, actor=caller.username, reason=reason
        )
        db.commit()
        return _detail(db, app, _strategy(db, strategy_id))

    change.__doc__ = f"{verb.capitalize()} the strategy (audited)."
    router.add_api_route(f"/{{strategy_id}}/{verb}", change, methods=["POST"], name=f"{verb}_strategy")


@router.post("/{strategy_id}/run", status_code=202)
def run_strategy(caller: Trader, db: ReadSessionDep, request: Request, strategy_id: RowId) -> dict[str, Any]:
    """Run the strategy now on the service's workers (as ``ibflow run`` does); answers at once, 202.

    Follow the run at ``/lineage/execution/{execution_id}``. 503 where no scheduler runs in this process
    (``ibflow web``) or while it stops; 422 while the strategy is running already.
    """
    del caller
    strategy = _strategy(db, strategy_id)
    run_now = getattr(request.app.state, "run_now", None)
    if run_now is None:
        raise Unavailable("no scheduler runs in this process (ibflow web); run it where ibflow serve runs")
    execution_id = run_now(StrategyId(strategy.id))
    return {
        "execution_id": execution_id,
        "strategy_id": strategy.id,
        "status": "queued",
        "lineage": f"/api/v1/lineage/execution/{execution_id}",
    }


_state_route(StrategyState.PAUSED, "pause")
_state_route(StrategyState.ACTIVE, "resume")
_state_route(StrategyState.ARCHIVED, "archive")


def _apply(actor: str, db: Any, app: Any, body: Document) -> dict[str, Any]:
    applied = apply_strategy_file(
        db,
        text=json.dumps(body),  # JSON is YAML: the file reader checks the document as it checks a file
        fmt="yaml",
        contracts=app.contract_service(),
        clock=app.clock,
        actor=actor,
    )
    db.commit()
    detail = _detail(db, app, applied.strategy)
    detail["changes"] = [{"field": c.field, "old": c.old, "new": c.new} for c in applied.changes]
    return detail


def _strategy(db: Any, strategy_id: int) -> Strategy:
    try:
        found: Strategy = find_strategy(db, f"id:{strategy_id}")
    except NotFound:  # the service names the CLI's ``id:N`` reference, which no API caller wrote
        raise NotFound(f"no strategy with id {strategy_id} (see GET /api/v1/strategies)") from None
    return found


def _detail(db: Any, app: Any, strategy: Strategy) -> dict[str, Any]:
    stored = file_of(db, strategy)
    document = as_document(stored)
    schedule = stored.schedule
    upcoming = upcoming_runs(
        schedule.cron, schedule.timezone, after=app.clock.now(), market_hours_only=schedule.market_hours_only
    )
    facts = {
        "id": strategy.id,
        "state": strategy.state.value,
        "next_run_at": strategy.next_run_at,
        "schedule_text": describe(schedule.cron),
        "upcoming_runs": list(upcoming.runs),
        "file": document,
    }
    result: dict[str, Any] = jsonable(facts)
    if "indicators" in document:  # params stay numbers (decimals elsewhere become exact text)
        result["file"]["indicators"] = document["indicators"]
    return result
