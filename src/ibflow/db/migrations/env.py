"""Alembic environment: ibflow's engine rules (WAL, BEGIN IMMEDIATE) and batch mode on SQLite."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

import ibflow.db.models  # noqa: F401  (registers every table)
from ibflow.db.base import Base
from ibflow.db.engine import make_engine

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        user_module_prefix="ibflow.db.types.",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run migrations on the connection given by the caller, or on the configured URL."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    try:
        with engine.connect() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("ibflow migrations run online only")
run_migrations_online()
