"""Compute configured indicators over bars: pure functions, bars in, float64 arrays out.

Bars are a ``DataFrame`` on a UTC ``DatetimeIndex`` named ``ts``, oldest first, with float64 columns
``open, high, low, close, volume``. Every output is a float64 array as long as the bars, with
``warmup_bars(config)`` leading NaNs (TA-Lib's lookback); all NaN when there are too few bars.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import talib

from ibflow.core.errors import ValidationError
from ibflow.indicators.catalogue import CATALOGUE, ParamValue, get_spec, validate_params

FloatArray = npt.NDArray[np.float64]
Outputs = dict[str, FloatArray]

MAX_KEY_LENGTH = 100


@dataclass(frozen=True)
class IndicatorConfig:
    """A configured indicator: a key unique within a strategy, its type, and its params.

    Params are validated and completed with defaults on construction, so a config always computes.
    """

    key: str
    type: str
    params: Mapping[str, ParamValue]

    def __post_init__(self) -> None:
        if not self.key or len(self.key) > MAX_KEY_LENGTH:
            problem = f"must be 1 to {MAX_KEY_LENGTH} characters, got {len(self.key)}"
            raise ValidationError(f"invalid indicator key: {problem}", problems={"key": problem})
        object.__setattr__(self, "params", validate_params(self.type, self.params))

    def __hash__(self) -> int:
        return hash((self.key, self.type, tuple(sorted(self.params.items()))))

    @classmethod
    def of(
        cls, indicator_type: str, params: Mapping[str, object] | None = None, key: str | None = None
    ) -> IndicatorConfig:
        """Build a validated config; the key defaults to the type and params, e.g. ``bbands_20_2``."""
        complete = validate_params(indicator_type, params)
        return cls(key or default_key(indicator_type, complete), indicator_type, complete)


def default_key(indicator_type: str, params: Mapping[str, ParamValue]) -> str:
    """Return a key naming the type and params in catalogue order, e.g. ``rsi_14``, ``macd_12_26_9``."""
    spec = get_spec(indicator_type)
    parts = [indicator_type, *(f"{params[p.name]:g}" for p in spec.params if p.name in params)]
    return "_".join(parts)


def warmup_bars(config: IndicatorConfig) -> int:
    """Return how many leading NaNs each output of ``config`` has (bars needed before the first value)."""
    params = config.params
    if config.type == "macd":
        return int(params["slow"]) - 1 + int(params["signal"]) - 1
    if config.type in {"sma", "ema", "bbands"}:
        return int(params["period"]) - 1
    return int(params["period"])


class _Columns:
    """Contiguous float64 columns of the bars, converted once (a view when the frame is one float block)."""

    def __init__(self, bars: pd.DataFrame) -> None:
        self._bars = bars
        self._values: FloatArray | None = None
        self._arrays: dict[str, FloatArray] = {}

    def __getitem__(self, name: str) -> FloatArray:
        array = self._arrays.get(name)
        if array is not None:
            return array
        if name not in self._bars.columns:
            problem = f"bars have no {name!r} column"
            raise ValidationError(problem, problems={name: problem})
        if self._values is None:
            self._values = self._bars.to_numpy(dtype=np.float64, copy=False)
        array = np.ascontiguousarray(self._values[:, self._bars.columns.get_loc(name)])
        self._arrays[name] = array
        return array


def _rsi(c: _Columns, p: Mapping[str, Any]) -> Outputs:
    return {"rsi": talib.RSI(c["close"], timeperiod=p["period"])}


def _macd(c: _Columns, p: Mapping[str, Any]) -> Outputs:
    line, signal, hist = talib.MACD(
        c["close"], fastperiod=p["fast"], slowperiod=p["slow"], signalperiod=p["signal"]
    )
    return {"macd": line, "signal": signal, "hist": hist}


def _atr(c: _Columns, p: Mapping[str, Any]) -> Outputs:
    return {"atr": talib.ATR(c["high"], c["low"], c["close"], timeperiod=p["period"])}


def _sma(c: _Columns, p: Mapping[str, Any]) -> Outputs:
    return {"sma": talib.SMA(c["close"], timeperiod=p["period"])}


def _ema(c: _Columns, p: Mapping[str, Any]) -> Outputs:
    return {"ema": talib.EMA(c["close"], timeperiod=p["period"])}


def _bbands(c: _Columns, p: Mapping[str, Any]) -> Outputs:
    width = p["width"]
    upper, middle, lower = talib.BBANDS(c["close"], timeperiod=p["period"], nbdevup=width, nbdevdn=width)
    return {"upper": upper, "middle": middle, "lower": lower}


def _supertrend(c: _Columns, p: Mapping[str, Any]) -> Outputs:
    # TA-Lib's trend is an integer, 0 while the ATR warms up; ours is float with NaN there like every output.
    line, trend = talib.SUPERTREND(
        c["high"], c["low"], c["close"], timeperiod=p["period"], multiplier=p["multiplier"]
    )
    direction = trend.astype(np.float64)
    direction[trend == 0] = np.nan
    return {"supertrend": line, "direction": direction}


_COMPUTE: dict[str, Callable[[_Columns, Mapping[str, Any]], Outputs]] = {
    "rsi": _rsi,
    "macd": _macd,
    "atr": _atr,
    "sma": _sma,
    "ema": _ema,
    "bbands": _bbands,
    "supertrend": _supertrend,
}


def compute(bars: pd.DataFrame, config: IndicatorConfig) -> Outputs:
    """Return ``config``'s outputs over ``bars``: one float64 array per output, as long as the bars."""
    return compute_all(bars, (config,))[config.key]


def compute_all(bars: pd.DataFrame, configs: Iterable[IndicatorConfig]) -> dict[str, Outputs]:
    """Return every config's outputs by key, converting each needed bar column to an array only once."""
    columns = _Columns(bars)
    results: dict[str, Outputs] = {}
    for config in configs:
        if config.key in results:
            problem = f"duplicate indicator key {config.key!r}"
            raise ValidationError(problem, problems={"key": problem})
        if len(bars) == 0:
            results[config.key] = {o.name: np.empty(0) for o in CATALOGUE[config.type].outputs}
        else:
            results[config.key] = _COMPUTE[config.type](columns, config.params)
    return results


def latest_values(outputs: Mapping[str, FloatArray]) -> dict[str, float]:
    """Return the last non-NaN value of each output (NaN when it has none), for an analyst to read."""
    latest: dict[str, float] = {}
    for name, values in outputs.items():
        present = np.flatnonzero(~np.isnan(values))
        latest[name] = float(values[present[-1]]) if present.size else math.nan
    return latest
