"""The price levels the daily chart marks: the strategy's open position, else its live BUY signal."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ibflow.charts.levels import LevelKind, PriceLevel
from ibflow.db.models.executions import TradingSignal
from ibflow.db.models.positions import Position
from ibflow.db.states import PositionStatus, SignalAction


def chart_levels(
    session: Session, *, strategy_id: int, as_of: datetime, last: Decimal
) -> tuple[PriceLevel, ...]:
    """Return entry, stop and target of the strategy's open position (or else of its newest BUY signal
    still valid at ``as_of``) and the last price; nothing when it has neither."""
    prices = _position_prices(session, strategy_id) or _signal_prices(session, strategy_id, as_of)
    if prices is None:
        return ()
    kinds: tuple[LevelKind, ...] = ("entry", "stop", "target")
    marks = [PriceLevel(kind, float(price)) for kind, price in zip(kinds, prices, strict=True) if price]
    return (*marks, PriceLevel("last", float(last)))


Prices = tuple[Decimal | None, Decimal | None, Decimal | None]


def _position_prices(session: Session, strategy_id: int) -> Prices | None:
    position = session.scalars(
        select(Position)
        .where(Position.strategy_id == strategy_id, Position.status == PositionStatus.OPEN)
        .order_by(Position.id.desc())
        .limit(1)
    ).first()
    return None if position is None else (position.avg_cost, position.stop_price, position.target_price)


def _signal_prices(session: Session, strategy_id: int, as_of: datetime) -> Prices | None:
    signal = session.scalars(
        select(TradingSignal)
        .where(
            TradingSignal.strategy_id == strategy_id,
            TradingSignal.action == SignalAction.BUY,
            TradingSignal.created_at <= as_of,
            or_(TradingSignal.expires_at.is_(None), TradingSignal.expires_at > as_of),
            or_(TradingSignal.is_valid.is_(None), TradingSignal.is_valid.is_(True)),
        )
        .order_by(TradingSignal.created_at.desc(), TradingSignal.id.desc())
        .limit(1)
    ).first()
    return None if signal is None else (signal.entry, signal.stop_loss, signal.take_profit)
