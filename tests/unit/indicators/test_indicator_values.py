"""Indicator values against reference formulas written here with numpy/pandas, and a published RSI table.

Each reference is the textbook definition in the form TA-Lib uses (Wilder smoothing seeded with a simple
mean, EMAs seeded with the simple mean of their first period, population standard deviation). Every check
states its tolerance and the number of leading NaNs it expects.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest

from ibflow.core.errors import ValidationError
from ibflow.indicators import CATALOGUE, IndicatorConfig, compute, compute_all, latest_values, warmup_bars

FloatArray = npt.NDArray[np.float64]
OHLCV = Path(__file__).resolve().parents[2] / "data" / "ohlcv"

# Relative tolerance for recursions TA-Lib runs in the same order as these formulas (only rounding differs).
RECURSION_RTOL = 1e-9
# Bollinger: TA-Lib takes the variance from running sums (E[x^2] - E[x]^2), which loses a few more digits.
BANDS_ATOL = 1e-6


def frame(close: FloatArray, high: FloatArray | None = None, low: FloatArray | None = None) -> pd.DataFrame:
    high = close + 1.0 if high is None else high
    low = close - 1.0 if low is None else low
    index = pd.date_range("2020-01-01", periods=len(close), freq="D", tz="UTC", name="ts")
    return pd.DataFrame(
        {"open": close.copy(), "high": high, "low": low, "close": close, "volume": np.full(len(close), 1e6)},
        index=index,
    )


@pytest.fixture(scope="module")
def walk() -> pd.DataFrame:
    """A seeded random walk with realistic ranges: 300 bars."""
    rng = np.random.default_rng(7)
    close = 100 + np.cumsum(rng.normal(0, 1.5, 300))
    high = close + rng.uniform(0.1, 2.5, 300)
    low = close - rng.uniform(0.1, 2.5, 300)
    return frame(close, high, low)


@pytest.fixture(scope="module")
def aapl() -> pd.DataFrame:
    """Real AAPL daily bars (tests/data/ohlcv), the last 600."""
    raw = pd.read_csv(next(OHLCV.glob("AAPL-*.csv")), parse_dates=["Date"]).tail(600)
    index = pd.DatetimeIndex(raw["Date"], name="ts").tz_localize("UTC")
    columns = {
        c.lower(): raw[c].to_numpy(dtype=np.float64) for c in ("Open", "High", "Low", "Close", "Volume")
    }
    return pd.DataFrame(columns, index=index)


def leading_nans(values: FloatArray) -> int:
    present = np.flatnonzero(~np.isnan(values))
    return int(present[0]) if present.size else len(values)


def sma_reference(close: FloatArray, period: int) -> FloatArray:
    return pd.Series(close).rolling(period).mean().to_numpy()


def ema_reference(values: FloatArray, period: int, first: int | None = None) -> FloatArray:
    """EMA with k = 2 / (period + 1), starting at ``first`` with the mean of the period ending there."""
    first = period - 1 if first is None else first
    out = np.full(len(values), np.nan)
    out[first] = values[first - period + 1 : first + 1].mean()
    k = 2.0 / (period + 1)
    for i in range(first + 1, len(values)):
        out[i] = values[i] * k + out[i - 1] * (1 - k)
    return out


def wilder(values: FloatArray, period: int, first: int) -> FloatArray:
    """Wilder smoothing: at ``first`` the mean of the period ending there, then (prev * (n-1) + x) / n."""
    out = np.full(len(values), np.nan)
    out[first] = values[first - period + 1 : first + 1].mean()
    for i in range(first + 1, len(values)):
        out[i] = (out[i - 1] * (period - 1) + values[i]) / period
    return out


def rsi_reference(close: FloatArray, period: int) -> FloatArray:
    change = np.diff(close, prepend=np.nan)
    gain = wilder(np.where(change > 0, change, 0.0), period, period)
    loss = wilder(np.where(change < 0, -change, 0.0), period, period)
    return 100.0 * gain / (gain + loss)


def atr_reference(high: FloatArray, low: FloatArray, close: FloatArray, period: int) -> FloatArray:
    previous = np.roll(close, 1)
    true_range = np.maximum(high - low, np.maximum(np.abs(high - previous), np.abs(low - previous)))
    true_range[0] = np.nan  # TA-Lib's ATR starts from the first bar that has a previous close
    return wilder(true_range, period, period)


def supertrend_reference(
    high: FloatArray, low: FloatArray, close: FloatArray, period: int, multiplier: float
) -> tuple[FloatArray, FloatArray]:
    """The classic SuperTrend written from its definition, one bar at a time."""
    atr = atr_reference(high, low, close, period)
    line = np.full(len(close), np.nan)
    direction = np.full(len(close), np.nan)
    upper = lower = np.nan
    for i in range(period, len(close)):
        basic_upper = (high[i] + low[i]) / 2 + multiplier * atr[i]
        basic_lower = (high[i] + low[i]) / 2 - multiplier * atr[i]
        if i == period:
            upper, lower, trend = basic_upper, basic_lower, 1.0
        else:
            upper = basic_upper if basic_upper < upper or close[i - 1] > upper else upper
            lower = basic_lower if basic_lower > lower or close[i - 1] < lower else lower
            if trend > 0 and close[i] < lower:
                trend = -1.0
            elif trend < 0 and close[i] > upper:
                trend = 1.0
        direction[i] = trend
        line[i] = lower if trend > 0 else upper
    return line, direction


def arrays(bars: pd.DataFrame) -> tuple[FloatArray, FloatArray, FloatArray]:
    return bars["high"].to_numpy(), bars["low"].to_numpy(), bars["close"].to_numpy()


@pytest.mark.parametrize("period", [1, 5, 20, 50])
def test_sma_matches_the_rolling_mean(walk: pd.DataFrame, period: int) -> None:
    values = compute(walk, IndicatorConfig.of("sma", {"period": period}))["sma"]
    assert leading_nans(values) == period - 1
    np.testing.assert_allclose(values, sma_reference(walk["close"].to_numpy(), period), rtol=RECURSION_RTOL)


@pytest.mark.parametrize("period", [5, 20, 50])
def test_ema_is_seeded_with_the_simple_mean_of_its_first_period(walk: pd.DataFrame, period: int) -> None:
    values = compute(walk, IndicatorConfig.of("ema", {"period": period}))["ema"]
    assert leading_nans(values) == period - 1
    np.testing.assert_allclose(values, ema_reference(walk["close"].to_numpy(), period), rtol=RECURSION_RTOL)


@pytest.mark.parametrize("period", [2, 14, 30])
def test_rsi_uses_wilder_smoothing(walk: pd.DataFrame, period: int) -> None:
    values = compute(walk, IndicatorConfig.of("rsi", {"period": period}))["rsi"]
    assert leading_nans(values) == period
    np.testing.assert_allclose(values, rsi_reference(walk["close"].to_numpy(), period), rtol=RECURSION_RTOL)


def test_rsi_matches_the_published_worked_example() -> None:
    # StockCharts ChartSchool's RSI worked example (Wilder's method, 14 periods): closes and the RSI from
    # the 15th close on. The published table rounds the average gain and loss to 2 decimals at each step,
    # so exact arithmetic differs from it by up to 0.07: tolerance 0.1.
    closes = [
        44.34, 44.09, 44.15, 43.61, 44.33, 44.83, 45.10, 45.42, 45.84, 46.08, 45.89, 46.03, 45.61, 46.28,
        46.28, 46.00, 46.03, 46.41, 46.22, 45.64, 46.21, 46.25, 45.71, 46.45, 45.78, 45.35, 44.03, 44.18,
        44.22, 44.57, 43.42, 42.66, 43.13,
    ]  # fmt: skip
    published = [
        70.53, 66.32, 66.55, 69.41, 66.36, 57.97, 62.93, 63.26, 56.06, 62.38, 54.71, 50.42, 39.99, 41.46,
        41.87, 45.46, 37.30, 33.08, 37.77,
    ]  # fmt: skip
    values = compute(frame(np.array(closes)), IndicatorConfig.of("rsi"))["rsi"]
    assert leading_nans(values) == 14
    np.testing.assert_allclose(values[14:], published, atol=0.1)


def test_rsi_of_a_series_that_only_rises_is_100() -> None:
    values = compute(frame(np.arange(1.0, 31.0)), IndicatorConfig.of("rsi"))["rsi"]
    np.testing.assert_allclose(values[14:], 100.0, rtol=0, atol=1e-9)


@pytest.mark.parametrize(("fast", "slow", "signal"), [(12, 26, 9), (5, 35, 5)])
def test_macd_matches_emas_started_together_at_the_slow_emas_first_bar(
    walk: pd.DataFrame, fast: int, slow: int, signal: int
) -> None:
    # TA-Lib starts both EMAs on the slow EMA's first bar (slow - 1), each seeded with the mean of its own
    # period ending there; the signal line is an EMA of the MACD line seeded the same way.
    close = walk["close"].to_numpy()
    line = ema_reference(close, fast, slow - 1) - ema_reference(close, slow, slow - 1)
    signal_line = ema_reference(line, signal, slow - 1 + signal - 1)
    expected_nans = slow - 1 + signal - 1
    line[:expected_nans] = np.nan

    values = compute(walk, IndicatorConfig.of("macd", {"fast": fast, "slow": slow, "signal": signal}))
    for name in ("macd", "signal", "hist"):
        assert leading_nans(values[name]) == expected_nans, name
    np.testing.assert_allclose(values["macd"], line, rtol=RECURSION_RTOL, atol=1e-12)
    np.testing.assert_allclose(values["signal"], signal_line, rtol=RECURSION_RTOL, atol=1e-12)
    np.testing.assert_allclose(values["hist"], line - signal_line, rtol=RECURSION_RTOL, atol=1e-12)


@pytest.mark.parametrize("period", [1, 14, 21])
def test_atr_is_the_wilder_average_of_the_true_range(walk: pd.DataFrame, period: int) -> None:
    values = compute(walk, IndicatorConfig.of("atr", {"period": period}))["atr"]
    assert leading_nans(values) == period
    np.testing.assert_allclose(values, atr_reference(*arrays(walk), period), rtol=RECURSION_RTOL)


@pytest.mark.parametrize(("period", "width"), [(20, 2.0), (10, 1.5)])
def test_bollinger_bands_use_the_population_standard_deviation(
    aapl: pd.DataFrame, period: int, width: float
) -> None:
    close = pd.Series(aapl["close"].to_numpy())
    middle = close.rolling(period).mean().to_numpy()
    deviation = close.rolling(period).std(ddof=0).to_numpy()
    values = compute(aapl, IndicatorConfig.of("bbands", {"period": period, "width": width}))
    for name in ("upper", "middle", "lower"):
        assert leading_nans(values[name]) == period - 1, name
    np.testing.assert_allclose(values["middle"], middle, rtol=0, atol=BANDS_ATOL)
    np.testing.assert_allclose(values["upper"], middle + width * deviation, rtol=0, atol=BANDS_ATOL)
    np.testing.assert_allclose(values["lower"], middle - width * deviation, rtol=0, atol=BANDS_ATOL)


@pytest.mark.parametrize(("period", "multiplier"), [(10, 3.0), (7, 1.5)])
def test_supertrend_matches_its_definition_on_real_bars(
    aapl: pd.DataFrame, period: int, multiplier: float
) -> None:
    values = compute(aapl, IndicatorConfig.of("supertrend", {"period": period, "multiplier": multiplier}))
    line, direction = supertrend_reference(*arrays(aapl), period, multiplier)
    assert leading_nans(values["supertrend"]) == period
    assert leading_nans(values["direction"]) == period
    np.testing.assert_allclose(values["supertrend"], line, rtol=RECURSION_RTOL)
    np.testing.assert_array_equal(values["direction"], direction)
    assert set(np.unique(direction[period:])) == {-1.0, 1.0}  # the series really does turn both ways


def test_supertrend_flips_at_the_bars_computed_by_hand() -> None:
    # Rise 10 -> 17, fall to 11, rise to 16; every bar spans close +/- 1, so the true range is 2 and
    # ATR(3) = 2 from bar 3 on; with multiplier 1 the basic bands are close +/- 2.
    # Up from bar 3 (lower band 11, 12, ... 15, held at 15 on bars 8 and 9); bar 10 closes at 14 < 15:
    # down, the line jumps to the upper band (19 reset on bar 7, falling to 16). The upper band falls to
    # 13 and holds; bar 16 closes at 14 > 13: up again, on the lower band (reset to 11 on bar 11, now 12).
    close = np.array(
        [10, 11, 12, 13, 14, 15, 16, 17, 16, 15, 14, 13, 12, 11, 12, 13, 14, 15, 16], dtype=float
    )
    values = compute(frame(close), IndicatorConfig.of("supertrend", {"period": 3, "multiplier": 1.0}))
    nan = np.nan
    expected_direction = [nan] * 3 + [1.0] * 7 + [-1.0] * 6 + [1.0] * 3
    expected_line = [nan] * 3 + [11, 12, 13, 14, 15, 15, 15] + [16, 15, 14, 13, 13, 13] + [12, 13, 14]
    np.testing.assert_array_equal(values["direction"], expected_direction)
    np.testing.assert_allclose(values["supertrend"], expected_line, rtol=0, atol=1e-12)
    flips = np.flatnonzero(np.diff(values["direction"][3:])) + 4
    assert flips.tolist() == [10, 16]


def test_too_few_bars_give_all_nan_outputs_of_full_length() -> None:
    short = frame(np.linspace(10, 12, 8))
    for config in (IndicatorConfig.of(t) for t in CATALOGUE):
        for name, values in compute(short, config).items():
            assert values.shape == (8,), (config.key, name)
            assert np.isnan(values).all(), (config.key, name)


def test_no_bars_give_empty_outputs() -> None:
    results = compute_all(frame(np.array([])), [IndicatorConfig.of("macd"), IndicatorConfig.of("rsi")])
    assert {name: values.shape for name, values in results["macd_12_26_9"].items()} == {
        "macd": (0,),
        "signal": (0,),
        "hist": (0,),
    }


def test_every_output_is_float64_as_long_as_the_bars_with_the_announced_warmup(walk: pd.DataFrame) -> None:
    configs = [IndicatorConfig.of(t) for t in CATALOGUE] + [
        IndicatorConfig.of("macd", {"fast": 3, "slow": 50})
    ]
    results = compute_all(walk, configs)
    assert list(results) == [c.key for c in configs]
    for config in configs:
        outputs = results[config.key]
        assert list(outputs) == [o.name for o in CATALOGUE[config.type].outputs]
        for values in outputs.values():
            assert values.dtype == np.float64
            assert values.shape == (len(walk),)
            assert leading_nans(values) == warmup_bars(config)


def test_compute_all_gives_what_compute_gives_one_by_one(walk: pd.DataFrame) -> None:
    configs = [IndicatorConfig.of(t) for t in CATALOGUE]
    together = compute_all(walk, configs)
    for config in configs:
        alone = compute(walk, config)
        for name, values in alone.items():
            np.testing.assert_array_equal(together[config.key][name], values)


def test_a_frame_with_mixed_column_types_computes_the_same(walk: pd.DataFrame) -> None:
    mixed = walk.assign(volume=walk["volume"].astype("int64"))
    np.testing.assert_array_equal(
        compute(mixed, IndicatorConfig.of("atr"))["atr"], compute(walk, IndicatorConfig.of("atr"))["atr"]
    )


def test_duplicate_keys_are_refused(walk: pd.DataFrame) -> None:
    with pytest.raises(ValidationError, match="duplicate indicator key 'rsi_14'"):
        compute_all(walk, [IndicatorConfig.of("rsi"), IndicatorConfig.of("rsi")])


def test_a_missing_column_is_named(walk: pd.DataFrame) -> None:
    with pytest.raises(ValidationError, match="'high'") as caught:
        compute(walk.drop(columns=["high"]), IndicatorConfig.of("atr"))
    assert set(caught.value.problems) == {"high"}


def test_latest_values_are_the_last_non_nan_value_of_each_output() -> None:
    outputs = {
        "line": np.array([np.nan, 1.0, 2.0, 3.0]),
        "gappy": np.array([np.nan, 5.0, 6.0, np.nan]),
        "empty": np.array([np.nan, np.nan]),
    }
    latest = latest_values(outputs)
    assert latest["line"] == 3.0
    assert latest["gappy"] == 6.0
    assert np.isnan(latest["empty"])
    assert all(type(value) is float for value in latest.values())


def test_a_later_bar_never_changes_earlier_values(walk: pd.DataFrame) -> None:
    # No look-ahead: values up to bar t are the same whether or not later bars are there.
    configs = [IndicatorConfig.of(t) for t in CATALOGUE]
    full = compute_all(walk, configs)
    cut = compute_all(walk.iloc[:200], configs)
    for key, outputs in cut.items():
        for name, values in outputs.items():
            np.testing.assert_array_equal(values, full[key][name][:200], err_msg=f"{key}.{name}")
