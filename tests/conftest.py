"""Shared fixtures: databases (SQLite files, PostgreSQL databases), clocks, and the service gate.

Migrating is slow (Alembic), so each pytest process (each xdist worker) migrates twice per session: a
SQLite template file and a PostgreSQL template database. A test that wants a migrated database gets a copy
(``shutil.copyfile`` / ``CREATE DATABASE ... TEMPLATE``) with a fresh random installation id, exactly what a
migration of its own would have left. Tests of the migrations themselves keep empty databases
(``sqlite_url``, ``pg_url``, ``any_db_url``).

Integration tests that need a service call ``require_service``: locally a missing service skips the test
with the reason; under CI (``CI=true``) it fails instead, so a green CI run never hides a skipped suite.
"""

from __future__ import annotations

import io
import logging
import os
import secrets
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from ibflow.core.clock import ManualClock
from ibflow.core.logging import JsonFormatter
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


def _pg_db_url(name: str) -> str:
    return f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"


def _require_pg() -> None:
    ok, detail = _pg_reachable()
    require_service("PostgreSQL at " + PG_ADMIN_URL.rsplit("@", 1)[-1], ok, detail)


def _pg_admin(statement: str) -> None:
    import psycopg

    with psycopg.connect(_libpq(PG_ADMIN_URL), autocommit=True) as conn:
        conn.execute(statement)


# A copy gets its own random installation id, as a migration of its own would have given it.
NEW_INSTALLATION_ID = "UPDATE installation SET installation_id = {} WHERE id = 1"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test, dropped afterwards."""
    yield from _pg_database(template=None)


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """The name of a PostgreSQL database migrated once per session (per xdist worker), dropped at the end.

    Nothing stays connected to it (the migration's engine is disposed): PostgreSQL copies a template only
    while no other session is connected to it.
    """
    _require_pg()
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"ibflow_template_{worker}_{secrets.token_hex(3)}"  # two runs at once never share one
    _pg_admin(f'CREATE DATABASE "{name}"')
    try:
        migrate.upgrade(_pg_db_url(name))
        yield name
    finally:
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def migrated_pg_url(pg_template: str) -> Iterator[str]:
    """A PostgreSQL database of this test's own, migrated to head (a copy of the session's template)."""
    yield from _pg_database(template=pg_template)


def _pg_database(template: str | None) -> Iterator[str]:
    import psycopg

    _require_pg()
    name = f"ibflow_t_{secrets.token_hex(6)}"
    _pg_admin(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    try:
        if template:
            with psycopg.connect(_libpq(_pg_db_url(name)), autocommit=True) as conn:
                conn.execute(NEW_INSTALLATION_ID.format("%s"), (secrets.token_hex(4),))
        yield _pg_db_url(name)
    finally:
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite file of this test's own (the path only: nothing is created)."""
    return f"sqlite:///{tmp_path / 'ibflow.db'}"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once per session (per xdist worker); tests get copies of it."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    migrate.upgrade(f"sqlite:///{path}")
    conn = sqlite3.connect(path)  # everything into the main file, so that copying the file is enough
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    wal = path.with_name(path.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0
    return path


@pytest.fixture
def migrated_sqlite(sqlite_template: Path) -> Callable[[Path], str]:
    """``migrated_sqlite(path)`` puts a migrated SQLite file at ``path`` and returns its URL."""

    def copy(path: Path) -> str:
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(sqlite_template, path)
        conn = sqlite3.connect(path)
        with conn:
            conn.execute(NEW_INSTALLATION_ID.format("?"), (secrets.token_hex(4),))
        conn.close()
        return f"sqlite:///{path}"

    return copy


@pytest.fixture
def migrated_sqlite_url(sqlite_url: str, migrated_sqlite: Callable[[Path], str]) -> str:
    """``sqlite_url``, migrated to head (a copy of the session's template)."""
    return migrated_sqlite(Path(sqlite_url.removeprefix("sqlite:///")))


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db_url(request: pytest.FixtureRequest) -> str:
    """The test runs once on SQLite and once on PostgreSQL, each an empty database."""
    name = "sqlite_url" if request.param == "sqlite" else "pg_url"
    return str(request.getfixturevalue(name))


@pytest.fixture(params=["sqlite", "postgresql"])
def any_migrated_db_url(request: pytest.FixtureRequest) -> str:
    """The test runs once on SQLite and once on PostgreSQL, each a database migrated to head."""
    name = "migrated_sqlite_url" if request.param == "sqlite" else "migrated_pg_url"
    return str(request.getfixturevalue(name))


@pytest.fixture
def engine(migrated_sqlite_url: str) -> Iterator[Engine]:
    """A migrated SQLite engine of this test's own."""
    eng = make_engine(migrated_sqlite_url)
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


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """Every record of the process at DEBUG, formatted as ``IBFLOW_LOG_FORMAT=json`` does."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
