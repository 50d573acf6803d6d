"""The backtests pages: ``/backtests`` (the saved ones, start one, watch it) and ``/backtests/{name}``.

Reads go through ``workflow.backtest.library``, as ``/api/v1/backtests`` does. Starting and cancelling are
calls to the API from ``static/app.js`` (``POST /api/v1/backtests`` and ``/cancel``), so its role checks,
validation (a 422's message lands next to the field) and the one-at-a-time rule apply. The running
backtest's progress is a live part, ``/fragments/backtests/progress``, that reloads every second while a
backtest runs (htmx ``every 1s``) and on every refresh: it reads the ``BacktestRuns`` the API keeps in
``app.state`` (the layers contract keeps ``web`` from importing ``api.backtest_runs``, so the page reads
that object by its ``as_json()`` only, the same answer as ``GET /api/v1/backtests/progress``).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from ibflow.api.deps import ReadSessionDep
from ibflow.core.errors import NotFound
from ibflow.web.layout import page_context
from ibflow.web.session import PageCaller
from ibflow.web.templating import templates
from ibflow.workflow.backtest import library
from ibflow.workflow.strategies.views import strategy_summaries

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
RUNNING = ("running", "stopping")
PERCENT = ("return", "cagr", "max_drawdown", "exposure", "win_rate")
FIGURES = (
    ("return", "Return"),
    ("max_drawdown", "Max drawdown"),
    ("cagr", "CAGR"),
    ("sharpe", "Sharpe"),
    ("sortino", "Sortino"),
    ("final_equity", "Final equity"),
    ("trades", "Trades"),
    ("win_rate", "Win rate"),
    ("profit_factor", "Profit factor"),
    ("net_pnl", "Net P&L of trades"),
    ("commissions", "Commissions"),
    ("exposure", "Exposure"),
)
"""The summary figures the detail page shows, in order."""


@router.get("/backtests")
def backtests_page(request: Request, caller: PageCaller, db: ReadSessionDep) -> Response:
    """The saved backtests, the start form (traders) and the running backtest's progress."""
    context = page_context(
        request,
        caller,
        db,
        title="Backtests",
        backtests=_listed(db),
        strategies=strategy_summaries(db),
        progress=progress_of(request),
    )
    return templates.TemplateResponse(request, "backtests/page.html", context)


@router.get("/fragments/backtests/list")
def backtests_fragment(request: Request, caller: PageCaller, db: ReadSessionDep) -> Response:
    """The list of saved backtests alone (it reloads when a backtest ends)."""
    context = page_context(request, caller, db, backtests=_listed(db))
    return templates.TemplateResponse(request, "backtests/list.html", context)


@router.get("/fragments/backtests/progress")
def progress_fragment(request: Request, caller: PageCaller, db: ReadSessionDep, was: str = "") -> Response:
    """The running (or last) backtest's progress alone; when the one the page watched (``was=running``)
    has ended, ``HX-Trigger: backtest-ended`` makes the list reload with it."""
    progress = progress_of(request)
    context = page_context(request, caller, db, progress=progress)
    answer = templates.TemplateResponse(request, "backtests/progress.html", context)
    if was == "running" and progress is not None and not progress["running"]:
        answer.headers["HX-Trigger"] = "backtest-ended"
    return answer


@router.get("/backtests/{name}")
def backtest_page(
    request: Request, caller: PageCaller, db: ReadSessionDep, name: str, compare: str = ""
) -> Response:
    """One backtest: its figures, its trades, a link to its report and a comparison with another."""
    try:
        row = library.backtest_named(db, name)
    except NotFound as exc:
        context = page_context(request, caller, db, title="Backtest not found", message=str(exc))
        return templates.TemplateResponse(request, "backtests/missing.html", context, status_code=404)
    detail = library.detail(row)
    compared, problem = None, ""
    if compare:
        try:
            compared = library.compare(row, library.backtest_named(db, compare))
        except NotFound as exc:
            problem = str(exc)
    context = page_context(
        request,
        caller,
        db,
        title=f"Backtest {detail['name']}",
        b=detail,
        figures=[(label, measure_text(key, detail["summary"].get(key))) for key, label in FIGURES],
        held=detail["summary"].get("buy_and_hold", {}),
        others=[o for o in _listed(db) if o["id"] != detail["id"]],
        compare=compare,
        compared=compared,
        compare_problem=problem,
        shown=measure_text,
    )
    return templates.TemplateResponse(request, "backtests/detail.html", context)


def progress_of(request: Request) -> dict[str, Any] | None:
    """The API's answer to ``GET /backtests/progress``; ``None`` when this server started none."""
    runs = getattr(request.app.state, "backtest_runs", None)
    current = getattr(runs, "current", None)
    if current is None:
        return None
    found: dict[str, Any] = current.as_json()
    found["running"] = found["status"] in RUNNING
    found["percent"] = round(100 * found["done"] / found["total"]) if found["total"] else 100
    return found


def _listed(db: Session) -> list[dict[str, Any]]:
    return [library.overview(row) for row in library.list_backtests(db)]


def measure_text(key: str, value: Any, signed: bool = False) -> str:
    """A summary measure as a trader reads it: ratios as percents, money with two decimals; a return (and
    every difference, ``signed``) with its sign."""
    if value is None or value == "" or isinstance(value, dict):
        return "-"
    measure = key.rsplit(" ", maxsplit=1)[-1]
    sign = "+" if signed or measure == "return" else ""
    if measure in PERCENT:
        return f"{float(value) * 100:{sign},.2f} %"
    if isinstance(value, int):  # a count (or a flag)
        return str(value) if isinstance(value, bool) else f"{value:{sign}d}"
    if isinstance(value, float):
        return f"{value:{sign},.2f}"
    try:  # money arrives as exact text
        return f"{Decimal(str(value)):{sign},.2f}"
    except InvalidOperation:
        return str(value)
