"""Indicator configs, prompt templates and their versions, and strategies."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ibflow.db.base import Base
from ibflow.db.columns import JsonDoc, enum_type
from ibflow.db.states import StrategyMode, StrategyState
from ibflow.db.types import ExactDecimal, UtcDateTime


class Indicator(Base):
    """A named indicator configuration: a type from the catalogue and validated params."""

    __tablename__ = "indicators"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(100))
    type: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class StrategyIndicator(Base):
    """An indicator used by a strategy, in display order."""

    __tablename__ = "strategy_indicators"
    __table_args__ = (UniqueConstraint("strategy_id", "indicator_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    strategy_id: Mapped[int] = mapped_column(ForeignKey("strategies.id", ondelete="CASCADE"), index=True)
    indicator_id: Mapped[int] = mapped_column(ForeignKey("indicators.id", ondelete="RESTRICT"))
    position: Mapped[int] = mapped_column(default=0)


class PromptTemplate(Base):
    """A prompt template, global or for one strategy (``scope``); its text lives in immutable versions."""

    __tablename__ = "prompt_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(16), default="en")
    scope: Mapped[str] = mapped_column(String(16), default="global")  # global | strategy
    is_default: Mapped[bool] = mapped_column(default=False)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class PromptVersion(Base):
    """One immutable version of a prompt template's text."""

    __tablename__ = "prompt_versions"
    __table_args__ = (UniqueConstraint("template_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("prompt_templates.id", ondelete="CASCADE"))
    version: Mapped[int]
    body: Mapped[str] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Strategy(Base):
    """What to trade, how to analyse it, when to run and within which risk limits."""

    __tablename__ = "strategies"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    conid: Mapped[int] = mapped_column(BigInteger)
    symbol: Mapped[str] = mapped_column(String(32))
    timeframes: Mapped[list[str]] = mapped_column(JsonDoc)
    analyst: Mapped[str] = mapped_column(String(32), default="rules")
    prompt_template_id: Mapped[int | None] = mapped_column(
        ForeignKey("prompt_templates.id", ondelete="SET NULL")
    )
    prompt_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("prompt_versions.id", ondelete="SET NULL")
    )
    cron: Mapped[str] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    market_hours_only: Mapped[bool] = mapped_column(default=False)
    mode: Mapped[StrategyMode] = mapped_column(enum_type(StrategyMode))
    state: Mapped[StrategyState] = mapped_column(enum_type(StrategyState))
    # Risk parameters (fractions are 0..1, e.g. 0.01 = 1 % of equity per trade).
    risk_per_trade: Mapped[Decimal] = mapped_column(ExactDecimal)
    max_position_value: Mapped[Decimal] = mapped_column(ExactDecimal)
    max_quantity: Mapped[Decimal] = mapped_column(ExactDecimal)
    max_entries_per_day: Mapped[int] = mapped_column(default=1)
    min_reward_risk: Mapped[Decimal] = mapped_column(ExactDecimal)
    min_confidence: Mapped[Decimal] = mapped_column(ExactDecimal)
    max_entry_deviation: Mapped[Decimal] = mapped_column(ExactDecimal)
    next_run_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
