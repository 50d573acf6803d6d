"""What the executor needs, handed in by ``bootstrap`` (the only place that picks implementations)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd

from ibflow.brokers.base import Broker
from ibflow.charts.render import ChartSpec, IndicatorSeries, render_chart
from ibflow.charts.store import ChartStore
from ibflow.core.clock import Clock
from ibflow.core.ids import AccountId
from ibflow.core.settings import BrokerSettings, ChartSettings, LlmSettings, RiskSettings
from ibflow.db.engine import SessionFactory
from ibflow.db.locks import NamedLocks
from ibflow.db.states import StrategyMode
from ibflow.llm.analyst import Analyst
from ibflow.llm.run_cap import RunCap
from ibflow.marketdata.bars import BarService
from ibflow.marketdata.cache import QueryCache

ChartRenderer = Callable[[datetime, pd.DataFrame, IndicatorSeries, ChartSpec], bytes]
"""Draws the chart an execution at a time (the first argument) shows: ``render_chart``'s PNG bytes."""


def _always_open(_at: datetime) -> bool:
    return True


def render_now(_as_of: datetime, bars: pd.DataFrame, indicators: IndicatorSeries, spec: ChartSpec) -> bytes:
    """Draw the chart here and now: what live executions do."""
    return render_chart(bars, indicators, spec)


@dataclass(frozen=True)
class BrokerHandle:
    """A broker, the account ibflow trades in it, and whether its market is open at a time."""

    broker: Broker
    account_id: AccountId
    market_open: Callable[[datetime], bool] = _always_open


@dataclass(frozen=True)
class WorkflowDeps:
    """Services and settings an execution uses."""

    sessions: SessionFactory
    clock: Clock
    locks: NamedLocks
    broker_for: Callable[[StrategyMode], BrokerHandle]
    analyst_for: Callable[[str], Analyst]
    chart_store: ChartStore
    cache: QueryCache
    risk_settings: RiskSettings
    broker_settings: BrokerSettings
    chart_settings: ChartSettings
    llm_settings: LlmSettings = field(default_factory=LlmSettings)
    llm_cache_sessions: SessionFactory | None = None
    """Where LLM answers are cached when not in ``sessions``' database; given, the cache is always on."""
    llm_run_cap: RunCap | None = None
    """A cost cap over the whole run (a backtest's ``--budget``)."""
    chart_renderer: ChartRenderer = render_now
    """How ``render_charts`` draws: here and now, or (a backtest) from charts drawn ahead in another process
    when their inputs match (``workflow.backtest.charts_ahead``); the bytes are the same either way."""
    bar_service: Callable[[Broker, Clock], BarService] = BarService
    """The daily bars ``fetch_market_data`` reads: the cache in the database, or (a backtest, whose database
    only it writes) the same cache mirrored in memory (``workflow.backtest.bar_mirror``); same answers."""
