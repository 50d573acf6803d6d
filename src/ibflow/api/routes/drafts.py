"""Checking a strategy before it is saved: one wizard step's field problems, and a schedule's preview.

``POST /strategies/check`` reads a (possibly unfinished) strategy document as ``POST /strategies`` would
and answers the problems of one step's fields only, so the web wizard can explain a bad value next to its
field before moving on; nothing is stored. ``GET /schedule/preview`` says a cron in words and gives its
next five runs after the app's clock.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from ibflow.api.deps import ContainerDep, SessionDep
from ibflow.api.roles import Trader, Viewer
from ibflow.core.errors import ValidationError
from ibflow.db.models import Strategy
from ibflow.workflow.runtime.schedule import validate_cron, validate_timezone
from ibflow.workflow.strategies.checks import check_strategy
from ibflow.workflow.strategies.files import read_strategy
from ibflow.workflow.strategies.views import upcoming_runs

router = APIRouter(tags=["strategies"])

Step = Literal["symbol", "indicators", "analyst", "schedule", "risk", "review"]
STEP_FIELDS: dict[str, tuple[str, ...]] = {
    "symbol": ("name", "description", "symbol", "exchange", "conid", "mode", "timeframes", "file"),
    "indicators": ("indicators",),
    "analyst": ("analyst",),
    "schedule": ("schedule",),
    "risk": ("risk",),
}
"""The fields each step of the wizard fills in, as prefixes of the problems' paths."""


class CheckBody(BaseModel):
    """A strategy document, maybe unfinished, and the step whose fields to check."""

    model_config = ConfigDict(extra="forbid")

    step: Step
    document: dict[str, Any]
    strategy_id: int | None = Field(
        default=None, ge=1, le=2**62, description="the strategy being edited; none: a new one"
    )


class Preview(BaseModel):
    """A schedule in words and its next runs (UTC)."""

    cron: str
    timezone: str
    description: str
    runs: list[datetime]


@router.post("/strategies/check")
def check_draft(caller: Trader, db: SessionDep, app: ContainerDep, body: CheckBody) -> dict[str, Any]:
    """Check one step's fields of a strategy document (``review``: all of them); 422 lists the bad ones."""
    del caller
    problems = _problems(db, app, body.document)
    name = str(body.document.get("name", "")).strip()
    if body.step in ("symbol", "review") and "name" not in problems and name:
        holder = db.query(Strategy.id).filter(Strategy.name == name).first()
        if holder is not None and holder[0] != body.strategy_id:
            problems["name"] = f"a strategy named {name!r} exists; choose another name"
    db.commit()  # contracts the symbol check looked up are kept, as GET /symbols keeps them
    if body.step != "review":
        prefixes = STEP_FIELDS[body.step]
        problems = {k: v for k, v in problems.items() if k.split(".")[0].split("[")[0] in prefixes}
    if problems:
        count = len(problems)
        raise ValidationError(f"{count} field{'s' * (count != 1)} to correct", problems)
    return {"step": body.step, "ok": True}


@router.get("/schedule/preview", response_model=Preview)
def schedule_preview(
    caller: Viewer,
    app: ContainerDep,
    cron: Annotated[str, Query(min_length=1, max_length=200)],
    tz: Annotated[str, Query(min_length=1, max_length=64)] = "America/New_York",
    market_hours_only: bool = False,
) -> Preview:
    """The schedule in words and its next five runs after now; 422 names a bad cron or time zone."""
    del caller
    problems: dict[str, str] = {}
    try:
        cron = validate_cron(cron)
    except ValidationError as exc:
        problems["schedule.cron"] = exc.problems.get("cron", str(exc))
    try:
        validate_timezone(tz)
    except ValidationError as exc:
        problems["schedule.timezone"] = exc.problems.get("timezone", str(exc))
    if problems:
        raise ValidationError("the schedule cannot run", problems)
    upcoming = upcoming_runs(cron, tz, after=app.clock.now(), market_hours_only=market_hours_only)
    return Preview(cron=cron, timezone=tz, description=upcoming.description, runs=upcoming.runs)


def _problems(db: Any, app: Any, document: dict[str, Any]) -> dict[str, str]:
    try:  # JSON is YAML: read as POST /strategies reads it
        strategy, found = read_strategy(json.dumps(document), "yaml")
        check_strategy(db, strategy, problems=found, contracts=app.contract_service())
    except ValidationError as exc:
        return dict(exc.problems)
    return {}
