"""Sizing: floor(equity x risk / |entry - stop|), capped by value, buying power and quantity; never up."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select
from tests.unit.trading.risk_cases import base_inputs

from ibflow.core.clock import ManualClock
from ibflow.db.engine import SessionFactory
from ibflow.db.models import Order
from ibflow.trading.risk.checks import RiskReason, evaluate_entry, size_entry

BASE = {
    "equity": Decimal(100_000),
    "risk_per_trade": Decimal("0.01"),
    "entry": Decimal(100),
    "stop": Decimal(95),
    "max_position_value": Decimal(1_000_000),
    "buying_power": Decimal(1_000_000),
    "max_quantity": Decimal(1_000_000),
}


def _size(**changes: Decimal) -> tuple[Decimal, dict[str, str]]:
    return size_entry(**(BASE | changes))


def test_the_size_is_the_risk_budget_over_the_risk_per_share() -> None:
    size, sizing = _size()
    assert size == Decimal(200)  # 1,000 budget / 5.00 a share
    assert sizing["budget"] == "1000.00"
    assert sizing["per_share_risk"] == "5"
    assert sizing["risk_size"] == "200"
    assert sizing["limited_by"] == "risk"


def test_the_distance_to_the_stop_counts_whichever_side_it_is_on() -> None:
    assert _size(stop=Decimal(105))[0] == Decimal(200)


@pytest.mark.parametrize(
    ("change", "expected", "limited_by"),
    [
        ({"max_position_value": Decimal(5_000)}, Decimal(50), "max_position_value"),
        ({"buying_power": Decimal(3_050)}, Decimal(30), "buying_power"),
        ({"max_quantity": Decimal(10)}, Decimal(10), "max_quantity"),
        ({"max_quantity": Decimal("10.9")}, Decimal(10), "max_quantity"),
    ],
)
def test_each_cap_limits_the_size(change: dict[str, Decimal], expected: Decimal, limited_by: str) -> None:
    size, sizing = _size(**change)
    assert size == expected
    assert sizing["limited_by"] == limited_by
    assert sizing["size"] == str(expected)


def test_a_fractional_size_is_rounded_down_never_up() -> None:
    assert _size(stop=Decimal(97))[0] == Decimal(333)  # 1,000 / 3 = 333.33
    assert _size(equity=Decimal(99), stop=Decimal(0))[0] == Decimal(0)  # 0.99 / 100 a share -> 0, not 1
    assert _size(buying_power=Decimal("199.99"))[0] == Decimal(1)


@pytest.mark.parametrize(
    "change",
    [
        {"stop": Decimal(100)},
        {"equity": Decimal(0)},
        {"equity": Decimal(-5_000)},
        {"risk_per_trade": Decimal(0)},
        {"buying_power": Decimal(-10)},
        {"max_quantity": Decimal(0)},
        {"entry": Decimal(0), "stop": Decimal(-5)},
    ],
)
def test_zero_stays_zero(change: dict[str, Decimal]) -> None:
    size, sizing = _size(**change)
    assert size == 0
    assert sizing["size"] == "0"


_amounts = st.decimals(min_value=Decimal(0), max_value=Decimal(10_000_000), places=2)
_prices = st.decimals(min_value=Decimal("0.01"), max_value=Decimal(5_000), places=2)


@given(
    st.fixed_dictionaries(
        {
            "equity": _amounts,
            "risk_per_trade": st.decimals(min_value=Decimal(0), max_value=Decimal("0.1"), places=4),
            "entry": _prices,
            "stop": _prices,
            "max_position_value": _amounts,
            "buying_power": _amounts,
            "max_quantity": st.decimals(min_value=Decimal(0), max_value=Decimal(100_000), places=0),
        }
    )
)
def test_the_size_is_the_largest_whole_number_within_every_limit(case: dict[str, Decimal]) -> None:
    size, _ = size_entry(**case)
    risk = abs(case["entry"] - case["stop"])

    def within(quantity: Decimal) -> bool:
        return (
            quantity * risk <= case["equity"] * case["risk_per_trade"]
            and quantity * case["entry"] <= case["max_position_value"]
            and quantity * case["entry"] <= case["buying_power"]
            and quantity <= case["max_quantity"]
        )

    assert size == size.to_integral_value()
    assert size >= 0
    if risk == 0:
        assert size == 0
        return
    assert within(size)
    assert not within(size + 1)


def test_a_size_that_rounds_to_zero_places_nothing(sessions: SessionFactory, clock: ManualClock) -> None:
    with sessions() as session:
        inputs = base_inputs(session, clock)
        # 0.5 % of 100,000 = 500 budget; a 600 stop distance is less than one share of risk.
        inputs = inputs.with_intent(entry=Decimal(1000), stop=Decimal(400), target=Decimal(2000))
        inputs = inputs.with_quote(last=Decimal(1000)).with_limits(risk_per_trade=Decimal("0.005"))
        decision = evaluate_entry(
            session,
            intent=inputs.intent,
            limits=inputs.limits,
            snapshot=inputs.snapshot,
            clock=clock,
            live_trading_allowed=False,
            risk_env=inputs.risk_env,
        )
        assert decision.reason is RiskReason.SIZE_ZERO
        assert decision.quantity == 0
        assert decision.sizing["risk_size"] == "0"
        assert "limited by risk" in decision.detail
        assert session.scalar(select(func.count()).select_from(Order)) == 0
