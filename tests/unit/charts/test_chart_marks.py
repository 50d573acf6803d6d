"""What a reader checks on a chart: marked levels, date labels inside the figure, the SMA, the MACD legend."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from ibflow.charts import draw
from ibflow.charts.levels import PriceLevel
from ibflow.charts.render import ChartSpec, build_figure, render_chart
from ibflow.indicators import IndicatorConfig, compute_all

CONFIGS = (
    IndicatorConfig.of("sma", {"period": 20}),
    IndicatorConfig.of("bbands"),
    IndicatorConfig.of("supertrend"),
    IndicatorConfig.of("macd"),
)
WINDOW = 126


def _figure(daily: pd.DataFrame, end: pd.Timestamp | str, spec: ChartSpec | None = None) -> Figure:
    history = daily.loc[:end]
    values = compute_all(history, CONFIGS)
    bars = history.iloc[-WINDOW:]
    indicators = [(c, {k: v[-WINDOW:] for k, v in values[c.key].items()}) for c in CONFIGS]
    figure = build_figure(bars, indicators, spec or ChartSpec("AAPL", "1d"))
    figure.canvas.draw()
    return figure


def _pixel_extents(collection: PathCollection) -> list[tuple[float, float]]:
    """Return the left and right pixel of each text outline in a label collection."""
    offsets = collection.get_offset_transform().transform(collection.get_offsets())
    extents = []
    for path, offset in zip(collection.get_paths(), offsets, strict=True):
        xs = collection.get_transform().transform(path.vertices)[:, 0] + offset[0]
        extents.append((float(xs.min()), float(xs.max())))
    return extents


@pytest.mark.parametrize("end", ["2017-12-01", "2017-12-04", "2017-11-01", "2017-06-30"])
def test_every_date_label_fits_inside_the_figure(aapl_daily: pd.DataFrame, end: str) -> None:
    figure = _figure(aapl_daily, end)
    (labels,) = [a for a in figure.artists if a.get_gid() == "date-labels"]
    extents = _pixel_extents(labels)
    assert extents
    assert all(left >= 0 and right <= figure.bbox.width for left, right in extents), extents
    # A month starting on the last bar or the one before (Dec 2017 here) is still labelled, whole.
    assert len(extents) == len(draw.date_ticks(pd.DatetimeIndex(aapl_daily.loc[:end].index[-WINDOW:]))[0])


def test_the_macd_histogram_legend_shows_both_bar_colours(aapl_daily: pd.DataFrame) -> None:
    figure = _figure(aapl_daily, "2017-12-01")
    samples = [a for a in figure.artists if isinstance(a, Rectangle) and a.get_zorder() == 6]
    assert len(samples) == 2
    assert {to_hex(s.get_facecolor()) for s in samples} == {draw.UP, draw.DOWN}


def test_the_sma_20_is_drawn_over_the_bollinger_middle_in_another_style(aapl_daily: pd.DataFrame) -> None:
    figure = _figure(aapl_daily, "2017-12-01")
    price = figure.axes[0]
    lines = {line.get_gid(): line for line in price.get_lines()}
    sma, middle = lines["average-sma_20"], lines["bbands-middle"]
    assert np.array_equal(sma.get_ydata(), middle.get_ydata(), equal_nan=True)  # the very same values
    assert sma.get_zorder() > middle.get_zorder()
    assert sma.get_linestyle() != middle.get_linestyle()
    assert sma.get_linewidth() > middle.get_linewidth()


def test_entry_stop_target_and_last_price_are_marked_at_their_prices(aapl_daily: pd.DataFrame) -> None:
    levels = (
        PriceLevel("entry", 165.2),
        PriceLevel("stop", 120.0),  # far under every bar: the price axis grows to show it
        PriceLevel("target", 182.0),
        PriceLevel("last", 171.05),
    )
    figure = _figure(aapl_daily, "2017-12-01", ChartSpec("AAPL", "1d", levels=levels))
    price = figure.axes[0]
    marks: dict[str, Line2D] = {
        str(line.get_gid()): line for line in price.get_lines() if str(line.get_gid()).startswith("level-")
    }
    assert set(marks) == {"level-entry", "level-stop", "level-target", "level-last"}
    low, high = price.get_ylim()
    for level in levels:
        assert list(marks[f"level-{level.kind}"].get_ydata()) == [level.price, level.price]
        assert low < level.price < high
    labels = {a.get_gid() for a in figure.artists if str(a.get_gid()).startswith("level-label-")}
    assert labels == {f"level-label-{kind}" for kind in ("entry", "stop", "target", "last")}
    unmarked = _figure(aapl_daily, "2017-12-01")
    assert not [line for line in unmarked.axes[0].get_lines() if str(line.get_gid()).startswith("level-")]
    assert unmarked.axes[0].get_ylim()[0] > 120.0


def test_a_marked_chart_renders_and_differs_from_the_unmarked_one(aapl_daily: pd.DataFrame) -> None:
    history = aapl_daily.loc[:"2017-12-01"]
    values = compute_all(history, CONFIGS)
    indicators = [(c, {k: v[-WINDOW:] for k, v in values[c.key].items()}) for c in CONFIGS]
    bars = history.iloc[-WINDOW:]
    plain = render_chart(bars, indicators, ChartSpec("AAPL", "1d"))
    marked = render_chart(bars, indicators, ChartSpec("AAPL", "1d", levels=(PriceLevel("stop", 160.0),)))
    assert plain != marked
