"""The outbox consumer of notifications: each new event becomes one delivery row per subscribed target.

It reads through the shared ``OutboxReader`` (consumer ``notify``), inserts the rows and commits, and only
then moves its cursor. A crash in between reads the same events again; the unique key (event, target)
makes the second insert a no-op, so every event gets exactly one row per target, across restarts.
Targets are taken as they are when the event is read: one added later does not receive older events.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ibflow.core.clock import Clock
from ibflow.db.engine import SessionFactory
from ibflow.db.events.reader import EventView, OutboxReader
from ibflow.db.models.notify import DeliveryStatus, NotificationDelivery, NotificationTarget
from ibflow.db.models.users import User
from ibflow.notify.kinds import all_kinds, notification_of

CONSUMER = "notify"


class DeliveryQueue:
    """Turns new outbox events into pending deliveries, at least once and idempotently."""

    def __init__(
        self, sessions: SessionFactory, *, clock: Clock, gap_wait: timedelta = timedelta(seconds=10)
    ) -> None:
        self._reader = OutboxReader(sessions, CONSUMER, clock=clock, kinds=all_kinds(), gap_wait=gap_wait)
        self._sessions = sessions
        self._clock = clock

    def enqueue(self, *, limit: int = 200) -> int:
        """Read up to ``limit`` new events; create their delivery rows; return how many rows are new."""
        events, upto = self._reader.fetch(limit)
        created = 0
        if events:
            with self._sessions() as session:
                targets = _live_targets(session)
                rows = [row for event in events for row in self._rows(event, targets)]
                created = _insert(session, rows)
                session.commit()
        if upto > self._reader.position():
            self._reader.ack(upto)
        return created

    def _rows(self, event: EventView, targets: list[NotificationTarget]) -> list[dict[str, Any]]:
        now = self._clock.now()
        rows = []
        for target in targets:
            notification = notification_of(event, target.notifications)
            if notification is None:
                continue
            rows.append(
                {
                    "event_id": event.id,
                    "target_id": target.id,
                    "notification": notification.name,
                    "status": DeliveryStatus.PENDING,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "last_error": "",
                    "created_at": now,
                }
            )
        return rows


def _live_targets(session: Session) -> list[NotificationTarget]:
    """Enabled targets, global or of an active user."""
    query = (
        select(NotificationTarget)
        .outerjoin(User, User.id == NotificationTarget.user_id)
        .where(NotificationTarget.enabled.is_(True))
        .where((NotificationTarget.user_id.is_(None)) | (User.is_active.is_(True)))
        .order_by(NotificationTarget.id)
    )
    return list(session.scalars(query))


def _insert(session: Session, rows: list[dict[str, Any]]) -> int:
    if not rows:
        return 0
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = (
        insert(NotificationDelivery)
        .on_conflict_do_nothing(index_elements=["event_id", "target_id"])
        .returning(NotificationDelivery.id)
    )
    return len(session.connection().execute(statement, rows).all())
