"""Factories for rows the tests need; each takes the session first and returns the flushed row."""

from __future__ import annotations

import itertools
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from ibflow.db.models import Strategy, StrategyExecution
from ibflow.db.states import ExecutionStatus, ExecutionTrigger, StrategyMode, StrategyState

_SEQUENCE = itertools.count(1)


def make_strategy(session: Session, *, now: datetime, **overrides: Any) -> Strategy:
    """A paper strategy on AAPL every minute, with sensible risk limits."""
    values: dict[str, Any] = {
        "name": f"strategy-{next(_SEQUENCE)}",
        "conid": 265598,
        "symbol": "AAPL",
        "timeframes": ["1d", "1w"],
        "cron": "* * * * *",
        "timezone": "UTC",
        "mode": StrategyMode.PAPER,
        "state": StrategyState.ACTIVE,
        "risk_per_trade": Decimal("0.01"),
        "max_position_value": Decimal(20000),
        "max_quantity": Decimal(500),
        "max_entries_per_day": 3,
        "min_reward_risk": Decimal("1.5"),
        "min_confidence": Decimal("0.55"),
        "max_entry_deviation": Decimal("0.03"),
        "next_run_at": now,
        "created_at": now,
        "updated_at": now,
    }
    values.update(overrides)
    strategy = Strategy(**values)
    session.add(strategy)
    session.flush()
    return strategy


def make_execution(
    session: Session, strategy: Strategy, *, now: datetime, **overrides: Any
) -> StrategyExecution:
    """A manual execution, running."""
    values: dict[str, Any] = {
        "strategy_id": strategy.id,
        "trigger": ExecutionTrigger.MANUAL,
        "status": ExecutionStatus.RUNNING,
        "created_at": now,
        "started_at": now,
    }
    values.update(overrides)
    execution = StrategyExecution(**values)
    session.add(execution)
    session.flush()
    return execution


def strategy_document(**changes: Any) -> dict[str, Any]:
    """A valid strategy document (JSON, as the web wizard sends it) on AAPL, with ``changes`` applied."""
    document: dict[str, Any] = {
        "name": "wizard-made",
        "description": "",
        "symbol": "AAPL",
        "mode": "paper",
        "timeframes": ["1d", "1w"],
        "schedule": {"cron": "0 10 * * 1-5", "timezone": "America/New_York", "market_hours_only": False},
        "analyst": {"provider": "rules", "analysis_mode": "single"},
        "risk": {"risk_per_trade": "0.01", "max_quantity": "100"},
        "indicators": [{"type": "sma", "params": {"period": 20}}, {"type": "rsi", "params": {"period": 14}}],
    }
    document.update(changes)
    return document
