"""Notification targets (apprise URLs, global or a user's) and one delivery row per event and target."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ibflow.db.base import Base
from ibflow.db.columns import JsonDoc, enum_type
from ibflow.db.types import UtcDateTime


class DeliveryStatus(StrEnum):
    """Where a delivery stands: waiting to be sent (or retried), sent, or given up after its attempts."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class NotificationTarget(Base):
    """Where notifications go: an apprise URL (a secret), for everyone or one user, and what it receives."""

    __tablename__ = "notification_targets"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True, doc="the owner; null for a global target"
    )
    url: Mapped[str] = mapped_column(Text, doc="the apprise URL: a secret (tokens, passwords), never shown")
    label: Mapped[str] = mapped_column(String(64), default="", doc="a name a person gives it")
    notifications: Mapped[list[str]] = mapped_column(
        JsonDoc, doc="the notification kinds it receives (`notify/kinds.py`), e.g. order_filled, exit"
    )
    enabled: Mapped[bool] = mapped_column(default=True)
    created_by: Mapped[str] = mapped_column(String(64), doc="user name or `cli`")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class NotificationDelivery(Base):
    """One event to one target: created before the send, marked sent after it (at least once)."""

    __tablename__ = "notification_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "target_id"),
        Index("ix_notification_deliveries_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    target_id: Mapped[int] = mapped_column(
        ForeignKey("notification_targets.id", ondelete="CASCADE"), index=True
    )
    notification: Mapped[str] = mapped_column(String(32), doc="the notification kind the event was sent as")
    status: Mapped[DeliveryStatus] = mapped_column(
        enum_type(DeliveryStatus, 16), doc="pending / sent / failed"
    )
    attempts: Mapped[int] = mapped_column(default=0, doc="sends tried (a claimed send counts)")
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime, doc="when it may be tried (again)")
    last_error: Mapped[str] = mapped_column(Text, default="", doc="why the last send failed (no secret)")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
