"""Start a backtest: the steps ``ibflow backtest run`` and ``POST /backtests`` share, so they cannot drift.

1. ``plan_backtest``: resolve the strategy (as a file, in paper mode), the name, the window against the
   data, the backtest's folder and its decision times (one per session, after the close);
2. ``needs_confirmation``: more than ``ASK_ABOVE_EXECUTIONS`` executions must be confirmed;
3. ``install_strategy``: the strategy copied into the backtest's own database, and the estimate of its LLM
   calls (``llm_runs.estimate_llm``, cached answers counted as free);
4. ``run_and_save``: the replay, its results, the row in the main database and the HTML report.

The entry points keep only their own ways of asking (a prompt or ``--yes``; ``confirm`` in the body), of
showing progress and of saying what was wrong (one line on the terminal; problem JSON). The container of a
backtest's database is built in ``bootstrap`` (which this layer may not import) and handed in as
``BacktestWorld``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy.orm import Session

from ibflow.core.clock import Clock, ManualClock
from ibflow.core.errors import ConfigurationError, Conflict, ValidationError
from ibflow.core.ids import AccountId, Conid, StrategyId
from ibflow.core.settings import ChartSettings, DatabaseSettings, LlmSettings
from ibflow.db.engine import SessionFactory
from ibflow.db.states import StrategyMode
from ibflow.llm.run_cap import RunCap
from ibflow.marketdata.contracts import ContractService
from ibflow.workflow.backtest.cached_calls import request_basis
from ibflow.workflow.backtest.library import write_report
from ibflow.workflow.backtest.llm_runs import LlmEstimate, estimate_llm, llm_usage
from ibflow.workflow.backtest.replay import ReplayOutcome, replay, replayed_jobs
from ibflow.workflow.backtest.results import backtest_results
from ibflow.workflow.backtest.saved import (
    BacktestRecord,
    StrategyCopy,
    copy_of,
    folder_name,
    free_name,
    install,
    refuse_taken_name,
    save_backtest,
)
from ibflow.workflow.deps import BrokerHandle, ChartRenderer
from ibflow.workflow.executor import Executor
from ibflow.workflow.runtime.service import PeriodicJob

ASK_ABOVE_EXECUTIONS = 2000
"""A run of more executions than this is confirmed first (``--yes``; ``confirm`` in the API)."""
AFTER_CLOSE = timedelta(minutes=5)
"""How long after each session's close a daily strategy decides."""


class HistoricalBars(Protocol):
    """What planning needs of the historical market (``brokers.paper.market.history``)."""

    @property
    def universe(self) -> Any: ...

    def first_and_last_day(self, conid: Conid) -> tuple[date, date]: ...

    def sessions(self, conid: Conid, first: date, last: date) -> Sequence[Any]: ...


class WorldSettings(Protocol):
    """The settings areas the steps read (``bootstrap.Settings``)."""

    @property
    def database(self) -> DatabaseSettings: ...

    @property
    def charts(self) -> ChartSettings: ...

    @property
    def llm(self) -> LlmSettings: ...


class BacktestWorld(Protocol):
    """What the steps need of a backtest's container (``bootstrap.BacktestContainer``)."""

    @property
    def settings(self) -> WorldSettings: ...

    clock: Clock
    manual_clock: ManualClock
    sessions: SessionFactory
    read_sessions: SessionFactory
    run_cap: RunCap

    def contract_service(self) -> ContractService: ...

    def executor(self, chart_renderer: ChartRenderer | None = None) -> Executor: ...

    def periodic_jobs(self) -> list[PeriodicJob]: ...

    def broker_for(self, mode: StrategyMode) -> BrokerHandle: ...


@dataclass(frozen=True)
class Spelling:
    """How an entry point names the inputs in its messages."""

    first: str
    last: str


CLI_SPELLING = Spelling("--from", "--to")
API_SPELLING = Spelling("from", "to")


class FolderTaken(Conflict):
    """The backtest's folder exists already (a name whose backtest was not saved, or a file in the way)."""

    def __init__(self, folder: Path) -> None:
        super().__init__(f"{folder.name} exists already under the backtests folder; choose another name")
        self.folder = folder


@dataclass(frozen=True)
class Plan:
    """A checked backtest, ready to run."""

    name: str
    copy: StrategyCopy
    window: tuple[date, date]
    cash: Decimal
    source: str
    """``samples`` or the ``--data`` text."""
    folder: Path
    times: list[datetime]
    market: Any


def plan_backtest(
    session: Session,
    market: HistoricalBars,
    *,
    strategy: str,
    window: tuple[date, date],
    cash: Decimal,
    name: str | None,
    source: str,
    backtests_dir: Path,
    spelling: Spelling = CLI_SPELLING,
) -> Plan:
    """Check a backtest against the main database ``session`` and the data; return its plan.

    ``ValidationError`` for a window backwards or a cash amount not positive, ``NotFound`` for no such
    strategy, ``Conflict`` for a name taken (``FolderTaken`` for its folder), ``ConfigurationError`` for
    a window or symbol the data lacks.
    """
    first, last = window
    if first > last:
        raise ValidationError(
            f"{spelling.first} {first} is after {spelling.last} {last}", {"from": "after to"}
        )
    if not cash.is_finite() or cash <= 0:
        raise ValidationError(f"cash {cash} must be a positive amount", {"cash": "must be positive"})
    copy = copy_of(session, strategy)
    chosen = name or free_name(session, f"{copy.name}-{first}-{last}")
    refuse_taken_name(session, chosen)
    check_window(market, copy.conid, copy.symbol, first, last, spelling=spelling)
    folder = backtests_dir / folder_name(chosen)
    if folder.exists():
        raise FolderTaken(folder)
    spans = market.sessions(copy.conid, first, last)
    if not spans:
        raise ConfigurationError(f"the data has no session of {copy.symbol} from {first} to {last}")
    times = [span.end + AFTER_CLOSE for span in spans]
    return Plan(chosen, copy, window, cash, source, folder, times, market)


