"""Trading's own input types: what an analyst's signal becomes before the trading core judges it.

``workflow`` builds these from a parsed signal; ``trading`` never imports ``llm``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from ibflow.core.ids import AccountId, Conid, ExecutionId, SignalId, StrategyId
from ibflow.db.states import StrategyMode


class IntentAction(StrEnum):
    """What the signal asks the trading core to do."""

    BUY = "BUY"
    SELL = "SELL"


@dataclass(frozen=True)
class EntryIntent:
    """A signal turned into a request to trade; levels are the analyst's, unchecked and unrounded."""

    strategy_id: StrategyId
    account_id: AccountId
    conid: Conid
    symbol: str
    action: IntentAction
    created_at: datetime
    signal_id: SignalId | None = None
    execution_id: ExecutionId | None = None
    entry: Decimal | None = None
    stop: Decimal | None = None
    target: Decimal | None = None
    confidence: Decimal | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True)
class StrategyLimits:
    """A strategy's own risk parameters (copied from its row, so a run judges what it snapshotted)."""

    mode: StrategyMode
    risk_per_trade: Decimal
    max_position_value: Decimal
    max_quantity: Decimal
    max_entries_per_day: int
    min_reward_risk: Decimal
    min_confidence: Decimal
    max_entry_deviation: Decimal
