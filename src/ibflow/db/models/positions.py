"""Positions, closed round trips, and portfolio snapshots; all derived from fills."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ibflow.db.base import Base
from ibflow.db.columns import JsonDoc, enum_type
from ibflow.db.states import PositionStatus
from ibflow.db.types import ExactDecimal, UtcDateTime


class Position(Base):
    """What one strategy holds of one contract in one broker account."""

    __tablename__ = "positions"
    __table_args__ = (UniqueConstraint("account_id", "strategy_id", "conid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[str] = mapped_column(String(32))
    strategy_id: Mapped[int | None] = mapped_column(ForeignKey("strategies.id", ondelete="SET NULL"))
    conid: Mapped[int] = mapped_column(BigInteger)
    symbol: Mapped[str] = mapped_column(String(32))
    status: Mapped[PositionStatus] = mapped_column(enum_type(PositionStatus))
    quantity: Mapped[Decimal] = mapped_column(ExactDecimal, doc="shares held (never negative: long-only)")
    avg_cost: Mapped[Decimal] = mapped_column(ExactDecimal, doc="average entry price of what is held")
    signal_id: Mapped[int | None] = mapped_column(ForeignKey("trading_signals.id", ondelete="SET NULL"))
    initial_stop: Mapped[Decimal | None] = mapped_column(
        ExactDecimal, doc="stop at entry (for the R multiple)"
    )
    stop_price: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    target_price: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    realized_pnl: Mapped[Decimal] = mapped_column(ExactDecimal, doc="closed P&L net of commissions")
    opened_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    exit_requested: Mapped[str | None] = mapped_column(
        String(16),
        doc="a flatten or close asked for and not done yet (`flatten`, `manual`): tracking goes on",
    )
    exit_requested_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class ReconcileMismatch(Base):
    """ibflow's positions and the broker's differ for one contract; entries there wait until resolved."""

    __tablename__ = "reconcile_mismatches"
    __table_args__ = (Index("ix_reconcile_mismatches_account_id_conid", "account_id", "conid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[str] = mapped_column(String(32))
    conid: Mapped[int] = mapped_column(BigInteger)
    ibflow_quantity: Mapped[Decimal] = mapped_column(ExactDecimal, doc="sum over ibflow's positions")
    broker_quantity: Mapped[Decimal] = mapped_column(ExactDecimal, doc="the broker's position")
    detail: Mapped[str] = mapped_column(Text, default="")
    detected_at: Mapped[datetime] = mapped_column(UtcDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(
        UtcDateTime, doc="set when the quantities agree again"
    )


class Trade(Base):
    """A closed round trip, for statistics: P&L, commissions and R multiple."""

    __tablename__ = "trades"
    __table_args__ = (Index("ix_trades_account_id_closed_at", "account_id", "closed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[str] = mapped_column(String(32))
    strategy_id: Mapped[int | None] = mapped_column(ForeignKey("strategies.id", ondelete="SET NULL"))
    position_id: Mapped[int | None] = mapped_column(ForeignKey("positions.id", ondelete="SET NULL"))
    signal_id: Mapped[int | None] = mapped_column(ForeignKey("trading_signals.id", ondelete="SET NULL"))
    conid: Mapped[int] = mapped_column(BigInteger)
    symbol: Mapped[str] = mapped_column(String(32))
    quantity: Mapped[Decimal] = mapped_column(ExactDecimal, doc="shares held (never negative: long-only)")
    entry_price: Mapped[Decimal] = mapped_column(ExactDecimal)
    exit_price: Mapped[Decimal] = mapped_column(ExactDecimal)
    gross_pnl: Mapped[Decimal] = mapped_column(ExactDecimal)
    commissions: Mapped[Decimal] = mapped_column(ExactDecimal)
    net_pnl: Mapped[Decimal] = mapped_column(ExactDecimal)
    initial_risk: Mapped[Decimal | None] = mapped_column(
        ExactDecimal, doc="(entry - stop) x quantity at entry"
    )
    r_multiple: Mapped[Decimal | None] = mapped_column(ExactDecimal, doc="net P&L / initial risk")
    exit_reason: Mapped[str | None] = mapped_column(String(32), doc="target, stop, signal, flatten, manual")
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime)
    closed_at: Mapped[datetime] = mapped_column(UtcDateTime)


class PortfolioSnapshot(Base):
    """The account's value at one time, from the broker's numbers."""

    __tablename__ = "portfolio_snapshots"
    __table_args__ = (Index("ix_portfolio_snapshots_account_id_taken_at", "account_id", "taken_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[str] = mapped_column(String(32))
    taken_at: Mapped[datetime] = mapped_column(UtcDateTime)
    cash: Mapped[Decimal] = mapped_column(ExactDecimal)
    equity: Mapped[Decimal] = mapped_column(ExactDecimal, doc="net liquidation value from the broker")
    positions_value: Mapped[Decimal] = mapped_column(ExactDecimal)
    realized_pnl: Mapped[Decimal] = mapped_column(ExactDecimal, doc="closed P&L net of commissions")
    unrealized_pnl: Mapped[Decimal] = mapped_column(ExactDecimal)
    positions: Mapped[list[dict[str, Any]] | None] = mapped_column(
        JsonDoc, doc="per-contract quantity, price and value at snapshot time"
    )
