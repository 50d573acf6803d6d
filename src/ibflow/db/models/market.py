"""The contract cache and the market data cache."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ibflow.db.base import Base
from ibflow.db.columns import JsonDoc
from ibflow.db.types import ExactDecimal, UtcDateTime


class Symbol(Base):
    """A contract as the broker described it, cached with the time it was fetched."""

    __tablename__ = "symbols"

    id: Mapped[int] = mapped_column(primary_key=True)
    conid: Mapped[int] = mapped_column(BigInteger, unique=True, doc="the broker's contract id")
    symbol: Mapped[str] = mapped_column(String(32), index=True)
    name: Mapped[str] = mapped_column(String(200))
    sec_type: Mapped[str] = mapped_column(String(16))
    exchange: Mapped[str] = mapped_column(String(32))
    currency: Mapped[str] = mapped_column(String(8))
    min_tick: Mapped[Decimal] = mapped_column(
        ExactDecimal, doc="minimum price increment; order prices are rounded to it"
    )
    details: Mapped[dict[str, Any] | None] = mapped_column(
        JsonDoc, doc="the broker's full contract description"
    )
    fetched_at: Mapped[datetime] = mapped_column(
        UtcDateTime, doc="when the broker was asked; older than the TTL means fetch again"
    )


class Bar(Base):
    """One complete OHLCV bar; partial bars are never stored."""

    __tablename__ = "bars"
    __table_args__ = (UniqueConstraint("conid", "bar_size", "ts"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    conid: Mapped[int] = mapped_column(BigInteger, doc="the broker's contract id")
    bar_size: Mapped[str] = mapped_column(String(8), doc="`1d` (weekly bars are resampled, not stored)")
    ts: Mapped[datetime] = mapped_column(
        UtcDateTime, doc="start of the bar (UTC); only complete bars are stored"
    )
    open: Mapped[Decimal] = mapped_column(ExactDecimal)
    high: Mapped[Decimal] = mapped_column(ExactDecimal)
    low: Mapped[Decimal] = mapped_column(ExactDecimal)
    close: Mapped[Decimal] = mapped_column(ExactDecimal)
    volume: Mapped[Decimal] = mapped_column(ExactDecimal)
    fetched_at: Mapped[datetime] = mapped_column(
        UtcDateTime,
        doc="when the broker was asked; less than two days after `ts` means ask again (revisions)",
    )


class BarCoverage(Base):
    """A stretch of time whose every bar that began in ``[from_ts, to_ts)`` is in ``bars``."""

    __tablename__ = "bar_coverage"

    id: Mapped[int] = mapped_column(primary_key=True)
    conid: Mapped[int] = mapped_column(BigInteger, index=True, doc="the broker's contract id")
    bar_size: Mapped[str] = mapped_column(String(8), doc="`1d`")
    from_ts: Mapped[datetime] = mapped_column(UtcDateTime, doc="start of the stretch (UTC), included")
    to_ts: Mapped[datetime] = mapped_column(UtcDateTime, doc="end of the stretch (UTC), excluded")
