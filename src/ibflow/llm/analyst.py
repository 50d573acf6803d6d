"""The ``Analyst`` interface: context, indicator values and charts in; raw text, signal and usage out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Protocol

import pandas as pd

from ibflow.llm.signals import ParsedSignal


@dataclass(frozen=True)
class IndicatorReading:
    """One configured indicator: its type and params, latest values and recent series per output."""

    key: str
    type: str
    params: Mapping[str, float | int]
    latest: Mapping[str, float]
    series: Mapping[str, Sequence[float]] = field(default_factory=dict)


@dataclass(frozen=True)
class ChartRef:
    """A rendered chart the analyst may look at."""

    timeframe: str
    store_key: str
    sha256: str
    chart_id: int | None = None


@dataclass(frozen=True)
class AnalystInput:
    """Everything an analyst sees for one execution; nothing after ``as_of``."""

    strategy_name: str
    symbol: str
    as_of: datetime
    last_price: Decimal
    daily: pd.DataFrame
    indicators: Sequence[IndicatorReading]
    charts: Sequence[ChartRef] = ()
    prompt: str = ""


@dataclass(frozen=True)
class AnalystUsage:
    """What a call cost."""

    input_tokens: int = 0
    output_tokens: int = 0
    cost: Decimal = Decimal(0)
    latency_ms: int = 0


@dataclass(frozen=True)
class AnalystOutput:
    """The analyst's raw reply, the parsed signal, and the usage."""

    provider: str
    model: str
    raw_text: str
    signal: ParsedSignal
    usage: AnalystUsage


class Analyst(Protocol):
    """Reads market context and proposes a signal. Never sizes a trade."""

    name: str
    model: str

    def analyze(self, request: AnalystInput) -> AnalystOutput:
        """Return the analyst's signal for ``request``; unparseable replies come back as NO_SIGNAL."""
        ...
