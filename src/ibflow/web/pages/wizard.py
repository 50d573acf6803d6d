"""The strategy wizard: ``/strategies/new`` and ``/strategies/{id}/edit``, six steps in one form.

The page reads (after seeding the default prompt templates where missing, as the prompts API does) the
indicator catalogue, the saved indicator configs, the analysis prompt templates,
the analysts and the risk ranges. ``static/wizard.js`` shows one step at a time, asks the API
(``POST /api/v1/strategies/check``) about a step's fields before moving on, previews the schedule
(``GET /api/v1/schedule/preview``) and at the end sends the whole document to ``POST /api/v1/strategies``
(or ``PUT /api/v1/strategies/{id}``), so the API's roles, validation and audit apply.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from ibflow.api.auth import container
from ibflow.api.deps import SessionDep
from ibflow.core.errors import NotFound
from ibflow.db.models import Strategy
from ibflow.db.states import StrategyMode
from ibflow.indicators.catalogue import CATALOGUE
from ibflow.llm.prompts.store import ensure_defaults, list_templates
from ibflow.web.layout import page_context
from ibflow.web.session import PageCaller
from ibflow.web.templating import templates
from ibflow.workflow.strategies.files import StrategyFile, as_document
from ibflow.workflow.strategies.indicator_configs import list_configs
from ibflow.workflow.strategies.lookup import (
    ANALYSIS_MODES,
    ANALYSTS,
    DEFAULT_RISK,
    LLM_ANALYSTS,
    RISK_RANGES,
    TIMEFRAMES,
)
from ibflow.workflow.strategies.stored import file_of

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)

STEPS = ("Symbol", "Indicators", "Prompt and analyst", "Schedule", "Risk", "Review and create")
ZONES = ("America/New_York", "America/Chicago", "Europe/London", "Europe/Berlin", "Asia/Tokyo", "UTC")
"""Time zones offered in the schedule step's list (any IANA zone may be typed)."""


@dataclass(frozen=True)
class RiskField:
    """One risk limit as the wizard shows it: its value and the range it must lie in."""

    name: str
    low: Decimal
    high: Decimal
    meaning: str
    value: str

    @property
    def allowed(self) -> str:
        """Say the allowed range, e.g. ``0.0001 to 0.05``."""
        return f"{self.low} to {self.high}"


@router.get("/strategies/new")
def new_strategy(request: Request, caller: PageCaller, db: SessionDep) -> Response:
    """The wizard, empty (the defaults of a strategy file filled in)."""
    document = as_document(StrategyFile(name="", symbol=""))
    return _wizard(request, caller, db=db, document=document, strategy_id=None, title="New strategy")


@router.get("/strategies/{strategy_id:int}/edit")
def edit_strategy(request: Request, caller: PageCaller, db: SessionDep, strategy_id: int) -> Response:
    """The wizard filled in with the strategy's file; creating becomes saving (PUT)."""
    strategy = db.get(Strategy, strategy_id)
    if strategy is None:
        raise NotFound(f"no strategy with id {strategy_id}")
    document = as_document(file_of(db, strategy))
    title = f"Edit {strategy.name}"
    return _wizard(request, caller, db=db, document=document, strategy_id=strategy.id, title=title)


def _wizard(
    request: Request,
    caller: Any,
    *,
    db: Session,
    document: dict[str, Any],
    strategy_id: int | None,
    title: str,
) -> Response:
    if ensure_defaults(db, clock=container(request).clock):  # as GET /prompts/templates: the defaults exist
        db.commit()
    values = page_context(request, caller, db, title=title, **wizard_values(db, document, strategy_id))
    return templates.TemplateResponse(request, "wizard/new.html", values)


def wizard_values(db: Session, document: dict[str, Any], strategy_id: int | None) -> dict[str, Any]:
    """What the wizard's template needs besides the page's common values."""
    given = {**DEFAULT_RISK, **document.get("risk", {})}
    risk = [
        RiskField(name, low, high, meaning, _plain(given.get(name)))
        for name, (low, high, meaning) in RISK_RANGES.items()
    ]
    return {
        "doc": document,
        "strategy_id": strategy_id,
        "steps": STEPS,
        "catalogue": list(CATALOGUE.values()),
        "configs": list_configs(db),
        "prompt_templates": [t for t in list_templates(db) if t.role == "analysis"],
        "analysts": ANALYSTS,
        "llm_analysts": LLM_ANALYSTS,
        "analysis_modes": ANALYSIS_MODES,
        "timeframes": TIMEFRAMES,
        "modes": [m.value for m in StrategyMode],
        "zones": ZONES,
        "risk": risk,
    }


def _plain(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return str(value)
