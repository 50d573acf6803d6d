"""Chart text drawn as glyph outlines cached per string: tick labels, axis names, legends and the title.

A matplotlib ``Text`` lays its string out with FreeType twice per draw (to measure, then to render), about
a millisecond per label, which made text most of a chart's render time. The outline of a string
(``TextPath``), already aligned, is computed once per string and style, kept as a read-only ``Path`` (safe to
share between threads and figures) and drawn as a filled path; a group of labels is one ``PathCollection``.
The glyphs are the same font's, antialiased and unhinted.
"""

from __future__ import annotations

import functools
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


@functools.lru_cache(maxsize=4096)
def _extent(text: str, size: float, bold: bool) -> tuple[Path, float, float]:
    if not text.strip():  # TextPath fails on strings without a glyph outline
        return Path(np.empty((0, 2)), readonly=True), 0.0, 0.0
    prop = FontProperties(family=FONT, size=size, weight="bold" if bold else "normal")
    glyphs = TextPath((0.0, 0.0), text, prop=prop)
    vertices = np.array(glyphs.vertices, dtype=np.float64).reshape(-1, 2)
    path = Path(vertices, np.array(glyphs.codes), readonly=True)
    extents = path.get_extents()  # the drawn extent: control points and CLOSEPOLY vertices do not count
    return path, float(extents.x0), float(extents.x1)


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
