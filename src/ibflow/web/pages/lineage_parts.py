"""The lineage viewer's wording and geometry: a step's one-line summary, the timeline bars, reward:risk.

Pure functions over the lineage's JSON (whatever a step stored), so a step that stored something unexpected
still gets a line (the generic one), never an error.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from ibflow.core.display import price_text, quantity_text
from ibflow.web.templating import when
from ibflow.workflow.queries.lineage_view import StepStart

TIMELINE_WIDTH = 1000
"""The SVG's own units across; the browser scales it to the card."""
MIN_BAR = 3
SUMMARY_LENGTH = 140


@dataclass(frozen=True)
class Bar:
    """One step's bar on the timeline, in SVG units (``x`` and ``width`` are attributes, not styles)."""

    index: int
    x: int
    width: int
    offset_ms: int
    duration_ms: int


def timeline(starts: Iterable[StepStart]) -> list[Bar]:
    """Place each step's bar by its start and width by its duration, over the run's whole span."""
    steps = list(starts)
    span = max((s.offset_ms + s.duration_ms for s in steps), default=0) or 1
    bars = []
    for step in steps:
        width = max(MIN_BAR, round(step.duration_ms * TIMELINE_WIDTH / span))
        x = min(round(step.offset_ms * TIMELINE_WIDTH / span), TIMELINE_WIDTH - width)
        bars.append(Bar(step.index, x, width, step.offset_ms, step.duration_ms))
    return bars


def duration(ms: int | None) -> str:
    """``850 ms``, ``1.22 s``; ``-`` when unknown."""
    if ms is None:
        return "-"
    return f"{ms:,} ms" if ms < 1000 else f"{ms / 1000:,.2f} s"


def step_title(name: str) -> str:
    """``fetch_market_data`` -> ``Fetch market data``."""
    return name.replace("_", " ").capitalize()


def pretty_json(value: Any) -> str:
    """The stored JSON, indented, for a ``<pre>``."""
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def reward_risk(signal: dict[str, Any] | None) -> str:
    """Reward:risk of a signal's levels (``2.50``), ``-`` when a level is missing or the risk is zero."""
    if not signal:
        return "-"
    try:
        entry, stop, target = (Decimal(str(signal[k])) for k in ("entry", "stop_loss", "take_profit"))
    except (KeyError, InvalidOperation, TypeError):
        return "-"
    risk, reward = abs(entry - stop), abs(target - entry)
    return "-" if risk == 0 else f"{reward / risk:.2f}"


def price(value: Any, tick: Decimal) -> str:
    """A price at the contract's tick; ``-`` when there is none."""
    if value is None or value == "":
        return "-"
    try:
        return price_text(Decimal(str(value)), tick)
    except InvalidOperation:
        return str(value)


def quantity(value: Any) -> str:
    """A quantity without trailing zeros; ``-`` when there is none."""
    if value is None or value == "":
        return "-"
    try:
        return quantity_text(Decimal(str(value)))
    except InvalidOperation:
        return str(value)


def summary(name: str, payload: Any, side: str) -> str:
    """One line saying what a step took in (``side`` ``in``) or gave out (``out``)."""
    if payload is None:
        return "nothing"
    special = _SUMMARIES.get((name, side))
    if special is not None and isinstance(payload, dict):
        try:
            return _cut(special(payload))
        except (KeyError, TypeError, ValueError, AttributeError, InvalidOperation):
            pass
    return _cut(_generic(payload))


def _cut(text: str) -> str:
    return text if len(text) <= SUMMARY_LENGTH else text[: SUMMARY_LENGTH - 1] + "…"


def _generic(payload: Any) -> str:
    if isinstance(payload, dict):
        parts = []
        for key, value in payload.items():
            if isinstance(value, dict):
                parts.append(f"{key}: {len(value)} fields")
            elif isinstance(value, list):
                parts.append(f"{key}: {len(value)} items")
            else:
                parts.append(f"{key} {value}")
        return ", ".join(parts) or "empty"
    if isinstance(payload, list):
        return f"{len(payload)} items"
    return str(payload)


def _number(value: Any) -> str:
    if value is None:
        return "-"
    try:
        return f"{Decimal(str(value)).normalize():,f}"
    except InvalidOperation:
        return str(value)


def _money(value: Any) -> str:
    return "-" if value is None else f"{Decimal(str(value)):,.2f}"


def _names(items: list[Any], key: str) -> str:
    return ", ".join(str(item.get(key, "?")) for item in items if isinstance(item, dict))


