"""SuperTrend comes from TA-Lib now: bit-identical to the per-bar loop ibflow used to carry, on real bars."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
import talib

from ibflow.core.errors import ValidationError
from ibflow.indicators import IndicatorConfig, compute

FloatArray = npt.NDArray[np.float64]
OHLCV = Path(__file__).resolve().parents[2] / "data" / "ohlcv"


def hand_written_supertrend(
    high: FloatArray, low: FloatArray, close: FloatArray, period: int, multiplier: float
) -> tuple[FloatArray, FloatArray]:
    """ibflow's former ``indicators/supertrend.py``, kept as the reference (same float operations)."""
    size = len(close)
    line = np.full(size, np.nan)
    direction = np.full(size, np.nan)
    if size <= period:
        return line, direction
    offset = multiplier * talib.ATR(high, low, close, timeperiod=period)[period:]
    middle = (high[period:] + low[period:]) * 0.5
    upper_basic = (middle + offset).tolist()
    lower_basic = (middle - offset).tolist()
    closes = close[period:].tolist()
    upper, lower, rising, previous_close = upper_basic[0], lower_basic[0], True, closes[0]
    lines, directions = [lower], [1.0]
    for basic_up, basic_down, price in zip(upper_basic[1:], lower_basic[1:], closes[1:], strict=True):
        if basic_up < upper or previous_close > upper:
            upper = basic_up
        if basic_down > lower or previous_close < lower:
            lower = basic_down
        rising = price >= lower if rising else price > upper
        lines.append(lower if rising else upper)
        directions.append(1.0 if rising else -1.0)
        previous_close = price
    line[period:] = lines
    direction[period:] = directions
    return line, direction


def _bars(path: Path) -> pd.DataFrame:
    raw = pd.read_csv(path, parse_dates=["Date"])
    index = pd.DatetimeIndex(raw["Date"], name="ts").tz_localize("UTC")
    columns = {
        c.lower(): raw[c].to_numpy(dtype=np.float64) for c in ("Open", "High", "Low", "Close", "Volume")
    }
    return pd.DataFrame(columns, index=index)


@pytest.mark.parametrize("path", sorted(OHLCV.glob("*.csv")), ids=lambda p: p.name.split("-")[0])
@pytest.mark.parametrize(("period", "multiplier"), [(10, 3.0), (7, 1.5), (2, 0.5), (50, 4.0), (200, 10.0)])
def test_talib_supertrend_is_bit_identical_to_the_hand_written_one(
    path: Path, period: int, multiplier: float
) -> None:
    bars = _bars(path)
    values = compute(bars, IndicatorConfig.of("supertrend", {"period": period, "multiplier": multiplier}))
    line, direction = hand_written_supertrend(
        *(np.ascontiguousarray(bars[c].to_numpy()) for c in ("high", "low", "close")), period, multiplier
    )
    assert len(bars) > 2000
    assert np.array_equal(values["supertrend"], line, equal_nan=True)
    assert np.array_equal(values["direction"], direction, equal_nan=True)
    assert values["direction"].dtype == np.float64
    assert np.isnan(values["direction"][:period]).all()  # TA-Lib's 0 during the warm-up becomes NaN
    assert set(np.unique(values["direction"][period:])) == {-1.0, 1.0}


def test_a_period_below_talibs_minimum_is_refused_with_the_range() -> None:
    with pytest.raises(ValidationError, match="between 2 and 200"):
        IndicatorConfig.of("supertrend", {"period": 1})
