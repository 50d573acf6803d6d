"""The ``notify`` job in both runtimes: a thread of its own under ``ibflow serve``, the maintenance queue
under Celery beat (never the executions or trading queues), and the Celery task sends through it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from tests.integration.notify.support import target, write
from tests.notify_receiver import receiver

from ibflow import bootstrap
from ibflow.core.clock import ManualClock
from ibflow.core.settings import BrokerSettings, ChartSettings, DatabaseSettings, RunnerSettings
from ibflow.notify.service import LOCK
from ibflow.tasks import app as names
from ibflow.tasks import process
from ibflow.tasks.runner import beat_schedule
from ibflow.tasks.work import periodic_job

pytestmark = pytest.mark.integration


@pytest.fixture
def container(tmp_path: Path, migrated_sqlite: Callable[[Path], str]) -> Iterator[bootstrap.Container]:
    url = migrated_sqlite(tmp_path / "ibflow.db")
    settings = bootstrap.Settings(
        database=DatabaseSettings(database_url=url),
        broker=BrokerSettings(paper_account_id="PAPER-JOB"),
        charts=ChartSettings(charts_dir=tmp_path / "charts"),
        runner=RunnerSettings(runner="celery"),
    )
    built = bootstrap.build(settings, ManualClock(datetime(2026, 3, 4, 17, 0, tzinfo=UTC)))
    process.use(built)
    yield built
    process.use(bootstrap.build(settings))  # leave no container of this test's clock behind
    built.engine.dispose()


def test_beat_sends_the_notify_job_to_the_maintenance_queue_and_the_task_delivers(
    container: bootstrap.Container,
) -> None:
    entry = beat_schedule(container)["notify"]
    assert entry["task"] == names.JOB
    assert entry["options"]["queue"] == names.MAINTENANCE
    assert entry["args"] == ["notify"]
    assert entry["schedule"] == container.settings.notify.notify_interval_seconds
    (job,) = [job for job in container.periodic_jobs() if job.name == "notify"]
    assert job.apart  # under `ibflow serve`: its own thread, not the trading jobs' loop

    clock = container.clock
    assert isinstance(clock, ManualClock)
    with receiver() as http:
        target(container.sessions, clock, http.url("ops"))
        periodic_job("notify")  # what a maintenance worker runs for beat's message
        write(container.sessions, clock, "exit")
        periodic_job("notify")
        periodic_job("notify")  # a second delivery of beat's message sends nothing twice
        bodies = http.bodies("ops")
    assert bodies == ["exit happened"]


def test_a_second_notify_run_at_the_same_time_returns_at_once_and_sends_nothing(
    container: bootstrap.Container,
) -> None:
    clock = container.clock
    assert isinstance(clock, ManualClock)
    with receiver() as http:
        target(container.sessions, clock, http.url("ops"))
        container.notifier.run()
        write(container.sessions, clock, "exit")
        with container.locks.hold(LOCK):  # another worker thread is in a run
            idle = container.notifier.run()
        assert http.bodies("ops") == []
        container.notifier.run()
        bodies = http.bodies("ops")
    assert (idle.queued, idle.sent.sent) == (0, [])
    assert bodies == ["exit happened"]