def _market_out(p: dict[str, Any]) -> str:
    quote = p.get("quote") or {}
    last = f"; last {_number(quote.get('last'))} ({quote.get('flag', '?')})" if quote else ""
    return f"{p['daily_bars']} daily and {p['weekly_bars']} weekly bars{last}"


def _analyze_out(p: dict[str, Any]) -> str:
    usage = p.get("usage") or {}
    text = p.get("raw_text") or ""
    return (
        f"{len(text):,} characters of answer, {usage.get('input_tokens', 0)} + "
        f"{usage.get('output_tokens', 0)} tokens, cost {_number(usage.get('cost'))} USD"
    )


def _signal_out(p: dict[str, Any]) -> str:
    levels = ", ".join(
        f"{label} {_number(p[key])}"
        for label, key in (("entry", "entry"), ("stop", "stop_loss"), ("target", "take_profit"))
        if p.get(key) is not None
    )
    why = f" ({p['no_signal_reason']})" if p.get("no_signal_reason") else ""
    return f"{p['action']}{why}, confidence {_number(p.get('confidence'))}" + (
        f", {levels}" if levels else ""
    )


def _risk_in(p: dict[str, Any]) -> str:
    intent = p["intent"]
    levels = f"entry {_number(intent.get('entry'))}, stop {_number(intent.get('stop'))}"
    return f"{intent['action']} {intent['symbol']} {levels}"


def _risk_out(p: dict[str, Any]) -> str:
    if "allowed" not in p:
        return _generic(p)
    if p["allowed"]:
        return f"allowed: {_number(p.get('quantity'))} at {_number(p.get('entry'))}"
    return f"blocked {p.get('reason')}: {p.get('detail')}"


def _orders_out(p: dict[str, Any]) -> str:
    if "orders" not in p:  # an exit (a SELL closing what is held) stores what the exit did
        return _generic(p)
    orders = p["orders"] or []
    submit = p.get("submit", p.get("status"))
    return f"{len(orders)} order(s) {_names(orders, 'state')}" + (f"; submit {submit}" if submit else "")


_SUMMARIES: dict[tuple[str, str], Callable[[dict[str, Any]], str]] = {
    ("load_strategy", "in"): lambda p: f"execution {p['execution_id']} ({p.get('trigger', '?')})",
    ("load_strategy", "out"): lambda p: (
        f"{p['name']} on {p['symbol']}, analyst {p.get('analyst')}, "
        f"timeframes {', '.join(p.get('timeframes', []))}"
    ),
    ("check_broker", "in"): lambda p: f"{p['mode']} mode, {p['broker']} broker",
    ("check_broker", "out"): lambda p: (
        f"account {p['account_id']}, net liquidation {_money(p.get('net_liquidation'))}"
    ),
    ("resolve_contract", "in"): lambda p: f"conid {p['conid']}",
    ("resolve_contract", "out"): lambda p: (
        f"{p['symbol']} {p.get('name', '')}, {p.get('sec_type')} on {p.get('exchange')}, "
        f"tick {_number(p.get('min_tick'))}"
    ),
    ("fetch_market_data", "in"): lambda p: f"{p['lookback_days']} days back from {when(p.get('as_of'))}",
    ("fetch_market_data", "out"): _market_out,
    ("compute_indicators", "in"): lambda p: (
        f"{len(p['indicators'])} indicators: {_names(p['indicators'], 'key')}" if p["indicators"] else "none"
    ),
    ("compute_indicators", "out"): lambda p: f"values for {', '.join(p)}",
    ("render_charts", "in"): lambda p: f"timeframes {', '.join(p['timeframes'])}",
    ("render_charts", "out"): lambda p: f"{len(p['charts'])} chart(s): {_names(p['charts'], 'timeframe')}",
    ("analyze", "in"): lambda p: (
        f"analyst {p['analyst']}, model {p.get('model')}, {len(p.get('charts') or [])} chart(s)"
    ),
    ("analyze", "out"): _analyze_out,
    ("decide_signal", "in"): lambda p: (
        f"LLM call {p.get('llm_call_id')}, {len(p.get('raw_text') or ''):,} characters"
    ),
    ("decide_signal", "out"): _signal_out,
    ("size_and_check_risk", "in"): _risk_in,
    ("size_and_check_risk", "out"): _risk_out,
    ("place_orders", "in"): _risk_in,
    ("place_orders", "out"): _orders_out,
    ("record_portfolio", "in"): lambda p: f"account {p['account_id']}",
    ("record_portfolio", "out"): lambda p: (
        f"equity {_money(p['equity'])}, cash {_money(p.get('cash'))}, "
        f"{len(p.get('positions') or [])} position(s)"
    ),
}
