"""Technical indicators: the catalogue of parameters with validation, and pure functions over bars."""

from ibflow.indicators.catalogue import CATALOGUE, IndicatorSpec, OutputSpec, ParamSpec, validate_params
from ibflow.indicators.compute import (
    IndicatorConfig,
    compute,
    compute_all,
    default_key,
    latest_values,
    warmup_bars,
)

__all__ = [
    "CATALOGUE",
    "IndicatorConfig",
    "IndicatorSpec",
    "OutputSpec",
    "ParamSpec",
    "compute",
    "compute_all",
    "default_key",
    "latest_values",
    "validate_params",
    "warmup_bars",
]
