"""Indicator configs, prompt templates and their versions, and strategies."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ibflow.db.base import Base
from ibflow.db.columns import JsonDoc, enum_type
from ibflow.db.states import StrategyMode, StrategyState
from ibflow.db.types import ExactDecimal, UtcDateTime


class Indicator(Base):
    """One strategy's indicator: a type from the catalogue and validated params, keyed by ``name``."""

    __tablename__ = "indicators"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(100))
    type: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict[str, Any]] = mapped_column(
        JsonDoc, doc="validated parameters, completed with defaults"
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class NamedIndicatorConfig(Base):
    """A saved indicator configuration a user names once and reuses: a strategy copies it when applied.

    Copying (not linking) means editing or deleting a named config never changes a strategy already
    configured from it; the strategy's own ``indicators`` rows say what it computes.
    """

    __tablename__ = "named_indicator_configs"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    type: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict[str, Any]] = mapped_column(
        JsonDoc, doc="validated parameters, completed with defaults"
    )
    description: Mapped[str] = mapped_column(String(500), default="")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class StrategyIndicator(Base):
    """An indicator used by a strategy, in display order."""

    __tablename__ = "strategy_indicators"
    __table_args__ = (UniqueConstraint("strategy_id", "indicator_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    strategy_id: Mapped[int] = mapped_column(ForeignKey("strategies.id", ondelete="CASCADE"), index=True)
    indicator_id: Mapped[int] = mapped_column(ForeignKey("indicators.id", ondelete="RESTRICT"))
    position: Mapped[int] = mapped_column(default=0, doc="display order")


class PromptTemplate(Base):
    """A prompt template, global or for one strategy (``scope``); its text lives in immutable versions."""

    __tablename__ = "prompt_templates"
    __table_args__ = (
        UniqueConstraint("name"),
        CheckConstraint("role IN ('system', 'analysis', 'weekly', 'consolidation')", name="role"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(
        String(16), doc="`system`, `analysis` (daily chart), `weekly` (confirmation) or `consolidation`"
    )
    language: Mapped[str] = mapped_column(String(16), default="en")
    scope: Mapped[str] = mapped_column(
        String(16), default="global", doc="`global` or `strategy`"
    )  # global | strategy
    is_default: Mapped[bool] = mapped_column(
        default=False, doc="the template used when a strategy names none"
    )
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class PromptVersion(Base):
    """One immutable version of a prompt template's text."""

    __tablename__ = "prompt_versions"
    __table_args__ = (UniqueConstraint("template_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("prompt_templates.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(doc="1, 2, ...; a version is never edited, a change makes a new one")
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
    timeframes: Mapped[list[str]] = mapped_column(JsonDoc, doc="list of `1d` / `1w` charts to render")
    analyst: Mapped[str] = mapped_column(String(32), default="rules", doc="`rules`, `openai` or `anthropic`")
    llm_model: Mapped[str | None] = mapped_column(
        String(100), doc="the analyst's model for this strategy (none: the provider's setting)"
    )
    analysis_mode: Mapped[str] = mapped_column(
        String(16),
        default="single",
        doc="`single` (one call, both charts) or `chain` (daily, weekly, consolidation)",
    )
    prompt_template_id: Mapped[int | None] = mapped_column(
        ForeignKey("prompt_templates.id", ondelete="SET NULL")
    )
    prompt_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("prompt_versions.id", ondelete="SET NULL"),
        doc="pinned prompt version (none: the template's newest)",
    )
    cron: Mapped[str] = mapped_column(String(100), doc="five-field cron expression, local to `timezone`")
    timezone: Mapped[str] = mapped_column(
        String(64), default="UTC", doc="IANA zone the cron runs in (DST included)"
    )
    market_hours_only: Mapped[bool] = mapped_column(default=False, doc="run only while the exchange is open")
    mode: Mapped[StrategyMode] = mapped_column(
        enum_type(StrategyMode),
        doc="`paper` always uses the built-in paper broker; `live` uses IBFLOW_BROKER",
    )
    state: Mapped[StrategyState] = mapped_column(
        enum_type(StrategyState), doc="only `active` strategies are scheduled"
    )
    # Risk parameters (fractions are 0..1, e.g. 0.01 = 1 % of equity per trade).
    risk_per_trade: Mapped[Decimal] = mapped_column(
        ExactDecimal, doc="fraction of equity risked per trade (0.01 = 1 %)"
    )
    max_position_value: Mapped[Decimal] = mapped_column(ExactDecimal, doc="cap on entry quantity x price")
    max_quantity: Mapped[Decimal] = mapped_column(ExactDecimal, doc="cap on shares per entry")
    max_entries_per_day: Mapped[int] = mapped_column(default=1, doc="entries per trading day")
    min_reward_risk: Mapped[Decimal] = mapped_column(
        ExactDecimal, doc="minimum (target - entry) / (entry - stop)"
    )
    min_confidence: Mapped[Decimal] = mapped_column(ExactDecimal, doc="minimum analyst confidence, 0..1")
    max_entry_deviation: Mapped[Decimal] = mapped_column(ExactDecimal, doc="maximum |entry - last| / last")
    next_run_at: Mapped[datetime | None] = mapped_column(
        UtcDateTime, index=True, doc="next scheduled slot (UTC), advanced by the dispatcher"
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
