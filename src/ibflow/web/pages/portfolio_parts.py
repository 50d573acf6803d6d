"""The portfolio page's chart series: equity and drawdown from the snapshots, thinned to a light page.

A year of hourly snapshots is some 8,800 points; the page sends at most ``MAX_POINTS``. The series is cut
into equal runs of snapshots and each run keeps its lowest and highest equity and its deepest drawdown (in
time order), so the curve's peaks, troughs and the worst drawdown survive the thinning; the newest snapshot
is always kept. Drawdown is computed on every snapshot first: the fall of equity from its running peak, as
a percentage (0 at a new high, negative below it). Floats here are chart coordinates only; the page's
figures stay Decimal.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

MAX_POINTS = 1000
PER_RUN = 3  # lowest equity, highest equity, deepest drawdown


def drawdowns(equity: Sequence[Decimal]) -> list[Decimal]:
    """Return each point's fall from the running peak of ``equity`` in percent (0 or negative)."""
    peak: Decimal | None = None
    found = []
    for value in equity:
        peak = value if peak is None or value > peak else peak
        found.append((value - peak) / peak * 100 if peak > 0 else Decimal(0))
    return found


def thinned(count: int, equity: Sequence[Decimal], drawdown: Sequence[Decimal], limit: int) -> list[int]:
    """Return the indices to keep of ``count`` points: all of them when few, else per run its extremes."""
    if count <= limit:
        return list(range(count))
    runs = max(1, (limit - 1) // PER_RUN)
    keep: set[int] = {count - 1}
    for run in range(runs):
        start, end = run * count // runs, (run + 1) * count // runs
        if start >= end:
            continue
        span = range(start, end)
        keep.add(min(span, key=equity.__getitem__))
        keep.add(max(span, key=equity.__getitem__))
        keep.add(min(span, key=drawdown.__getitem__))
    return sorted(keep)


def series(
    points: Sequence[tuple[datetime, Decimal]], limit: int = MAX_POINTS
) -> tuple[dict[str, Any], Decimal]:
    """Return the chart's columns (``t`` in Unix seconds, ``equity``, ``drawdown`` in percent), thinned, and
    the deepest drawdown over every point in percent (positive, 0 when equity never fell)."""
    equity = [value for _, value in points]
    drawdown = drawdowns(equity)
    kept = thinned(len(points), equity, drawdown, limit)
    columns = {
        "t": [int(points[i][0].timestamp()) for i in kept],
        "equity": [round(float(equity[i]), 2) for i in kept],
        "drawdown": [round(float(drawdown[i]), 3) for i in kept],
        "points": len(points),
    }
    return columns, -min(drawdown, default=Decimal(0))
