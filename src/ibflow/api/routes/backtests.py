"""``/backtests``: the saved backtests (list, detail, HTML report, compare), and start, watch, cancel one.

A start runs in a background thread of the serving process, one at a time (409 while one runs); its
progress is kept in the app's memory (``api/backtest_runs.py`` says why) and read with ``GET /progress``.
Viewers read; traders start and cancel. A start replays the bundled sample data only: a path on the
server is not the caller's to name (its error lines would show a file's content). A start of an LLM
strategy answers 422 with the estimate of its calls (how many the response cache answers, how many are new,
their tokens and cost) until ``confirm`` is sent, unless no new call would be paid for; ``budget`` stops the
run before its LLM calls pass that many USD.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from ibflow.api.backtest_runs import ASK_ABOVE_EXECUTIONS, BacktestRuns
from ibflow.api.deps import ContainerDep, ReadSessionDep
from ibflow.api.roles import Trader, Viewer
from ibflow.core.errors import NotFound
from ibflow.workflow.backtest import library

router = APIRouter(prefix="/backtests", tags=["backtests"])
BacktestName = Annotated[str, Path(min_length=1, max_length=200, description="a backtest's name or id")]
CompareName = Annotated[str, Query(min_length=1, max_length=200, description="a backtest's name or id")]


class StartBody(BaseModel):
    """A backtest to run: the strategy (id or name), the window's first and last session (New York dates)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    strategy: str = Field(min_length=1, max_length=200)
    first: date = Field(alias="from")
    last: date = Field(alias="to")
    cash: Decimal = Field(default=Decimal(100000), gt=0, le=Decimal(10) ** 12, allow_inf_nan=False)
    name: str | None = Field(default=None, min_length=1, max_length=200)
    confirm: bool = Field(
        default=False,
        description=f"needed above {ASK_ABOVE_EXECUTIONS} executions, and for paid new LLM calls",
    )
    budget: Decimal | None = Field(
        default=None,
        ge=0,
        le=Decimal(10) ** 6,
        allow_inf_nan=False,
        description="USD the run's LLM calls may cost; it stops before passing it",
    )


def runs(request: Request, app: ContainerDep) -> BacktestRuns:
    """The app's one ``BacktestRuns``, made on first use."""
    state = request.app.state
    if getattr(state, "backtest_runs", None) is None:
        state.backtest_runs = BacktestRuns(app)
    found: BacktestRuns = state.backtest_runs
    return found


@router.get("")
def list_backtests(caller: Viewer, db: ReadSessionDep) -> list[dict[str, Any]]:
    """Every saved backtest, newest first."""
    del caller
    return [library.overview(row) for row in library.list_backtests(db)]


@router.post("", status_code=202)
def start(caller: Trader, request: Request, app: ContainerDep, body: StartBody) -> dict[str, Any]:
    """Start a backtest in the background; 409 while another runs, 422 for bad input, or for a long run
    or paid LLM calls without ``confirm`` (the detail is the estimate of the calls)."""
    del caller
    manager = runs(request, app)
    manager.busy()
    plan = manager.plan(
        strategy=body.strategy,
        first=body.first,
        last=body.last,
        cash=body.cash,
        name=body.name,
        data=None,
    )
    return manager.start(manager.prepare(plan, confirm=body.confirm, budget=body.budget)).as_json()


@router.get("/progress")
def progress(caller: Viewer, request: Request, app: ContainerDep) -> dict[str, Any]:
    """The running backtest's progress (or the last one's outcome): done, total, ETA and status."""
    del caller
    current = runs(request, app).current
    if current is None:
        raise NotFound("no backtest has been started by this server")
    return current.as_json()


@router.post("/cancel")
def cancel(caller: Trader, request: Request, app: ContainerDep) -> dict[str, Any]:
    """Stop the running backtest after its running execution; what ran is kept (status ``stopped``)."""
    del caller
    return runs(request, app).cancel().as_json()


@router.get("/compare")
def compare(caller: Viewer, db: ReadSessionDep, a: CompareName, b: CompareName) -> dict[str, Any]:
    """Two backtests side by side: every measure of each and the difference (b - a)."""
    del caller
    return library.compare(library.backtest_named(db, a), library.backtest_named(db, b))


@router.get("/{name}")
def detail(caller: Viewer, db: ReadSessionDep, name: BacktestName) -> dict[str, Any]:
    """One backtest: summary, equity curve against buy-and-hold, trades."""
    del caller
    return library.detail(library.backtest_named(db, name))


@router.get("/{name}/report", response_class=HTMLResponse)
def report(caller: Viewer, db: ReadSessionDep, name: BacktestName) -> HTMLResponse:
    """The backtest's HTML report (self-contained; opens offline)."""
    del caller
    return HTMLResponse(library.report_html(library.backtest_named(db, name)))
