"""The kill switch, the events outbox, run-time settings, the audit log and the gateway's pacing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Double, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ibflow.db.base import Base
from ibflow.db.columns import JsonDoc, enum_type
from ibflow.db.states import TradingStateValue
from ibflow.db.types import UtcDateTime


class TradingState(Base):
    """The kill switch for a scope (``global``): state, why, who, when."""

    __tablename__ = "trading_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(32), unique=True, doc="`global` (one row)")
    state: Mapped[TradingStateValue] = mapped_column(
        enum_type(TradingStateValue), doc="ACTIVE / REDUCING / HALTED"
    )
    reason: Mapped[str] = mapped_column(Text, default="")
    changed_by: Mapped[str] = mapped_column(String(64), doc="user name, `cli`, or `auto:<rule>`")
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    broker_error_streak: Mapped[int] = mapped_column(
        default=0, doc="broker errors in a row (auto-halt input)"
    )


class Event(Base):
    """The outbox of domain events, read by the live stream and notifications."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(primary_key=True)
    txid: Mapped[int] = mapped_column(
        BigInteger,
        default=0,
        index=True,
        doc="PostgreSQL: the id of the transaction that wrote it (commit-safe reading order); 0 on SQLite",
    )
    kind: Mapped[str] = mapped_column(
        String(64), index=True, doc="event type, e.g. order.state_changed, risk.blocked, trading.halted"
    )
    severity: Mapped[str] = mapped_column(String(16), default="info")
    entity_type: Mapped[str | None] = mapped_column(String(32), doc="order, execution, position, ...")
    entity_id: Mapped[int | None]
    execution_id: Mapped[int | None] = mapped_column(index=True)
    account_id: Mapped[str | None] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text, default="")
    payload: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class AppSetting(Base):
    """A setting an admin changes at run time; the environment gives its default and hard limit."""

    __tablename__ = "app_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True, doc="setting name")
    value: Mapped[Any] = mapped_column(JsonDoc, doc="JSON value")
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class AuditLog(Base):
    """Who did what: manual actions and changes to limits, prompts, settings and live trading."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(64), doc="user name or `cli` (never `auto:…` or `system`)")
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(64))
    before: Mapped[Any] = mapped_column(JsonDoc, doc="value before the change")
    after: Mapped[Any] = mapped_column(JsonDoc, doc="value after the change")
    detail: Mapped[str] = mapped_column(Text, default="")


class EventCursor(Base):
    """How far one reader of the events outbox has read (``serve`` output, notifications, ...)."""

    __tablename__ = "event_cursors"

    consumer: Mapped[str] = mapped_column(String(64), primary_key=True, doc="the reader's name")
    last_event_id: Mapped[int] = mapped_column(doc="the newest event id handed to the reader")
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class GatewayPacing(Base):
    """When the IBKR gateway may next be called, shared by every process (``brokers/ibkr/pacing.py``)."""

    __tablename__ = "gateway_pacing"

    key: Mapped[str] = mapped_column(
        String(64), primary_key=True, doc="`global`, `endpoint:<rule>` or `penalty` (the 429 penalty box)"
    )
    next_free_at: Mapped[float] = mapped_column(
        Double,
        doc="wall time (epoch seconds) from which the next request may go; for `penalty`, blocked-until",
    )
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class WorkerHeartbeat(Base):
    """A runtime process's last sign of life (Celery workers and beat): who runs, since when, last seen."""

    __tablename__ = "worker_heartbeats"

    owner: Mapped[str] = mapped_column(String(128), primary_key=True, doc="host:pid, as executions' owner")
    role: Mapped[str] = mapped_column(String(16), doc="worker | beat")
    queues: Mapped[str] = mapped_column(String(200), default="", doc="the queues a worker consumes")
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, doc="when this process started")
    seen_at: Mapped[datetime] = mapped_column(UtcDateTime, doc="its last heartbeat")
    running: Mapped[str | None] = mapped_column(
        Text, doc="a worker's executions in flight at that beat (ids, comma-separated); null for beat"
    )
