"""The Celery runner behind ``workflow``'s runner interface, and the launchers of ``ibflow worker|beat``.

``bootstrap`` picks this runner when ``IBFLOW_RUNNER=celery`` (the one import of ``tasks`` outside the
entry points). Workers use Celery's ``threads`` pool: each worker is one process whose threads run tasks, so
the owner tag an execution carries (``host:pid``) is the process that heartbeats for it.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

from celery import Celery

from ibflow.core import log_context, metrics
from ibflow.core.errors import Unavailable
from ibflow.core.ids import ExecutionId
from ibflow.tasks import app as names
from ibflow.tasks import process
from ibflow.workflow.runtime.recovery import owner_id

if TYPE_CHECKING:
    from ibflow.bootstrap import Container

log = logging.getLogger(__name__)


class CeleryRunner:
    """Send executions to the ``executions`` queue."""

    def __init__(self, app: Celery) -> None:
        self._app = app

    def submit(self, execution_id: ExecutionId) -> None:
        """Queue ``execution_id``; a second message for it does nothing (the executor claims it once).

        A run asked for by an API request carries the request's id to the worker, whose log records of the
        run then name it too.
        """
        request_id = log_context.current().get("request_id")
        headers = {names.REQUEST_ID_HEADER: request_id} if request_id else None
        self._app.send_task(
            names.RUN_EXECUTION, args=[int(execution_id)], queue=names.EXECUTIONS, headers=headers
        )

    def run_jobs(
        self, job_names: list[str], *, timeout_s: float = 5.0, expires_s: float | None = None
    ) -> None:
        """Send the periodic jobs ``job_names`` (``workflow.runtime.jobs``) to the ``trading`` queue now;
        with ``expires_s``, a message no worker started by then is dropped (clicks cannot pile up work).

        ``Unavailable`` when the Celery broker does not take them within about ``timeout_s``."""
        policy = {
            "max_retries": 2,
            "interval_start": 0,
            "interval_step": timeout_s / 4,
            "interval_max": timeout_s,
        }
        try:
            for name in job_names:
                self._app.send_task(
                    names.JOB,
                    args=[name],
                    queue=names.TRADING,
                    retry=True,
                    retry_policy=policy,
                    expires=expires_s,
                )
        except Exception as exc:  # kombu's connection errors are many; each means the queue did not get it
            raise Unavailable(f"the Celery broker did not take the sync: {exc}") from exc

    def queue_depths(self, *, timeout_s: float = 2.0) -> dict[str, int]:
        """Messages waiting in each queue (a queue no worker declared yet holds none); raises when the
        broker cannot be reached within ``timeout_s``."""
        depths: dict[str, int] = {}
        with self._app.connection_for_write(connect_timeout=timeout_s) as connection:
            connection.ensure_connection(max_retries=1, timeout=max(1, round(timeout_s)))
            for queue in names.QUEUES:
                channel: Any = connection.channel()  # a passive declare of a missing queue closes it
                try:
                    depths[queue] = int(channel.queue_declare(queue=queue, passive=True).message_count)
                except connection.channel_errors:
                    depths[queue] = 0
                finally:
                    with contextlib.suppress(Exception):  # RabbitMQ closed it already on a missing queue
                        channel.close()
        return depths


def celery_app(container: Container, *, with_schedule: bool = False) -> Celery:
    """The Celery app for ``container``'s settings (with beat's schedule when asked)."""
    settings = container.settings
    schedule = beat_schedule(container) if with_schedule else None
    return names.create_app(settings.runner, settings.llm, schedule=schedule)


def beat_schedule(container: Container) -> dict[str, Any]:
    """Every periodic task and its interval; a tick not taken within two intervals expires unrun."""
    runner = container.settings.runner

    def every(seconds: float, task: str, queue: str, *args: object) -> dict[str, Any]:
        return {
            "task": task,
            "schedule": float(seconds),
            "args": list(args),
            "options": {"queue": queue, "expires": max(2 * float(seconds), 10.0)},
        }

    schedule = {
        "dispatch": every(runner.dispatch_interval_seconds, names.DISPATCH, names.MAINTENANCE),
        "reap_dead_workers": every(runner.worker_heartbeat_seconds * 2, names.REAP, names.MAINTENANCE),
        "requeue_queued": every(runner.requeue_after_seconds, names.REQUEUE, names.MAINTENANCE),
    }
    for job in process.jobs().values():
        queue = (
            names.MAINTENANCE
            if job.name.startswith(("snapshot", "prune", "notify", "summary"))
            else names.TRADING
        )
        schedule[job.name] = every(job.interval_s, names.JOB, queue, job.name)
    return schedule


def start_worker(container: Container, *, queues: list[str], concurrency: int) -> None:
    """Run a worker on ``queues`` with ``concurrency`` threads until stopped (TERM finishes running tasks)."""
    from ibflow.workflow.runtime.liveness import Heartbeat

    unknown = sorted(set(queues) - set(names.QUEUES))
    if unknown:
        raise ValueError(f"unknown queue(s) {', '.join(unknown)}; the queues are {', '.join(names.QUEUES)}")
    process.use(container)
    runner = container.settings.runner
    heartbeat = Heartbeat(
        container.sessions,
        clock=container.clock,
        owner=owner_id(),
        role="worker",
        queues=",".join(queues),
        interval_s=runner.worker_heartbeat_seconds,
        running=process.running,
    ).start()
    app = celery_app(container)
    try:
        app.worker_main(
            argv=[
                "worker",
                f"--queues={','.join(queues)}",
                "--pool=threads",
                f"--concurrency={concurrency}",
                f"--hostname=ibflow-{'-'.join(queues)}@{socket.gethostname()}",
                "--without-gossip",
                "--without-mingle",
                f"--loglevel={container.settings.logging.log_level}",  # Celery sets the root logger's level
            ]
        )
    finally:
        heartbeat.stop()
        metrics.process_ended()


def start_beat(container: Container) -> None:
    """Recover what a crash left (as ``ibflow serve`` does at start-up), then run beat until stopped."""
    from datetime import timedelta

    from ibflow.workflow.runtime.liveness import Heartbeat
    from ibflow.workflow.runtime.recovery import recover_executions

    process.use(container)
    runner = container.settings.runner
    report = recover_executions(
        container.sessions,
        clock=container.clock,
        grace=timedelta(seconds=runner.missed_grace_seconds),
        dead_after=timedelta(seconds=runner.worker_dead_after_seconds),
    )
    for task in container.start_up_tasks():
        task()
    celery_runner = container.runner()
    for execution_id in report.requeued:
        celery_runner.submit(execution_id)
    heartbeat = Heartbeat(
        container.sessions,
        clock=container.clock,
        owner=owner_id(),
        role="beat",
        interval_s=runner.worker_heartbeat_seconds,
    ).start()
    app = celery_app(container, with_schedule=True)
    state = Path(container.settings.runner.data_dir) / "celerybeat-schedule"
    state.parent.mkdir(parents=True, exist_ok=True)
    try:
        app.start(argv=["beat", f"--schedule={state}", f"--loglevel={container.settings.logging.log_level}"])
    finally:
        heartbeat.stop()
