"""Backtests the API starts: one at a time, in a background thread of the serving process.

The progress of the running backtest lives in this object, in the app's memory (``app.state``), not in the
``backtests`` table: a backtest's row is written once, when it ends, as ``ibflow backtest`` writes it, and
progress changes after every execution (a row would mean a write to the main database per execution). So
progress is visible to the process that runs the backtest, the one the API serves from; when the process
ends, a run in progress ends with it and is not saved (its folder stays behind).

The steps are those of ``ibflow backtest run`` (cli/backtest.py), which the API cannot import.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from ibflow import bootstrap
from ibflow.core import metrics
from ibflow.core.errors import ConfigurationError, Conflict, IbflowError, ValidationError
from ibflow.core.ids import AccountId
from ibflow.db.states import StrategyMode
from ibflow.workflow.backtest.library import write_report
from ibflow.workflow.backtest.llm_runs import llm_usage
from ibflow.workflow.backtest.replay import replay, replayed_jobs
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
from ibflow.workflow.strategies.lookup import find_strategy
from ibflow.workflow.strategies.stored import file_of

log = logging.getLogger(__name__)

ASK_ABOVE_EXECUTIONS = 2000
"""A start of more executions than this needs ``confirm`` (as ``ibflow backtest`` asks above it)."""
AFTER_CLOSE = timedelta(minutes=5)
RULES_ANALYSTS = ("rules", "rules-intraday")
"""The analysts the API may run: no paid calls without the CLI's estimate and confirmation."""


@dataclass(frozen=True)
class Plan:
    """A checked backtest, ready to run."""

    name: str
    copy: StrategyCopy
    window: tuple[date, date]
    cash: Decimal
    source: str
    folder: Path
    times: list[datetime]
    market: Any


@dataclass
class Progress:
    """What the running (or last) backtest has done."""

    name: str
    total: int
    done: int = 0
    status: str = "running"
    """``running``, ``stopping``, ``completed``, ``stopped`` or ``failed``."""
    error: str | None = None
    began: float = field(default_factory=time.monotonic)

    def as_json(self) -> dict[str, Any]:
        elapsed = time.monotonic() - self.began
        eta = None
        if self.status in {"running", "stopping"} and self.done:
            eta = round(elapsed / self.done * (self.total - self.done), 1)
        return {
            "name": self.name,
            "status": self.status,
            "done": self.done,
            "total": self.total,
            "elapsed_seconds": round(elapsed, 1),
            "eta_seconds": eta,
            "error": self.error,
        }


