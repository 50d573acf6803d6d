"""Engine and session factories.

SQLite is opened in WAL mode with a busy timeout and foreign keys on, and every transaction starts with
``BEGIN IMMEDIATE`` so two writers queue for the lock up front instead of failing half-way with
"database is locked" (freqtrade#7184). Sessions from ``read_session_factory`` use a plain deferred ``BEGIN``
for long reads. On PostgreSQL nothing special is needed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import URL, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.orm import Session, sessionmaker

from ibflow.core.environment import ensure_folder
from ibflow.core.errors import ConfigurationError

SessionFactory = sessionmaker[Session]
_READ_ONLY = "ibflow_deferred_begin"
DISPOSABLE_CACHE_KIB = 65_536
"""The page cache of a disposable (backtest) database, per connection."""


def make_engine(
    url: str, *, busy_timeout_ms: int = 30_000, echo: bool = False, disposable: bool = False
) -> Engine:
    """Create the engine for ``url`` with ibflow's connection rules applied.

    ``disposable`` (a backtest's own SQLite file, never the main database) trades durability for speed:
    ``synchronous=OFF`` (no fsync: a crash of the process loses nothing, a power cut may lose or corrupt
    the file) and a larger page cache. WAL mode stays, so readers still never wait for the writer.

    A URL that does not parse, names a database ibflow does not support, or a SQLite file whose folder
    cannot be made raises ``ConfigurationError`` saying what to fix (never echoing a password).
    """
    parsed = _parse(url)
    if parsed.get_backend_name() != "sqlite":
        return _create(parsed, echo=echo, pool_pre_ping=True)

    database = parsed.database or ""
    if database and database != ":memory:":
        ensure_folder(Path(database).parent, "the database folder (IBFLOW_DATA_DIR or IBFLOW_DATABASE_URL)")
    engine = _create(
        parsed,
        echo=echo,
        connect_args={"timeout": busy_timeout_ms / 1000, "check_same_thread": False},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let SQLAlchemy emit BEGIN itself
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA synchronous={'OFF' if disposable else 'NORMAL'}")
        if disposable:
            cursor.execute(f"PRAGMA cache_size=-{DISPOSABLE_CACHE_KIB}")
            cursor.execute("PRAGMA temp_store=MEMORY")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        if connection.get_execution_options().get(_READ_ONLY):
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def session_factory(engine: Engine) -> SessionFactory:
    """Sessions that write: ``BEGIN IMMEDIATE`` on SQLite. Objects stay usable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


def read_session_factory(engine: Engine) -> SessionFactory:
    """Sessions for reads only: a deferred ``BEGIN`` on SQLite, so readers never wait for writers."""
    return sessionmaker(engine.execution_options(**{_READ_ONLY: True}), expire_on_commit=False)


SUPPORTED = {"sqlite": "sqlite:///PATH", "postgresql": "postgresql+psycopg://USER@HOST:5432/DATABASE"}


def describe_database(url: str) -> str:
    """Name the database ``url`` points at for a message: the SQLite file, else the URL less its password."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return "the database (IBFLOW_DATABASE_URL)"
    if parsed.get_backend_name() == "sqlite":
        return f"the SQLite file {parsed.database or ':memory:'}"
    return parsed.render_as_string(hide_password=True)


def _parse(url: str) -> URL:
    examples = " or ".join(SUPPORTED.values())
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigurationError(
            f"IBFLOW_DATABASE_URL is not a database URL; it looks like {examples}"
        ) from None
    if parsed.get_backend_name() not in SUPPORTED:
        raise ConfigurationError(
            f"IBFLOW_DATABASE_URL names a {parsed.get_backend_name()!r} database; "
            f"ibflow supports SQLite and PostgreSQL: {examples}"
        )
    return parsed


def _create(url: URL, **options: Any) -> Engine:
    try:
        return create_engine(url, **options)
    except (NoSuchModuleError, ModuleNotFoundError) as exc:
        raise ConfigurationError(
            f"IBFLOW_DATABASE_URL asks for the driver {url.drivername!r}, which is not installed; "
            f"use {SUPPORTED.get(url.get_backend_name(), 'sqlite:///PATH')}"
        ) from exc
