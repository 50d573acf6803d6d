"""Drawing primitives for the chart renderer: candles, volume, overlays, indicator panels, grid and ticks.

Bars sit at integer x positions (no gaps for weekends or holidays). Each series is one artist or one
collection, never one patch per bar. Grid lines and tick labels are drawn here too, as line collections and
glyph outlines: matplotlib's own ``Tick`` objects (five artists each, created per draw, with ``Text``
labels laid out by FreeType at every draw) cost more than everything else on a chart this size.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import cast

import numpy as np
import numpy.typing as npt
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, NullLocator
from matplotlib.transforms import IdentityTransform

from ibflow.charts.legend import LegendEntry
from ibflow.charts.text import add_text, add_texts, width_px
from ibflow.indicators.catalogue import CATALOGUE
from ibflow.indicators.compute import IndicatorConfig

FloatArray = npt.NDArray[np.float64]
Series = Mapping[str, FloatArray]

TICK_FONT_SIZE = 9
LABEL_GAP_PX = 62
UP = "#26a69a"
DOWN = "#ef5350"
TREND_UP = "#1b8a3a"
TREND_DOWN = "#c62828"
GRID = "#e3e3e3"
GUIDE = "#9e9e9e"
TEXT = "#333333"
PALETTE = ("#1f77b4", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22")
BODY_HALF_WIDTH = 0.32
BANDS_ZORDER = 1.5  # under the candles (wicks 2, bodies 3) and the moving averages
AVERAGE_ZORDER = 2.5
EDGE_PX = 3.0  # tick labels keep this far from the figure's edges
MAX_DATE_TICKS = 9
_UP_RGBA = np.array(to_rgba(UP))
_DOWN_RGBA = np.array(to_rgba(DOWN))


def label(config: IndicatorConfig) -> str:
    """Return the legend text of an indicator, e.g. ``SMA 50`` or ``MACD 12, 26, 9``."""
    spec = CATALOGUE[config.type]
    values = ", ".join(f"{config.params[p.name]:g}" for p in spec.params)
    return f"{spec.title} {values}"


def _colors(rising: npt.NDArray[np.bool_]) -> FloatArray:
    return np.where(rising[:, np.newaxis], _UP_RGBA, _DOWN_RGBA)


def _shapes(points: FloatArray) -> Sequence[npt.ArrayLike]:
    # An (n, corners, 2) array is what collections take fastest; the stubs only name sequences.
    return cast("Sequence[npt.ArrayLike]", points)


def _boxes(x: FloatArray, bottom: FloatArray, top: FloatArray) -> Sequence[npt.ArrayLike]:
    left = x - BODY_HALF_WIDTH
    right = x + BODY_HALF_WIDTH
    corners = ((left, bottom), (left, top), (right, top), (right, bottom))
    return _shapes(np.stack([np.column_stack(corner) for corner in corners], axis=1))


def draw_candles(ax: Axes, x: FloatArray, bars: Series) -> None:
    """Draw the wicks as one ``LineCollection`` and the bodies as one ``PolyCollection``."""
    open_, high, low, close = bars["open"], bars["high"], bars["low"], bars["close"]
    colors = _colors(close >= open_)
    wicks = _shapes(np.stack([np.column_stack((x, low)), np.column_stack((x, high))], axis=1))
    ax.add_collection(LineCollection(wicks, colors=colors, linewidths=0.9, zorder=2), autolim=False)
    bodies = _boxes(x, np.minimum(open_, close), np.maximum(open_, close))
    ax.add_collection(
        PolyCollection(bodies, facecolors=colors, edgecolors=colors, linewidths=0.6, zorder=3), autolim=False
    )


def draw_volume(ax: Axes, x: FloatArray, bars: Series) -> tuple[float, float]:
    """Draw volume bars coloured like their candles; return the y limits."""
    volume = np.nan_to_num(bars["volume"])
    boxes = _boxes(x, np.zeros_like(volume), volume)
    colors = _colors(bars["close"] >= bars["open"])
    ax.add_collection(PolyCollection(boxes, facecolors=colors, linewidths=0, alpha=0.55), autolim=False)
    top = float(volume.max()) if volume.size else 0.0
    return 0.0, top * 1.1 if top > 0 else 1.0


def draw_overlay(
    ax: Axes, x: FloatArray, config: IndicatorConfig, outputs: Series, color: str
) -> list[LegendEntry]:
    """Draw one price overlay (moving average, Bollinger Bands or SuperTrend); return its legend entries."""
    name = label(config)
    if config.type == "bbands":
        upper, middle, lower = outputs["upper"], outputs["middle"], outputs["lower"]
        ax.fill_between(x, lower, upper, color=color, alpha=0.07, linewidth=0, zorder=BANDS_ZORDER)
        ax.plot(x, upper, color=color, linewidth=1.0, zorder=BANDS_ZORDER)
        ax.plot(x, lower, color=color, linewidth=1.0, zorder=BANDS_ZORDER)
        # The middle is an SMA of the same period: dotted and under the moving averages, so an SMA 20 drawn
        # on top stays visible and the middle shows through its gaps.
        ax.plot(
            x, middle, color=color, linewidth=0.9, linestyle=":", zorder=BANDS_ZORDER, gid="bbands-middle"
        )
        return [LegendEntry(name, color)]
    if config.type == "supertrend":
        entries = []
        line, direction = outputs["supertrend"], outputs["direction"]
        for sign, trend_color, word in ((1.0, TREND_UP, "up"), (-1.0, TREND_DOWN, "down")):
            part = np.where(direction == sign, line, np.nan)
            if np.isfinite(part).any():
                ax.plot(x, part, color=trend_color, linewidth=1.6)
                entries.append(LegendEntry(f"{name} {word}", trend_color))
        return entries
    (series,) = outputs.values()
    ax.plot(x, series, color=color, linewidth=1.3, zorder=AVERAGE_ZORDER, gid=f"average-{config.key}")
    return [LegendEntry(name, color)]


def draw_panel(
    ax: Axes, panel: str, x: FloatArray, items: Sequence[tuple[IndicatorConfig, Series]]
) -> tuple[tuple[float, float], list[LegendEntry]]:
    """Draw the indicators of one panel (``rsi``, ``macd``, ``atr``); return its y limits and legend."""
    values: list[FloatArray] = []
    entries: list[LegendEntry] = []
    for index, (config, outputs) in enumerate(items):
        if config.type == "macd":
            entries += _draw_macd(ax, x, config, outputs, index)
        else:
            color = PALETTE[index % len(PALETTE)]
            ax.plot(x, outputs[config.type], color=color, linewidth=1.2)
            entries.append(LegendEntry(label(config), color))
        values.extend(outputs.values())
    if panel == "rsi":
        for level in (30.0, 70.0):
            ax.axhline(level, color=GUIDE, linewidth=0.8, linestyle="--")
        return (0.0, 100.0), entries
    finite = np.concatenate(values)
    finite = finite[np.isfinite(finite)]
    if not finite.size:
        return (-1.0, 1.0), entries
    low, high = float(finite.min()), float(finite.max())
    if panel == "macd":
        low, high = min(low, 0.0), max(high, 0.0)
    pad = (high - low) * 0.08 or max(abs(high), 1.0) * 0.1
    return (low - pad, high + pad * 3), entries  # headroom for the legend


def _draw_macd(
    ax: Axes, x: FloatArray, config: IndicatorConfig, outputs: Series, index: int
) -> list[LegendEntry]:
    line_color = PALETTE[index * 2 % len(PALETTE)]
    signal_color = PALETTE[(index * 2 + 1) % len(PALETTE)]
    ax.plot(x, outputs["macd"], color=line_color, linewidth=1.2)
    ax.plot(x, outputs["signal"], color=signal_color, linewidth=1.0)
    hist = np.nan_to_num(outputs["hist"])
    boxes = _boxes(x, np.zeros_like(hist), hist)
    ax.add_collection(
        PolyCollection(boxes, facecolors=_colors(hist >= 0), linewidths=0, alpha=0.6), autolim=False
    )
    ax.axhline(0.0, color=GUIDE, linewidth=0.7)
    return [
        LegendEntry(label(config), line_color),
        LegendEntry("signal", signal_color),
        LegendEntry("histogram", UP, "two-boxes", DOWN),
    ]


def price_limits(bars: Series, overlays: Sequence[Series]) -> tuple[float, float]:
    """Return y limits holding every low, high and drawn overlay value, with headroom for the legend."""
    parts = [bars["low"], bars["high"]]
    parts.extend(series for outputs in overlays for name, series in outputs.items() if name != "direction")
    values = np.concatenate(parts)
    low = float(np.nanmin(values))
    high = float(np.nanmax(values))
    span = high - low or max(abs(high), 1.0) * 0.02
    return low - span * 0.04, high + span * 0.16


def date_ticks(index: pd.DatetimeIndex) -> tuple[list[int], list[str]]:
    """Return tick positions at month starts (thinned to every 2, 3, 6 or 12 months when many) and labels."""
    if len(index) == 0:
        return [], []
    months = np.asarray(index.year * 12 + index.month - 1)
    starts = np.flatnonzero(np.diff(months)) + 1
    step = next((s for s in (1, 2, 3, 6) if math.ceil(len(starts) / s) <= MAX_DATE_TICKS), 12)
    chosen = [int(p) for p in starts if months[p] % step == 0]
    if len(chosen) < 2:
        chosen = sorted({int(p) for p in np.linspace(0, len(index) - 1, 5)})
        return chosen, [f"{index[p]:%d %b %Y}" for p in chosen]
    return chosen, [f"{index[p]:%b %Y}" for p in chosen]


def value_ticks(low: float, high: float, count: int) -> tuple[list[float], list[str]]:
    """Return up to ``count`` round values in ``[low, high]`` and their labels, with just enough decimals."""
    values = [
        float(v)
        for v in MaxNLocator(nbins=count, steps=[1, 2, 2.5, 5, 10]).tick_values(low, high)
        if low <= v <= high
    ]
    decimals = next(
        (d for d in range(7) if all(abs(round(v, d) - v) < 1e-9 * max(1.0, abs(v)) for v in values)), 6
    )
    return values, [f"{v:,.{decimals}f}" for v in values]


def compact(value: float) -> str:
    """Return a short form of a large number: ``35M``, ``1.5B``, ``800k``."""
    for scale, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:g}{suffix}"
    return f"{value:g}"


def frame_axes(
    ax: Axes,
    *,
    ylim: tuple[float, float],
    yticks: tuple[Sequence[float], Sequence[str]],
    xticks: Sequence[int],
    xlabels: Sequence[str] | None,
    ylabel: str,
) -> None:
    """Set the y range, draw the grid and the tick labels, and name the y axis (x labels only if given)."""
    ax.set_ylim(*ylim)
    ax.xaxis.set_major_locator(NullLocator())
    ax.yaxis.set_major_locator(NullLocator())
    ax.spines[["top", "right"]].set_visible(False)
    ax.spines[["left", "bottom"]].set_color(GUIDE)
    y_values, y_texts = yticks
    columns = [((x, 0.0), (x, 1.0)) for x in xticks]
    ax.add_collection(
        LineCollection(columns, colors=GRID, linewidths=0.6, zorder=0, transform=ax.get_xaxis_transform()),
        autolim=False,
    )
    rows = [((0.0, y), (1.0, y)) for y in y_values]
    ax.add_collection(
        LineCollection(rows, colors=GRID, linewidths=0.6, zorder=0, transform=ax.get_yaxis_transform()),
        autolim=False,
    )
    figure = figure_of(ax)
    size, color = TICK_FONT_SIZE, TEXT
    y_anchors = [(0.0, y) for y in y_values]
    y_axis = ax.get_yaxis_transform()
    add_texts(
        figure, y_texts, y_anchors, y_axis, size=size, color=color, ha="right", va="center", offset_px=(-6, 0)
    )
    if xlabels is not None:
        add_texts(
            figure,
            xlabels,
            date_label_anchors(ax, xticks, xlabels),
            IdentityTransform(),
            size=size,
            color=color,
            ha="center",
            va="top",
            offset_px=(0, -7),
        ).set_gid("date-labels")
    name_x = -(LABEL_GAP_PX / (ax.get_position().width * figure.bbox.width))
    add_text(
        figure,
        ylabel,
        name_x,
        0.5,
        ax.transAxes,
        size=size,
        color=color,
        ha="center",
        va="center",
        rotation=90,
    )


def date_label_anchors(ax: Axes, xticks: Sequence[int], labels: Sequence[str]) -> list[tuple[float, float]]:
    """Return each date label's centre in pixels: under its tick, moved in just enough to fit the figure.

    A month start near the last bar would otherwise run past the right edge ("Dec 202"). The x limits must
    be set before this is called.
    """
    figure = figure_of(ax)
    bottom = float(ax.transAxes.transform((0.0, 0.0))[1])
    anchors = []
    for tick, text in zip(xticks, labels, strict=True):
        half = width_px(text, TICK_FONT_SIZE, figure.dpi) / 2
        centre = float(ax.transData.transform((tick, 0.0))[0])
        centre = max(EDGE_PX + half, min(centre, figure.bbox.width - EDGE_PX - half))
        anchors.append((centre, bottom))
    return anchors


def figure_of(ax: Axes) -> Figure:
    """Return the figure an axes is drawn on."""
    figure = ax.get_figure(root=True)
    if not isinstance(figure, Figure):
        raise TypeError("axes is not on a figure")
    return figure
