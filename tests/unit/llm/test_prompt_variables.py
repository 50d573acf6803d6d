"""The ``ohlcv`` prompt variable: the summary and the last ten bars, exactly as the frame holds them."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pandas as pd

from ibflow.llm.analyst import AnalystInput
from ibflow.llm.prompts.variables import build_variables


def _request(daily: pd.DataFrame) -> AnalystInput:
    return AnalystInput(
        strategy_name="s",
        symbol="AAPL",
        as_of=datetime(2026, 3, 4, 17, tzinfo=UTC),
        last_price=Decimal("101.5"),
        daily=daily,
        indicators=[],
    )


def _frame(bars: int, volume: object) -> pd.DataFrame:
    index = pd.date_range("2026-01-01", periods=bars, freq="D", tz=UTC, name="ts")
    close = [100 + i + 0.123456 for i in range(bars)]
    return pd.DataFrame(
        {
            "open": close,
            "high": [c + 1 for c in close],
            "low": [c - 1 for c in close],
            "close": close,
            "volume": volume,
        },
        index=index,
    )


def test_the_recent_bars_are_the_last_ten_rounded_to_four_places_with_whole_volumes() -> None:
    ohlcv = build_variables(_request(_frame(25, 1234.9)), {})["ohlcv"]
    assert ohlcv["bars"] == 25
    assert (ohlcv["first"], ohlcv["last"]) == ("2026-01-01", "2026-01-25")
    assert len(ohlcv["recent"]) == 10
    assert ohlcv["recent"][0] == {
        "date": "2026-01-16",
        "open": 115.1235,
        "high": 116.1235,
        "low": 114.1235,
        "close": 115.1235,
        "volume": 1234,
    }
    assert ohlcv["recent"][-1]["date"] == "2026-01-25"
    assert (ohlcv["high_20"], ohlcv["low_20"], ohlcv["avg_volume_20"]) == (125.1235, 104.1235, 1234)
    assert all(type(bar["volume"]) is int and type(bar["close"]) is float for bar in ohlcv["recent"])


def test_fewer_than_ten_bars_are_all_recent_and_an_integer_volume_column_reads_the_same() -> None:
    ohlcv = build_variables(_request(_frame(3, 500)), {})["ohlcv"]
    assert [bar["date"] for bar in ohlcv["recent"]] == ["2026-01-01", "2026-01-02", "2026-01-03"]
    assert [bar["volume"] for bar in ohlcv["recent"]] == [500, 500, 500]
    assert type(ohlcv["recent"][0]["volume"]) is int


def test_no_bars_is_an_empty_summary() -> None:
    assert build_variables(_request(_frame(0, 1.0)), {})["ohlcv"] == {"bars": 0, "recent": []}
