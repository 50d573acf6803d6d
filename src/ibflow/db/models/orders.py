"""Orders, every state change of them, and fills."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ibflow.db.base import Base
from ibflow.db.columns import JsonDoc, enum_type
from ibflow.db.states import OrderOrigin, OrderRole, OrderSide, OrderState, OrderType, TimeInForce
from ibflow.db.types import ExactDecimal, UtcDateTime


class Order(Base):
    """An order: written as an intent before any broker call, then moved through the state machine."""

    __tablename__ = "orders"
    __table_args__ = (
        Index("ix_orders_account_id_broker_order_id", "account_id", "broker_order_id"),
        Index("ix_orders_state", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_order_id: Mapped[str] = mapped_column(
        String(64),
        unique=True,
        doc="ours, unique: `ibf-<install>-<execution>-<leg>` or `ibf-<install>-<purpose>-<position>-<n>`",
    )
    broker_order_id: Mapped[str | None] = mapped_column(String(64), doc="the broker's id, once known")
    account_id: Mapped[str] = mapped_column(String(32))
    strategy_id: Mapped[int | None] = mapped_column(ForeignKey("strategies.id", ondelete="SET NULL"))
    execution_id: Mapped[int | None] = mapped_column(
        ForeignKey("strategy_executions.id", ondelete="SET NULL"), index=True
    )
    signal_id: Mapped[int | None] = mapped_column(ForeignKey("trading_signals.id", ondelete="SET NULL"))
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("orders.id", ondelete="SET NULL"), index=True, doc="the entry order of a bracket child"
    )
    role: Mapped[OrderRole] = mapped_column(enum_type(OrderRole), doc="entry / stop / target / exit / manual")
    origin: Mapped[OrderOrigin] = mapped_column(
        enum_type(OrderOrigin), doc="`ibflow`, or `external` for orders found at the broker (never touched)"
    )
    conid: Mapped[int] = mapped_column(BigInteger)
    symbol: Mapped[str] = mapped_column(String(32))
    side: Mapped[OrderSide] = mapped_column(enum_type(OrderSide))
    order_type: Mapped[OrderType] = mapped_column(enum_type(OrderType))
    tif: Mapped[TimeInForce] = mapped_column(enum_type(TimeInForce))
    quantity: Mapped[Decimal] = mapped_column(ExactDecimal)
    limit_price: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    stop_price: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    state: Mapped[OrderState] = mapped_column(enum_type(OrderState), doc="order state machine (db/states.py)")
    filled_quantity: Mapped[Decimal] = mapped_column(ExactDecimal, doc="sum of applied fills")
    avg_fill_price: Mapped[Decimal | None] = mapped_column(
        ExactDecimal, doc="volume-weighted average of applied fills"
    )
    position_id: Mapped[int | None] = mapped_column(
        ForeignKey("positions.id", ondelete="SET NULL"),
        index=True,
        doc="the position an exit or protection belongs to",
    )
    send_attempts: Mapped[int] = mapped_column(
        default=0, doc="broker submits tried; a not-sent order is sent again once"
    )
    reduce_only: Mapped[bool] = mapped_column(default=False, doc="an exit: may never exceed the position")
    broker_status: Mapped[str | None] = mapped_column(String(32), doc="the broker's last raw status")
    reason: Mapped[str | None] = mapped_column(Text, doc="why it was rejected, cancelled or blocked")
    expires_at: Mapped[datetime | None] = mapped_column(
        UtcDateTime, doc="entry expiry (signal expiry or end of trading day)"
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    submitted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    unknown_since: Mapped[datetime | None] = mapped_column(
        UtcDateTime, doc="when it became submit_unknown (grace period for proving absence)"
    )
    unlisted_since: Mapped[datetime | None] = mapped_column(
        UtcDateTime,
        doc="when the broker stopped listing it, unable to give its status (grace before it counts as ended)",
    )
    unlisted_seen_at: Mapped[datetime | None] = mapped_column(
        UtcDateTime, doc="when tracking last found it so (a gap in looking starts the grace again)"
    )
    confirmed_questions: Mapped[list[str] | None] = mapped_column(
        JSON(none_as_null=True), doc="broker question ids a trader confirmed for this order (IBKR's o163...)"
    )


class OrderEvent(Base):
    """One state change of an order: from, to, why, and what the broker said."""

    __tablename__ = "order_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    from_state: Mapped[OrderState | None] = mapped_column(
        enum_type(OrderState), doc="null for the first event"
    )
    to_state: Mapped[OrderState] = mapped_column(enum_type(OrderState))
    reason: Mapped[str] = mapped_column(Text, default="", doc="why it was rejected, cancelled or blocked")
    broker_detail: Mapped[dict[str, Any] | None] = mapped_column(
        JsonDoc, doc="raw broker answer for this change"
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Fill(Base):
    """One execution at the broker; keyed by account and broker execution id, so it applies once."""

    __tablename__ = "fills"
    __table_args__ = (UniqueConstraint("account_id", "broker_exec_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[str] = mapped_column(String(32))
    broker_exec_id: Mapped[str] = mapped_column(
        String(64), doc="the broker's execution id; with account_id, applies a fill once"
    )
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"), index=True)
    conid: Mapped[int] = mapped_column(BigInteger)
    side: Mapped[OrderSide] = mapped_column(enum_type(OrderSide))
    quantity: Mapped[Decimal] = mapped_column(ExactDecimal)
    price: Mapped[Decimal] = mapped_column(ExactDecimal)
    commission: Mapped[Decimal] = mapped_column(ExactDecimal, doc="USD")
    filled_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
