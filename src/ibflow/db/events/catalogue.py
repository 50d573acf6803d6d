"""Every kind of event the outbox holds, with what it means and the payload it carries.

One list for every reader: ``ibflow serve``'s output, the API's event stream, the web pages and notifications.
``record_event`` refuses a kind that is not here and a payload that lacks a documented key, so the list and
the code cannot drift apart. Every event also has a ``message`` (one line a person reads), a ``severity``
(info / warning / error), and where it applies the entity (type and id), the execution and the account.
Money, prices and quantities in payloads are strings (exact decimals).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class Interest(StrEnum):
    """How loudly a reader should surface an event: ``serve`` prints ``headline`` ones."""

    HEADLINE = "headline"
    DETAIL = "detail"


@dataclass(frozen=True)
class EventSpec:
    """One event kind: what it says, what it is about, and its payload keys (name -> meaning)."""

    kind: str
    meaning: str
    entity_type: str | None
    payload: Mapping[str, str] = field(default_factory=dict)
    interest: Interest = Interest.HEADLINE


_ORDER_IDS = {"client_order_id": "ibflow's order id", "broker_order_id": "the broker's order id, or null"}

_SPECS = (
    # executions and decisions
    EventSpec(
        "execution.finished",
        "an execution of a strategy ended: its outcome, the signal, why it stopped, and how long it took",
        "execution",
        {
            "strategy_id": "the strategy's id",
            "strategy": "the strategy's name",
            "status": "succeeded | failed",
            "outcome": "ordered | no_order | blocked | failed (what came of it for a trader)",
            "action": "the signal's action (BUY, SELL, HOLD, NO_SIGNAL), or null before a signal",
            "reason": "why it stopped (HOLD, NO_SIGNAL reason, risk block) or the error; null if ordered",
            "duration_ms": "wall time of the whole execution",
            "trigger": "schedule | manual | catch_up",
        },
    ),
    EventSpec(
        "signal.recorded",
        "the analyst's signal was parsed and stored",
        "signal",
        {
            "strategy_id": "the strategy's id",
            "action": "BUY | SELL | HOLD | NO_SIGNAL",
            "confidence": "0..1 as a string, or null",
            "entry": "entry price or null",
            "stop_loss": "stop price or null",
            "take_profit": "target price or null",
            "model": "the analyst's model",
            "reason": "why there is no signal (NO_SIGNAL), else null",
        },
        Interest.DETAIL,
    ),
    EventSpec(
        "risk.blocked",
        "risk refused an entry: the reason code and every check",
        "signal",
        {"allowed": "always false", "reason": "the reason code of the first failed check", "detail": "text"},
    ),
    EventSpec(
        "summary.daily",
        "once a day per account, after the summary hour: what the day (UTC) came to",
        None,
        {
            "date": "the day (UTC), YYYY-MM-DD",
            "equity": "the latest portfolio snapshot's equity, or null before the first snapshot",
            "equity_change": "equity against the last snapshot before the day (else its first), or null",
            "realized_pnl": "net P&L of the trades closed that day",
            "trades_closed": "trades closed that day",
            "open_positions": "positions holding shares now",
            "executions": "executions of every strategy (all accounts) that ended that day",
            "executions_failed": "of those, the failed ones",
            "fills": "fills recorded that day",
            "trading_state": "the kill switch now: ACTIVE | REDUCING | HALTED",
        },
    ),
    EventSpec(
        "llm.budget_reached",
        "an LLM budget was reached: the call was not made (per execution), or no more calls today (daily)",
        None,
        {"scope": "daily | execution", "limit": "the limit", "spent": "what was spent"},
    ),
    # orders
    EventSpec(
        "order.state_changed",
        "an order moved from one state to another (every transition of the order state machine)",
        "order",
        {
            **_ORDER_IDS,
            "from": "the previous state, or null for a new order",
            "to": "the new state",
            "role": "entry | stop | target | exit | manual",
            "origin": "ibflow | external",
            "reason": "why, as the broker or ibflow said",
        },
    ),
    EventSpec(
        "order.needs_confirmation",
        "the broker asks a question before it accepts an order; a trader must confirm or reject it",
        "order",
        {**_ORDER_IDS, "question": "the broker's question, or empty"},
    ),
    EventSpec(
        "fill.applied",
        "a fill (a broker execution) was recorded against an order and its position replayed",
        "order",
        {
            **_ORDER_IDS,
            "broker_exec_id": "the broker's execution id",
            "side": "BUY | SELL",
            "quantity": "filled in this execution",
            "price": "fill price",
            "commission": "commission charged",
            "role": "entry | stop | target | exit | manual",
        },
    ),
    EventSpec("order.refused", "ibflow refused to send an order (the last look said no)", "order"),
    EventSpec("order.not_sent", "sending an order failed before the broker had it", "order"),
    EventSpec(
        "order.settling",
        "an order of unknown outcome was found at the broker and adopted",
        "order",
        {"client_order_id": "ibflow's order id", "broker_order_id": "the broker's order id"},
        Interest.DETAIL,
    ),
    EventSpec("order.cancel_failed", "the broker would not cancel an order", "order"),
    EventSpec(
        "order.quantity_changed",
        "the broker reports a different quantity for an order (e.g. a child resized)",
        "order",
        {"from": "quantity before", "to": "quantity now", "client_order_id": "ibflow's order id"},
        Interest.DETAIL,
    ),
    EventSpec(
        "order.vanished",
        "a working order is no longer listed by the broker, which does not know it or cannot say how it "
        "ended",
        "order",
        {"client_order_id": "ibflow's order id", "broker_order_id": "the broker's order id"},
    ),
    EventSpec("order.adopted_external", "an order ibflow did not send was found and is now tracked", "order"),
    EventSpec("order.unmatched", "the broker lists an order ibflow cannot match", "order"),
    EventSpec("order.expiring", "an unfilled entry reached its expiry and is being cancelled", "order"),
    # positions and exits
    EventSpec("position.opened", "a position was opened by a fill", "position", interest=Interest.DETAIL),
    EventSpec("position.short", "a position went short; ibflow is long-only", "position"),
    EventSpec(
        "trade.closed",
        "an exit: a position was closed (stop, target, manual close or flatten) and its trade recorded",
        "trade",
        {
            "net_pnl": "the trade's P&L after commissions",
            "exit_reason": "stop | target | exit | flatten | ...",
            "signal_id": "the signal that opened it, or null",
        },
    ),
    EventSpec("exit.blocked", "an exit was refused by the kill switch or a check", "position"),
    EventSpec("exit.waiting", "an exit waits for an order of unknown outcome", "position"),
    EventSpec("exit.cancel_unconfirmed", "an exit could not confirm its protection is cancelled", "position"),
    # protection
    EventSpec("protection.missing", "a position has no working stop", "position"),
    EventSpec("protection.target_missing", "a position has a stop but no target", "position", {}),
    EventSpec("protection.waiting", "protection is not confirmed yet; checked again", "position"),
    EventSpec("protection.stop_stuck", "a stop cannot be resized to the position", "position"),
    EventSpec("protection.not_replaced", "a missing stop could not be replaced", "position"),
    EventSpec("protection.resize_failed", "resizing a stop or target failed", "order"),
    EventSpec("order.resized", "a stop or target was resized to the position", "order", {}, Interest.DETAIL),
    # kill switch, reconciliation, broker
    EventSpec(
        "trading.state_changed",
        "the kill switch changed: ACTIVE, REDUCING or HALTED, with who and why",
        "trading_state",
        {"from": "previous state", "to": "new state", "actor": "who", "reason": "why"},
    ),
    EventSpec(
        "reconcile.mismatch",
        "ibflow and the broker disagree about a position",
        "reconcile_mismatch",
        {"conid": "the contract", "ibflow": "quantity ibflow holds", "broker": "quantity the broker holds"},
    ),
    EventSpec("reconcile.resolved", "a position mismatch resolved itself", "reconcile_mismatch"),
    EventSpec(
        "broker.session_changed",
        "the broker session was lost, came back, or stays down for another reason",
        None,
        {
            "broker": "the broker's name",
            "healthy": "true | false",
            "detail": "what the broker said",
            "state": "authenticated and connected | not connected | not authenticated | another session "
            "competes for it",
        },
    ),
)

CATALOGUE: Mapping[str, EventSpec] = {spec.kind: spec for spec in _SPECS}


def spec_of(kind: str) -> EventSpec:
    """Return the catalogue entry of ``kind``; an unknown kind is a programming error."""
    try:
        return CATALOGUE[kind]
    except KeyError:
        raise ValueError(f"event kind {kind!r} is not in db/events/catalogue.py") from None


def check_payload(kind: str, payload: Mapping[str, object] | None) -> None:
    """Raise when ``payload`` lacks a key the catalogue documents for ``kind``."""
    missing = [key for key in spec_of(kind).payload if key not in (payload or {})]
    if missing:
        raise ValueError(f"event {kind} lacks payload keys {', '.join(missing)}")


def render_markdown() -> str:
    """Write the catalogue as Markdown: ``python -m ibflow.db.events.catalogue > docs/events.md``."""
    lines = [
        "# Events",
        "",
        "Generated from `src/ibflow/db/events/catalogue.py`; `ibflow serve` prints the headline kinds,",
        "the event stream and notifications read every kind through one reader with a cursor per consumer",
        "(`db/events/reader.py`). Each event also carries a one-line `message`, a `severity` (info, warning,",
        "error), the entity it is about, the execution and the account. Decimals in payloads are strings.",
        "",
    ]
    for spec in _SPECS:
        about = f" About: `{spec.entity_type}`." if spec.entity_type else ""
        lines += [f"## `{spec.kind}` ({spec.interest.value})", "", f"{spec.meaning}.{about}", ""]
        if spec.payload:
            lines += ["| payload key | meaning |", "|---|---|"]
            lines += [
                f"| `{key}` | {meaning.replace('|', chr(92) + '|')} |"
                for key, meaning in spec.payload.items()
            ]
        else:
            lines.append("No documented payload: the message says it.")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover - the docs generator
    print(render_markdown(), end="")
