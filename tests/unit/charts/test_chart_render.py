"""Chart rendering: a valid, deterministic PNG of the requested size, with the panels that were asked for."""

from __future__ import annotations

import hashlib
import io
import struct
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
from PIL import Image

from ibflow.charts import draw
from ibflow.charts.render import ChartSpec, build_figure, chart_title, render_chart
from ibflow.charts.windows import chart_window
from ibflow.core.errors import ValidationError
from ibflow.indicators import IndicatorConfig, compute_all

FloatArray = npt.NDArray[np.float64]
Indicators = list[tuple[IndicatorConfig, Mapping[str, FloatArray]]]


def indicators_for(bars: pd.DataFrame, configs: Sequence[IndicatorConfig]) -> Indicators:
    values = compute_all(bars, configs)
    return [(config, values[config.key]) for config in configs]


def windowed(
    bars: pd.DataFrame, configs: Sequence[IndicatorConfig], timeframe: str = "1d", end: int | None = None
) -> tuple[pd.DataFrame, list[tuple[IndicatorConfig, dict[str, FloatArray]]]]:
    history = bars if end is None else bars.iloc[:end]
    return chart_window(history, indicators_for(history, configs), timeframe)


FULL = (
    IndicatorConfig.of("sma", {"period": 20}),
    IndicatorConfig.of("sma", {"period": 50}),
    IndicatorConfig.of("bbands"),
    IndicatorConfig.of("supertrend"),
    IndicatorConfig.of("rsi"),
    IndicatorConfig.of("macd"),
)


def png_header(data: bytes) -> tuple[int, int, int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert (length, kind) == (13, b"IHDR")
    width, height, depth, colour_type = struct.unpack(">IIBB", data[16:26])
    return width, height, depth, colour_type


def test_a_daily_chart_is_a_valid_1200x800_png(aapl_daily: pd.DataFrame) -> None:
    bars, indicators = windowed(aapl_daily, FULL)
    data = render_chart(bars, indicators, ChartSpec("AAPL", "1d"))
    assert png_header(data) == (1200, 800, 8, 3)
    assert len(data) < 70_000  # a palette PNG at zlib level 3: under two thirds of the 100 KB truecolour one
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        assert image.size == (1200, 800)
        assert image.mode == "P"
        assert image.info.get("Software") is None


def test_the_same_input_gives_identical_bytes(aapl_daily: pd.DataFrame) -> None:
    bars, indicators = windowed(aapl_daily, FULL)
    spec = ChartSpec("AAPL", "1d")
    first = hashlib.sha256(render_chart(bars, indicators, spec)).hexdigest()
    second = hashlib.sha256(render_chart(bars, indicators, spec)).hexdigest()
    assert first == second


def test_charts_rendered_in_parallel_threads_are_the_same_as_one_by_one(aapl_daily: pd.DataFrame) -> None:
    jobs = [windowed(aapl_daily, FULL, end=end) for end in (-1, -2, -3, -4)]
    spec = ChartSpec("AAPL", "1d")
    alone = [render_chart(bars, indicators, spec) for bars, indicators in jobs]
    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(lambda job: render_chart(job[0], job[1], spec), jobs))
    assert together == alone


def test_a_different_window_gives_different_bytes(aapl_daily: pd.DataFrame) -> None:
    spec = ChartSpec("AAPL", "1d")
    today = render_chart(*windowed(aapl_daily, FULL), spec)
    yesterday = render_chart(*windowed(aapl_daily, FULL, end=-1), spec)
    assert today != yesterday


def test_the_partial_flag_marks_the_title_and_changes_the_chart(aapl_daily: pd.DataFrame) -> None:
    bars, indicators = windowed(aapl_daily, FULL)
    complete = ChartSpec("AAPL", "1d")
    partial = ChartSpec("AAPL", "1d", partial_last_bar=True)
    assert chart_title(bars, complete) == "AAPL  ·  Daily  ·  last bar 2018-01-19"
    assert chart_title(bars, partial) == "AAPL  ·  Daily  ·  last bar 2018-01-19 (partial)"
    assert render_chart(bars, indicators, complete) != render_chart(bars, indicators, partial)


def test_a_weekly_chart_says_weekly_and_has_the_requested_size(aapl_weekly: pd.DataFrame) -> None:
    bars, indicators = windowed(aapl_weekly, FULL, timeframe="1w")
    assert len(bars) == 104
    spec = ChartSpec("AAPL", "1w", width_px=1000, height_px=1400)
    assert chart_title(bars, spec) == "AAPL  ·  Weekly  ·  last bar 2018-01-19"
    assert png_header(render_chart(bars, indicators, spec))[:2] == (1000, 1400)


def test_candles_are_drawn_in_the_up_and_the_down_colour(aapl_daily: pd.DataFrame) -> None:
    bars, _ = windowed(aapl_daily, [])
    with Image.open(io.BytesIO(render_chart(bars, [], ChartSpec("AAPL", "1d")))) as image:
        pixels = np.asarray(image.convert("RGB")).reshape(-1, 3)
    colours = {tuple(int(c) for c in row) for row in np.unique(pixels, axis=0)}
    assert tuple(int(draw.UP[i : i + 2], 16) for i in (1, 3, 5)) in colours
    assert tuple(int(draw.DOWN[i : i + 2], 16) for i in (1, 3, 5)) in colours


