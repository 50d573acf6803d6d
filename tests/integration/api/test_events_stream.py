"""``GET /events`` over real HTTP: a burst of 1,000 events from concurrent writers, a client that drops the
connection mid-burst and comes back with ``Last-Event-ID``, and every event received exactly once.

On PostgreSQL the writers hold their transactions open for a random moment after inserting, so event ids
commit out of order (the case that makes a reader resuming "after the last id" skip events).
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx2
import pytest
from sqlalchemy import select
from tests.ports import free_port

from ibflow import bootstrap
from ibflow.api.server import ApiServer
from ibflow.core.clock import ManualClock
from ibflow.core.settings import ChartSettings, DatabaseSettings
from ibflow.db.events.outbox import record_event
from ibflow.db.models.system import Event
from ibflow.db.states import UserRole
from ibflow.users.service import create_user
from ibflow.users.tokens import create_token

pytestmark = pytest.mark.integration
WRITERS, PER_WRITER = 4, 250
FIRST_VISIT = 300


class Stream:
    """One SSE connection: its frames as (id, kind, data) until closed."""

    def __init__(self, response: httpx2.Response) -> None:
        self.response = response
        self.lines = response.iter_lines()

    def frames(self) -> Iterator[tuple[str, str, dict[str, object]]]:
        fields: dict[str, str] = {}
        for line in self.lines:
            if line == "":
                if "data" in fields:
                    yield fields["id"], fields["event"], json.loads(fields["data"])
                fields = {}
            elif not line.startswith(":"):
                name, _, value = line.partition(": ")
                fields[name] = value


@pytest.fixture
def server(any_migrated_db_url: str, tmp_path: Path) -> Iterator[tuple[ApiServer, bootstrap.Container, str]]:
    settings = bootstrap.Settings(
        database=DatabaseSettings(database_url=any_migrated_db_url, data_dir=tmp_path),
        charts=ChartSettings(charts_dir=tmp_path / "charts"),
    )
    clock = ManualClock(datetime(2026, 3, 3, 15, 0, tzinfo=UTC))
    container = bootstrap.build(settings, clock)
    with container.sessions() as session:
        user = create_user(
            session, username="watcher", password="watcher password 1", role=UserRole.VIEWER, clock=clock
        )
        token = create_token(session, user=user, name="sse", clock=clock).token
        session.commit()
    running = ApiServer(container, host="127.0.0.1", port=free_port())
    running.start()
    yield running, container, token
    running.stop()
    container.engine.dispose()


def _write(container: bootstrap.Container, writer: int, postgres: bool) -> None:
    rng = random.Random(writer)
    for n in range(PER_WRITER):
        with container.sessions() as session:
            record_event(
                session,
                kind="broker.session_changed",
                at=container.clock.now(),
                payload={"broker": f"writer-{writer}", "healthy": True, "detail": str(n), "state": "ok"},
            )
            session.flush()  # the id is taken now; on PostgreSQL the commit comes a moment later
            if postgres:
                time.sleep(rng.uniform(0, 0.01))
            session.commit()


def test_a_client_that_reconnects_with_last_event_id_receives_each_event_exactly_once(
    server: tuple[ApiServer, bootstrap.Container, str],
) -> None:
    api, container, token = server
    postgres = container.engine.dialect.name == "postgresql"
    url = f"{api.url}/api/v1/events"
    headers = {"Authorization": f"Bearer {token}"}
    received: list[str] = []
    positions: list[str] = []
    writers = [threading.Thread(target=_write, args=(container, w, postgres)) for w in range(WRITERS)]
    with httpx2.Client(timeout=30) as client:
        with client.stream("GET", url, headers=headers) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            stream = Stream(response)
            assert next(stream.lines) == f"retry: {3000}"  # the start position is fixed: now write
            for thread in writers:
                thread.start()
            for position, kind, data in stream.frames():
                assert kind == "broker.session_changed"
                received.append(f"{data['payload']['broker']}/{data['payload']['detail']}")  # type: ignore[index]
                positions.append(position)
                if len(received) == FIRST_VISIT:
                    break  # the connection drops mid-burst
        resumed = {**headers, "Last-Event-ID": positions[-1]}
        try:  # ends at the last event, or when nothing came for 10 s (an event the stream skipped)
            with client.stream("GET", url, headers=resumed, timeout=httpx2.Timeout(30, read=10)) as response:
                for position, _, data in Stream(response).frames():
                    received.append(f"{data['payload']['broker']}/{data['payload']['detail']}")  # type: ignore[index]
                    positions.append(position)
                    if len(received) >= WRITERS * PER_WRITER:
                        break
        except httpx2.ReadTimeout:
            pass
    for thread in writers:
        thread.join()
    expected = {f"writer-{w}/{n}" for w in range(WRITERS) for n in range(PER_WRITER)}
    assert len(received) == len(expected)
    assert set(received) == expected  # with the length: each exactly once
    with container.read_sessions() as session:
        stored = session.scalars(select(Event.id)).all()
    assert sorted(int(p.split("-")[1]) for p in positions) == sorted(stored)


def test_a_bad_last_event_id_or_kind_is_a_422_problem(
    server: tuple[ApiServer, bootstrap.Container, str],
) -> None:
    api, _, token = server
    headers = {"Authorization": f"Bearer {token}"}
    bad_id = httpx2.get(
        f"{api.url}/api/v1/events", headers={**headers, "Last-Event-ID": "yesterday"}, timeout=10
    )
    assert bad_id.status_code == 422
    assert bad_id.headers["content-type"].startswith("application/problem+json")
    bad_kind = httpx2.get(f"{api.url}/api/v1/events?kinds=order.teleported", headers=headers, timeout=10)
    assert bad_kind.status_code == 422
    assert "order.teleported" in bad_kind.text
    assert httpx2.get(f"{api.url}/api/v1/events", timeout=10).status_code == 401
