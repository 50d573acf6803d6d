"""The one reader of the events outbox: ``serve``'s output, the event stream and notifications share it.

Each consumer has a cursor (``event_cursors``): ``fetch`` hands out the events after it in id order and
``ack`` moves it, so a consumer that crashes between the two sees the same events again (at least once).

Ids are given out when a row is inserted, not when its transaction commits, so on PostgreSQL a reader can
see event 12 while 11 is still being written. ``fetch`` therefore stops before a gap in the ids and waits for
it to fill; a gap still open after ``gap_wait`` is taken to be a rolled-back insert and passed over. On
SQLite, where one writer holds the database until it commits, gaps only come from rollbacks.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ibflow.core.clock import Clock
from ibflow.db.engine import SessionFactory
from ibflow.db.models.system import Event, EventCursor


@dataclass(frozen=True)
class EventView:
    """One outbox event, detached from its session."""

    id: int
    kind: str
    severity: str
    message: str
    created_at: datetime
    entity_type: str | None
    entity_id: int | None
    execution_id: int | None
    account_id: str | None
    payload: dict[str, Any]

    @classmethod
    def of(cls, row: Event) -> EventView:
        """Copy an ``events`` row."""
        return cls(
            id=row.id,
            kind=row.kind,
            severity=row.severity,
            message=row.message,
            created_at=row.created_at,
            entity_type=row.entity_type,
            entity_id=row.entity_id,
            execution_id=row.execution_id,
            account_id=row.account_id,
            payload=dict(row.payload or {}),
        )

    def as_dict(self) -> dict[str, Any]:
        """The event as JSON-ready values (the time as ISO 8601 UTC)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "severity": self.severity,
            "message": self.message,
            "created_at": self.created_at.isoformat(),
            "entity_type": self.entity_type,
            "entity_id": self.entity_id,
            "execution_id": self.execution_id,
            "account_id": self.account_id,
            "payload": self.payload,
        }


def latest_event_id(session: Session) -> int:
    """Return the newest event id (0 when the outbox is empty)."""
    return int(session.scalar(select(func.max(Event.id))) or 0)


def events_after(
    session: Session, after_id: int, *, kinds: Collection[str] | None = None, limit: int = 100
) -> list[EventView]:
    """Return up to ``limit`` events with an id above ``after_id``, oldest first (no gap handling)."""
    query = select(Event).where(Event.id > after_id).order_by(Event.id).limit(limit)
    if kinds:
        query = query.where(Event.kind.in_(list(kinds)))
    return [EventView.of(row) for row in session.scalars(query)]


class OutboxReader:
    """Read the outbox for one named consumer, at least once, in id order, with its cursor stored."""

    def __init__(
        self,
        sessions: SessionFactory,
        consumer: str,
        *,
        clock: Clock,
        kinds: Collection[str] | None = None,
        gap_wait: timedelta = timedelta(seconds=10),
        start_at_latest: bool = True,
    ) -> None:
        self._sessions = sessions
        self.consumer = consumer
        self._clock = clock
        self._kinds = frozenset(kinds) if kinds else None
        self._gap_wait = gap_wait
        self._gap_seen: dict[int, datetime] = {}
        self._start_at_latest = start_at_latest

    def position(self) -> int:
        """Return the consumer's cursor, creating it (at the newest event, or at 0) on first use."""
        with self._sessions() as session:
            cursor = session.get(EventCursor, self.consumer)
            if cursor is None:
                start = latest_event_id(session) if self._start_at_latest else 0
                cursor = EventCursor(
                    consumer=self.consumer, last_event_id=start, updated_at=self._clock.now()
                )
                session.add(cursor)
                session.commit()
            return cursor.last_event_id

    def fetch(self, limit: int = 100) -> tuple[list[EventView], int]:
        """Return the consumer's new events (filtered by kind) and the id to ``ack`` once they are handled.

        The id passed to ``ack`` may be past the last event returned: events of other kinds are skipped over.
        """
        after = self.position()
        with self._sessions() as session:
            query = select(Event).where(Event.id > after).order_by(Event.id).limit(limit)
            views = [EventView.of(row) for row in session.scalars(query)]
        handed: list[EventView] = []
        upto = after
        for view in views:
            if view.id != upto + 1 and not self._gap_closed(upto + 1):
                break
            upto = view.id
            if self._kinds is None or view.kind in self._kinds:
                handed.append(view)
        return handed, upto

    def ack(self, event_id: int) -> None:
        """Move the cursor to ``event_id`` (never backwards)."""
        with self._sessions() as session:
            cursor = session.get(EventCursor, self.consumer)
            if cursor is None:
                cursor = EventCursor(consumer=self.consumer, last_event_id=0, updated_at=self._clock.now())
                session.add(cursor)
            if event_id > cursor.last_event_id:
                cursor.last_event_id = event_id
                cursor.updated_at = self._clock.now()
            session.commit()
        for missing in [gap for gap in self._gap_seen if gap <= event_id]:
            del self._gap_seen[missing]

    def _gap_closed(self, missing_id: int) -> bool:
        now = self._clock.now()
        first_seen = self._gap_seen.setdefault(missing_id, now)
        return now - first_seen >= self._gap_wait