@pytest.mark.parametrize(
    ("types", "axes"),
    [
        ((), 2),
        (("sma", "ema", "bbands", "supertrend"), 2),
        (("rsi",), 3),
        (("sma", "rsi"), 3),
        (("rsi", "macd"), 4),
        (("atr", "macd", "rsi", "sma"), 5),
    ],
)
def test_panels_appear_only_for_configured_panel_indicators(
    aapl_daily: pd.DataFrame, types: tuple[str, ...], axes: int
) -> None:
    bars, indicators = windowed(aapl_daily, [IndicatorConfig.of(t) for t in types])
    figure = build_figure(bars, indicators, ChartSpec("AAPL", "1d"))
    assert len(figure.axes) == axes


def test_panels_come_in_a_fixed_order_and_indicators_of_one_kind_share_a_panel(
    aapl_daily: pd.DataFrame,
) -> None:
    configs = [IndicatorConfig.of("atr"), IndicatorConfig.of("rsi", {"period": 7}), IndicatorConfig.of("rsi")]
    bars, indicators = windowed(aapl_daily, configs)
    figure = build_figure(bars, indicators, ChartSpec("AAPL", "1d"))
    price, volume, rsi, atr = figure.axes
    assert rsi.get_ylim() == (0.0, 100.0)
    assert len(rsi.get_lines()) == 2 + 2  # two RSI lines and the 30 / 70 guides
    assert len(atr.get_lines()) == 1
    assert price.get_position().height > volume.get_position().height


def test_many_overlays_still_render_on_a_narrow_chart(aapl_daily: pd.DataFrame) -> None:
    configs = [IndicatorConfig.of("sma", {"period": p}) for p in (5, 10, 20, 50, 100, 200)]
    configs += [IndicatorConfig.of("ema", {"period": 12}), IndicatorConfig.of("bbands")]
    bars, indicators = windowed(aapl_daily, configs)
    assert png_header(render_chart(bars, indicators, ChartSpec("AAPL", "1d", 480, 640)))[:2] == (480, 640)


def test_flat_bars_and_all_nan_panels_still_render() -> None:
    index = pd.date_range("2024-01-01", periods=5, freq="D", tz="UTC", name="ts")
    flat = pd.DataFrame({c: np.full(5, 10.0) for c in ("open", "high", "low", "close")}, index=index)
    flat["volume"] = 0.0
    configs = [IndicatorConfig.of("macd"), IndicatorConfig.of("atr"), IndicatorConfig.of("sma")]
    data = render_chart(flat, indicators_for(flat, configs), ChartSpec("FLAT", "1d"))
    assert png_header(data)[:2] == (1200, 800)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"width_px": 1569}, "width_px"),
        ({"height_px": 2000}, "height_px"),
        ({"width_px": 100}, "width_px"),
        ({"width_px": True}, "width_px"),
        ({"timeframe": "1h"}, "timeframe"),
        ({"symbol": " "}, "symbol"),
    ],
)
def test_bad_chart_specs_are_refused(kwargs: dict[str, object], field: str) -> None:
    arguments: dict[str, object] = {"symbol": "AAPL", "timeframe": "1d", **kwargs}
    with pytest.raises(ValidationError) as caught:
        ChartSpec(**arguments)  # type: ignore[arg-type]
    assert set(caught.value.problems) == {field}
    if field.endswith("_px"):
        assert "1568" in caught.value.problems[field]


def test_the_long_side_may_be_1568_pixels() -> None:
    assert ChartSpec("AAPL", "1w", width_px=1568, height_px=1568).width_px == 1568


def test_bars_and_indicators_must_line_up(aapl_daily: pd.DataFrame) -> None:
    bars, indicators = windowed(aapl_daily, [IndicatorConfig.of("rsi")])
    config, outputs = indicators[0]
    spec = ChartSpec("AAPL", "1d")
    with pytest.raises(ValidationError, match="125 values for 126 bars"):
        render_chart(bars, [(config, {"rsi": outputs["rsi"][1:]})], spec)
    with pytest.raises(ValidationError, match="lacks the outputs macd, signal, hist"):
        render_chart(bars, [(IndicatorConfig.of("macd"), {})], spec)


def test_bars_must_be_there_with_their_columns(aapl_daily: pd.DataFrame) -> None:
    spec = ChartSpec("AAPL", "1d")
    with pytest.raises(ValidationError, match="no bars"):
        render_chart(aapl_daily.iloc[:0], [], spec)
    with pytest.raises(ValidationError, match="missing volume"):
        render_chart(aapl_daily.tail(10).drop(columns=["volume"]), [], spec)
    with pytest.raises(ValidationError, match="DatetimeIndex"):
        render_chart(aapl_daily.tail(10).reset_index(drop=True), [], spec)
