"""The seven indicators through ibflow's ``compute_all`` against calling TA-Lib directly on the same arrays.

The direct side gets its contiguous float64 arrays ready-made and calls the seven TA-Lib functions (SuperTrend
is TA-Lib's ``SUPERTREND`` on both sides now); ibflow starts from the bars frame, validates nothing more (the
configs are built once) and maps SuperTrend's integer direction to float with NaN in the warm-up. The
SuperTrend rows isolate that one indicator.
"""

from __future__ import annotations

import numpy as np
import talib

from benchmarks import interleaved, load_bars, summary
from ibflow.indicators import IndicatorConfig, compute_all

BARS = 2520
ITERATIONS = 60
REPEAT = 20
TARGET_RATIO = 1.5
CONFIGS = tuple(IndicatorConfig.of(t) for t in ("rsi", "macd", "atr", "sma", "ema", "bbands", "supertrend"))


def run() -> dict[str, object]:
    """Time both sides and return medians, their ratios and whether ibflow is within 1.5x."""
    bars = load_bars("AAPL").tail(BARS)
    high, low, close = (
        np.ascontiguousarray(bars[c].to_numpy(dtype=np.float64)) for c in ("high", "low", "close")
    )
    supertrend_only = CONFIGS[6:]

    def talib_supertrend(_iteration: int) -> object:
        return talib.SUPERTREND(high, low, close, timeperiod=10, multiplier=3.0)

    def talib_seven(iteration: int) -> list[object]:
        return [
            talib.RSI(close, 14),
            talib.MACD(close, 12, 26, 9),
            talib.ATR(high, low, close, 14),
            talib.SMA(close, 20),
            talib.EMA(close, 20),
            talib.BBANDS(close, 20, 2.0, 2.0),
            talib_supertrend(iteration),
        ]

    def ibflow_seven(_iteration: int) -> object:
        return compute_all(bars, CONFIGS)

    def ibflow_supertrend(_iteration: int) -> object:
        return compute_all(bars, supertrend_only)

    reference = talib_seven(0)
    ours = compute_all(bars, CONFIGS)
    assert np.array_equal(ours["rsi_14"]["rsi"], reference[0], equal_nan=True)
    line, trend = reference[6]  # type: ignore[misc]
    assert np.array_equal(ours["supertrend_10_3"]["supertrend"], line, equal_nan=True)
    assert np.array_equal(np.nan_to_num(ours["supertrend_10_3"]["direction"]), trend)

    samples = interleaved(
        {
            "TA-Lib direct, 7": talib_seven,
            "ibflow compute_all, 7": ibflow_seven,
            "TA-Lib SUPERTREND direct": talib_supertrend,
            "ibflow compute_all, SuperTrend": ibflow_supertrend,
        },
        ITERATIONS,
        warmup=3,
        repeat=REPEAT,
    )
    cases = {name: summary(values) for name, values in samples.items()}

    def ratio(ours: str, theirs: str) -> float:
        return round(cases[ours]["median_ms"] / cases[theirs]["median_ms"], 3)

    total = ratio("ibflow compute_all, 7", "TA-Lib direct, 7")
    supertrend = ratio("ibflow compute_all, SuperTrend", "TA-Lib SUPERTREND direct")
    return {
        "name": "indicators",
        "title": "Indicator step: ibflow compute_all vs TA-Lib called directly",
        "setup": (
            f"AAPL, last {BARS} daily bars; RSI 14, MACD 12/26/9, ATR 14, SMA 20, EMA 20, Bollinger 20/2, "
            f"SuperTrend 10/3; each sample is the mean of {REPEAT} calls; interleaved, "
            f"{ITERATIONS} samples each"
        ),
        "cases": cases,
        "ratio": {
            "all seven, ibflow / direct (median)": total,
            "SuperTrend alone, ibflow / direct (median)": supertrend,
        },
        "target": f"all seven within {TARGET_RATIO:g}x of direct",
        "passed": total <= TARGET_RATIO,
    }
