"""Decimal money helpers."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ibflow.core.money import (
    TickRounding,
    is_on_tick,
    money_str,
    quantize,
    round_to_tick,
    to_decimal,
)


def test_to_decimal_uses_the_shortest_float_repr() -> None:
    assert to_decimal(0.1) == Decimal("0.1")
    assert to_decimal("190.25") == Decimal("190.25")
    assert to_decimal(3) == Decimal(3)


@pytest.mark.parametrize("bad", ["abc", "NaN", "Infinity", float("inf")])
def test_to_decimal_refuses_non_numbers(bad: object) -> None:
    with pytest.raises(ValueError, match="not a"):
        to_decimal(bad)  # type: ignore[arg-type]


def test_quantize_rounds_half_even_to_eight_places_and_refuses_overflow() -> None:
    assert quantize(Decimal("1.000000005")) == Decimal("1.00000000")
    assert quantize(Decimal("1.000000015")) == Decimal("1.00000002")
    assert quantize(Decimal("9999999999999999.99999999")) == Decimal("9999999999999999.99999999")
    with pytest.raises(OverflowError):
        quantize(Decimal("10000000000000000"))


@pytest.mark.parametrize(
    ("price", "tick", "mode", "expected"),
    [
        ("190.123", "0.01", TickRounding.NEAREST, "190.12"),
        ("190.127", "0.01", TickRounding.NEAREST, "190.13"),
        ("190.129", "0.01", TickRounding.DOWN, "190.12"),
        ("190.121", "0.01", TickRounding.UP, "190.13"),
        ("12.37", "0.05", TickRounding.NEAREST, "12.35"),
        ("12.38", "0.05", TickRounding.NEAREST, "12.40"),
        ("0.00021", "0.0001", TickRounding.DOWN, "0.0002"),
    ],
)
def test_round_to_tick(price: str, tick: str, mode: TickRounding, expected: str) -> None:
    assert round_to_tick(Decimal(price), Decimal(tick), mode) == Decimal(expected)


@given(
    st.decimals(min_value=Decimal("0.01"), max_value=Decimal(100000), places=6),
    st.sampled_from([Decimal("0.01"), Decimal("0.05"), Decimal("0.25"), Decimal("0.0001")]),
)
def test_rounded_prices_are_on_the_tick_and_bracket_the_input(price: Decimal, tick: Decimal) -> None:
    down = round_to_tick(price, tick, TickRounding.DOWN)
    up = round_to_tick(price, tick, TickRounding.UP)
    nearest = round_to_tick(price, tick)
    assert all(is_on_tick(p, tick) for p in (down, up, nearest))
    assert down <= price <= up
    assert up - down in (Decimal(0), tick)
    assert abs(nearest - price) <= tick / 2


def test_round_to_tick_refuses_a_non_positive_tick() -> None:
    with pytest.raises(ValueError, match="tick must be positive"):
        round_to_tick(Decimal(1), Decimal(0))


def test_money_str() -> None:
    assert money_str(Decimal("1234567.125")) == "1,234,567.12"
