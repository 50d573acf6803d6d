"""The page routes: login, dashboard, strategies, account; and the fragments their live parts reload.

Each page is a GET that reads through the queries the API uses. A fragment (``/fragments/NAME``) is one live
part of a page, rendered alone when ``static/app.js`` hears an event of the stream that may change it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from ibflow.api.auth import container
from ibflow.api.deps import ReadSessionDep
from ibflow.core.errors import NotAuthenticated, NotFound
from ibflow.web.layout import page_context, state_bar
from ibflow.web.session import PageCaller, safe_next
from ibflow.web.templating import templates
from ibflow.workflow.queries.executions import latest_by_strategy
from ibflow.workflow.queries.status import status_report
from ibflow.workflow.queries.trading_views import list_orders, list_signals
from ibflow.workflow.strategies.views import strategy_summaries

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
RECENT = 10


@router.get("/login")
def login_page(request: Request, next: str | None = None) -> Response:
    """The login form; a logged-in caller goes straight on."""
    from ibflow.api.auth import authenticate

    target = safe_next(next)
    try:
        authenticate(request)
    except NotAuthenticated:
        return templates.TemplateResponse(request, "login.html", {"next": target, "request": request})
    return RedirectResponse(target, status_code=303)


@router.get("/")
def dashboard(request: Request, caller: PageCaller, db: ReadSessionDep) -> Response:
    """Portfolio, active strategies, recent signals and orders, the broker and the kill switch."""
    return templates.TemplateResponse(
        request,
        "dashboard.html",
        page_context(request, caller, db, title="Dashboard", **_dashboard(request, db)),
    )


@router.get("/strategies")
def strategies(request: Request, caller: PageCaller, db: ReadSessionDep) -> Response:
    """Every strategy with its state, next run and last result."""
    return templates.TemplateResponse(
        request, "strategies.html", page_context(request, caller, db, title="Strategies", **_strategies(db))
    )


@router.get("/account")
def account(request: Request, caller: PageCaller, db: ReadSessionDep) -> Response:
    """The caller's account: change password, log out, log out everywhere."""
    return templates.TemplateResponse(
        request, "account.html", page_context(request, caller, db, title="Account")
    )


@router.get("/fragments/{name}")
def fragment(name: str, request: Request, caller: PageCaller, db: ReadSessionDep) -> Response:
    """One live part of a page, alone."""
    found = FRAGMENTS.get(name)
    if found is None:
        raise NotFound(f"no fragment {name!r}")
    return templates.TemplateResponse(
        request, f"fragments/{name}.html", page_context(request, caller, db, **found(request, db))
    )


def _dashboard(request: Request, db: Session) -> dict[str, Any]:
    app = container(request)
    report = status_report(db, accounts=app.account_kinds(), clock=app.clock)
    active = [s for s in strategy_summaries(db) if s.state == "active"]
    return {
        "report": report,
        "active": active,
        "last": latest_by_strategy(db, [s.id for s in active]),
        "signals": list_signals(db, limit=RECENT),
        "orders": list_orders(db, limit=RECENT),
    }


def _strategies(db: Session) -> dict[str, Any]:
    rows = strategy_summaries(db)
    return {"strategies": rows, "last": latest_by_strategy(db, [s.id for s in rows])}


def _state_bar(request: Request, db: Session) -> dict[str, Any]:
    return {"bar": state_bar(db, container(request))}


FRAGMENTS: dict[str, Callable[[Request, Session], dict[str, Any]]] = {
    "state-bar": _state_bar,
    "dashboard": _dashboard,
    "strategies-table": lambda request, db: _strategies(db),
}
"""Each fragment's data; its template is ``templates/fragments/NAME.html``."""
