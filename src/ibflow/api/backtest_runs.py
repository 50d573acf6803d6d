"""Backtests the API starts: one at a time, in a background thread of the serving process.

The progress of the running backtest lives in this object, in the app's memory (``app.state``), not in the
``backtests`` table: a backtest's row is written once, when it ends, as ``ibflow backtest`` writes it, and
progress changes after every execution (a row would mean a write to the main database per execution). So
progress is visible to the process that runs the backtest, the one the API serves from; when the process
ends, a run in progress ends with it and is not saved (its folder stays behind).

The steps are those of ``ibflow backtest run``, shared in ``workflow/backtest/start.py``; a start is checked,
its strategy installed in the backtest's database and its LLM calls estimated while the request waits (so
bad input, a long run or paid LLM calls unconfirmed are a 4xx and leave nothing behind), then replayed in
the thread.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from ibflow import bootstrap
from ibflow.core import metrics
from ibflow.core.errors import ConfigurationError, Conflict, IbflowError, ValidationError
from ibflow.workflow.backtest.llm_runs import LlmEstimate
from ibflow.workflow.backtest.start import (
    AFTER_CLOSE,
    API_SPELLING,
    ASK_ABOVE_EXECUTIONS,
    Installed,
    Plan,
    install_strategy,
    needs_confirmation,
    plan_backtest,
    run_and_save,
)

log = logging.getLogger(__name__)

__all__ = ["ASK_ABOVE_EXECUTIONS", "BacktestRuns", "Progress"]


@dataclass
class Progress:
    """What the running (or last) backtest has done."""

    name: str
    total: int
    estimate: LlmEstimate | None = None
    done: int = 0
    status: str = "running"
    """``running``, ``stopping``, ``completed``, ``stopped`` or ``failed``."""
    error: str | None = None
    began: float = field(default_factory=time.monotonic)
    ended: float | None = None
    """When it completed, stopped or failed (monotonic): the elapsed time stops there."""

    def as_json(self) -> dict[str, Any]:
        elapsed = (self.ended if self.ended is not None else time.monotonic()) - self.began
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
            "llm_estimate": None if self.estimate is None else self.estimate.as_json(),
        }


@dataclass(frozen=True)
class Start:
    """A backtest checked, its database made and its strategy installed: ready for the thread."""

    plan: Plan
    container: bootstrap.BacktestContainer
    installed: Installed


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
        try:
            market = bootstrap.read_bar_data(data)
            with self._main.read_sessions() as session:
                return plan_backtest(
                    session,
                    market,
                    strategy=strategy,
                    window=(first, last),
                    cash=cash,
                    name=name,
                    source=data or "samples",
                    backtests_dir=self._main.settings.database.data_dir / "backtests",
                    spelling=API_SPELLING,
                )
        except ConfigurationError as exc:  # the input names data or a window the data lacks
            raise ValidationError(str(exc)) from exc

    def prepare(self, plan: Plan, *, confirm: bool, budget: Decimal | None) -> Start:
        """Refuse a long run unconfirmed; make the backtest's database, install the strategy and estimate
        its LLM calls; refuse paid new calls unconfirmed (the estimate says how many). Nothing is left
        behind when it refuses."""
        if needs_confirmation(plan) and not confirm:
            raise ValidationError(
                f"this backtest makes {len(plan.times)} executions; send confirm=true to run it",
                {"confirm": f"needed above {ASK_ABOVE_EXECUTIONS} executions"},
            )
        main = self._main
        container = bootstrap.build_backtest(
            main.settings,
            plan.folder,
            plan.market,
            cash=plan.cash,
            start=plan.times[0] - AFTER_CLOSE,
            own_process=False,
        )
        try:
            bootstrap.open_backtest_llm_cache(main.settings, container, budget=budget)
            installed = install_strategy(
                container, plan, main=main.read_sessions, cache=container.deps.llm_cache_sessions
            )
            found = installed.estimate
            if found is not None:
                container.analyst_for(found.provider)  # a missing key or endpoint is refused here
                if found.paid and not confirm:
                    raise ValidationError(
                        f"{found.describe()}; send confirm=true to make these paid calls",
                        {"confirm": f"{found.describe()}: confirm to make these paid calls"},
                    )
        except ConfigurationError as exc:  # a prompt template or an analyst's key the run cannot use
            _remove(container)
            raise ValidationError(str(exc)) from exc
        except BaseException:
            _remove(container)
            raise
        return Start(plan, container, installed)

    def start(self, ready: Start) -> Progress:
        """Run ``ready`` in a background thread; ``Conflict`` while another backtest runs."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                _remove(ready.container)
                running = self.current.name if self.current else "one"
                raise Conflict(f"backtest {running!r} is running; wait for it or cancel it")
            self._stop.clear()
            self.current = Progress(ready.plan.name, len(ready.plan.times), ready.installed.estimate)
            self._thread = threading.Thread(
                target=self._run, args=(ready, self.current), name=f"backtest {ready.plan.name}", daemon=True
            )
            self._thread.start()
            return self.current

    def busy(self) -> None:
        """``Conflict`` while a backtest runs (checked before a start makes anything)."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                running = self.current.name if self.current else "one"
                raise Conflict(f"backtest {running!r} is running; wait for it or cancel it")

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

    def _run(self, ready: Start, progress: Progress) -> None:
        try:
            with metrics.counted_apart():  # the serving process's /metrics shows only the installation's work
                progress.status = self._replay(ready, progress)
        except Exception as exc:
            log.exception("backtest %s failed", ready.plan.name)
            progress.error = str(exc) if isinstance(exc, IbflowError) else type(exc).__name__
            progress.status = "failed"
        finally:
            progress.ended = time.monotonic()

    def _replay(self, ready: Start, progress: Progress) -> str:
        container = ready.container

        def advance(done: int) -> None:
            progress.done = done

        try:
            saved = run_and_save(
                container,
                ready.plan,
                ready.installed,
                main=self._main.sessions,
                main_clock=self._main.clock,
                executor=container.executor(),
                progress=advance,
                stop_requested=self._stop.is_set,
                stopped_by="cancelled from the API",
            )
        finally:
            container.engine.dispose()
            if container.llm_cache_engine is not None:
                container.llm_cache_engine.dispose()
        return "stopped" if saved.outcome.stopped else "completed"


def _remove(container: bootstrap.BacktestContainer) -> None:
    """Remove the folder of a backtest that did not start."""
    container.engine.dispose()
    if container.llm_cache_engine is not None:
        container.llm_cache_engine.dispose()
    shutil.rmtree(container.settings.database.data_dir, ignore_errors=True)
