"""The in-process service behind ``ibflow serve``: recovery, then dispatch ticks and periodic jobs.

Start-up order (ARCHITECTURE §5): crash recovery (orphaned executions, orders left ``submitting``), then
reconciliation, and only then the first dispatch. The loop runs the dispatcher every few seconds and each
periodic job at its own interval, on this thread; executions run on the runner's worker threads. Stopping
takes no new work and waits for running executions, so none is left ``running``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from ibflow.core.clock import Clock
from ibflow.core.errors import Unavailable
from ibflow.core.ids import ExecutionId, StrategyId
from ibflow.db.engine import SessionFactory
from ibflow.workflow.runtime.recovery import RecoveryReport, recover_executions
from ibflow.workflow.runtime.runner import InlineRunner
from ibflow.workflow.runtime.scheduler import dispatch_due

log = logging.getLogger(__name__)


@dataclass
class PeriodicJob:
    """A job the service runs every ``interval_s`` seconds."""

    name: str
    interval_s: float
    run: Callable[[], object]
    next_due: float = field(default=0.0)
    failures: int = field(default=0)
    apart: bool = field(default=False)
    """Run on a thread of its own (notifications), so a slow run never delays the trading jobs."""


class InlineService:
    """Scheduler, runner and periodic jobs inside one process."""

    def __init__(
        self,
        *,
        sessions: SessionFactory,
        clock: Clock,
        runner: InlineRunner,
        start_up: Sequence[Callable[[], object]] = (),
        jobs: Sequence[PeriodicJob] = (),
        dispatch_interval_s: float = 5.0,
        grace: timedelta = timedelta(minutes=2),
        queue_manual: Callable[[StrategyId], ExecutionId] | None = None,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._runner = runner
        self._start_up = list(start_up)
        self._jobs = list(jobs)
        self._dispatch_interval_s = dispatch_interval_s
        self._queue_manual = queue_manual
        # A slot must survive at least two ticks, or a short grace would record every slot as missed.
        self._grace = max(grace, timedelta(seconds=2 * dispatch_interval_s))
        self.stopping = threading.Event()
        self.dispatched: list[ExecutionId] = []

    def recover(self) -> RecoveryReport:
        """Run crash recovery and the start-up tasks (reconciliation); must finish before any dispatch."""
        report = recover_executions(self._sessions, clock=self._clock, grace=self._grace)
        if report.interrupted:
            log.warning(
                "recovered %d interrupted execution(s): %s", len(report.interrupted), report.interrupted
            )
        for task in self._start_up:
            task()
        for execution_id in report.requeued:
            self._runner.submit(execution_id)
        return report

    def tick(self) -> list[ExecutionId]:
        """Dispatch due strategies once and hand their executions to the runner."""
        result = dispatch_due(self._sessions, clock=self._clock, grace=self._grace)
        for execution_id in result.queued:
            self._runner.submit(execution_id)
        self.dispatched.extend(result.queued)
        return result.queued

    def run_now(self, strategy_id: StrategyId) -> ExecutionId:
        """Queue a manual execution of ``strategy_id`` and hand it to the workers; return its id at once.

        What ``ibflow run`` does, but on this service's runner, so the caller (the API) does not wait for the
        11 steps. Refused while stopping: a run accepted then would be left queued.
        """
        if self._queue_manual is None:
            raise Unavailable("this service was built without a way to queue manual runs")
        if self.stopping.is_set():
            raise Unavailable("ibflow is stopping and takes no new runs; try again once it is back")
        execution_id = self._queue_manual(strategy_id)
        try:
            self._runner.submit(execution_id)
        except RuntimeError as exc:  # stopped meanwhile: the run stays queued for recovery at the next start
            raise Unavailable(f"ibflow is stopping; execution {execution_id} stays queued") from exc
        return execution_id

    def run_jobs(self, now_s: float) -> None:
        """Run every periodic job that is due; a failing job is logged and retried at its next interval."""
        for job in self._jobs:
            if job.apart or now_s < job.next_due:
                continue
            job.next_due = now_s + job.interval_s
            _run_job(job)

    def _run_apart(self, job: PeriodicJob) -> None:
        while not self.stopping.is_set():
            _run_job(job)
            self.stopping.wait(job.interval_s)

    def serve(self, on_ready: Callable[[], object] | None = None) -> bool:
        """Recover, then loop until ``stopping`` is set; wait for running executions; True if all ended."""
        self.recover()
        if on_ready is not None:
            on_ready()
        apart = [
            threading.Thread(target=self._run_apart, args=(job,), name=f"job-{job.name}", daemon=True)
            for job in self._jobs
            if job.apart
        ]
        for thread in apart:
            thread.start()
        next_dispatch = 0.0
        try:
            while not self.stopping.is_set():
                now_s = time.monotonic()
                if now_s >= next_dispatch:
                    next_dispatch = now_s + self._dispatch_interval_s
                    try:
                        self.tick()
                    except Exception:
                        log.exception("dispatch tick failed")
                self.run_jobs(now_s)
                self.stopping.wait(0.2)
        finally:
            log.info("stopping: waiting for %d running execution(s)", self._runner.in_flight)
            clean = self._runner.shutdown()
            for thread in apart:
                thread.join(timeout=30)  # a send under way ends within its timeout
            if not clean:
                log.error(
                    "executions still running after the shutdown timeout; recovery marks them interrupted"
                )
        return clean


def _run_job(job: PeriodicJob) -> None:
    """Run a job once; a failing job is logged and retried at its next interval."""
    try:
        job.run()
        job.failures = 0
    except Exception:
        job.failures += 1
        log.exception("periodic job %s failed (%d in a row)", job.name, job.failures)
