"""Chart text drawn as glyph outlines cached per string: tick labels, axis names, legends and the title.

A matplotlib ``Text`` lays its string out with FreeType twice per draw (to measure, then to render), about
a millisecond per label, which made text most of a chart's render time. The outline of a string
(``TextPath``), already aligned, is computed once per string and style, kept as a read-only ``Path`` (safe to
share between threads and figures) and drawn as a filled path; a group of labels is one ``PathCollection``.
The glyphs are the same font's, antialiased and unhinted.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.path import Path
from matplotlib.textpath import TextPath
from matplotlib.transforms import Affine2D, Transform

FONT = "DejaVu Sans"
CAP_HEIGHT_EM = 0.729  # DejaVu Sans: capitals and digits are 0.729 em tall
POINTS_PER_INCH = 72.0

HorizontalAlign = Literal["left", "center", "right"]
VerticalAlign = Literal["baseline", "center", "top"]
_LINES_AND_QUADRATICS = {int(Path.MOVETO), int(Path.LINETO), int(Path.CURVE3), int(Path.CLOSEPOLY)}


@functools.lru_cache(maxsize=4096)
def _extent(text: str, size: float, bold: bool) -> tuple[Path, float, float]:
    if not text.strip():  # TextPath fails on strings without a glyph outline
        return Path(np.empty((0, 2)), readonly=True), 0.0, 0.0
    prop = FontProperties(family=FONT, size=size, weight="bold" if bold else "normal")
    glyphs = TextPath((0.0, 0.0), text, prop=prop)
    vertices = np.array(glyphs.vertices, dtype=np.float64).reshape(-1, 2)
    path = Path(vertices, np.array(glyphs.codes), readonly=True)
    left, right = drawn_x_extent(path)
    return path, left, right


def drawn_x_extent(path: Path) -> tuple[float, float]:
    """Return the leftmost and rightmost x the path draws through, as ``path.get_extents()`` does.

    Control points and CLOSEPOLY vertices do not count; a quadratic segment counts its end and, when it
    bulges past its ends, its extremum. Glyph outlines are lines and quadratic curves only; any other path
    is left to matplotlib, whose ``get_extents`` walks segment objects (some 20 ms for a title's 750
    vertices, more than the rest of the chart's text on a cold cache).
    """
    if path.codes is None:
        extents = path.get_extents()
        return float(extents.x0), float(extents.x1)
    kinds: list[int] = np.asarray(path.codes).tolist()
    if not set(kinds) <= _LINES_AND_QUADRATICS:
        extents = path.get_extents()
        return float(extents.x0), float(extents.x1)
    xs: list[float] = np.asarray(path.vertices)[:, 0].tolist()
    low, high = math.inf, -math.inf
    current = start = 0.0
    index = 0
    while index < len(kinds):
        kind = kinds[index]
        if kind == Path.CURVE3:
            control, end = xs[index], xs[index + 1]
            points = [end]
            bend = current - 2.0 * control + end
            if bend != 0.0 and 0.0 < (t := (current - control) / bend) < 1.0:
                points.append((1 - t) ** 2 * current + 2 * (1 - t) * t * control + t**2 * end)
            low, high = min(low, *points), max(high, *points)
            current = end
            index += 2
            continue
        if kind == Path.CLOSEPOLY:
            current = start
        else:  # MOVETO or LINETO
            current = xs[index]
            start = current if kind == Path.MOVETO else start
            low, high = min(low, current), max(high, current)
        index += 1
    return (low, high) if low <= high else (0.0, 0.0)


@functools.lru_cache(maxsize=4096)
def outline(
    text: str,
    size: float,
    *,
    bold: bool = False,
    ha: HorizontalAlign = "left",
    va: VerticalAlign = "baseline",
    rotation: float = 0.0,
) -> Path:
    """Return the outline of ``text`` in points, aligned on the origin as ``ha``/``va`` say, then rotated."""
    path, left, right = _extent(text, size, bold)
    dx = {"left": -left, "center": -(left + right) / 2, "right": -right}[ha]
    dy = {"baseline": 0.0, "center": -CAP_HEIGHT_EM * size / 2, "top": -CAP_HEIGHT_EM * size}[va]
    moved = path.transformed(Affine2D().translate(dx, dy).rotate_deg(rotation))
    return Path(moved.vertices, moved.codes, readonly=True)


def width_px(text: str, size: float, dpi: float, bold: bool = False) -> float:
    """Return the drawn width of ``text`` in pixels."""
    _path, left, right = _extent(text, size, bold)
    return (right - left) * dpi / POINTS_PER_INCH


def add_texts(
    figure: Figure,
    texts: Sequence[str],
    anchors: Sequence[tuple[float, float]],
    transform: Transform,
    *,
    size: float,
    color: str,
    ha: HorizontalAlign = "left",
    va: VerticalAlign = "baseline",
    offset_px: tuple[float, float] = (0.0, 0.0),
    rotation: float = 0.0,
    bold: bool = False,
    zorder: float = 6.0,
) -> PathCollection:
    """Draw each text at its anchor (``transform`` coordinates), shifted by ``offset_px``, as one artist."""
    paths = [outline(text, size, bold=bold, ha=ha, va=va, rotation=rotation) for text in texts]
    to_pixels = Affine2D().scale(figure.dpi / POINTS_PER_INCH).translate(*offset_px)
    collection = PathCollection(
        paths,
        offsets=np.asarray(anchors, dtype=np.float64).reshape(-1, 2),
        offset_transform=transform,
        transform=to_pixels,
        facecolors=color,
        edgecolors="none",
        linewidths=0.0,
        zorder=zorder,
    )
    figure.add_artist(collection)
    return collection


def add_text(
    figure: Figure,
    text: str,
    x: float,
    y: float,
    transform: Transform,
    *,
    size: float,
    color: str,
    ha: HorizontalAlign = "left",
    va: VerticalAlign = "baseline",
    rotation: float = 0.0,
    bold: bool = False,
) -> PathCollection:
    """Draw one text anchored at ``(x, y)`` in ``transform``'s coordinates."""
    return add_texts(
        figure,
        [text],
        [(x, y)],
        transform,
        size=size,
        color=color,
        ha=ha,
        va=va,
        rotation=rotation,
        bold=bold,
    )
