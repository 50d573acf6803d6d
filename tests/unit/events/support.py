"""Support for the event tests (no tests here): mark a test with the kinds it covers, check an event row.

``covers`` names the catalogue kinds a test provokes; ``test_catalogue_coverage`` reads these names from the
test files and fails when a kind of ``CATALOGUE`` has no test. ``check_event`` asserts what a reader of the
outbox relies on: the kind, the entity it is about, the line a person reads, and every documented payload key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import select
from tests.unit.trading.trading_world import World

from ibflow.db.engine import SessionFactory
from ibflow.db.events.catalogue import CATALOGUE
from ibflow.db.models import Event
from ibflow.db.states import TradingStateValue
from ibflow.trading.risk.kill_switch import set_state
from ibflow.trading.risk.runtime_settings import set_setting

F = TypeVar("F", bound=Callable[..., Any])


def covers(*kinds: str) -> Callable[[F], F]:
    """Mark a test as the one showing that each of ``kinds`` is written where it happens."""
    unknown = [kind for kind in kinds if kind not in CATALOGUE]
    assert not unknown, f"not in the catalogue: {unknown}"

    def mark(test: F) -> F:
        test.event_kinds = kinds  # type: ignore[attr-defined]
        return test

    return mark


def events_of(sessions: SessionFactory, kind: str) -> list[Event]:
    """Return the outbox events of ``kind``, oldest first."""
    with sessions() as session:
        return list(session.scalars(select(Event).where(Event.kind == kind).order_by(Event.id)))


def check_event(
    event: Event,
    kind: str,
    *,
    entity_id: int | None,
    says: Iterable[str] = (),
    payload: Mapping[str, Any] | None = None,
    severity: str | None = None,
    account_id: str | None = None,
) -> None:
    """Assert one event row: kind, the catalogue's entity type with ``entity_id``, message and payload."""
    spec = CATALOGUE[kind]
    assert event.kind == kind
    assert (event.entity_type, event.entity_id) == (spec.entity_type, entity_id), event.message
    assert event.message.strip(), f"{kind} has no message"
    for words in says:
        assert words in event.message, f"{words!r} not in {event.message!r}"
    stored = event.payload or {}
    assert set(spec.payload) <= set(stored), f"{kind} lacks {set(spec.payload) - set(stored)}"
    for key, value in (payload or {}).items():
        assert stored[key] == value, f"{kind} payload {key}: {stored[key]!r} != {value!r}"
    if severity is not None:
        assert event.severity == severity
    if account_id is not None:
        assert event.account_id == account_id


def the_event(sessions: SessionFactory, kind: str, entity_id: int | None = None) -> Event:
    """Return the one event of ``kind`` (about ``entity_id`` if given); fail on none or several."""
    found = [e for e in events_of(sessions, kind) if entity_id is None or e.entity_id == entity_id]
    assert len(found) == 1, f"{len(found)} {kind} events: {[e.message for e in found]}"
    return found[0]


def set_trading(
    sessions: SessionFactory, at: datetime, value: TradingStateValue, reason: str = "news"
) -> None:
    """Move the kill switch as an admin would."""
    with sessions() as session:
        set_state(session, value=value, actor="admin-1", reason=reason, at=at, actor_is_admin=True)
        session.commit()


def protection_action(world: World, action: str) -> None:
    """Set what the watchdog does about a missing stop: ``replace`` it or ``close`` the position."""
    with world.sessions() as session:
        set_setting(
            session,
            key="protection_action",
            value=action,
            actor="admin-1",
            at=world.clock.now(),
            env=world.risk_env,
            broker_env=world.broker_env,
        )
        session.commit()
