"""Price levels marked on a chart: a position's or a signal's entry, stop and target, and the last price.

Levels arrive as plain data (a label and a float), so charts need nothing from trading or llm; the workflow
picks them. Each is a horizontal line across the price axes with its name and price boxed at the right end.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from matplotlib.axes import Axes
from matplotlib.patches import Rectangle
from matplotlib.transforms import IdentityTransform

from ibflow.charts.draw import figure_of
from ibflow.charts.text import add_texts, width_px

LevelKind = Literal["entry", "stop", "target", "last"]
COLORS: dict[LevelKind, str] = {"entry": "#1565c0", "stop": "#c62828", "target": "#2e7d32", "last": "#616161"}
STYLES: dict[LevelKind, str] = {"entry": "-", "stop": "--", "target": "--", "last": ":"}
NAMES: dict[LevelKind, str] = {"entry": "entry", "stop": "stop", "target": "target", "last": "last"}
ZORDER = 4.0  # over the candles: a level is what the reader looks for
FONT_SIZE = 8


@dataclass(frozen=True)
class PriceLevel:
    """One level to mark: what it is and its price."""

    kind: LevelKind
    price: float


def draw_levels(ax: Axes, levels: Sequence[PriceLevel]) -> None:
    """Draw each level as a line across ``ax``, its name and price in a box at the right end.

    Call it once the y limits are set: the boxes are placed in pixels.
    """
    figure = figure_of(ax)
    right = float(ax.transAxes.transform((1.0, 0.0))[0]) - 4
    for level in levels:
        color = COLORS[level.kind]
        ax.axhline(
            level.price,
            color=color,
            linewidth=1.1,
            linestyle=STYLES[level.kind],
            zorder=ZORDER,
            gid=f"level-{level.kind}",
        )
        text = f"{NAMES[level.kind]} {level.price:,.2f}"
        width = width_px(text, FONT_SIZE, figure.dpi)
        y = float(ax.transData.transform((0.0, level.price))[1])
        box = Rectangle(
            (right - width - 6, y + 1), width + 6, 13, transform=IdentityTransform(), zorder=ZORDER
        )
        box.set(facecolor=(1.0, 1.0, 1.0, 0.9), edgecolor=color, linewidth=0.8)
        figure.add_artist(box)
        add_texts(
            figure,
            [text],
            [(right - 3, y + 7.5)],
            IdentityTransform(),
            size=FONT_SIZE,
            color=color,
            ha="right",
            va="center",
            zorder=ZORDER + 0.1,
        ).set_gid(f"level-label-{level.kind}")
