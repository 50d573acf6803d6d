"""Prompt performance: per prompt version (and strategy) what its signals led to."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import ColumnElement, case, func, select
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
    """Return one row per prompt version (per strategy too when ``by_strategy``).

    Signals are counted in the database (a long history holds tens of thousands); only the signals that
    led to a trade come back as rows, with the trade's P&L and R.
    """
    where = _conditions(version_ids, strategy_id)
    actionable = func.sum(case((TradingSignal.action.in_(ACTIONABLE), 1), else_=0))
    counts = (
        select(TradingSignal.prompt_version_id, TradingSignal.strategy_id, func.count(), actionable)
        .where(*where)
        .group_by(TradingSignal.prompt_version_id, TradingSignal.strategy_id)
    )
    closed = (
        select(
            TradingSignal.prompt_version_id,
            TradingSignal.strategy_id,
            TradingSignal.confidence,
            Trade.net_pnl,
            Trade.r_multiple,
        )
        .join(Trade, Trade.signal_id == TradingSignal.id)
        .where(*where)
    )
    trades: dict[tuple[int | None, int | None], list[_Closed]] = defaultdict(list)
    for version_id, strategy, confidence, pnl, r_multiple in session.execute(closed):
        trades[(version_id, strategy if by_strategy else None)].append(_Closed(confidence, pnl, r_multiple))
    groups: dict[tuple[int | None, int | None], list[int]] = defaultdict(lambda: [0, 0])
    for version_id, strategy, signals, actionable_count in session.execute(counts):
        group = groups[(version_id, strategy if by_strategy else None)]
        group[0] += int(signals)
        group[1] += int(actionable_count or 0)
    return [
        _stats(key, signals, actionable_count, trades.get(key, []))
        for key, (signals, actionable_count) in sorted(groups.items(), key=lambda kv: str(kv[0]))
    ]


@dataclass(frozen=True)
class _Closed:
    confidence: Decimal | None
    net_pnl: Decimal
    r_multiple: Decimal | None


def _conditions(version_ids: list[int] | None, strategy_id: int | None) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if version_ids:
        conditions.append(TradingSignal.prompt_version_id.in_(version_ids))
    if strategy_id is not None:
        conditions.append(TradingSignal.strategy_id == strategy_id)
    return conditions


def _stats(
    key: tuple[int | None, int | None], signals: int, actionable: int, closed: list[_Closed]
) -> VersionStats:
    winners = [t.confidence for t in closed if t.net_pnl > 0 and t.confidence is not None]
    losers = [t.confidence for t in closed if t.net_pnl <= 0 and t.confidence is not None]
    r_values = [t.r_multiple for t in closed if t.r_multiple is not None]
    return VersionStats(
        prompt_version_id=key[0],
        strategy_id=key[1],
        signals=signals,
        actionable_share=_ratio(Decimal(actionable), signals) or Decimal("0.0000"),  # same scale as 0.5000
        trades=len(closed),
        win_rate=_ratio(Decimal(sum(1 for t in closed if t.net_pnl > 0)), len(closed)),
        average_r=_ratio(sum(r_values, Decimal(0)), len(r_values)),
        pnl=sum((t.net_pnl for t in closed), Decimal(0)),
        confidence_winners=_ratio(sum(winners, Decimal(0)), len(winners)),
        confidence_losers=_ratio(sum(losers, Decimal(0)), len(losers)),
    )


def _ratio(total: Decimal, count: int) -> Decimal | None:
    return None if count == 0 else (total / count).quantize(Decimal("0.0001"))
