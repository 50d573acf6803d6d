"""Decimal money helpers: exact parsing, tick rounding and the 8-place storage scale."""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal, InvalidOperation
from enum import Enum

SCALE = 8
"""Decimal places kept in storage for money, prices and quantities."""

QUANTUM = Decimal(1).scaleb(-SCALE)
MAX_INTEGER_DIGITS = 16
"""``Numeric(24, 8)``: at most 16 digits before the point."""

ZERO = Decimal(0)


class TickRounding(Enum):
    """How a price snaps to the tick grid."""

    NEAREST = "nearest"
    DOWN = "down"
    UP = "up"


def to_decimal(value: Decimal | int | str | float) -> Decimal:
    """Turn a value into a finite Decimal; floats go through their shortest repr, never binary expansion."""
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, float):
        result = Decimal(repr(value))
    else:
        try:
            result = Decimal(value)
        except InvalidOperation as exc:
            raise ValueError(f"not a number: {value!r}") from exc
    if not result.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return result


def quantize(value: Decimal) -> Decimal:
    """Round to the storage scale (8 places, half-even) and refuse values that do not fit."""
    result = to_decimal(value).quantize(QUANTUM, rounding=ROUND_HALF_EVEN)
    if result.adjusted() >= MAX_INTEGER_DIGITS:
        raise OverflowError(f"{value} has more than {MAX_INTEGER_DIGITS} digits before the point")
    return result


def round_to_tick(price: Decimal, tick: Decimal, mode: TickRounding = TickRounding.NEAREST) -> Decimal:
    """Snap ``price`` to a multiple of ``tick`` (nearest, or down / up for conservative limits)."""
    if tick <= 0:
        raise ValueError(f"tick must be positive, got {tick}")
    rounding = {
        TickRounding.NEAREST: ROUND_HALF_EVEN,
        TickRounding.DOWN: ROUND_FLOOR,
        TickRounding.UP: ROUND_CEILING,
    }[mode]
    steps = (price / tick).quantize(Decimal(1), rounding=rounding)
    return (steps * tick).quantize(tick)


def is_on_tick(price: Decimal, tick: Decimal) -> bool:
    """Tell whether ``price`` is an exact multiple of ``tick``."""
    return price % tick == 0


def money_str(value: Decimal, places: int = 2, rounding: str = ROUND_HALF_EVEN) -> str:
    """Format an amount for people: thousands separators, fixed places (``ROUND_CEILING`` for a ceiling)."""
    return f"{value.quantize(Decimal(1).scaleb(-places), rounding=rounding):,}"
