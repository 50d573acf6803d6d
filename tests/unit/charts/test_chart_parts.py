"""Chart parts: date and value ticks, the chart windows, overlay legends, the PNG encoder."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from PIL import Image

from ibflow.charts import draw
from ibflow.charts.png import encode_png
from ibflow.charts.text import outline, width_px
from ibflow.charts.windows import chart_window, history_bars, window_bars
from ibflow.core.errors import ValidationError
from ibflow.indicators import IndicatorConfig, compute_all


def test_daily_ticks_fall_on_month_starts(aapl_daily: pd.DataFrame) -> None:
    window = aapl_daily.tail(126)
    positions, labels = draw.date_ticks(pd.DatetimeIndex(window.index))
    assert labels == ["Aug 2017", "Sep 2017", "Oct 2017", "Nov 2017", "Dec 2017", "Jan 2018"]
    for position in positions:
        assert window.index[position].month != window.index[position - 1].month


def test_weekly_ticks_over_two_years_fall_on_quarters(aapl_weekly: pd.DataFrame) -> None:
    _, labels = draw.date_ticks(pd.DatetimeIndex(aapl_weekly.tail(104).index))
    assert 6 <= len(labels) <= draw.MAX_DATE_TICKS
    assert {label.split()[0] for label in labels} <= {"Jan", "Apr", "Jul", "Oct"}


def test_a_window_inside_one_month_gets_day_labels(aapl_daily: pd.DataFrame) -> None:
    positions, labels = draw.date_ticks(pd.DatetimeIndex(aapl_daily.loc["2017-03-01":"2017-03-20"].index))
    assert positions[0] == 0
    assert labels[0] == "01 Mar 2017"
    assert draw.date_ticks(pd.DatetimeIndex([], tz="UTC")) == ([], [])


@pytest.mark.parametrize(
    ("low", "high", "count", "labels"),
    [
        (141.0, 182.0, 5, ["150", "160", "170", "180"]),
        (-1.6, 6.2, 5, ["0", "2", "4", "6"]),
        (0.0, 1.0, 5, ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]),
        (0.0, 1.0, 4, ["0.00", "0.25", "0.50", "0.75", "1.00"]),
        (1000.0, 5000.0, 5, ["1,000", "2,000", "3,000", "4,000", "5,000"]),
    ],
)
def test_value_ticks_are_round_and_use_just_enough_decimals(
    low: float, high: float, count: int, labels: list[str]
) -> None:
    values, texts = draw.value_ticks(low, high, count=count)
    assert texts == labels
    assert all(low <= v <= high for v in values)


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.0, "0"), (950.0, "950"), (35_000_000.0, "35M"), (1_500_000_000.0, "1.5B"), (800e3, "800k")],
)
def test_volumes_are_written_compactly(value: float, text: str) -> None:
    assert draw.compact(value) == text


def test_supertrend_lists_only_the_directions_it_shows() -> None:
    ax = Figure().subplots()
    config = IndicatorConfig.of("supertrend")
    x = np.arange(4.0)
    up_only = {
        "supertrend": np.array([np.nan, 1.0, 1.1, 1.2]),
        "direction": np.array([np.nan, 1.0, 1.0, 1.0]),
    }
    both = {"supertrend": np.array([1.0, 1.1, 2.0, 2.1]), "direction": np.array([1.0, 1.0, -1.0, -1.0])}
    assert [e.label for e in draw.draw_overlay(ax, x, config, up_only, "k")] == ["SuperTrend 10, 3 up"]
    assert [e.label for e in draw.draw_overlay(ax, x, config, both, "k")] == [
        "SuperTrend 10, 3 up",
        "SuperTrend 10, 3 down",
    ]


def test_chart_windows_are_about_six_months_daily_and_two_years_weekly() -> None:
    assert window_bars("1d") == 126
    assert window_bars("1w") == 104
    with pytest.raises(ValidationError) as caught:
        window_bars("1h")
    assert set(caught.value.problems) == {"timeframe"}


def test_history_covers_the_window_and_the_longest_warmup() -> None:
    configs = [IndicatorConfig.of("sma", {"period": 50}), IndicatorConfig.of("macd")]
    assert history_bars("1d", configs) == 126 + 49
    assert history_bars("1w", []) == 104


def test_the_window_cuts_bars_and_indicator_outputs_alike(aapl_daily: pd.DataFrame) -> None:
    config = IndicatorConfig.of("sma")
    values = compute_all(aapl_daily, [config])
    bars, indicators = chart_window(aapl_daily, [(config, values[config.key])], "1d")
    assert len(bars) == 126
    assert bars.index[-1] == aapl_daily.index[-1]
    np.testing.assert_array_equal(indicators[0][1]["sma"], values[config.key]["sma"][-126:])
    short, _ = chart_window(aapl_daily.head(30), [], "1w")
    assert len(short) == 30
    assert len(chart_window(aapl_daily, [], "1d", size=10)[0]) == 10
    with pytest.raises(ValidationError):
        chart_window(aapl_daily, [], "1d", size=0)


def test_the_png_encoder_round_trips_pixels() -> None:
    rng = np.random.default_rng(3)
    rgba = rng.integers(0, 256, size=(7, 5, 4), dtype=np.uint8)
    with Image.open(io.BytesIO(encode_png(rgba))) as image:
        decoded = np.asarray(image.convert("RGB"))
    np.testing.assert_array_equal(decoded, rgba[:, :, :3])


def test_the_png_encoder_keeps_frequent_colours_exact_and_moves_rare_ones_to_the_nearest() -> None:
    rng = np.random.default_rng(5)
    flat = np.repeat(rng.integers(0, 256, size=(256, 3), dtype=np.uint8), 40, axis=0)  # 256 flat colours
    rare = np.clip(flat[:300].astype(int) + 3, 0, 255).astype(np.uint8)  # near-copies on "edges"
    pixels = np.concatenate([flat, rare]).reshape(-1, 10, 3)
    with Image.open(io.BytesIO(encode_png(pixels))) as image:
        assert image.mode == "P"
        decoded = np.asarray(image.convert("RGB")).reshape(-1, 3)
    np.testing.assert_array_equal(decoded[: len(flat)], flat)
    moved = np.abs(decoded[len(flat) :].astype(int) - rare.astype(int))
    assert moved.max() <= 5  # the nearest palette colour is at most sqrt(27) away


def test_text_widths_grow_with_the_text_and_empty_text_has_none() -> None:
    assert width_px("", 9, 100) == 0.0
    assert width_px("  ", 9, 100) == 0.0
    assert 0 < width_px("SMA 20", 8, 100) < width_px("SMA 20, SMA 50", 8, 100)
    assert width_px("SMA 20", 8, 200) == pytest.approx(2 * width_px("SMA 20", 8, 100))
    assert len(outline("", 9).vertices) == 0


def test_outlines_are_aligned_on_their_anchor() -> None:
    left = outline("Price", 9, ha="left").get_extents()
    right = outline("Price", 9, ha="right").get_extents()
    centred = outline("Price", 9, ha="center", va="center", rotation=90).get_extents()
    assert left.x0 == pytest.approx(0.0)
    assert right.x1 == pytest.approx(0.0)
    assert centred.y0 == pytest.approx(-centred.y1)  # rotated about its middle
