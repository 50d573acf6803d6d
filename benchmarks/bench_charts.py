"""ibflow's chart renderer against stock ``mplfinance.plot`` on the same real daily bars.

Both draw the same 126-bar window (sliding by one bar per iteration, so no cache helps) at 1200x800 px:
candles, volume, SMA 20, SMA 50 and Bollinger Bands overlays, RSI and MACD panels, the same title, axes
labels and legends, to a PNG in memory. The two alternate; N iterations each.
"""

from __future__ import annotations

import io
import struct

import matplotlib

matplotlib.use("Agg")  # before mplfinance imports pyplot

import mplfinance as mpf

from benchmarks import interleaved, load_bars, summary
from ibflow.charts.render import ChartSpec, chart_title, render_chart
from ibflow.indicators import IndicatorConfig, compute_all

ITERATIONS = 30
WINDOW = 126
WIDTH_PX, HEIGHT_PX = 1200, 800
TARGET_SPEEDUP = 3.0
PANEL_RATIOS = (5, 1.2, 1.6, 1.6)  # the same proportions as ibflow's layout
CONFIGS = (
    IndicatorConfig.of("sma", {"period": 20}),
    IndicatorConfig.of("sma", {"period": 50}),
    IndicatorConfig.of("bbands"),
    IndicatorConfig.of("rsi"),
    IndicatorConfig.of("macd"),
)


def _png_size(data: bytes) -> tuple[int, int]:
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def run() -> dict[str, object]:
    """Time both renderers and return medians, their ratio and whether ibflow is >= 3x faster."""
    bars = load_bars("AAPL")
    values = compute_all(bars, CONFIGS)
    first = len(bars) - WINDOW - ITERATIONS - 2
    spec = ChartSpec("AAPL", "1d", WIDTH_PX, HEIGHT_PX)

    def window(iteration: int) -> slice:
        start = first + iteration + 2  # warm-up calls get iterations -1 and -2
        return slice(start, start + WINDOW)

    def ibflow(iteration: int) -> bytes:
        rows = window(iteration)
        indicators = [(c, {name: a[rows] for name, a in values[c.key].items()}) for c in CONFIGS]
        return render_chart(bars.iloc[rows], indicators, spec)

    def mplfinance(iteration: int) -> bytes:
        rows = window(iteration)
        frame = bars.iloc[rows].tz_localize(None).rename_axis("Date")
        sma20, sma50 = values["sma_20"]["sma"][rows], values["sma_50"]["sma"][rows]
        bands, rsi, macd = values["bbands_20_2"], values["rsi_14"]["rsi"][rows], values["macd_12_26_9"]
        panel = {"secondary_y": False}
        addplots = [
            mpf.make_addplot(sma20, color="#1f77b4", label="SMA 20"),
            mpf.make_addplot(sma50, color="#ff7f0e", label="SMA 50"),
            mpf.make_addplot(bands["upper"][rows], color="#9467bd", label="Bollinger Bands 20, 2"),
            mpf.make_addplot(bands["middle"][rows], color="#9467bd", linestyle="--"),
            mpf.make_addplot(bands["lower"][rows], color="#9467bd"),
            mpf.make_addplot(
                rsi, panel=2, color="#1f77b4", ylabel="RSI", label="RSI 14", ylim=(0, 100), **panel
            ),
            mpf.make_addplot(
                macd["macd"][rows], panel=3, color="#1f77b4", ylabel="MACD", label="MACD 12, 26, 9", **panel
            ),
            mpf.make_addplot(macd["signal"][rows], panel=3, color="#ff7f0e", label="signal", **panel),
            mpf.make_addplot(
                macd["hist"][rows], panel=3, type="bar", color="#26a69a", label="histogram", **panel
            ),
        ]
        buffer = io.BytesIO()
        mpf.plot(
            frame,
            type="candle",
            volume=True,
            addplot=addplots,
            panel_ratios=PANEL_RATIOS,
            figsize=(WIDTH_PX / 100, HEIGHT_PX / 100),
            style="yahoo",
            title=chart_title(bars.iloc[rows], spec),
            ylabel="Price",
            ylabel_lower="Volume",
            savefig={"fname": buffer, "format": "png", "dpi": 100},
            closefig=True,
        )
        return buffer.getvalue()

    sizes = {"ibflow": _png_size(ibflow(0)), "mplfinance.plot": _png_size(mplfinance(0))}
    assert set(sizes.values()) == {(WIDTH_PX, HEIGHT_PX)}, sizes
    samples = interleaved({"ibflow": ibflow, "mplfinance.plot": mplfinance}, ITERATIONS)
    ours, theirs = summary(samples["ibflow"]), summary(samples["mplfinance.plot"])
    speedup = theirs["median_ms"] / ours["median_ms"]
    first_day, last_day = bars.index[first + 2], bars.index[first + 2 + ITERATIONS + WINDOW - 2]
    return {
        "name": "charts",
        "title": "Chart rendering: ibflow vs stock mplfinance.plot",
        "setup": (
            f"AAPL daily bars, a {WINDOW}-bar window sliding one bar per iteration "
            f"({first_day:%Y-%m-%d} .. {last_day:%Y-%m-%d}); {WIDTH_PX}x{HEIGHT_PX} px PNG to memory; "
            "candles + volume, SMA 20, SMA 50, Bollinger 20/2 overlays, RSI 14 and MACD 12/26/9 panels, "
            "same title, axis labels and legends; interleaved, "
            f"{ITERATIONS} iterations each after 2 warm-up calls"
        ),
        "cases": {"ibflow": ours, "mplfinance.plot": theirs},
        "ratio": {"mplfinance.plot / ibflow (median)": round(speedup, 2)},
        "target": f"ibflow at least {TARGET_SPEEDUP:g}x faster",
        "passed": speedup >= TARGET_SPEEDUP,
    }
