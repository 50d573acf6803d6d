"""Name a chart by its inputs: the sha256 of everything ``render.render_chart`` reads.

``render_chart`` is deterministic (fixed dpi and font, no time stamp), so two calls whose fingerprints are
equal return the same PNG bytes: a chart drawn earlier, or in another process, can stand in for one drawn
now when the fingerprints match. The fingerprint covers the bars' timestamps and the five columns the
renderer reads (as the float64 it converts them to), every indicator's key, type, params and output
arrays (in order: name, dtype, shape and bytes), and the whole ``ChartSpec`` (symbol, timeframe, size,
partial flag and levels, floats by their exact repr).
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from ibflow.charts.render import ChartSpec, IndicatorSeries

_BAR_COLUMNS = ("open", "high", "low", "close", "volume")


def chart_fingerprint(bars: pd.DataFrame, indicators: IndicatorSeries, spec: ChartSpec) -> str:
    """Return the sha256 (hex) of the inputs ``render_chart(bars, indicators, spec)`` draws from."""
    digest = hashlib.sha256()

    def add(label: str, data: bytes) -> None:
        digest.update(f"{label}:{len(data)}:".encode())
        digest.update(data)

    add("spec", repr(spec).encode())
    index = pd.DatetimeIndex(bars.index)
    add("index", f"{index.dtype}".encode() + np.ascontiguousarray(index.asi8).tobytes())
    for column in _BAR_COLUMNS:
        values = bars[column].to_numpy(dtype=np.float64) if column in bars.columns else np.empty(0)
        add(column, np.ascontiguousarray(values).tobytes())
    for config, outputs in indicators:
        params = repr(sorted(config.params.items()))
        add("indicator", f"{config.key}|{config.type}|{params}".encode())
        for name, values in outputs.items():  # in their order: the renderer draws them in it
            array = np.asarray(values)
            add(f"output {name} {array.dtype} {array.shape}", np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()
