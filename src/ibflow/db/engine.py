"""Engine and session factories.

SQLite is opened in WAL mode with a busy timeout and foreign keys on, and every transaction starts with
``BEGIN IMMEDIATE`` so two writers queue for the lock up front instead of failing half-way with
"database is locked" (freqtrade#7184). Sessions from ``read_session_factory`` use a plain deferred ``BEGIN``
for long reads. On PostgreSQL nothing special is needed.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

SessionFactory = sessionmaker[Session]
_READ_ONLY = "ibflow_deferred_begin"


def make_engine(url: str, *, busy_timeout_ms: int = 30_000, echo: bool = False) -> Engine:
    """Create the engine for ``url`` with ibflow's connection rules applied."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, echo=echo, pool_pre_ping=True)

    database = parsed.database or ""
    if database and database != ":memory:":
        from pathlib import Path

        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
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
        cursor.execute("PRAGMA synchronous=NORMAL")
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
