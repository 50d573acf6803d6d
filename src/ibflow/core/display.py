"""Numbers as a trader reads them: prices at the contract's tick, quantities without trailing zeros."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal

DEFAULT_TICK = Decimal("0.01")


def price_text(value: Decimal | None, tick: Decimal | None = None) -> str:
    """Show a price with the places of the contract's tick (0.01 -> 187.40, 0.0001 -> 1.2345); '' for none."""
    if value is None:
        return ""
    step = tick if tick is not None and tick > 0 else DEFAULT_TICK
    places = max(0, -step.normalize().as_tuple().exponent)  # type: ignore[operator]
    return f"{value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN):f}"


def quantity_text(value: Decimal | None) -> str:
    """Show a quantity without trailing zeros (10, 0.5); '' for none."""
    if value is None:
        return ""
    text = f"{value.normalize():f}"
    return "0" if text in ("-0", "") else text


def money_text(value: Decimal | None, currency: str = "USD", *, sign: bool = False) -> str:
    """Show an amount with thousands separators, two places and the currency ('' for none); with ``sign``,
    a gain gets a '+' (for P&L, so the sign says it without colour)."""
    if value is None:
        return ""
    amount = value.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
    sign_text = "-" if amount < 0 else ("+" if amount > 0 and sign else "")
    return f"{sign_text}{abs(amount):,} {currency}"


def decimal_text(value: Decimal) -> str:
    """Show an exact decimal without exponent or trailing zeros (for JSON: 86, 0, 230.06)."""
    text = f"{value.normalize():f}"
    return "0" if text == "-0" else text


def when_text(value: datetime | None) -> str:
    """Show an aware time as UTC, to the minute; '' for none."""
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")
