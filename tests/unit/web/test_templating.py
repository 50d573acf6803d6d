"""The pages' filters: prices at the tick, quantities without trailing zeros, times in UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

from ibflow.web.templating import price, quantity, seconds, when


def test_a_price_is_shown_at_the_contracts_tick() -> None:
    assert price(Decimal("187.4"), Decimal("0.01")) == "187.40"
    assert price(Decimal("1.23456"), Decimal("0.0001")) == "1.2346"
    assert price(None, Decimal("0.01")) == "-"


def test_a_quantity_has_no_trailing_zeros() -> None:
    assert quantity(Decimal("10.0000")) == "10"
    assert quantity(Decimal("0.50")) == "0.5"
    assert quantity(Decimal("-0")) == "0"
    assert quantity(None) == "-"


def test_times_are_utc_to_the_minute_or_the_second() -> None:
    moment = datetime(2026, 3, 3, 10, 0, 7, tzinfo=timezone(timedelta(hours=-5)))
    assert when(moment) == "2026-03-03 15:00 UTC"
    assert seconds(moment) == "2026-03-03 15:00:07 UTC"
    assert seconds(datetime(2026, 3, 3, 15, 0, 7, tzinfo=UTC).isoformat()) == "2026-03-03 15:00:07 UTC"
    assert seconds(None) == "-"
