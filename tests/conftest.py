"""Shared fixtures: databases (SQLite files, fresh PostgreSQL databases), clocks, and the service gate.

Integration tests that need a service call ``require_service``: locally a missing service skips the test
with the reason; under CI (``CI=true``) it fails instead, so a green CI run never hides a skipped suite.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from ibflow.core.clock import ManualClock
from ibflow.db import migrate
from ibflow.db.engine import SessionFactory, make_engine, session_factory

PG_ADMIN_URL = os.environ.get("IBFLOW_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def services_required() -> bool:
    """Tell whether a missing service must fail the run (CI) rather than skip a test."""
    return os.environ.get("CI", "").lower() == "true" or os.environ.get("IBFLOW_REQUIRE_SERVICES") == "1"


def require_service(name: str, reachable: bool, detail: str = "") -> None:
    """Skip (locally) or fail (CI) when ``name`` is not reachable."""
    if reachable:
        return
    reason = f"{name} is not reachable{': ' + detail if detail else ''}"
    if services_required():
        pytest.fail(f"{reason} (CI requires every service; start it, see .ci/run)")
    pytest.skip(reason)


def _pg_reachable() -> tuple[bool, str]:
    import psycopg

    try:
        with psycopg.connect(_libpq(PG_ADMIN_URL), connect_timeout=3):
            return True, ""
    except psycopg.OperationalError as exc:
        return False, str(exc).strip().splitlines()[0]


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test, dropped afterwards."""
    import psycopg

    ok, detail = _pg_reachable()
    require_service("PostgreSQL at " + PG_ADMIN_URL.rsplit("@", 1)[-1], ok, detail)
    name = f"ibflow_t_{secrets.token_hex(6)}"
    with psycopg.connect(_libpq(PG_ADMIN_URL), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(_libpq(PG_ADMIN_URL), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite file of this test's own."""
    return f"sqlite:///{tmp_path / 'ibflow.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db_url(request: pytest.FixtureRequest) -> str:
    """The test runs once on SQLite and once on PostgreSQL."""
    name = "sqlite_url" if request.param == "sqlite" else "pg_url"
    return str(request.getfixturevalue(name))


@pytest.fixture
def engine(sqlite_url: str) -> Iterator[Engine]:
    """A migrated SQLite engine of this test's own."""
    migrate.upgrade(sqlite_url)
    eng = make_engine(sqlite_url)
    yield eng
    eng.dispose()


@pytest.fixture
def sessions(engine: Engine) -> SessionFactory:
    """Session factory on the migrated SQLite database."""
    return session_factory(engine)


@pytest.fixture
def clock() -> ManualClock:
    """A manual clock at a fixed Wednesday noon, New York time (16:00 UTC)."""
    return ManualClock(datetime(2026, 3, 4, 17, 0, tzinfo=UTC))
