"""SuperTrend on TA-Lib's ATR, with the classic final-band recursion."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import talib

FloatArray = npt.NDArray[np.float64]


def supertrend(
    high: FloatArray, low: FloatArray, close: FloatArray, period: int, multiplier: float
) -> tuple[FloatArray, FloatArray]:
    """Return the SuperTrend line and its direction (+1 up, -1 down) for contiguous float64 arrays.

    Basic bands are ``(high + low) / 2 +/- multiplier * ATR(period)``. The final upper band only moves down
    unless the previous close broke above it (then it resets to the basic band); the final lower band only
    moves up unless the previous close broke below it. The trend starts up on the first bar with an ATR,
    turns down when the close falls below the final lower band and up when it rises above the final upper
    band; the line is the lower band in an up trend and the upper band in a down trend. Both outputs have
    ``period`` leading NaNs (the ATR's), or are all NaN with ``period`` bars or fewer.
    """
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

    upper = upper_basic[0]
    lower = lower_basic[0]
    rising = True
    previous_close = closes[0]
    lines = [lower]
    directions = [1.0]
    # The one per-bar loop in ibflow's indicators: each final band depends on the previous one.
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
