"""Finished backtests as the main database keeps them: summary, equity curve and trades, for listing.

Each backtest runs in a SQLite file of its own (``database_path``) with its executions, lineage, orders and
fills; only what lists and compares backtests is copied here.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Date, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ibflow.db.base import Base
from ibflow.db.columns import JsonDoc
from ibflow.db.types import ExactDecimal, UtcDateTime


class Backtest(Base):
    """One backtest of a strategy on a window of history."""

    __tablename__ = "backtests"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    strategy_id: Mapped[int | None] = mapped_column(ForeignKey("strategies.id", ondelete="SET NULL"))
    strategy_name: Mapped[str] = mapped_column(String(200), doc="the strategy's name when it ran")
    conid: Mapped[int] = mapped_column(BigInteger)
    symbol: Mapped[str] = mapped_column(String(32))
    first_day: Mapped[date] = mapped_column(Date, doc="first session of the window (New York date)")
    last_day: Mapped[date] = mapped_column(Date, doc="last session of the window (New York date)")
    starting_cash: Mapped[Decimal] = mapped_column(ExactDecimal)
    status: Mapped[str] = mapped_column(
        String(16), doc="`completed`, or `stopped` (Ctrl-C: what ran is kept)"
    )
    executions: Mapped[int] = mapped_column(doc="executions that ran")
    data_source: Mapped[str] = mapped_column(Text, doc="`samples` or `files:PATH`")
    database_path: Mapped[str] = mapped_column(Text, doc="the backtest's own SQLite file")
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime] = mapped_column(UtcDateTime)
    summary: Mapped[dict[str, Any]] = mapped_column(JsonDoc, doc="the statistics (docs/backtest.md)")
    equity_curve: Mapped[list[dict[str, Any]]] = mapped_column(
        JsonDoc, doc="per decision: time, equity, buy-and-hold equity"
    )
    trades: Mapped[list[dict[str, Any]]] = mapped_column(JsonDoc, doc="the closed round trips")
