"""Watch the broker session and record when it is lost and when it comes back (one event per change)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ibflow.brokers.base import Broker, SessionStatus
from ibflow.core.clock import Clock
from ibflow.core.errors import IbflowError
from ibflow.db.engine import SessionFactory
from ibflow.db.events.outbox import record_event
from ibflow.db.models.system import Event

SESSION_CHANGED = "broker.session_changed"


def read_session(broker: Broker) -> SessionStatus:
    """Ask the broker for its session; a broker that cannot answer counts as disconnected."""
    try:
        return broker.session_status()
    except IbflowError as exc:
        return SessionStatus(authenticated=False, connected=False, message=str(exc))


def watch_session(
    sessions: SessionFactory, *, broker: Broker, account_id: str, clock: Clock, **_: Any
) -> bool:
    """Record a ``broker.session_changed`` event when the session's health differs from the last one seen.

    Before any event, the session counts as healthy: a first healthy answer records nothing. Returns whether
    an event was written.
    """
    status = read_session(broker)
    with sessions() as session:
        last = session.scalars(
            select(Event)
            .where(Event.kind == SESSION_CHANGED, Event.account_id == account_id)
            .order_by(Event.id.desc())
            .limit(1)
        ).first()
        was_healthy = bool((last.payload or {}).get("healthy", True)) if last is not None else True
        if status.healthy == was_healthy:
            return False
        detail = status.message or _describe(status)
        record_event(
            session,
            kind=SESSION_CHANGED,
            at=clock.now(),
            severity="info" if status.healthy else "error",
            account_id=account_id,
            message=f"{broker.name} session {'is back' if status.healthy else 'lost'}: {detail}",
            payload={"broker": broker.name, "healthy": status.healthy, "detail": detail},
        )
        session.commit()
    return True


def _describe(status: SessionStatus) -> str:
    if status.healthy:
        return "authenticated and connected"
    if status.competing:
        return "another session competes for it"
    if not status.connected:
        return "not connected"
    return "not authenticated"
