"""Render bars and indicator series to a candlestick PNG.

The figure is built with matplotlib's object API on an Agg canvas (no pyplot state, safe in threads): price
with overlays on top, volume under it, then one panel per configured panel indicator (RSI, MACD, ATR). PNG
bytes are deterministic for the same input (fixed dpi and font, no software or time stamp in the
metadata at all), so the sha256 of the bytes identifies a chart.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.transforms import IdentityTransform

from ibflow.charts import draw
from ibflow.charts.legend import LegendEntry, draw_legend
from ibflow.charts.levels import PriceLevel, draw_levels
from ibflow.charts.png import encode_png
from ibflow.charts.text import add_text
from ibflow.core.errors import ValidationError
from ibflow.indicators.catalogue import CATALOGUE
from ibflow.indicators.compute import IndicatorConfig

FloatArray = npt.NDArray[np.float64]
IndicatorSeries = Sequence[tuple[IndicatorConfig, Mapping[str, FloatArray]]]

DPI = 100
MAX_LONG_SIDE_PX = 1568
MIN_SIDE_PX = 320
TIMEFRAME_NAMES = {"1d": "Daily", "1w": "Weekly"}
PANEL_ORDER = ("rsi", "macd", "atr")
_PRICE_RATIO = 5.0
_VOLUME_RATIO = 1.2
_PANEL_RATIO = 1.6
_BAR_COLUMNS = ("open", "high", "low", "close", "volume")
_LEFT_PX, _RIGHT_PX, _TOP_PX, _BOTTOM_PX = 76, 16, 40, 30
_RSI_TICKS = ([30.0, 50.0, 70.0], ["30", "50", "70"])


@dataclass(frozen=True)
class ChartSpec:
    """What to draw around the data: symbol, timeframe, pixel size, whether the last bar is partial, and the
    price levels to mark (entry, stop, target, last price)."""

    symbol: str
    timeframe: Literal["1d", "1w"]
    width_px: int = 1200
    height_px: int = 800
    partial_last_bar: bool = False
    levels: tuple[PriceLevel, ...] = ()

    def __post_init__(self) -> None:
        problems: dict[str, str] = {}
        if not self.symbol.strip():
            problems["symbol"] = "must not be empty"
        if self.timeframe not in TIMEFRAME_NAMES:
            problems["timeframe"] = f"must be one of {', '.join(TIMEFRAME_NAMES)}, got {self.timeframe!r}"
        for name in ("width_px", "height_px"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int)
                or not MIN_SIDE_PX <= value <= MAX_LONG_SIDE_PX
            ):
                problems[name] = (
                    f"must be an integer between {MIN_SIDE_PX} and {MAX_LONG_SIDE_PX} pixels, got {value!r}"
                )
        if problems:
            detail = "; ".join(f"{name} {text}" for name, text in problems.items())
            raise ValidationError(f"invalid chart spec: {detail}", problems=problems)


def chart_title(bars: pd.DataFrame, spec: ChartSpec) -> str:
    """Return the chart's title: symbol, timeframe and last bar date, marked when the last bar is partial."""
    last = f"{bars.index[-1]:%Y-%m-%d}" if len(bars) else "no bars"
    partial = " (partial)" if spec.partial_last_bar else ""
    return f"{spec.symbol}  ·  {TIMEFRAME_NAMES[spec.timeframe]}  ·  last bar {last}{partial}"


def render_chart(bars: pd.DataFrame, indicators: IndicatorSeries, spec: ChartSpec) -> bytes:
    """Return the chart of ``bars`` with ``indicators`` (outputs as long as the bars) as PNG bytes."""
    figure = build_figure(bars, indicators, spec)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="raw", dpi=DPI)
    pixels = np.frombuffer(buffer.getbuffer(), dtype=np.uint8).reshape(spec.height_px, spec.width_px, 4)
    return encode_png(pixels)