def check_window(
    market: HistoricalBars,
    conid: Conid,
    symbol: str,
    first: date,
    last: date,
    *,
    spelling: Spelling = CLI_SPELLING,
) -> None:
    """Refuse a backtest whose symbol or window the data does not hold, in one line that says what to fix."""
    if market.universe.get(conid) is None:
        held = ", ".join(i.symbol for i in market.universe)
        raise ConfigurationError(f"the data has no bars of {symbol} (conid {conid}); it holds {held}")
    begins, ends = market.first_and_last_day(conid)
    if last < begins or first > ends:
        raise ConfigurationError(
            f"the data holds {symbol} from {begins} to {ends}; "
            f"choose {spelling.first} and {spelling.last} inside that range"
        )


def needs_confirmation(plan: Plan) -> bool:
    """True when the run is long enough to be confirmed first."""
    return len(plan.times) > ASK_ABOVE_EXECUTIONS


@dataclass(frozen=True)
class Installed:
    """The strategy as installed in the backtest's database, and the estimate of its LLM calls."""

    strategy_id: StrategyId
    estimate: LlmEstimate | None
    basis: str | None
    """``llm_runs.request_basis``: kept in the summary for a later run's estimate (None: no LLM)."""


def install_strategy(
    world: BacktestWorld, plan: Plan, *, main: SessionFactory, cache: SessionFactory | None
) -> Installed:
    """Copy the plan's strategy into the backtest's database; estimate its LLM calls (None: no LLM),
    counting as free the calls an earlier backtest of the same requests left in the response ``cache``
    (``main``: the main database, where the earlier backtests are listed)."""
    settings = world.settings
    with world.sessions() as session:
        strategy_id = install(session, plan.copy, contracts=world.contract_service(), clock=world.clock)
        session.commit()
    with world.sessions() as session:
        basis = request_basis(
            session,
            strategy_id,
            plan.copy.text,
            source=plan.source,
            cash=plan.cash,
            llm=settings.llm,
            charts=settings.charts,
            clock=world.clock,
        )
        estimate = estimate_llm(
            session,
            strategy_id,
            times=plan.times,
            basis=basis,
            main=main,
            cache=cache,
            llm=settings.llm,
            clock=world.clock,
        )
        session.commit()
    return Installed(strategy_id, estimate, basis)


@dataclass(frozen=True)
class Saved:
    """A finished (or stopped) backtest, saved in the main database."""

    backtest_id: int
    outcome: ReplayOutcome
    summary: dict[str, Any]
    equity_curve: list[dict[str, Any]]
    trades: list[dict[str, Any]]
    database: Path
    report: Path
    reason: str | None


def run_and_save(
    world: BacktestWorld,
    plan: Plan,
    installed: Installed,
    *,
    main: SessionFactory,
    main_clock: Clock,
    executor: Executor,
    progress: Callable[[int], None],
    stop_requested: Callable[[], bool],
    stopped_by: str,
) -> Saved:
    """Replay the plan, compute its results and save them in the ``main`` database with its report.

    ``stopped_by`` is the reason kept when ``stop_requested`` ended the run (the budget's reason wins).
    """
    started_at = main_clock.now()
    cap = world.run_cap
    handle = world.broker_for(StrategyMode.PAPER)
    outcome = replay(
        strategy_id=installed.strategy_id,
        decision_times=plan.times,
        sessions=world.sessions,
        clock=world.manual_clock,
        executor=executor,
        jobs=replayed_jobs(world.periodic_jobs()),
        progress=progress,
        stop_requested=lambda: stop_requested() or cap.reached is not None,
    )
    bars = handle.broker.historical_bars(
        plan.copy.conid, "1d", plan.times[0] - timedelta(days=7), world.clock.now()
    )
    with world.read_sessions() as session:
        results = backtest_results(
            session,
            account_id=AccountId(handle.account_id),
            executions=outcome.executions,
            starting_cash=plan.cash,
            bars=bars,
        )
        results.summary["llm"] = llm_usage(session)
    if installed.basis is not None:  # what a later run's estimate reads
        results.summary["llm_requests"] = installed.basis
    reason = cap.reached or (stopped_by if outcome.stopped else None)
    results.summary["stop_reason"] = reason
    database = Path(world.settings.database.url.removeprefix("sqlite:///"))
    first, last = plan.window
    record = BacktestRecord(plan.name, plan.copy, first, last, plan.cash, plan.source, database, started_at)
    with main() as session:
        row = save_backtest(session, record, results, stopped=outcome.stopped, finished_at=main_clock.now())
        session.commit()
        backtest_id = row.id
        report = write_report(row)
    return Saved(
        backtest_id, outcome, results.summary, results.equity_curve, results.trades, database, report, reason
    )
