"""Events to apprise targets on this machine: one message per event and target, across restarts, with
retries and backoff for a failing target, and at most one duplicate after a crash between send and record."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.integration.notify.support import POLICY, notifier, target, write
from tests.notify_receiver import receiver
from tests.ports import free_port

from ibflow.core import faultpoints
from ibflow.core.clock import ManualClock
from ibflow.db.engine import SessionFactory, make_engine, session_factory
from ibflow.db.models.notify import DeliveryStatus, NotificationDelivery

pytestmark = pytest.mark.integration


@pytest.fixture
def db(any_migrated_db_url: str) -> Iterator[SessionFactory]:
    engine = make_engine(any_migrated_db_url)
    yield session_factory(engine)
    engine.dispose()


def _deliveries(sessions: SessionFactory) -> list[NotificationDelivery]:
    with sessions() as session:
        return list(session.scalars(select(NotificationDelivery).order_by(NotificationDelivery.id)))


def test_each_event_reaches_each_subscribed_target_once_across_a_clean_restart(
    db: SessionFactory, clock: ManualClock
) -> None:
    with receiver() as http:
        target(db, clock, http.url("phone"))  # the default set: no risk blocks
        target(db, clock, http.url("desk"), events=["all"])
        target(db, clock, http.url("exits"), events=["exit"])
        first = notifier(db, clock)
        first.run()  # its cursor starts here: what came before is history, not news

        for name in ("filled", "working", "blocked", "signal"):
            write(db, clock, name)
        first.run()
        first.run()

        restarted = notifier(db, clock)  # a new process: a new reader on the same database and cursor
        for name in ("exit", "halted"):
            write(db, clock, name)
        restarted.run()
        restarted.run()
        notifier(db, clock).run()

        assert http.bodies("phone") == [
            _body("filled"),
            _body("exit"),
            _body("halted"),
        ]
        assert http.bodies("desk") == [_body("filled"), _body("blocked"), _body("exit"), _body("halted")]
        assert http.bodies("exits") == [_body("exit")]
    rows = _deliveries(db)
    assert len(rows) == 8
    assert {row.status for row in rows} == {DeliveryStatus.SENT}
    assert all(row.attempts == 1 and row.sent_at is not None for row in rows)


def _body(name: str) -> str:
    return f"{name} happened"


def test_a_crash_between_send_and_record_sends_that_message_once_more_and_no_other_twice(
    db: SessionFactory, clock: ManualClock
) -> None:
    class Crash(BaseException):
        pass

    crashes = []

    def crash_once(point: str) -> None:
        if point == faultpoints.NOTIFY_AFTER_SEND and not crashes:
            crashes.append(point)
            raise Crash(point)  # what SIGKILL leaves: the send made, its record not

    with receiver() as http:
        target(db, clock, http.url("phone"))
        notifier(db, clock).run()
        for name in ("filled", "exit", "halted"):
            write(db, clock, name)
        faultpoints.install_handler(crash_once)
        try:
            with pytest.raises(Crash):
                notifier(db, clock).run()
        finally:
            faultpoints.install_handler(None)
        assert http.bodies("phone") == [_body("filled")]

        after_restart = notifier(db, clock)
        after_restart.run()  # the crashed send is still claimed: the others go
        assert http.bodies("phone") == [_body("filled"), _body("exit"), _body("halted")]

        clock.advance(POLICY.lease + timedelta(seconds=1))  # the claim of the crashed send runs out
        after_restart.run()
        clock.advance(timedelta(hours=2))
        notifier(db, clock).run()

        bodies = http.bodies("phone")
    assert sorted(bodies) == sorted([_body("filled"), _body("filled"), _body("exit"), _body("halted")])
    assert {row.status for row in _deliveries(db)} == {DeliveryStatus.SENT}


@pytest.mark.parametrize("failure", ["answers 500", "port closed"])
def test_a_failing_target_is_retried_with_backoff_then_recorded_failed(
    db: SessionFactory, clock: ManualClock, failure: str
) -> None:
    with receiver(status=500) as http:
        url = http.url("phone", user="me:s3cretpass") if failure == "answers 500" else None
        url = url or f"json://me:s3cretpass@127.0.0.1:{free_port()}/phone"
        target(db, clock, url)
        job = notifier(db, clock)
        job.run()
        write(db, clock, "filled")

        job.run()  # attempt 1
        (row,) = _deliveries(db)
        assert (row.status, row.attempts) == (DeliveryStatus.PENDING, 1)
        assert row.next_attempt_at == clock.now() + POLICY.first_backoff
        job.run()  # not due yet: nothing is sent
        assert _deliveries(db)[0].attempts == 1

        clock.advance(POLICY.first_backoff)
        job.run()  # attempt 2, then the backoff doubles
        (row,) = _deliveries(db)
        assert (row.status, row.attempts) == (DeliveryStatus.PENDING, 2)
        assert row.next_attempt_at == clock.now() + 2 * POLICY.first_backoff

        clock.advance(2 * POLICY.first_backoff)
        job.run()  # attempt 3 of 3: given up
        clock.advance(timedelta(days=1))
        job.run()
        (row,) = _deliveries(db)
        requests = http.count()
    assert (row.status, row.attempts) == (DeliveryStatus.FAILED, 3)
    assert row.last_error
    assert "s3cretpass" not in row.last_error
    assert requests == (3 if failure == "answers 500" else 0)


def test_a_process_killed_between_send_and_record_leaves_one_duplicate_after_the_restart(
    tmp_path: Path, migrated_sqlite: Callable[[Path], str]
) -> None:
    url = migrated_sqlite(tmp_path / "ibflow.db")
    engine = make_engine(url)
    sessions = session_factory(engine)
    wall = ManualClock(datetime.now(UTC))
    with receiver() as http:
        target(sessions, wall, http.url("phone"))
        notifier(sessions, wall).queue.enqueue()  # the cursor, before the events
        write(sessions, wall, "filled")
        write(sessions, wall, "exit")
        env = {
            **os.environ,
            "IBFLOW_DATABASE_URL": url,
            "IBFLOW_DATA_DIR": str(tmp_path / "var"),
            faultpoints.ENV: faultpoints.NOTIFY_AFTER_SEND,
        }
        killed = subprocess.run(
            [sys.executable, "-c", "from ibflow import bootstrap; bootstrap.build().notifier.run()"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            timeout=120,
            check=False,
        )
        assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()
        assert http.bodies("phone") == [_body("filled")]

        later = ManualClock(datetime.now(UTC) + timedelta(minutes=5))  # past the killed send's claim
        notifier(sessions, later).run()
        notifier(sessions, later).run()
        bodies = http.bodies("phone")
    statuses = {row.status for row in _deliveries(sessions)}
    engine.dispose()
    assert bodies == [_body("filled"), _body("exit"), _body("filled")]  # the claimed one waited its lease
    assert statuses == {DeliveryStatus.SENT}
