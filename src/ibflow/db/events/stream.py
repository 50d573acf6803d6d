"""The outbox as a stream a client resumes without losing or repeating an event (the API's ``/events``).

On PostgreSQL an event's id is handed out when the row is inserted, not when its transaction commits: event
41 can become visible after 42 was read, and a reader that resumes "after 42" would pass over 41 for good.
So each event records the id of the transaction that wrote it (``events.txid``), and the stream hands out
events in ``(txid, id)`` order, only those whose transaction is older than the oldest one still running
(``pg_snapshot_xmin``). Every transaction below that horizon has committed or rolled back, and every
transaction that starts later gets a larger id, so nothing can appear behind a position once it was passed:
a client's position (``txid-id``, the SSE event id) is exact. The cost: an open transaction that wrote an
event holds the stream back until it ends (events are delayed, never lost or reordered).

On SQLite one writer holds the database from ``BEGIN IMMEDIATE`` until it commits, so ids commit in order;
``txid`` is 0 and the order is the id's.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import select, text, tuple_
from sqlalchemy.orm import Session

from ibflow.core.errors import ValidationError
from ibflow.db.events.reader import EventView
from ibflow.db.models.system import Event


@dataclass(frozen=True, order=True)
class StreamPosition:
    """Where a reader of the stream is: after the event of transaction ``txid`` with id ``id``."""

    txid: int
    id: int

    @property
    def token(self) -> str:
        """The position as an SSE event id (``txid-id``)."""
        return f"{self.txid}-{self.id}"

    @classmethod
    def parse(cls, token: str) -> StreamPosition:
        """Read a position from an SSE ``Last-Event-ID``; ``ValidationError`` when it is not one."""
        txid, sep, event_id = token.strip().partition("-")
        if not sep or not txid.isdigit() or not event_id.isdigit():
            raise ValidationError(
                "Last-Event-ID is not a position of this stream",
                {"Last-Event-ID": "send back the id of the last event received, such as 0-42"},
            )
        return cls(int(txid), int(event_id))


def stream_start(session: Session) -> StreamPosition:
    """Return the position after the newest event a reader may see now (where a new client starts)."""
    query = select(Event.txid, Event.id).order_by(Event.txid.desc(), Event.id.desc()).limit(1)
    horizon = _horizon(session)
    if horizon is not None:
        query = query.where(Event.txid < horizon)
    row = session.execute(query).first()
    return StreamPosition(int(row[0]), int(row[1])) if row else StreamPosition(0, 0)


def read_stream(
    session: Session, after: StreamPosition, *, limit: int = 200, kinds: Collection[str] | None = None
) -> list[tuple[StreamPosition, EventView]]:
    """Return up to ``limit`` events after ``after`` that can no longer be overtaken, in stream order."""
    query = (
        select(Event)
        .where(tuple_(Event.txid, Event.id) > tuple_(after.txid, after.id))
        .order_by(Event.txid, Event.id)
        .limit(limit)
    )
    horizon = _horizon(session)
    if horizon is not None:
        query = query.where(Event.txid < horizon)
    if kinds:
        query = query.where(Event.kind.in_(list(kinds)))
    return [(StreamPosition(row.txid, row.id), EventView.of(row)) for row in session.scalars(query)]


def _horizon(session: Session) -> int | None:
    if session.get_bind().dialect.name != "postgresql":
        return None
    return int(
        session.execute(text("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")).scalar_one()
    )
