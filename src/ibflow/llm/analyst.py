"""The ``Analyst`` interface: context, indicator values and charts in; raw text, signal and usage out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Protocol

import pandas as pd

from ibflow.llm.chat import ChatReply, ChatRequest
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
    templates: Mapping[str, PromptText] = field(default_factory=dict)
    variables: Mapping[str, object] = field(default_factory=dict)
    chart_png: Mapping[str, bytes] = field(default_factory=dict)
    mode: str = "single"
    model: str | None = None
    ledger: CallLedger | None = None


@dataclass(frozen=True)
class PromptText:
    """The template text of one role (system, analysis, weekly, consolidation) and its version."""

    role: str
    body: str
    version_id: int | None = None
    template: str = ""
    version: int | None = None


@dataclass(frozen=True)
class CallOutcome:
    """How one provider call ended, for its ``llm_calls`` row."""

    purpose: str
    prompt_version_id: int | None
    request: ChatRequest
    reply: ChatReply | None
    cost: Decimal
    cached: bool = False
    cache_key: str | None = None
    error: str | None = None


class CallLedger(Protocol):
    """Where an LLM analyst checks the cache and the budget before a call, and records each call after."""

    def cached(self, key: str) -> ChatReply | None:
        """Return the cached reply for ``key``, or None (always None when the cache is off)."""
        ...

    def admit(self, request: ChatRequest) -> float:
        """Return the seconds this call may take; raise ``BudgetExceeded`` if it must not be made."""
        ...

    def record(self, outcome: CallOutcome) -> int:
        """Store the call (and its reply in the cache); return the ``llm_calls`` id."""
        ...


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
    call_ids: tuple[int, ...] = ()
    prompt_version_id: int | None = None


class Analyst(Protocol):
    """Reads market context and proposes a signal. Never sizes a trade."""

    name: str
    model: str

    def analyze(self, request: AnalystInput) -> AnalystOutput:
        """Return the analyst's signal for ``request``; unparseable replies come back as NO_SIGNAL."""
        ...
