"""The signals page: every signal an analyst gave, what came of it, each linked to its execution's lineage.

``/signals?action=A&strategy=ID&prompt=VERSION_ID&from=DAY&to=DAY&before=ID`` is a plain GET form. It reads
through ``list_signals``, the query behind ``GET /api/v1/signals``. The first page's table is a live part
(``/signals/table?...``) that reloads when an event arrives. The reasoning is an LLM's text: autoescaped.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from ibflow.api.deps import ReadSessionDep
from ibflow.db.states import SignalAction
from ibflow.web.layout import page_context
from ibflow.web.pages.history_filters import PAGE_SIZE, FilterForm
from ibflow.web.session import PageCaller
from ibflow.web.templating import templates
from ibflow.workflow.queries.lineage_view import strategy_choices
from ibflow.workflow.queries.trading_views import list_signals, prompt_labels

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
FIELDS = ("action", "strategy", "prompt", "from", "to", "before")
ACTIONS = [a.value for a in SignalAction]


@router.get("/signals")
def signals(request: Request, caller: PageCaller, db: ReadSessionDep) -> Response:
    """The filter form and one page of signals."""
    values = signal_history(request, db)
    return templates.TemplateResponse(
        request,
        "history/signals.html",
        page_context(request, caller, db, title="Signals", **values),
        status_code=400 if values["form"].errors else 200,
    )


@router.get("/signals/table")
def signals_table(request: Request, caller: PageCaller, db: ReadSessionDep) -> Response:
    """The table alone (the live part of the first page)."""
    values = signal_history(request, db)
    return templates.TemplateResponse(
        request,
        "history/signals-table.html",
        page_context(request, caller, db, **values),
        status_code=400 if values["form"].errors else 200,
    )


def signal_history(request: Request, db: Session) -> dict[str, Any]:
    """The filters as read, the choices, one page of signals and the cursor to the next."""
    form = FilterForm(request.query_params, FIELDS)
    strategies = strategy_choices(db)
    prompts = prompt_labels(db)
    action = form.choice("action", ACTIONS, "signal action")
    strategy_id = form.identifier("strategy", dict(strategies), "strategy")
    prompt_id = form.identifier("prompt", prompts, "prompt version")
    since, until = form.window()
    before = form.cursor()
    rows = []
    if not form.errors:
        rows = list_signals(
            db,
            action=action,
            strategy_id=strategy_id,
            prompt_version_id=prompt_id,
            since=since,
            until=until,
            before=before,
            limit=PAGE_SIZE + 1,
        )
    older = rows[PAGE_SIZE - 1].id if len(rows) > PAGE_SIZE else None
    return {
        "form": form,
        "strategies": strategies,
        "prompts": list(prompts.items()),
        "actions": ACTIONS,
        "rows": rows[:PAGE_SIZE],
        "older": older,
        "first_page": before is None,
    }
