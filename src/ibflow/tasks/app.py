"""The Celery app of the production runtime: queues, delivery guarantees, and the beat schedule.

Three queues, so slow executions never starve the work that keeps positions safe:

- ``executions``: strategy runs (LLM calls may take a minute);
- ``trading``: order tracking, the protection watchdog, entry expiry, reconciliation, the broker session;
- ``maintenance``: the dispatcher tick, the dead-worker reaper, re-queueing, portfolio snapshots, pruning,
  notifications (each send with a timeout, so a slow target never holds up a trading job).

Deliveries are at least once: ``acks_late`` acknowledges a task only when it ended, so a task lost with its
worker is delivered again, and every task is safe to receive twice — an execution is claimed by one
conditional update (``queued`` -> ``running``), so a second delivery of a run another worker took, or that
was interrupted, does nothing; the periodic jobs hold the account lock and read the broker afresh. Redis
redelivers an unacknowledged task after ``visibility_timeout``: it must lie above the longest execution, or
a run still going would be delivered to a second worker (which would then do nothing, but the queue would
fill with such no-ops); see ``visibility_timeout_for``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery import Celery
from kombu import Exchange, Queue

from ibflow.core.settings import LlmSettings, RunnerSettings

EXECUTIONS, TRADING, MAINTENANCE = "executions", "trading", "maintenance"
QUEUES = (EXECUTIONS, TRADING, MAINTENANCE)

RUN_EXECUTION = "ibflow.run_execution"
DISPATCH = "ibflow.dispatch"
REAP = "ibflow.reap_dead_workers"
REQUEUE = "ibflow.requeue_queued"
JOB = "ibflow.periodic_job"

REQUEST_ID_HEADER = "ibflow_request_id"
"""The message header naming the API request that queued a run (its worker's log records carry it)."""

_STEP_ALLOWANCE = timedelta(minutes=10)
"""Everything in a run but the LLM call, generously: data, charts, risk, the broker's answers (15 s each)."""


def visibility_timeout_for(runner: RunnerSettings, llm: LlmSettings) -> int:
    """The Redis visibility timeout: the setting, but never below twice the longest run possible.

    The longest run is one LLM call with every retry the SDK makes at its full timeout, plus the rest of the
    steps (``_STEP_ALLOWANCE``); doubling it leaves room for a slow broker and a busy machine.
    """
    llm_worst = llm.llm_timeout_seconds * (llm.llm_max_retries + 1)
    floor = int(2 * (llm_worst + _STEP_ALLOWANCE.total_seconds()))
    return max(runner.celery_visibility_timeout_seconds, floor)


def create_app(runner: RunnerSettings, llm: LlmSettings, *, schedule: dict[str, Any] | None = None) -> Celery:
    """Return the Celery app on ``runner``'s broker; ``schedule`` is beat's (``beat.schedule``)."""
    app = Celery("ibflow", broker=runner.celery_broker_url.get_secret_value(), include=["ibflow.tasks.work"])
    app.conf.update(
        task_queues=[Queue(name, Exchange(name), routing_key=name) for name in QUEUES],
        task_default_queue=EXECUTIONS,
        task_default_exchange=EXECUTIONS,
        task_default_routing_key=EXECUTIONS,
        task_routes={
            RUN_EXECUTION: {"queue": EXECUTIONS},
            JOB: {"queue": TRADING},
            DISPATCH: {"queue": MAINTENANCE},
            REAP: {"queue": MAINTENANCE},
            REQUEUE: {"queue": MAINTENANCE},
        },
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,
        worker_prefetch_multiplier=1,
        broker_transport_options={"visibility_timeout": visibility_timeout_for(runner, llm)},
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        # Celery would swap sys.stderr for a proxy logging to itself: ibflow's handler writes to sys.stderr,
        # so every record of a worker or the beat would loop into the proxy and be dropped.
        worker_redirect_stdouts=False,
        worker_send_task_events=False,
        task_serializer="json",
        accept_content=["json"],
        timezone="UTC",
        enable_utc=True,
        beat_schedule=schedule or {},
    )
    return app