def build_figure(bars: pd.DataFrame, indicators: IndicatorSeries, spec: ChartSpec) -> Figure:
    """Build the chart's ``Figure``: price and overlays, volume, then a panel per panel indicator."""
    columns = _bar_arrays(bars)
    overlays, panels = _split(indicators, len(bars))
    figure = Figure(figsize=(spec.width_px / DPI, spec.height_px / DPI), dpi=DPI, facecolor="white")
    FigureCanvasAgg(figure)
    axes = _layout(figure, spec, len(panels))
    price_ax, volume_ax, *panel_axes = axes
    x = np.arange(len(bars), dtype=np.float64)

    draw.draw_candles(price_ax, x, columns)
    entries: list[LegendEntry] = []
    for index, (config, outputs) in enumerate(overlays):
        entries += draw.draw_overlay(price_ax, x, config, outputs, draw.PALETTE[index % len(draw.PALETTE)])
    marked = {f"level {n}": np.array([level.price]) for n, level in enumerate(spec.levels)}
    limits = draw.price_limits(columns, [outputs for _, outputs in overlays] + [marked])
    frames = [(price_ax, limits, draw.value_ticks(*limits, count=7), "Price", entries)]
    limits = draw.draw_volume(volume_ax, x, columns)
    values, _ = draw.value_ticks(*limits, count=3)
    frames.append((volume_ax, limits, (values, [draw.compact(v) for v in values]), "Volume", []))
    for ax, (panel, items) in zip(panel_axes, panels.items(), strict=True):
        limits, entries = draw.draw_panel(ax, panel, x, items)
        ticks = _RSI_TICKS if panel == "rsi" else draw.value_ticks(*limits, count=4)
        frames.append((ax, limits, ticks, panel.upper(), entries))

    axes[-1].set_xlim(-0.8, len(bars) - 0.2)  # before the frames: date labels are fitted in pixels
    xticks, xlabels = draw.date_ticks(pd.DatetimeIndex(bars.index))
    for ax, limits, ticks, name, entries in frames:
        labels = xlabels if ax is axes[-1] else None
        draw.frame_axes(ax, ylim=limits, yticks=ticks, xticks=xticks, xlabels=labels, ylabel=name)
        draw_legend(ax, entries, draw.TEXT)
    draw_levels(price_ax, spec.levels)
    _titles(figure, chart_title(bars, spec), f"last close {columns['close'][-1]:,.2f}")
    return figure


def _layout(figure: Figure, spec: ChartSpec, panels: int) -> list[Axes]:
    width, height = spec.width_px, spec.height_px
    ratios = [_PRICE_RATIO, _VOLUME_RATIO] + [_PANEL_RATIO] * panels
    grid = {"height_ratios": ratios, "hspace": 0.08, "left": _LEFT_PX / width, "right": 1 - _RIGHT_PX / width}
    grid |= {"top": 1 - _TOP_PX / height, "bottom": _BOTTOM_PX / height}
    return list(figure.subplots(len(ratios), 1, sharex=True, squeeze=False, gridspec_kw=grid)[:, 0])


def _titles(figure: Figure, title: str, subtitle: str) -> None:
    pixels = IdentityTransform()
    width, top = figure.bbox.width, figure.bbox.height - 14
    add_text(figure, title, _LEFT_PX, top, pixels, size=13, color=draw.TEXT, va="top", bold=True)
    add_text(figure, subtitle, width - _RIGHT_PX, top, pixels, size=10, color=draw.TEXT, ha="right", va="top")


def _bar_arrays(bars: pd.DataFrame) -> dict[str, FloatArray]:
    missing = [c for c in _BAR_COLUMNS if c not in bars.columns]
    if missing:
        problem = f"bars need the columns {', '.join(_BAR_COLUMNS)}; missing {', '.join(missing)}"
        raise ValidationError(problem, problems={"bars": problem})
    if len(bars) == 0:
        raise ValidationError("no bars to draw", problems={"bars": "must hold at least one bar"})
    if not isinstance(bars.index, pd.DatetimeIndex):
        raise ValidationError("bars need a DatetimeIndex", problems={"bars": "index must be a DatetimeIndex"})
    return {c: np.ascontiguousarray(bars[c].to_numpy(dtype=np.float64)) for c in _BAR_COLUMNS}


def _split(
    indicators: IndicatorSeries, size: int
) -> tuple[
    list[tuple[IndicatorConfig, Mapping[str, FloatArray]]],
    dict[str, list[tuple[IndicatorConfig, Mapping[str, FloatArray]]]],
]:
    overlays: list[tuple[IndicatorConfig, Mapping[str, FloatArray]]] = []
    panels: dict[str, list[tuple[IndicatorConfig, Mapping[str, FloatArray]]]] = {}
    for config, outputs in indicators:
        expected = [o.name for o in CATALOGUE[config.type].outputs]
        missing = [name for name in expected if name not in outputs]
        if missing:
            problem = f"{config.key} lacks the outputs {', '.join(missing)}"
            raise ValidationError(problem, problems={config.key: problem})
        for name, series in outputs.items():
            if len(series) != size:
                problem = f"{config.key}.{name} has {len(series)} values for {size} bars"
                raise ValidationError(problem, problems={config.key: problem})
        panel = next((o.panel for o in CATALOGUE[config.type].outputs if o.placement == "panel"), None)
        if panel is None:
            overlays.append((config, outputs))
        else:
            panels.setdefault(panel, []).append((config, outputs))
    order = {name: index for index, name in enumerate(PANEL_ORDER)}
    ordered = dict(sorted(panels.items(), key=lambda item: order.get(item[0], len(order))))
    return overlays, ordered
