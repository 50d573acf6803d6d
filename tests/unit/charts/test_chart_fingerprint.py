"""A chart's fingerprint names its inputs: equal inputs built apart give it and the same PNG; any change of
what is drawn (a bar, an indicator value, a level, the size, the partial flag) gives another."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from ibflow.charts.fingerprint import chart_fingerprint
from ibflow.charts.levels import PriceLevel
from ibflow.charts.render import ChartSpec, IndicatorSeries, render_chart
from ibflow.indicators import IndicatorConfig, compute_all

CONFIGS = [IndicatorConfig.of("sma", {"period": 20}), IndicatorConfig.of("rsi", {"period": 14})]
LEVELS = (PriceLevel("entry", 150.0), PriceLevel("stop", 145.5), PriceLevel("last", 151.25))


def inputs(daily: pd.DataFrame, end: int = 3200) -> tuple[pd.DataFrame, IndicatorSeries]:
    """The last 126 bars up to ``end`` and their indicators, built afresh on every call."""
    history = daily.iloc[:end].copy()
    outputs = compute_all(history, CONFIGS)
    window = [(c, {k: np.array(v[-126:]) for k, v in outputs[c.key].items()}) for c in CONFIGS]
    return history.iloc[-126:], window


def test_equal_inputs_built_apart_have_one_fingerprint_and_one_png(aapl_daily: pd.DataFrame) -> None:
    spec = ChartSpec("AAPL", "1d", levels=LEVELS)
    (bars, indicators), (again, same) = inputs(aapl_daily), inputs(aapl_daily)
    assert chart_fingerprint(bars, indicators, spec) == chart_fingerprint(again, same, replace(spec))
    assert render_chart(bars, indicators, spec) == render_chart(again, same, replace(spec))


@pytest.mark.parametrize(
    "change",
    ["bar", "indicator", "level", "no levels", "size", "partial", "window", "timeframe"],
)
def test_any_change_of_what_is_drawn_changes_the_fingerprint(aapl_daily: pd.DataFrame, change: str) -> None:
    spec = ChartSpec("AAPL", "1d", levels=LEVELS)
    bars, indicators = inputs(aapl_daily)
    before = chart_fingerprint(bars, indicators, spec)
    if change == "bar":
        bars = bars.copy()
        bars.iloc[-1, bars.columns.get_loc("close")] += 0.01
    elif change == "indicator":
        config, outputs = indicators[0]
        changed = {k: v.copy() for k, v in outputs.items()}
        changed["sma"][-1] += 1e-9
        indicators = [(config, changed), *indicators[1:]]
    elif change == "level":
        spec = replace(spec, levels=(*LEVELS[:2], PriceLevel("last", 151.26)))
    elif change == "no levels":
        spec = replace(spec, levels=())
    elif change == "size":
        spec = replace(spec, width_px=1000)
    elif change == "partial":
        spec = replace(spec, partial_last_bar=True)
    elif change == "window":
        bars, indicators = inputs(aapl_daily, end=3201)
    else:
        spec = replace(spec, timeframe="1w")
    assert chart_fingerprint(bars, indicators, spec) != before
