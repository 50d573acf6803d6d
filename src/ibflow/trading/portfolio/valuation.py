"""The portfolio: valuation from the broker's numbers, statistics from closed trades, and snapshots.

Valuation takes cash, net liquidation (equity), buying power and positions at market (with their
unrealized P&L) from the broker, not from ibflow's estimate. Realized P&L comes from ibflow's books, since a
broker forgets a contract once it is closed: the sum of every position's realized P&L, net of commissions
(closed round trips, partial exits of open positions, and the commissions already paid on them). Every
sum is done in Python with ``Decimal``: on SQLite the decimal columns are text, and SQL would add them as
floats.

Statistics conventions: a win has net P&L > 0, a loss < 0, a trade at exactly 0 is breakeven (counted in
the trades and the win rate's denominator, in neither average). ``profit_factor`` is gross profit over gross
loss and ``None`` when there is no losing trade (infinite with wins, undefined with no trades).
``max_drawdown`` is the largest fall of the cumulative net P&L curve from its running peak, the curve
starting at 0 before the first trade, as a positive amount.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ibflow.brokers.base import Broker, BrokerPosition
from ibflow.core.clock import Clock
from ibflow.core.ids import AccountId
from ibflow.core.money import ZERO, quantize
from ibflow.db.models.market import Symbol
from ibflow.db.models.positions import PortfolioSnapshot, Position, Trade


@dataclass(frozen=True)
class PositionValue:
    """One contract held at the broker, valued at the broker's market price."""

    conid: int
    symbol: str
    quantity: Decimal
    avg_cost: Decimal
    market_price: Decimal
    market_value: Decimal
    unrealized_pnl: Decimal

    def as_dict(self) -> dict[str, Any]:
        """Return the position as JSON with exact decimal strings."""
        return {
            "conid": self.conid,
            "symbol": self.symbol,
            "quantity": str(self.quantity),
            "avg_cost": str(self.avg_cost),
            "market_price": str(self.market_price),
            "market_value": str(self.market_value),
            "unrealized_pnl": str(self.unrealized_pnl),
        }


@dataclass(frozen=True)
class Valuation:
    """An account's value now, in the broker's numbers."""

    account_id: str
    currency: str
    at: datetime
    cash: Decimal
    net_liquidation: Decimal
    buying_power: Decimal
    positions_value: Decimal
    unrealized_pnl: Decimal
    realized_pnl: Decimal
    positions: tuple[PositionValue, ...]

    @property
    def equity(self) -> Decimal:
        """Equity is the broker's net liquidation value."""
        return self.net_liquidation


@dataclass(frozen=True)
class TradeStatistics:
    """How a set of closed trades went; amounts are net of commissions, losses are negative."""

    trades: int
    wins: int
    losses: int
    breakeven: int
    win_rate: Decimal | None
    net_pnl: Decimal
    gross_profit: Decimal
    gross_loss: Decimal
    commissions: Decimal
    average_win: Decimal | None
    average_loss: Decimal | None
    profit_factor: Decimal | None
    largest_win: Decimal | None
    largest_loss: Decimal | None
    average_r: Decimal | None
    max_drawdown: Decimal

    def as_dict(self) -> dict[str, Any]:
        """Return the statistics as JSON with exact decimal strings (``None`` stays null)."""
        return {
            name: value if isinstance(value, int) or value is None else str(value)
            for name, value in vars(self).items()
        }


def value_account(session: Session, *, broker: Broker, account_id: str, clock: Clock) -> Valuation:
    """Value the account from the broker's summary and positions (two broker reads, no writes)."""
    account = AccountId(account_id)
    summary = broker.account_summary(account)
    held = [position for position in broker.positions(account) if position.quantity != 0]
    symbols = _symbols(session, {position.conid for position in held})
    positions = tuple(_position_value(position, symbols.get(position.conid, "")) for position in held)
    return Valuation(
        account_id=account_id,
        currency=summary.currency,
        at=clock.now(),
        cash=summary.cash,
        net_liquidation=summary.net_liquidation,
        buying_power=summary.buying_power,
        positions_value=sum((position.market_value for position in positions), ZERO),
        unrealized_pnl=sum((position.unrealized_pnl for position in positions), ZERO),
        realized_pnl=realized_pnl(session, account_id=account_id),
        positions=positions,
    )


def realized_pnl(session: Session, *, account_id: str) -> Decimal:
    """Sum the realized P&L, net of commissions, of every position (open or closed) of the account."""
    statement = select(Position.realized_pnl).where(Position.account_id == account_id)
    return sum(session.scalars(statement).all(), ZERO)


def take_snapshot(session: Session, *, broker: Broker, account_id: str, clock: Clock) -> PortfolioSnapshot:
    """Value the account and add a ``portfolio_snapshots`` row (the caller commits)."""
    valuation = value_account(session, broker=broker, account_id=account_id, clock=clock)
    snapshot = PortfolioSnapshot(
        account_id=account_id,
        taken_at=valuation.at,
        cash=valuation.cash,
        equity=valuation.net_liquidation,
        positions_value=valuation.positions_value,
        realized_pnl=valuation.realized_pnl,
        unrealized_pnl=valuation.unrealized_pnl,
        positions=[position.as_dict() for position in valuation.positions],
    )
    session.add(snapshot)
    session.flush()
    return snapshot


