"""The executions page: every run of every strategy, newest first, filtered and paged by an id cursor.

``/executions?strategy=ID&status=S&trigger=T&from=DAY&to=DAY&before=ID`` is a plain GET form (it works
without JavaScript). It reads through ``list_executions``, the query behind ``GET /api/v1/executions`` and
``ibflow executions``. The first page's table is a live part (``/executions/table?...``, the same filters)
that reloads when an event arrives; "Older" pages stay as they are. A bad filter is a 400 page saying so.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from ibflow.api.deps import ReadSessionDep
from ibflow.db.states import ExecutionStatus, ExecutionTrigger
from ibflow.web.layout import page_context
from ibflow.web.pages.history_filters import PAGE_SIZE, FilterForm
from ibflow.web.pages.lineage_parts import duration
from ibflow.web.session import PageCaller
from ibflow.web.templating import templates
from ibflow.workflow.queries.executions import list_executions
from ibflow.workflow.queries.lineage_view import strategy_choices

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
FIELDS = ("strategy", "status", "trigger", "from", "to", "before")
STATUSES = [s.value for s in ExecutionStatus]
TRIGGERS = [t.value for t in ExecutionTrigger]


@router.get("/executions")
def executions(request: Request, caller: PageCaller, db: ReadSessionDep) -> Response:
    """The filter form and one page of executions."""
    values = history(request, db)
    return templates.TemplateResponse(
        request,
        "history/executions.html",
        page_context(request, caller, db, title="Executions", **values),
        status_code=400 if values["form"].errors else 200,
    )


@router.get("/executions/table")
def executions_table(request: Request, caller: PageCaller, db: ReadSessionDep) -> Response:
    """The table alone (the live part of the first page)."""
    values = history(request, db)
    return templates.TemplateResponse(
        request,
        "history/executions-table.html",
        page_context(request, caller, db, **values),
        status_code=400 if values["form"].errors else 200,
    )


def history(request: Request, db: Session) -> dict[str, Any]:
    """The filters as read, the strategies to choose from, one page of rows and the cursor to the next."""
    form = FilterForm(request.query_params, FIELDS)
    strategies = strategy_choices(db)
    strategy_id = form.identifier("strategy", dict(strategies), "strategy")
    status = form.choice("status", STATUSES, "status")
    trigger = form.choice("trigger", TRIGGERS, "trigger")
    since, until = form.window()
    before = form.cursor()
    rows: list[dict[str, Any]] = []
    if not form.errors:
        rows = list_executions(
            db,
            strategy_id=strategy_id,
            status=ExecutionStatus(status) if status else None,
            trigger=ExecutionTrigger(trigger) if trigger else None,
            since=since,
            until=until,
            before=before,
            limit=PAGE_SIZE + 1,
        )
    older = rows[PAGE_SIZE - 1]["id"] if len(rows) > PAGE_SIZE else None
    return {
        "form": form,
        "strategies": strategies,
        "statuses": STATUSES,
        "triggers": TRIGGERS,
        "rows": rows[:PAGE_SIZE],
        "older": older,
        "first_page": before is None,
        "duration": lambda seconds: "-" if seconds is None else duration(round(seconds * 1000)),
    }
