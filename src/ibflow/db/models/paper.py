"""The paper broker's own books: accounts, orders, fills and positions (``paper_*``), never ibflow's.

Only ``ibflow.brokers.paper`` reads and writes these tables, so reconciling ibflow against the paper broker
proves something, exactly as against IBKR. Every process shares them through the database.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ibflow.db.base import Base
from ibflow.db.columns import enum_type
from ibflow.db.states import OrderSide, OrderType, TimeInForce
from ibflow.db.types import ExactDecimal, UtcDateTime


class PaperOrderStatus(StrEnum):
    """Where a paper order stands in the paper broker's books."""

    INACTIVE = "inactive"
    WORKING = "working"
    PENDING_CANCEL = "pending_cancel"
    FILLED = "filled"
    CANCELLED = "cancelled"
    EXPIRED = "expired"

    @property
    def is_open(self) -> bool:
        """Tell whether the order may still fill or be ended by the broker."""
        return self in OPEN_PAPER_STATUSES


OPEN_PAPER_STATUSES = frozenset(
    {PaperOrderStatus.INACTIVE, PaperOrderStatus.WORKING, PaperOrderStatus.PENDING_CANCEL}
)


class PaperLeg(StrEnum):
    """Which leg of a bracket a paper order is (``None`` for a single order)."""

    PARENT = "parent"
    STOP = "stop"
    TARGET = "target"


class PaperAccount(Base):
    """A paper account: created with its starting cash on first use."""

    __tablename__ = "paper_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[str] = mapped_column(
        String(32), unique=True, doc="the broker account id, e.g. PAPER-1"
    )
    currency: Mapped[str] = mapped_column(String(3))
    starting_cash: Mapped[Decimal] = mapped_column(ExactDecimal)
    cash: Mapped[Decimal] = mapped_column(ExactDecimal)
    evaluated_until: Mapped[datetime] = mapped_column(
        UtcDateTime, doc="watermark: orders are matched over the price path up to here"
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class PaperOrder(Base):
    """An order at the paper broker, with the matching state that makes lazy evaluation repeatable."""

    __tablename__ = "paper_orders"
    __table_args__ = (
        UniqueConstraint("paper_account_id", "client_order_id"),
        Index("ix_paper_orders_paper_account_id_status", "paper_account_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, doc="also the broker order id")
    paper_account_id: Mapped[int] = mapped_column(ForeignKey("paper_accounts.id", ondelete="CASCADE"))
    client_order_id: Mapped[str | None] = mapped_column(
        String(64), doc="the caller's id; null for bracket children, as at IBKR"
    )
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("paper_orders.id", ondelete="CASCADE"), index=True, doc="the parent of a bracket child"
    )
    leg: Mapped[PaperLeg | None] = mapped_column(
        enum_type(PaperLeg), doc="parent / stop / target of a bracket"
    )
    conid: Mapped[int] = mapped_column(BigInteger)
    symbol: Mapped[str] = mapped_column(String(32))
    side: Mapped[OrderSide] = mapped_column(enum_type(OrderSide))
    order_type: Mapped[OrderType] = mapped_column(enum_type(OrderType))
    tif: Mapped[TimeInForce] = mapped_column(enum_type(TimeInForce))
    quantity: Mapped[Decimal] = mapped_column(
        ExactDecimal, doc="current size; a bracket child's follows what its parent filled"
    )
    limit_price: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    stop_price: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    status: Mapped[PaperOrderStatus] = mapped_column(enum_type(PaperOrderStatus))
    filled_quantity: Mapped[Decimal] = mapped_column(ExactDecimal)
    filled_value: Mapped[Decimal] = mapped_column(ExactDecimal, doc="sum of quantity x price of the fills")
    commission: Mapped[Decimal] = mapped_column(ExactDecimal, doc="sum of the fills' commissions (USD)")
    fill_count: Mapped[int] = mapped_column(default=0)
    active_from: Mapped[datetime | None] = mapped_column(
        UtcDateTime, doc="when it may start to fill; null while a bracket child waits for its parent"
    )
    triggered_at: Mapped[datetime | None] = mapped_column(
        UtcDateTime, doc="when a stop's trigger was crossed"
    )
    last_fill_minute: Mapped[int | None] = mapped_column(
        BigInteger, doc="minute (since the Unix epoch) of the last fill: at most one fill a minute"
    )
    expires_at: Mapped[datetime | None] = mapped_column(
        UtcDateTime, doc="end of the trading day of a DAY order"
    )
    cancel_requested_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(
        UtcDateTime, doc="when it filled, was cancelled or expired"
    )
    reason: Mapped[str] = mapped_column(Text, default="", doc="why it was cancelled or expired")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class PaperFill(Base):
    """One execution at the paper broker."""

    __tablename__ = "paper_fills"
    __table_args__ = (
        UniqueConstraint("paper_account_id", "broker_exec_id"),
        Index("ix_paper_fills_paper_account_id_executed_at", "paper_account_id", "executed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    paper_account_id: Mapped[int] = mapped_column(ForeignKey("paper_accounts.id", ondelete="CASCADE"))
    order_id: Mapped[int] = mapped_column(ForeignKey("paper_orders.id", ondelete="CASCADE"), index=True)
    broker_exec_id: Mapped[str] = mapped_column(String(64), doc="`<broker order id>.<n>`, unique per account")
    conid: Mapped[int] = mapped_column(BigInteger)
    side: Mapped[OrderSide] = mapped_column(enum_type(OrderSide))
    quantity: Mapped[Decimal] = mapped_column(ExactDecimal)
    price: Mapped[Decimal] = mapped_column(ExactDecimal)
    commission: Mapped[Decimal] = mapped_column(ExactDecimal, doc="USD, IBKR Pro fixed")
    executed_at: Mapped[datetime] = mapped_column(UtcDateTime, doc="when the price path reached the fill")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, doc="when the evaluation recorded it")


class PaperPosition(Base):
    """What a paper account holds of one contract (negative when short)."""

    __tablename__ = "paper_positions"
    __table_args__ = (UniqueConstraint("paper_account_id", "conid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    paper_account_id: Mapped[int] = mapped_column(ForeignKey("paper_accounts.id", ondelete="CASCADE"))
    conid: Mapped[int] = mapped_column(BigInteger)
    symbol: Mapped[str] = mapped_column(String(32))
    quantity: Mapped[Decimal] = mapped_column(ExactDecimal)
    avg_cost: Mapped[Decimal] = mapped_column(ExactDecimal, doc="per share, commissions included")
    realized_pnl: Mapped[Decimal] = mapped_column(ExactDecimal, doc="closed P&L net of commissions")
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
