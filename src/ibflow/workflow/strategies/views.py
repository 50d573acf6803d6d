"""What the strategy screens show: one summary per strategy, the next runs of a schedule, the live gate."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ibflow.core.settings import BrokerSettings, RiskSettings
from ibflow.db.models.strategies import Strategy
from ibflow.db.states import StrategyState
from ibflow.workflow.runtime.schedule import describe, next_run_after

MAX_CANDIDATE_SLOTS = 20_000  # a week of one-minute slots: enough to reach the next open session


@dataclass(frozen=True)
class StrategySummary:
    """One line of ``strategy list``."""

    id: int
    name: str
    description: str
    symbol: str
    mode: str
    state: str
    analyst: str
    cron: str
    timezone: str
    market_hours_only: bool
    next_run_at: datetime | None

    def as_json(self) -> dict[str, Any]:
        """Return the summary as plain JSON (times as ISO UTC)."""
        data = dict(self.__dict__)
        data["next_run_at"] = None if self.next_run_at is None else self.next_run_at.isoformat()
        return data


def strategy_summaries(session: Session, *, include_archived: bool = False) -> list[StrategySummary]:
    """Return every strategy (archived ones only when asked), by name."""
    query = select(Strategy).order_by(Strategy.name)
    if not include_archived:
        query = query.where(Strategy.state != StrategyState.ARCHIVED)
    return [
        StrategySummary(
            id=s.id,
            name=s.name,
            description=s.description,
            symbol=s.symbol,
            mode=s.mode.value,
            state=s.state.value,
            analyst=s.analyst,
            cron=s.cron,
            timezone=s.timezone,
            market_hours_only=s.market_hours_only,
            next_run_at=s.next_run_at if s.state is StrategyState.ACTIVE else None,
        )
        for s in session.scalars(query)
    ]


@dataclass(frozen=True)
class Upcoming:
    """A schedule in words and its next run times (UTC); ``searched`` slots were looked at to find them."""

    description: str
    runs: list[datetime]
    searched: int


def upcoming_runs(
    cron: str, timezone: str, *, after: datetime, count: int = 5, market_hours_only: bool = False
) -> Upcoming:
    """Return the next ``count`` slots the scheduler would run, skipping closed-market slots when asked."""
    runs: list[datetime] = []
    slot, searched = after, 0
    is_open = _exchange_open() if market_hours_only else None
    while len(runs) < count and searched < MAX_CANDIDATE_SLOTS:
        slot = next_run_after(cron, timezone, slot)
        searched += 1
        if is_open is None or is_open(slot):
            runs.append(slot)
    text = describe(cron)
    if market_hours_only:
        text += ", only while NYSE is open"
    return Upcoming(text, runs, searched)


def _exchange_open() -> Any:
    from ibflow.workflow.runtime.scheduler import exchange_open  # loads the exchange calendar (pandas)

    return exchange_open


def live_trading_gate(session: Session, *, env: RiskSettings, broker_env: BrokerSettings) -> str | None:
    """Say why a live-mode strategy would place no order now; None when both live gates are open."""
    from ibflow.trading.risk.runtime_settings import get_runtime_settings

    if not broker_env.live_trading_allowed:
        return "the environment does not allow live trading (IBFLOW_LIVE_TRADING_ALLOWED=true is needed)"
    if not get_runtime_settings(session, env, broker_env).live_trading_enabled:
        return (
            "live trading is switched off "
            "(an admin enables it: ibflow settings set live_trading_enabled true)"
        )
    return None
