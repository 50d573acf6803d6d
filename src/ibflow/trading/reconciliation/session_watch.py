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
    """Record a ``broker.session_changed`` event when the session's state differs from the last one seen.

    The state is healthy, or why not (not connected, not authenticated, competing): a session that stays
    down but for another reason is a change too. Before any event, the session counts as healthy: a first
    healthy answer records nothing. Returns whether an event was written.
    """
    status = read_session(broker)
    state = _describe(status)
    with sessions() as session:
        last = session.scalars(
            select(Event)
            .where(Event.kind == SESSION_CHANGED, Event.account_id == account_id)
            .order_by(Event.id.desc())
            .limit(1)
        ).first()
        payload = (last.payload or {}) if last is not None else {}
        was_healthy = bool(payload.get("healthy", True))
        was_state = str(payload.get("state", "authenticated and connected" if was_healthy else ""))
        if status.healthy == was_healthy and (status.healthy or state == was_state):
            return False
        detail = status.message or state
        if status.healthy:
            change = "is back"
        elif was_healthy:
            change = "lost"
        else:
            change = f"still down, now {state}"
        record_event(
            session,
            kind=SESSION_CHANGED,
            at=clock.now(),
            severity="info" if status.healthy else "error",
            account_id=account_id,
            message=f"{broker.name} session {change}: {detail}",
            payload={"broker": broker.name, "healthy": status.healthy, "detail": detail, "state": state},
        )
        session.commit()
    return True


def session_is_back(sessions: SessionFactory, account_id: str) -> bool:
    """Whether the newest session event says the session came back."""
    with sessions() as session:
        last = session.scalars(
            select(Event)
            .where(Event.kind == SESSION_CHANGED, Event.account_id == account_id)
            .order_by(Event.id.desc())
            .limit(1)
        ).first()
    return last is not None and bool((last.payload or {}).get("healthy"))


def _describe(status: SessionStatus) -> str:
    if status.healthy:
        return "authenticated and connected"
    if status.competing:
        return "another session competes for it"
    if not status.connected:
        return "not connected"
    return "not authenticated"