def snapshots(
    session: Session, *, account_id: str, since: datetime | None = None, until: datetime | None = None
) -> list[PortfolioSnapshot]:
    """Return the account's snapshots in time order, optionally within ``[since, until]``."""
    statement = select(PortfolioSnapshot).where(PortfolioSnapshot.account_id == account_id)
    if since is not None:
        statement = statement.where(PortfolioSnapshot.taken_at >= since)
    if until is not None:
        statement = statement.where(PortfolioSnapshot.taken_at <= until)
    return list(session.scalars(statement.order_by(PortfolioSnapshot.taken_at, PortfolioSnapshot.id)))


def equity_curve(
    session: Session, *, account_id: str, since: datetime | None = None
) -> list[tuple[datetime, Decimal]]:
    """Return the account's ``(taken_at, equity)`` in time order: the snapshots' equity alone, for a chart."""
    statement = select(PortfolioSnapshot.taken_at, PortfolioSnapshot.equity).where(
        PortfolioSnapshot.account_id == account_id
    )
    if since is not None:
        statement = statement.where(PortfolioSnapshot.taken_at >= since)
    ordered = statement.order_by(PortfolioSnapshot.taken_at, PortfolioSnapshot.id)
    return [(taken_at, equity) for taken_at, equity in session.execute(ordered).all()]


def snapshot_stamp(session: Session, *, account_id: str) -> tuple[int, int | None]:
    """Return how many snapshots the account has and the newest one's id: what changes when one is added."""
    count, newest = session.execute(
        select(func.count(), func.max(PortfolioSnapshot.id)).where(PortfolioSnapshot.account_id == account_id)
    ).one()
    return int(count), None if newest is None else int(newest)


def trade_statistics(
    session: Session,
    *,
    account_id: str | None = None,
    strategy_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> TradeStatistics:
    """Compute the statistics of the closed trades that match the filters (all trades without any)."""
    statement = select(Trade)
    if account_id is not None:
        statement = statement.where(Trade.account_id == account_id)
    if strategy_id is not None:
        statement = statement.where(Trade.strategy_id == strategy_id)
    if since is not None:
        statement = statement.where(Trade.closed_at >= since)
    if until is not None:
        statement = statement.where(Trade.closed_at <= until)
    return compute_statistics(session.scalars(statement).all())


def compute_statistics(trades: Iterable[Trade]) -> TradeStatistics:
    """Compute the statistics of ``trades`` (any order: they are put in closing order here)."""
    ordered = sorted(trades, key=lambda trade: (trade.closed_at, trade.id or 0))
    pnls = [trade.net_pnl for trade in ordered]
    wins = [pnl for pnl in pnls if pnl > 0]
    losses = [pnl for pnl in pnls if pnl < 0]
    gross_profit = sum(wins, ZERO)
    gross_loss = -sum(losses, ZERO)
    r_multiples = [trade.r_multiple for trade in ordered if trade.r_multiple is not None]
    return TradeStatistics(
        trades=len(pnls),
        wins=len(wins),
        losses=len(losses),
        breakeven=len(pnls) - len(wins) - len(losses),
        win_rate=_ratio(Decimal(len(wins)), Decimal(len(pnls))),
        net_pnl=sum(pnls, ZERO),
        gross_profit=gross_profit,
        gross_loss=gross_loss,
        commissions=sum((trade.commissions for trade in ordered), ZERO),
        average_win=_mean(wins),
        average_loss=_mean(losses),
        profit_factor=_ratio(gross_profit, gross_loss),
        largest_win=max(wins) if wins else None,
        largest_loss=min(losses) if losses else None,
        average_r=_mean(r_multiples),
        max_drawdown=max_drawdown(pnls),
    )


def max_drawdown(pnls: Sequence[Decimal]) -> Decimal:
    """Return the largest peak-to-trough fall of the cumulative P&L curve (starting at 0), as a positive."""
    peak = total = worst = ZERO
    for pnl in pnls:
        total += pnl
        peak = max(peak, total)
        worst = max(worst, peak - total)
    return worst


def _ratio(numerator: Decimal, denominator: Decimal) -> Decimal | None:
    return quantize(numerator / denominator) if denominator else None


def _mean(values: Sequence[Decimal]) -> Decimal | None:
    return _ratio(sum(values, ZERO), Decimal(len(values)))


def _position_value(position: BrokerPosition, symbol: str) -> PositionValue:
    return PositionValue(
        conid=int(position.conid),
        symbol=symbol,
        quantity=position.quantity,
        avg_cost=position.avg_cost,
        market_price=position.market_price,
        market_value=position.market_value,
        unrealized_pnl=position.unrealized_pnl,
    )


def _symbols(session: Session, conids: set[int]) -> dict[int, str]:
    if not conids:
        return {}
    found = dict(session.execute(select(Symbol.conid, Symbol.symbol).where(Symbol.conid.in_(conids))).all())
    for conid, symbol in session.execute(
        select(Position.conid, Position.symbol).where(Position.conid.in_(conids))
    ).all():
        found.setdefault(conid, symbol)
    return found
