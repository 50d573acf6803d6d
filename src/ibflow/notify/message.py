"""What a notification says: a short title and the event's own one-line message with its key facts."""

from __future__ import annotations

from datetime import datetime

from ibflow.db.events.reader import EventView
from ibflow.notify.kinds import BY_NAME

_FACTS = ("strategy", "outcome", "reason", "side", "quantity", "price", "net_pnl", "exit_reason", "to")


def compose(event: EventView, notification: str) -> tuple[str, str]:
    """Return the title and body of ``event`` sent as ``notification``."""
    known = BY_NAME.get(notification)
    title = f"ibflow: {known.title if known else notification}"
    facts = [f"{key}: {event.payload[key]}" for key in _FACTS if event.payload.get(key) not in (None, "")]
    lines = [event.message or event.kind, *facts]
    if event.account_id:
        lines.append(f"account: {event.account_id}")
    lines.append(f"at {event.created_at.strftime('%Y-%m-%d %H:%M:%S')} UTC (event {event.id}, {event.kind})")
    return title, "\n".join(lines)


def test_message(at: datetime) -> tuple[str, str]:
    """The title and body of ``ibflow notify test``."""
    return "ibflow: test", f"A test notification from ibflow, sent {at.strftime('%Y-%m-%d %H:%M:%S')} UTC."
