"""Text extents: the fast walk over glyph outlines gives exactly matplotlib's drawn extent."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.path import Path

from ibflow.charts import text

SAMPLES = [
    "AAPL  ·  Daily  ·  last bar 2017-06-08 (partial)",
    "last close 1,234.56",
    "oO0Qgjy()[]{}@&%$ ~^",
    "SMA 20",
    "-0.35",
    "·",
    "W",
]


@pytest.mark.parametrize("sample", SAMPLES)
@pytest.mark.parametrize(("size", "bold"), [(8.0, False), (10.0, False), (13.0, True)])
def test_glyph_extent_is_matplotlibs(sample: str, size: float, bold: bool) -> None:
    path, left, right = text._extent.__wrapped__(sample, size, bold)

    drawn = path.get_extents()
    assert (left, right) == (float(drawn.x0), float(drawn.x1))


def test_a_curve_bulging_past_its_ends_counts_its_extremum() -> None:
    # a quadratic from (0, 0) to (0, 2) through control (4, 1) reaches x = 2 at t = 1/2
    path = Path(np.array([[0.0, 0.0], [4.0, 1.0], [0.0, 2.0], [0.0, 0.0]]), [1, 3, 3, 79])

    assert text.drawn_x_extent(path) == (0.0, 2.0)
    assert text.drawn_x_extent(path) == (path.get_extents().x0, path.get_extents().x1)


def test_cubic_paths_are_left_to_matplotlib() -> None:
    path = Path(np.array([[0.0, 0.0], [3.0, 0.0], [3.0, 3.0], [0.0, 3.0]]), [1, 4, 4, 4])

    assert text.drawn_x_extent(path) == (path.get_extents().x0, path.get_extents().x1)


def test_right_aligned_text_ends_on_its_anchor() -> None:
    outline = text.outline("1,234.56", 10.0, ha="right")

    assert outline.get_extents().x1 == pytest.approx(0.0, abs=1e-9)
