"""The indicator catalogue: each indicator's parameters (defaults, ranges), outputs and how they are drawn.

``validate_params`` is the one gate for user-supplied params: it completes them with defaults or raises
``ValidationError`` with one problem per bad field, each naming the parameter and its allowed range.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Literal

from ibflow.core.errors import ValidationError

ParamValue = int | float


@dataclass(frozen=True)
class ParamSpec:
    """One numeric parameter: its kind, default and allowed range (inclusive unless ``exclusive_minimum``)."""

    name: str
    kind: Literal["int", "float"]
    default: ParamValue
    minimum: ParamValue
    maximum: ParamValue
    description: str
    exclusive_minimum: bool = False

    def range_text(self) -> str:
        """Describe the allowed values, e.g. ``an integer between 2 and 200``."""
        if self.kind == "int":
            return f"an integer between {self.minimum} and {self.maximum}"
        if self.exclusive_minimum:
            return f"a number greater than {self.minimum:g} and at most {self.maximum:g}"
        return f"a number between {self.minimum:g} and {self.maximum:g}"


@dataclass(frozen=True)
class OutputSpec:
    """One output series: drawn over the price (``overlay``) or in its own ``panel`` below it."""

    name: str
    placement: Literal["overlay", "panel"]
    panel: str | None = None


@dataclass(frozen=True)
class IndicatorSpec:
    """An indicator type: its parameters and outputs, in display order."""

    type: str
    title: str
    params: tuple[ParamSpec, ...]
    outputs: tuple[OutputSpec, ...]
    description: str

    def defaults(self) -> dict[str, ParamValue]:
        """Return every parameter at its default."""
        return {p.name: p.default for p in self.params}


def _period(default: int, minimum: int, maximum: int, what: str) -> ParamSpec:
    return ParamSpec("period", "int", default, minimum, maximum, f"number of bars in the {what}")


CATALOGUE: dict[str, IndicatorSpec] = {
    spec.type: spec
    for spec in (
        IndicatorSpec(
            type="rsi",
            title="RSI",
            params=(_period(14, 2, 200, "Wilder smoothing"),),
            outputs=(OutputSpec("rsi", "panel", "rsi"),),
            description="Relative Strength Index (Wilder), 0..100; above 70 overbought, below 30 oversold.",
        ),
        IndicatorSpec(
            type="macd",
            title="MACD",
            params=(
                ParamSpec("fast", "int", 12, 2, 100, "period of the fast EMA; must be less than slow"),
                ParamSpec("slow", "int", 26, 3, 200, "period of the slow EMA"),
                ParamSpec("signal", "int", 9, 1, 100, "period of the signal line's EMA of the MACD line"),
            ),
            outputs=(
                OutputSpec("macd", "panel", "macd"),
                OutputSpec("signal", "panel", "macd"),
                OutputSpec("hist", "panel", "macd"),
            ),
            description="Moving Average Convergence/Divergence: fast EMA - slow EMA, its signal EMA, and "
            "their difference (histogram).",
        ),
        IndicatorSpec(
            type="atr",
            title="ATR",
            params=(_period(14, 1, 200, "Wilder smoothing of the true range"),),
            outputs=(OutputSpec("atr", "panel", "atr"),),
            description="Average True Range (Wilder), in price units.",
        ),
        IndicatorSpec(
            type="sma",
            title="SMA",
            params=(_period(20, 1, 500, "average"),),
            outputs=(OutputSpec("sma", "overlay"),),
            description="Simple moving average of the close.",
        ),
        IndicatorSpec(
            type="ema",
            title="EMA",
            params=(_period(20, 1, 500, "average"),),
            outputs=(OutputSpec("ema", "overlay"),),
            description="Exponential moving average of the close, seeded with the simple average of the "
            "first period.",
        ),
        IndicatorSpec(
            type="bbands",
            title="Bollinger Bands",
            params=(
                _period(20, 2, 500, "middle band's simple average"),
                ParamSpec(
                    "width",
                    "float",
                    2.0,
                    0.0,
                    5.0,
                    "distance of the bands from the middle, in population standard deviations",
                    exclusive_minimum=True,
                ),
            ),
            outputs=(
                OutputSpec("upper", "overlay"),
                OutputSpec("middle", "overlay"),
                OutputSpec("lower", "overlay"),
            ),
            description="Bollinger Bands: simple average of the close +/- width x population standard "
            "deviation.",
        ),
        IndicatorSpec(
            type="supertrend",
            title="SuperTrend",
            params=(
                _period(10, 2, 200, "ATR"),
                ParamSpec(
                    "multiplier",
                    "float",
                    3.0,
                    0.0,
                    10.0,
                    "distance of the bands from the bar's midpoint, in ATRs",
                    exclusive_minimum=True,
                ),
            ),
            outputs=(OutputSpec("supertrend", "overlay"), OutputSpec("direction", "overlay")),
            description="SuperTrend: a trailing ATR band under the price in an up trend (direction +1) and "
            "over it in a down trend (-1); the direction colours the line.",
        ),
    )
}


def get_spec(indicator_type: str) -> IndicatorSpec:
    """Return the catalogue entry of ``indicator_type``; raise ``ValidationError`` naming the known ones."""
    spec = CATALOGUE.get(indicator_type)
    if spec is None:
        known = ", ".join(sorted(CATALOGUE))
        problem = f"unknown indicator {indicator_type!r}; known: {known}"
        raise ValidationError(problem, problems={"type": problem})
    return spec


def validate_params(indicator_type: str, params: Mapping[str, object] | None = None) -> dict[str, ParamValue]:
    """Return ``params`` completed with defaults, or raise ``ValidationError`` naming every bad field."""
    spec = get_spec(indicator_type)
    given = dict(params or {})
    problems: dict[str, str] = {}
    accepted = [p.name for p in spec.params]
    for name in given:
        if name not in accepted:
            problems[name] = f"unknown parameter for {indicator_type}; it takes: {', '.join(accepted)}"
    result: dict[str, ParamValue] = {}
    for param in spec.params:
        value, problem = _check(param, given.get(param.name, param.default))
        if problem is None:
            result[param.name] = value
        else:
            problems[param.name] = problem
    if (
        indicator_type == "macd"
        and not problems.keys() & {"fast", "slow"}
        and result["fast"] >= result["slow"]
    ):
        problems["fast"] = f"must be less than slow ({result['slow']}), got {result['fast']}"
    if problems:
        detail = "; ".join(f"{name} {text}" for name, text in problems.items())
        raise ValidationError(f"invalid {indicator_type} parameters: {detail}", problems=problems)
    return result


def _check(param: ParamSpec, value: object) -> tuple[ParamValue, str | None]:
    wrong = f"must be {param.range_text()}, got {value!r}"
    if isinstance(value, bool):
        return 0, wrong
    if param.kind == "int":
        if not isinstance(value, Integral):
            return 0, wrong
        number: ParamValue = int(value)
    else:
        if not isinstance(value, Real) or not math.isfinite(float(value)):
            return 0, wrong
        number = float(value)
    too_low = number <= param.minimum if param.exclusive_minimum else number < param.minimum
    if too_low or number > param.maximum:
        return 0, wrong
    return number, None
