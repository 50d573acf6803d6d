"""Pick a chart's window: about 6 months of daily bars, about 2 years of weekly bars.

Indicators are computed over the whole history (so the window starts with warmed-up values) and then cut
to the same window as the bars.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from ibflow.core.errors import ValidationError
from ibflow.indicators.compute import IndicatorConfig, warmup_bars

FloatArray = npt.NDArray[np.float64]

WINDOW_BARS = {"1d": 126, "1w": 104}


def window_bars(timeframe: str) -> int:
    """Return how many bars a chart of ``timeframe`` shows: 126 daily (~6 months), 104 weekly (~2 years)."""
    try:
        return WINDOW_BARS[timeframe]
    except KeyError:
        problem = f"must be one of {', '.join(WINDOW_BARS)}, got {timeframe!r}"
        raise ValidationError(f"invalid timeframe: {problem}", problems={"timeframe": problem}) from None


def history_bars(timeframe: str, configs: Iterable[IndicatorConfig]) -> int:
    """Return how many bars to load so every indicator has a value from the window's first bar."""
    return window_bars(timeframe) + max((warmup_bars(c) for c in configs), default=0)


def chart_window(
    bars: pd.DataFrame,
    indicators: Sequence[tuple[IndicatorConfig, Mapping[str, FloatArray]]],
    timeframe: str,
    size: int | None = None,
) -> tuple[pd.DataFrame, list[tuple[IndicatorConfig, dict[str, FloatArray]]]]:
    """Return the last ``size`` bars (default: the timeframe's window) and the same tail of every output."""
    count = window_bars(timeframe) if size is None else size
    if count < 1:
        raise ValidationError("window must hold at least one bar", problems={"size": f"got {count}"})
    start = max(len(bars) - count, 0)
    window = bars.iloc[start:]
    cut = [
        (config, {name: series[start:] for name, series in outputs.items()}) for config, outputs in indicators
    ]
    return window, cut
