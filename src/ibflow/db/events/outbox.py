"""Write domain events to the ``events`` outbox; trading and workflow call this, notify only reads.

Every kind and its payload are listed in ``db.events.catalogue``; writing an unlisted kind, or a payload
without a documented key, raises.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Text, cast, func
from sqlalchemy.orm import Session

from ibflow.db.after_commit import on_commit
from ibflow.db.events import counted
from ibflow.db.events.catalogue import check_payload
from ibflow.db.models.system import Event


def record_event(
    session: Session,
    *,
    kind: str,
    at: datetime,
    message: str = "",
    severity: str = "info",
    entity_type: str | None = None,
    entity_id: int | None = None,
    execution_id: int | None = None,
    account_id: str | None = None,
    payload: dict[str, Any] | None = None,
) -> Event:
    """Add one event to the outbox in the caller's transaction (the caller commits; then it is counted)."""
    check_payload(kind, payload)
    event = Event(
        kind=kind,
        severity=severity,
        entity_type=entity_type,
        entity_id=entity_id,
        execution_id=execution_id,
        account_id=account_id,
        message=message,
        payload=payload,
        created_at=at,
        txid=_this_transaction(session),
    )
    session.add(event)
    on_commit(session, partial(counted.count, kind, payload))
    return event


def _this_transaction(session: Session) -> int | ColumnElement[int]:
    """The event's ``txid``: the id of the session's transaction on PostgreSQL, computed by the event's own
    INSERT (no statement of its own), 0 elsewhere.

    Readers take events in (txid, id) order and only below the oldest transaction still running, so an event
    whose transaction commits after a later-numbered one is still read, in its place (see ``event_stream``).
    """
    if session.get_bind().dialect.name != "postgresql":
        return 0
    return cast(cast(func.pg_current_xact_id(), Text), BigInteger)
