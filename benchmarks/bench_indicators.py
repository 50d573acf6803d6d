"""The seven indicators through ibflow's ``compute_all`` against calling TA-Lib directly on the same arrays.

The direct side gets its contiguous float64 arrays ready-made; ibflow starts from the bars frame. TA-Lib has
no SuperTrend of the kind ibflow draws on, so ibflow's own ``supertrend`` function is the reference cost
on the direct side: the total compares the whole indicator step, the six-only row isolates the overhead
around TA-Lib.
"""

from __future__ import annotations

import numpy as np
import talib

from benchmarks import interleaved, load_bars, summary
from ibflow.indicators import IndicatorConfig, compute_all
from ibflow.indicators.supertrend import supertrend

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
    six = CONFIGS[:6]

    def talib_six(_iteration: int) -> list[object]:
        return [
            talib.RSI(close, 14),
            talib.MACD(close, 12, 26, 9),
            talib.ATR(high, low, close, 14),
            talib.SMA(close, 20),
            talib.EMA(close, 20),
            talib.BBANDS(close, 20, 2.0, 2.0),
        ]

    def direct_seven(iteration: int) -> list[object]:
        return [*talib_six(iteration), supertrend(high, low, close, 10, 3.0)]

    def ibflow_six(_iteration: int) -> object:
        return compute_all(bars, six)

    def ibflow_seven(_iteration: int) -> object:
        return compute_all(bars, CONFIGS)

    reference = direct_seven(0)
    ours = compute_all(bars, CONFIGS)
    assert np.array_equal(ours["rsi_14"]["rsi"], reference[0], equal_nan=True)
    assert np.array_equal(ours["supertrend_10_3"]["supertrend"], reference[6][0], equal_nan=True)

    samples = interleaved(
        {
            "TA-Lib direct, 6 + ibflow supertrend": direct_seven,
            "ibflow compute_all, 7": ibflow_seven,
            "TA-Lib direct, 6": talib_six,
            "ibflow compute_all, 6": ibflow_six,
        },
        ITERATIONS,
        warmup=3,
        repeat=REPEAT,
    )
    cases = {name: summary(values) for name, values in samples.items()}

    def ratio(ours: str, theirs: str) -> float:
        return round(cases[ours]["median_ms"] / cases[theirs]["median_ms"], 3)

    total = ratio("ibflow compute_all, 7", "TA-Lib direct, 6 + ibflow supertrend")
    only_six = ratio("ibflow compute_all, 6", "TA-Lib direct, 6")
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
            "total step, ibflow / direct (median)": total,
            "six TA-Lib indicators only, ibflow / direct (median)": only_six,
        },
        "target": f"total step within {TARGET_RATIO:g}x of direct",
        "passed": total <= TARGET_RATIO,
    }
