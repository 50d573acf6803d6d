"""Prompt performance: per prompt version (and strategy) what its signals led to."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from ibflow.db.models.executions import TradingSignal
from ibflow.db.models.positions import Trade
from ibflow.db.states import SignalAction

ACTIONABLE = (SignalAction.BUY, SignalAction.SELL)


@dataclass(frozen=True)
class VersionStats:
    """What one prompt version's signals did."""

    prompt_version_id: int | None
    strategy_id: int | None
    signals: int
    actionable_share: Decimal
    trades: int
    win_rate: Decimal | None
    average_r: Decimal | None
    pnl: Decimal
    confidence_winners: Decimal | None
    confidence_losers: Decimal | None


def prompt_stats(
    session: Session,
    *,
    version_ids: list[int] | None = None,
    strategy_id: int | None = None,
    by_strategy: bool = False,
) -> list[VersionStats]:
    """Return one row per prompt version (per strategy too when ``by_strategy``)."""
    query = select(TradingSignal)
    if version_ids:
        query = query.where(TradingSignal.prompt_version_id.in_(version_ids))
    if strategy_id is not None:
        query = query.where(TradingSignal.strategy_id == strategy_id)
    signals = list(session.scalars(query))
    trades: dict[int, list[Trade]] = defaultdict(list)
    ids = [s.id for s in signals]
    if ids:
        for trade in session.scalars(select(Trade).where(Trade.signal_id.in_(ids))):
            trades[trade.signal_id or 0].append(trade)
    groups: dict[tuple[int | None, int | None], list[TradingSignal]] = defaultdict(list)
    for signal in signals:
        groups[(signal.prompt_version_id, signal.strategy_id if by_strategy else None)].append(signal)
    return [_stats(key, rows, trades) for key, rows in sorted(groups.items(), key=lambda kv: str(kv[0]))]


def _stats(
    key: tuple[int | None, int | None], rows: list[TradingSignal], trades: dict[int, list[Trade]]
) -> VersionStats:
    closed = [(s, t) for s in rows for t in trades.get(s.id, [])]
    winners = [s.confidence for s, t in closed if t.net_pnl > 0 and s.confidence is not None]
    losers = [s.confidence for s, t in closed if t.net_pnl <= 0 and s.confidence is not None]
    r_values = [t.r_multiple for _, t in closed if t.r_multiple is not None]
    actionable = sum(1 for s in rows if s.action in ACTIONABLE)
    return VersionStats(
        prompt_version_id=key[0],
        strategy_id=key[1],
        signals=len(rows),
        actionable_share=_ratio(Decimal(actionable), len(rows)) or Decimal("0.0000"),  # same scale as 0.5000
        trades=len(closed),
        win_rate=_ratio(Decimal(sum(1 for _, t in closed if t.net_pnl > 0)), len(closed)),
        average_r=_ratio(sum(r_values, Decimal(0)), len(r_values)),
        pnl=sum((t.net_pnl for _, t in closed), Decimal(0)),
        confidence_winners=_ratio(sum(winners, Decimal(0)), len(winners)),
        confidence_losers=_ratio(sum(losers, Decimal(0)), len(losers)),
    )


def _ratio(total: Decimal, count: int) -> Decimal | None:
    return None if count == 0 else (total / count).quantize(Decimal("0.0001"))
