"""``/metrics`` of the production runtime: two real workers write their counters to one metrics folder and the
``ibflow web`` beside them shows the sums; ``/readyz`` there waits for beat.

Each test gets its own PostgreSQL database, its own Redis database on the module's private server and its
own metrics folder (``IBFLOW_METRICS_DIR``), as one machine of a deployment would have.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2
import pytest
from sqlalchemy import func, select
from tests.factories import make_strategy
from tests.integration.runtime.test_celery_workers import (
    Procs,
    _buying_seed,
    _env,
    _wait,
    database,
    procs,
)
from tests.metrics_support import samples, total
from tests.ports import free_port

from ibflow.db.engine import SessionFactory
from ibflow.db.models import Fill, StrategyExecution, WorkerHeartbeat
from ibflow.db.states import ExecutionStatus
from ibflow.workflow.lineage import STEP_NAMES

pytestmark = pytest.mark.integration

__all__ = ["database", "procs"]  # the fixtures of the workers' tests, used here

STRATEGIES = 8


def _get(port: int, path: str) -> httpx2.Response | None:
    try:
        return httpx2.get(f"http://127.0.0.1:{port}{path}", timeout=10)
    except httpx2.TransportError:
        return None


def _workers(sessions: SessionFactory) -> int:
    with sessions() as session:
        query = select(func.count()).select_from(WorkerHeartbeat).where(WorkerHeartbeat.role == "worker")
        return int(session.scalar(query) or 0)


def test_two_workers_counters_add_up_on_the_web_process_and_readyz_waits_for_beat(
    *,
    migrated_pg_url: str,
    database: SessionFactory,
    redis_broker: str,
    tmp_path: Path,
    procs: Callable[[dict[str, str]], Procs],
) -> None:
    now = datetime.now(UTC)
    slot = now.replace(second=0, microsecond=0)
    folder = tmp_path / "metrics"
    port = free_port()
    env = _env(migrated_pg_url, redis_broker, tmp_path, _buying_seed(now))
    env.update({"IBFLOW_METRICS_DIR": str(folder), "IBFLOW_HTTP_PORT": str(port)})
    group = procs(env)
    group.start("web", "web")
    group.worker("worker-1")
    group.worker("worker-2")
    _wait("both workers' heartbeats", lambda: _workers(database) == 2, group, timeout=60)
    ready = _wait("the web process", lambda: _get(port, "/readyz"), group, timeout=60)

    assert ready.status_code == 503  # no beat yet: nothing would dispatch
    checks: dict[str, Any] = ready.json()["checks"]
    assert checks["beat"].startswith("no beat process"), checks
    assert checks["queue"] == "ok", checks
    assert checks["database"] == "ok", checks

    once_a_day = f"{slot.minute} {slot.hour} * * *"  # due now, then not again during the test
    with database() as session:
        for _ in range(STRATEGIES):
            make_strategy(session, now=slot, analyst="rules", cron=once_a_day)
        session.commit()
    group.beat()

    def finished() -> bool:
        with database() as session:
            open_ = session.scalar(
                select(func.count())
                .select_from(StrategyExecution)
                .where(StrategyExecution.status.in_((ExecutionStatus.QUEUED, ExecutionStatus.RUNNING)))
            )
            done = session.scalar(select(func.count()).select_from(StrategyExecution))
        return bool(done and done >= STRATEGIES and not open_)

    _wait(f"{STRATEGIES} executions", finished, group, timeout=120)

    def ready_now() -> httpx2.Response | None:
        answer = _get(port, "/readyz")
        return answer if answer is not None and answer.status_code == 200 else None

    ready = _wait("/readyz with beat", ready_now, group, timeout=30)
    assert ready.json()["checks"] == {"database": "ok", "broker": "ok", "beat": "ok", "queue": "ok"}
    live = _get(port, "/metrics")
    assert live is not None
    assert live.status_code == 200
    assert total(live.text, "ibflow_runtime_processes", role="worker") == 2
    assert total(live.text, "ibflow_runtime_processes", role="beat") == 1
    assert total(live.text, "ibflow_queue_broker_up") == 1
    queues = {labels["queue"] for name, labels, _ in samples(live.text) if name == "ibflow_queue_messages"}
    assert queues == {"executions", "trading", "maintenance"}
    assert total(live.text, "ibflow_executions_in_progress", status="queued") == 0

    for name, proc, _log in group.started:  # the workers stop; their counters stay in the folder
        if name != "web":
            group.stop(proc)
    scraped = _get(port, "/metrics")
    assert scraped is not None
    assert scraped.status_code == 200
    text = scraped.text

    with database() as session:
        executions = session.scalars(select(StrategyExecution)).all()
        fills = int(session.scalar(select(func.count()).select_from(Fill)) or 0)
    owners = {e.owner for e in executions}
    statuses = [e.status for e in executions]
    assert statuses == [ExecutionStatus.SUCCEEDED] * STRATEGIES, group.logs()
    assert len(owners) == 2, f"both workers should have run some: {owners}\n{group.logs()}"
    assert total(text, "ibflow_executions_total", status="succeeded") == STRATEGIES
    assert total(text, "ibflow_step_duration_seconds_count") == STRATEGIES * len(STEP_NAMES)
    assert total(text, "ibflow_fills_total") == fills
    assert total(text, "ibflow_events_total", kind="execution.finished") == STRATEGIES
    files = {path.stem.split("_", 1)[1] for path in folder.glob("*.db")}
    assert len(files) >= 2, files  # the two workers' files at least (beat's and web's when they counted)
