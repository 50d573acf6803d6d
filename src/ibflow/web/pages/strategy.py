"""One strategy's page, ``/strategies/{id}``: its settings, state, next runs and last result, and its actions.

The state, next runs, last result and the buttons are a live part (``/fragments/strategy/{id}``) that
reloads when an event arrives, so "Run now" shows its result without a reload. The buttons call the API
(``POST /api/v1/strategies/{id}/run|pause|resume|archive``); "Edit" opens the wizard filled in.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from ibflow.api.auth import container
from ibflow.api.deps import ReadSessionDep
from ibflow.core.errors import NotFound
from ibflow.db.models import Strategy
from ibflow.db.states import StrategyState
from ibflow.web.layout import page_context
from ibflow.web.session import PageCaller
from ibflow.web.templating import templates
from ibflow.workflow.queries.executions import latest_by_strategy
from ibflow.workflow.strategies.files import as_document
from ibflow.workflow.strategies.stored import file_of
from ibflow.workflow.strategies.views import upcoming_runs

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)


@router.get("/strategies/{strategy_id:int}")
def strategy_page(request: Request, caller: PageCaller, db: ReadSessionDep, strategy_id: int) -> Response:
    """The strategy's settings and its live state."""
    values = strategy_values(request, db, strategy_id)
    context = page_context(request, caller, db, title=values["strategy"].name, **values)
    return templates.TemplateResponse(request, "wizard/strategy.html", context)


@router.get("/fragments/strategy/{strategy_id:int}")
def strategy_fragment(request: Request, caller: PageCaller, db: ReadSessionDep, strategy_id: int) -> Response:
    """The strategy page's live part alone."""
    values = strategy_values(request, db, strategy_id)
    context = page_context(request, caller, db, **values)
    return templates.TemplateResponse(request, "wizard/strategy-live.html", context)


def strategy_values(request: Request, db: Session, strategy_id: int) -> dict[str, Any]:
    """The strategy, its file, its next five runs (none unless active) and its newest execution."""
    strategy = db.get(Strategy, strategy_id)
    if strategy is None:
        raise NotFound(f"no strategy with id {strategy_id}")
    stored = file_of(db, strategy)
    schedule = stored.schedule
    upcoming = upcoming_runs(
        schedule.cron,
        schedule.timezone,
        after=container(request).clock.now(),
        market_hours_only=schedule.market_hours_only,
    )
    active = strategy.state is StrategyState.ACTIVE
    return {
        "strategy": strategy,
        "doc": as_document(stored),
        "schedule_text": upcoming.description,
        "runs": upcoming.runs if active else [],
        "last": latest_by_strategy(db, [strategy.id]).get(strategy.id),
    }
