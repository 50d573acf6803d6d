"""Events as trading writes them, targets as a person adds them, and a notifier like bootstrap's."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from ibflow.core.clock import ManualClock
from ibflow.db.engine import SessionFactory
from ibflow.db.events.outbox import record_event
from ibflow.notify.sender import RetryPolicy
from ibflow.notify.service import Notifier
from ibflow.notify.targets import Actor, add_target
from ibflow.notify.transport import AppriseTransport

CLI = Actor(name="cli", user_id=None, admin=True)
POLICY = RetryPolicy(max_attempts=3, first_backoff=timedelta(seconds=30), lease=timedelta(minutes=2))

EVENTS: dict[str, tuple[str, dict[str, Any]]] = {
    "filled": (
        "order.state_changed",
        {
            "client_order_id": "ibf-1-entry",
            "broker_order_id": "77",
            "from": "working",
            "to": "filled",
            "role": "entry",
            "origin": "ibflow",
            "reason": "",
        },
    ),
    "working": (  # an order state change that is no notification
        "order.state_changed",
        {
            "client_order_id": "ibf-1-stop",
            "broker_order_id": "78",
            "from": "submitting",
            "to": "working",
            "role": "stop",
            "origin": "ibflow",
            "reason": "",
        },
    ),
    "exit": ("trade.closed", {"net_pnl": "41.50", "exit_reason": "target", "signal_id": 3}),
    "blocked": ("risk.blocked", {"allowed": False, "reason": "MAX_POSITIONS", "detail": "5 open"}),
    "halted": (
        "trading.state_changed",
        {"from": "ACTIVE", "to": "HALTED", "actor": "alice", "reason": "lunch"},
    ),
    "signal": (
        "signal.recorded",
        {
            "strategy_id": 1,
            "action": "HOLD",
            "confidence": None,
            "entry": None,
            "stop_loss": None,
            "take_profit": None,
            "model": "rules",
            "reason": None,
        },
    ),
}


def write(sessions: SessionFactory, clock: ManualClock, name: str) -> int:
    """Write one event of ``EVENTS`` to the outbox, committed; return its id."""
    kind, payload = EVENTS[name]
    with sessions() as session:
        event = record_event(
            session,
            kind=kind,
            at=clock.now(),
            message=f"{name} happened",
            payload=payload,
            account_id="PAPER-T",
        )
        session.commit()
        return event.id


def target(sessions: SessionFactory, clock: ManualClock, url: str, events: list[str] | None = None) -> int:
    """Add a global target; return its id."""
    with sessions() as session:
        row = add_target(session, url=url, actor=CLI, clock=clock, notifications=events)
        session.commit()
        return row.id


def notifier(sessions: SessionFactory, clock: ManualClock, timeout_s: float = 5.0) -> Notifier:
    """A notifier as bootstrap builds it (apprise, a timeout), with ``POLICY``."""
    return Notifier(sessions, AppriseTransport(timeout_s=timeout_s), clock=clock, policy=POLICY)
