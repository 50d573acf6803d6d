"""A series' float frame: built once from its bars, and every caller gets a frame of its own."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pandas as pd

from ibflow.brokers.base import BarData
from ibflow.core.ids import Conid
from ibflow.marketdata.bars import DAILY, BarSeries, to_frame, weekly_from_daily

START = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)


def _series(days: int = 12) -> BarSeries:
    bars = tuple(
        BarData(
            START + timedelta(days=i),
            Decimal("100.10") + i,
            Decimal("101.25") + i,
            Decimal("99.05") + i,
            Decimal("100.75") + i,
            Decimal(1000 + i),
        )
        for i in range(days)
    )
    return BarSeries(Conid(265598), DAILY, START + timedelta(days=days), bars, False)


def test_the_frame_holds_the_bars_and_a_caller_changing_it_leaves_the_next_one_alone() -> None:
    series = _series()
    first = series.frame
    pd.testing.assert_frame_equal(first, to_frame(series.bars))
    first["first_ts"] = first.index
    first.iloc[0, 0] = -1.0
    second = series.frame
    pd.testing.assert_frame_equal(second, to_frame(series.bars))
    assert second is not first


def test_the_cached_frame_changes_neither_equality_nor_the_weekly_resample() -> None:
    series = _series()
    twin = _series()
    weekly_before = weekly_from_daily(series)
    _ = series.frame
    assert series == twin
    assert dataclasses.replace(series, partial_last=False) == twin
    assert weekly_from_daily(series) == weekly_before
    pd.testing.assert_frame_equal(series.frame, twin.frame)


def test_an_empty_series_has_an_empty_utc_frame() -> None:
    empty = BarSeries(Conid(265598), DAILY, START, (), False)
    frame = empty.frame
    assert list(frame.columns) == ["open", "high", "low", "close", "volume"]
    assert len(frame) == 0
    assert str(pd.DatetimeIndex(frame.index).tz) == "UTC"
