"""Composition root: settings in, ready-made engine, clock and services out.

The only module that picks implementations (paper or IBKR broker, rules or LLM analyst, local or S3 chart
store, in-process or Redis cache, inline or Celery runner). Entry points call ``build`` and pass what it
returns down; nothing else reads settings to choose an implementation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine

from ibflow.core.clock import Clock, SystemClock
from ibflow.core.settings import BrokerSettings, DatabaseSettings, LoggingSettings
from ibflow.db.engine import SessionFactory, make_engine, read_session_factory, session_factory


@dataclass(frozen=True)
class Settings:
    """Every settings area, read once."""

    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    broker: BrokerSettings = field(default_factory=BrokerSettings)


@dataclass(frozen=True)
class Container:
    """What the entry points need, wired together."""

    settings: Settings
    clock: Clock
    engine: Engine
    sessions: SessionFactory
    read_sessions: SessionFactory


def load_settings() -> Settings:
    """Read every settings area from the environment and ``.env``."""
    return Settings()


def build(settings: Settings | None = None, clock: Clock | None = None) -> Container:
    """Wire the application for ``settings`` (read from the environment when omitted)."""
    settings = settings or load_settings()
    engine = make_engine(
        settings.database.url,
        busy_timeout_ms=settings.database.sqlite_busy_timeout_ms,
        echo=settings.database.echo_sql,
    )
    return Container(
        settings=settings,
        clock=clock or SystemClock(),
        engine=engine,
        sessions=session_factory(engine),
        read_sessions=read_session_factory(engine),
    )
