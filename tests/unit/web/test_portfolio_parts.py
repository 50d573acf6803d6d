"""The portfolio chart's series: drawdown from the running peak, and thinning that keeps the extremes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from ibflow.web.pages.portfolio_parts import drawdowns, series

START = datetime(2026, 1, 1, tzinfo=UTC)


def _points(values: list[int]) -> list[tuple[datetime, Decimal]]:
    return [(START + timedelta(hours=i), Decimal(v)) for i, v in enumerate(values)]


def test_drawdown_is_the_fall_from_the_running_peak_in_percent() -> None:
    assert drawdowns([Decimal(100), Decimal(110), Decimal(99), Decimal(121), Decimal(120)]) == [
        Decimal(0),
        Decimal(0),
        Decimal(-10),
        Decimal(0),
        Decimal(-1) / Decimal(121) * 100,
    ]
    assert drawdowns([Decimal(0), Decimal(-5)]) == [Decimal(0), Decimal(0)]  # no peak to fall from


def test_few_points_are_all_kept_and_the_deepest_drawdown_is_given() -> None:
    columns, deepest = series(_points([100, 120, 90, 130]))
    assert columns["t"] == [int((START + timedelta(hours=i)).timestamp()) for i in range(4)]
    assert columns["equity"] == [100.0, 120.0, 90.0, 130.0]
    assert columns["drawdown"] == [0.0, 0.0, -25.0, 0.0]
    assert columns["points"] == 4
    assert deepest == Decimal(25)
    empty, none = series([])
    assert (empty["t"], empty["points"], none) == ([], 0, Decimal(0))


def test_many_points_are_thinned_keeping_peak_trough_deepest_drawdown_and_the_newest() -> None:
    values = [1_000 + (i % 50) for i in range(10_000)]
    values[3_333] = 2_000  # the peak
    values[3_334] = 1_500  # a fall of 25 % from it, the deepest drawdown
    values[7_777] = 10  # the trough
    columns, deepest = series(_points(values), limit=100)
    assert len(columns["t"]) <= 100
    assert columns["t"] == sorted(columns["t"])
    assert max(columns["equity"]) == 2_000.0
    assert min(columns["equity"]) == 10.0
    assert columns["t"][-1] == int((START + timedelta(hours=9_999)).timestamp())
    assert deepest == Decimal(100) - Decimal(10) / Decimal(2_000) * 100
    assert min(columns["drawdown"]) == round(float(-deepest), 3)
