"""Real bars for chart tests: AAPL daily from tests/data/ohlcv, and weekly bars resampled from them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

OHLCV = Path(__file__).resolve().parents[2] / "data" / "ohlcv"


@pytest.fixture(scope="session")
def aapl_daily() -> pd.DataFrame:
    raw = pd.read_csv(next(OHLCV.glob("AAPL-*.csv")), parse_dates=["Date"])
    index = pd.DatetimeIndex(raw["Date"], name="ts").tz_localize("UTC")
    columns = {
        c.lower(): raw[c].to_numpy(dtype=np.float64) for c in ("Open", "High", "Low", "Close", "Volume")
    }
    return pd.DataFrame(columns, index=index)


@pytest.fixture(scope="session")
def aapl_weekly(aapl_daily: pd.DataFrame) -> pd.DataFrame:
    rules = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
    return aapl_daily.resample("W-FRI").agg(rules).dropna()
