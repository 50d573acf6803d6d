"""The notifications a target can subscribe to, and which outbox events each one is (an explicit table).

Each notification names the catalogue kinds (``db/events/catalogue.py``) it is made of, and where one kind
covers more than the notification means, the payload values that count (an order's new state, an
execution's status). An event is sent at most once to a target, as the first notification that matches it.
``risk_block`` is optional: a target receives it only when it subscribes to it by name.

The daily summary is ``summary.daily``, written once a day per account by the ``summary`` job.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ibflow.core.errors import ValidationError
from ibflow.db.events.catalogue import CATALOGUE
from ibflow.db.events.reader import EventView


@dataclass(frozen=True)
class Notification:
    """One notification a person subscribes to: the event kinds it is, each narrowed by payload values."""

    name: str
    title: str
    kinds: Mapping[str, Mapping[str, frozenset[str]]]
    """kind -> {payload key: the values that count}; an empty mapping takes every event of the kind."""
    default: bool = True

    def matches(self, event: EventView) -> bool:
        """Tell whether ``event`` is this notification."""
        wanted = self.kinds.get(event.kind)
        if wanted is None:
            return False
        return all(str(event.payload.get(key)) in values for key, values in wanted.items())


_ANY: Mapping[str, frozenset[str]] = {}

NOTIFICATIONS: tuple[Notification, ...] = (
    Notification("order_filled", "order filled", {"order.state_changed": {"to": frozenset({"filled"})}}),
    Notification(
        "order_rejected",
        "order rejected",
        {"order.state_changed": {"to": frozenset({"rejected"})}, "order.refused": _ANY},
    ),
    Notification("needs_confirmation", "order needs confirmation", {"order.needs_confirmation": _ANY}),
    Notification("exit", "position closed", {"trade.closed": _ANY}),
    Notification(
        "protection_missing",
        "protection missing",
        {"protection.missing": _ANY, "protection.not_replaced": _ANY, "protection.stop_stuck": _ANY},
    ),
    Notification(
        "execution_failed", "execution failed", {"execution.finished": {"status": frozenset({"failed"})}}
    ),
    Notification("risk_block", "risk block", {"risk.blocked": _ANY}, default=False),
    Notification("broker_session", "broker session lost / back", {"broker.session_changed": _ANY}),
    Notification("trading_state", "trading halted / resumed", {"trading.state_changed": _ANY}),
    Notification("reconcile_mismatch", "reconciliation mismatch", {"reconcile.mismatch": _ANY}),
    Notification("llm_budget", "LLM budget reached", {"llm.budget_reached": _ANY}),
    Notification("daily_summary", "daily summary", {"summary.daily": _ANY}),
)
"""The issue's list, in its order. ``order_rejected`` is an order the broker moved to ``rejected`` and one
ibflow's last look refused to send (``order.refused``)."""

BY_NAME: Mapping[str, Notification] = {notification.name: notification for notification in NOTIFICATIONS}
DEFAULT_NAMES: tuple[str, ...] = tuple(n.name for n in NOTIFICATIONS if n.default)


def notification_of(event: EventView, subscribed: Iterable[str]) -> Notification | None:
    """Return the first of ``subscribed`` that ``event`` is, or ``None``."""
    wanted = set(subscribed)
    for notification in NOTIFICATIONS:
        if notification.name in wanted and notification.matches(event):
            return notification
    return None


def all_kinds() -> frozenset[str]:
    """Every outbox kind some notification is made of (what the outbox consumer reads)."""
    return frozenset(kind for notification in NOTIFICATIONS for kind in notification.kinds)


def parse_names(text: Iterable[str] | None) -> list[str]:
    """Return the notification names asked for (``None`` or empty: the default set); unknown names raise."""
    names = [name.strip().lower() for name in (text or []) if name.strip()]
    if not names:
        return list(DEFAULT_NAMES)
    if "all" in names:
        return [n.name for n in NOTIFICATIONS]
    unknown = [name for name in names if name not in BY_NAME]
    if unknown:
        known = ", ".join(BY_NAME)
        problem = f"unknown notification(s) {', '.join(unknown)}; choose from {known} (or all)"
        raise ValidationError(problem, {"events": problem})
    return [n.name for n in NOTIFICATIONS if n.name in names]


def _check_catalogue() -> None:
    missing = sorted(all_kinds() - set(CATALOGUE))
    if missing:  # pragma: no cover - a renamed catalogue kind must be renamed here too
        raise RuntimeError(f"notify/kinds.py names kinds the catalogue lacks: {', '.join(missing)}")


_check_catalogue()
