"""What the executor needs, handed in by ``bootstrap`` (the only place that picks implementations)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from ibflow.brokers.base import Broker
from ibflow.charts.store import ChartStore
from ibflow.core.clock import Clock
from ibflow.core.ids import AccountId
from ibflow.core.settings import BrokerSettings, ChartSettings, LlmSettings, RiskSettings
from ibflow.db.engine import SessionFactory
from ibflow.db.locks import NamedLocks
from ibflow.db.states import StrategyMode
from ibflow.llm.analyst import Analyst
from ibflow.llm.run_cap import RunCap
from ibflow.marketdata.cache import QueryCache


def _always_open(_at: datetime) -> bool:
    return True


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
