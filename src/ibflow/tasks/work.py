"""The thin tasks: each calls the workflow or the trading core, and is safe to receive twice."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from celery import Task, shared_task
from sqlalchemy import select

from ibflow.core.ids import ExecutionId
from ibflow.core.log_context import log_context
from ibflow.db.models.executions import StrategyExecution
from ibflow.db.states import ExecutionStatus
from ibflow.tasks import app as names
from ibflow.tasks import process
from ibflow.workflow.runtime.liveness import reap_dead_workers
from ibflow.workflow.runtime.scheduler import dispatch_due

log = logging.getLogger(__name__)


@shared_task(name=names.RUN_EXECUTION, bind=True)
def run_execution(self: Task[Any, Any], execution_id: int) -> str:
    """Run a queued execution; one another worker claimed, or one interrupted meanwhile, is left alone."""
    request_id = self.request.get(names.REQUEST_ID_HEADER)  # the API request that asked for the run
    process.start_running(execution_id)
    try:
        with log_context(request_id=request_id if isinstance(request_id, str) else None):
            report = process.container().executor().run(ExecutionId(execution_id))
    finally:
        process.stop_running(execution_id)
    return report.status.value


@shared_task(name=names.DISPATCH)
def dispatch() -> int:
    """Create the executions of due slots (safe beside another dispatcher) and send them to the workers."""
    container = process.container()
    runner_settings = container.settings.runner
    result = dispatch_due(
        container.sessions,
        clock=container.clock,
        grace=timedelta(seconds=runner_settings.missed_grace_seconds),
    )
    runner = container.runner()
    for execution_id in result.queued:
        runner.submit(execution_id)
    return len(result.queued)


@shared_task(name=names.REAP)
def reap() -> int:
    """Interrupt the runs of workers that stopped beating, then settle the orders they left mid-submit."""
    container = process.container()
    dead_after = timedelta(seconds=container.settings.runner.worker_dead_after_seconds)
    interrupted = reap_dead_workers(container.sessions, clock=container.clock, dead_after=dead_after)
    if interrupted:
        for task in container.start_up_tasks():  # submitting -> submit_unknown under the lock, reconcile
            task()
    return len(interrupted)


@shared_task(name=names.REQUEUE)
def requeue() -> int:
    """Send again the queued executions no worker took in time (their message was lost with the broker)."""
    container = process.container()
    after = timedelta(seconds=container.settings.runner.requeue_after_seconds)
    with container.read_sessions() as session:
        stale = session.scalars(
            select(StrategyExecution.id).where(
                StrategyExecution.status == ExecutionStatus.QUEUED,
                StrategyExecution.created_at < container.clock.now() - after,
            )
        ).all()
    runner = container.runner()
    for execution_id in stale:
        runner.submit(ExecutionId(execution_id))
    if stale:
        log.warning("sent %d queued execution(s) again: %s", len(stale), list(stale))
    return len(stale)


@shared_task(name=names.JOB)
def periodic_job(name: str) -> None:
    """Run one periodic job (``workflow.runtime.jobs``) by name."""
    job = process.jobs().get(name)
    if job is None:
        log.error("no periodic job named %r here (the accounts differ between beat and this worker?)", name)
        return
    job.run()
