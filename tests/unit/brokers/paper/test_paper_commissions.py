"""IBKR Pro fixed commissions, per order, also when an order fills in parts."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ibflow.brokers.paper.matching.commissions import fill_commission, order_commission

D = Decimal


@pytest.mark.parametrize(
    ("quantity", "price", "expected"),
    [
        (D(100), D("50.00"), D("1.00")),  # 0.50 by the share: the USD 1 minimum
        (D(1000), D("50.00"), D("5.000")),  # 0.005 a share
        (D(5000), D("0.30"), D("15.00")),  # 25 by the share but at most 1 % of 1,500
        (D(10), D("5.00"), D("0.50")),  # 1 % of 50 is below the minimum: the cap wins
        (D(0), D("5.00"), D(0)),
    ],
)
def test_the_ibkr_pro_fixed_rule(quantity: Decimal, price: Decimal, expected: Decimal) -> None:
    assert order_commission(quantity, quantity * price) == expected


def test_the_minimum_is_charged_once_per_order_across_partial_fills() -> None:
    first = fill_commission(D(0), D(0), D(50), D("100.00"))
    second = fill_commission(D(50), D(5000), D(50), D("100.00"))
    third = fill_commission(D(100), D(10000), D(200), D("100.00"))
    assert (first, second, third) == (D(1), D(0), D("0.5"))  # 0.005 * 300 = 1.50 in total
    assert first + second + third == order_commission(D(300), D(30000))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 20_000), st.decimals("0.01", "900", places=2)), min_size=1, max_size=12)
)
def test_fills_always_add_up_to_the_order_rule(parts: list[tuple[int, Decimal]]) -> None:
    filled, value, charged = D(0), D(0), D(0)
    for quantity, price in parts:
        commission = fill_commission(filled, value, D(quantity), price)
        assert commission >= 0
        filled, value, charged = filled + quantity, value + quantity * price, charged + commission
    assert charged == order_commission(filled, value)
    assert charged <= value / 100