class BacktestRuns:
    """Starts backtests in a thread, one at a time, and keeps the progress of the current or last one."""

    def __init__(self, main: bootstrap.Container) -> None:
        self._main = main
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.current: Progress | None = None

    def plan(
        self, *, strategy: str, first: date, last: date, cash: Decimal, name: str | None, data: str | None
    ) -> Plan:
        """Check a backtest as ``ibflow backtest`` does; bad input is a ``ValidationError``."""
        if first > last:
            raise ValidationError(f"from {first} is after to {last}", {"from": "after to"})
        if not cash.is_finite() or cash <= 0:
            raise ValidationError(f"cash {cash} must be a positive amount", {"cash": "must be positive"})
        try:
            market = bootstrap.read_bar_data(data)
            with self._main.read_sessions() as session:
                copy = copy_of(session, strategy)
                chosen = name or free_name(session, f"{copy.name}-{first}-{last}")
                refuse_taken_name(session, chosen)
                provider = file_of(session, find_strategy(session, strategy)).analyst.provider
            if provider not in RULES_ANALYSTS:
                raise ValidationError(
                    f"strategy {copy.name!r} has an LLM analyst: the API starts backtests of the rules "
                    "analysts only; run it with `ibflow backtest`, which shows the cost and asks first",
                    {"strategy": "LLM analyst"},
                )
            bootstrap.check_backtest_window(market, copy.conid, copy.symbol, first, last)
            folder = self._main.settings.database.data_dir / "backtests" / folder_name(chosen)
            if folder.exists():
                raise Conflict(
                    f"{folder.name} exists already under the backtests folder; choose another name"
                )
            spans = market.sessions(copy.conid, first, last)
        except ConfigurationError as exc:  # the input names data or a window the data lacks
            raise ValidationError(str(exc)) from exc
        if not spans:
            raise ValidationError(f"the data has no session of {copy.symbol} from {first} to {last}")
        times = [span.end + AFTER_CLOSE for span in spans]
        return Plan(chosen, copy, (first, last), cash, data or "samples", folder, times, market)

    def start(self, plan: Plan) -> Progress:
        """Run ``plan`` in a background thread; ``Conflict`` while another backtest runs."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                running = self.current.name if self.current else "one"
                raise Conflict(f"backtest {running!r} is running; wait for it or cancel it")
            self._stop.clear()
            self.current = Progress(plan.name, len(plan.times))
            self._thread = threading.Thread(
                target=self._run, args=(plan, self.current), name=f"backtest {plan.name}", daemon=True
            )
            self._thread.start()
            return self.current

    def cancel(self) -> Progress:
        """Ask the running backtest to stop after its running execution; ``Conflict`` when none runs."""
        with self._lock:
            if self.current is None or self._thread is None or not self._thread.is_alive():
                raise Conflict("no backtest is running")
            self._stop.set()
            self.current.status = "stopping"
            return self.current

    def wait(self, timeout: float | None = None) -> None:
        """Wait for the running backtest's thread to end (tests, shutdown)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self, plan: Plan, progress: Progress) -> None:
        try:
            with metrics.counted_apart():  # the serving process's /metrics shows only the installation's work
                progress.status = self._replay(plan, progress)
        except Exception as exc:
            log.exception("backtest %s failed", plan.name)
            progress.error = str(exc) if isinstance(exc, IbflowError) else type(exc).__name__
            progress.status = "failed"

    def _replay(self, plan: Plan, progress: Progress) -> str:
        main = self._main
        started_at = main.clock.now()
        container = bootstrap.build_backtest(
            main.settings,
            plan.folder,
            plan.market,
            cash=plan.cash,
            start=plan.times[0] - AFTER_CLOSE,
            own_process=False,
        )
        try:
            with container.sessions() as session:
                strategy_id = install(
                    session, plan.copy, contracts=container.contract_service(), clock=container.clock
                )
                session.commit()
            handle = container.broker_for(StrategyMode.PAPER)

            def advance(done: int) -> None:
                progress.done = done

            outcome = replay(
                strategy_id=strategy_id,
                decision_times=plan.times,
                sessions=container.sessions,
                clock=container.manual_clock,
                executor=container.executor(),
                jobs=replayed_jobs(container.periodic_jobs()),
                progress=advance,
                stop_requested=self._stop.is_set,
            )
            bars = handle.broker.historical_bars(
                plan.copy.conid, "1d", plan.times[0] - timedelta(days=7), container.clock.now()
            )
            with container.read_sessions() as session:
                results = backtest_results(
                    session,
                    account_id=AccountId(handle.account_id),
                    executions=outcome.executions,
                    starting_cash=plan.cash,
                    bars=bars,
                )
                results.summary["llm"] = llm_usage(session)
            results.summary["stop_reason"] = "cancelled from the API" if outcome.stopped else None
        finally:
            container.engine.dispose()
        database = Path(container.settings.database.url.removeprefix("sqlite:///"))
        record = BacktestRecord(
            plan.name, plan.copy, plan.window[0], plan.window[1], plan.cash, plan.source, database, started_at
        )
        with main.sessions() as session:
            row = save_backtest(
                session, record, results, stopped=outcome.stopped, finished_at=main.clock.now()
            )
            session.commit()
            write_report(row)
        return "stopped" if outcome.stopped else "completed"
