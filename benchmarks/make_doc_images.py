"""Regenerate the chart images in docs/images: ``.venv/bin/python -m benchmarks.make_doc_images``.

AAPL from tests/data/ohlcv with SMA 20, SMA 50, Bollinger Bands and SuperTrend over the price and RSI and
MACD panels: a daily chart (the last 126 bars) and a weekly one (the last 104 weeks, resampled here).
"""

from __future__ import annotations

import pandas as pd

from benchmarks import REPO, load_bars
from ibflow.charts.render import ChartSpec, render_chart
from ibflow.charts.windows import chart_window
from ibflow.indicators import IndicatorConfig, compute_all

IMAGES = REPO / "docs" / "images"
CONFIGS = (
    IndicatorConfig.of("sma", {"period": 20}),
    IndicatorConfig.of("sma", {"period": 50}),
    IndicatorConfig.of("bbands"),
    IndicatorConfig.of("supertrend"),
    IndicatorConfig.of("rsi"),
    IndicatorConfig.of("macd"),
)


def weekly(daily: pd.DataFrame) -> pd.DataFrame:
    """Resample daily bars to weeks ending on Friday."""
    rules = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
    return daily.resample("W-FRI").agg(rules).dropna()


def chart(bars: pd.DataFrame, timeframe: str) -> bytes:
    """Render the documentation chart of ``bars`` for ``timeframe``."""
    values = compute_all(bars, CONFIGS)
    window, indicators = chart_window(bars, [(c, values[c.key]) for c in CONFIGS], timeframe)
    spec = ChartSpec("AAPL", "1d" if timeframe == "1d" else "1w")
    return render_chart(window, indicators, spec)


def main() -> None:
    """Write docs/images/chart-daily.png and chart-weekly.png."""
    daily = load_bars("AAPL")
    IMAGES.mkdir(parents=True, exist_ok=True)
    charts = {"chart-daily.png": chart(daily, "1d"), "chart-weekly.png": chart(weekly(daily), "1w")}
    for name, data in charts.items():
        (IMAGES / name).write_bytes(data)
        print(f"wrote {IMAGES / name} ({len(data):,} bytes)")


if __name__ == "__main__":
    main()
