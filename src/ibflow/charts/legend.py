"""A light legend: one row (wrapping if needed) of line samples and labels in an axes' upper left corner.

It draws a box, and a sample and a label per entry (labels as cached glyph outlines, see ``charts.text``).
matplotlib's ``Legend`` lays the same out through offset boxes, handler artists and ``Text`` objects at
many times the cost, which on a chart with three legends was a fifth of the render time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.transforms import IdentityTransform

from ibflow.charts.text import add_texts, width_px

FONT_SIZE = 8
SAMPLE_PX = 18.0
SAMPLE_GAP_PX = 6.0
ENTRY_GAP_PX = 14.0
PAD_PX = 5.0
ROW_PX = 15.0
INSET_PX = 5.0


@dataclass(frozen=True)
class LegendEntry:
    """One legend line: its text and how its sample is drawn."""

    label: str
    color: str
    sample: Literal["line", "dashed", "box", "two-boxes"] = "line"
    second_color: str | None = None  # the right-hand box of a "two-boxes" sample (bars of two colours)


def draw_legend(ax: Axes, entries: Sequence[LegendEntry], text_color: str) -> None:
    """Draw ``entries`` in ``ax``'s upper left corner, wrapping to a new row when the axes is too narrow."""
    if not entries:
        return
    figure = ax.get_figure(root=True)
    if not isinstance(figure, Figure):
        raise TypeError("axes is not on a figure")
    box = ax.get_position()
    left = box.x0 * figure.bbox.width + INSET_PX
    top = box.y1 * figure.bbox.height - INSET_PX
    limit = box.x1 * figure.bbox.width - INSET_PX - PAD_PX

    starts: list[tuple[float, float]] = []
    x, row, right = left + PAD_PX, 0, left
    for entry in entries:
        width = SAMPLE_PX + SAMPLE_GAP_PX + width_px(entry.label, FONT_SIZE, figure.dpi)
        if starts and x + width > limit:
            x, row = left + PAD_PX, row + 1
        starts.append((x, top - PAD_PX / 2 - ROW_PX * row - ROW_PX / 2))
        x += width + ENTRY_GAP_PX
        right = max(right, x - ENTRY_GAP_PX + PAD_PX)

    height = (row + 1) * ROW_PX + PAD_PX
    display = IdentityTransform()
    frame = Rectangle((left, top - height), right - left, height, transform=display, zorder=5)
    frame.set(facecolor=(1.0, 1.0, 1.0, 0.85), edgecolor="#cccccc", linewidth=0.8)
    figure.add_artist(frame)
    for (x0, middle), entry in zip(starts, entries, strict=True):
        for artist in _samples(entry, x0, middle):
            figure.add_artist(artist)
    anchors = [(x0 + SAMPLE_PX + SAMPLE_GAP_PX, middle) for x0, middle in starts]
    labels = [entry.label for entry in entries]
    add_texts(figure, labels, anchors, display, size=FONT_SIZE, color=text_color, va="center")


def _samples(entry: LegendEntry, x0: float, middle: float) -> list[Line2D | Rectangle]:
    if entry.sample == "two-boxes":
        half = (SAMPLE_PX - 4) / 2
        colors = (entry.color, entry.second_color or entry.color)
        return [
            Rectangle(
                (x0 + 2 + i * half, middle - 4), half - 1, 8, transform=IdentityTransform(), color=c, zorder=6
            )
            for i, c in enumerate(colors)
        ]
    if entry.sample == "box":
        return [
            Rectangle(
                (x0 + 2, middle - 4),
                SAMPLE_PX - 4,
                8,
                transform=IdentityTransform(),
                color=entry.color,
                zorder=6,
            )
        ]
    return [_line(entry, x0, middle)]


def _line(entry: LegendEntry, x0: float, middle: float) -> Line2D:
    return Line2D(
        [x0, x0 + SAMPLE_PX],
        [middle, middle],
        transform=IdentityTransform(),
        color=entry.color,
        linewidth=2.0,
        linestyle="--" if entry.sample == "dashed" else "-",
        zorder=6,
    )
