"""Executions of strategies and what each produced: lineage, charts, LLM calls, signals."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ibflow.db.base import Base
from ibflow.db.columns import JsonDoc, enum_type
from ibflow.db.states import ExecutionStatus, ExecutionTrigger, SignalAction, StepStatus
from ibflow.db.types import ExactDecimal, UtcDateTime


class StrategyExecution(Base):
    """One run of a strategy; scheduled runs are unique per strategy and scheduled time."""

    __tablename__ = "strategy_executions"
    __table_args__ = (
        UniqueConstraint("strategy_id", "scheduled_for"),
        Index("ix_strategy_executions_status", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    strategy_id: Mapped[int] = mapped_column(ForeignKey("strategies.id", ondelete="CASCADE"))
    trigger: Mapped[ExecutionTrigger] = mapped_column(
        enum_type(ExecutionTrigger), doc="`schedule` or `manual`"
    )
    scheduled_for: Mapped[datetime | None] = mapped_column(
        UtcDateTime, doc="the cron slot (UTC); null for manual runs"
    )
    status: Mapped[ExecutionStatus] = mapped_column(enum_type(ExecutionStatus))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    owner: Mapped[str | None] = mapped_column(
        String(128), doc="runner that claimed it (host:pid:thread); used by crash recovery"
    )
    error: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[dict[str, Any] | None] = mapped_column(
        JsonDoc, doc="signal, risk decision and orders in brief"
    )
    config_snapshot: Mapped[dict[str, Any] | None] = mapped_column(
        JsonDoc, doc="the strategy as it was when the run started, prompt version pinned"
    )


class WorkflowLineage(Base):
    """One step of one execution: input, output, duration, status and error."""

    __tablename__ = "workflow_lineage"
    __table_args__ = (
        UniqueConstraint("execution_id", "step_index"),
        # step statistics: counts by status and duration order within a step, and a step's recent rows
        Index("ix_workflow_lineage_step_stats", "step_name", "status", "duration_ms"),
        Index("ix_workflow_lineage_step_started", "step_name", "started_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    execution_id: Mapped[int] = mapped_column(ForeignKey("strategy_executions.id", ondelete="CASCADE"))
    step_index: Mapped[int] = mapped_column(doc="1..11 in the order of the executor's steps")
    step_name: Mapped[str] = mapped_column(String(32), doc="stable step name (keys statistics)")
    status: Mapped[StepStatus] = mapped_column(enum_type(StepStatus))
    input: Mapped[dict[str, Any] | None] = mapped_column(
        JsonDoc, doc="the step's input, secrets redacted, large values capped"
    )
    output: Mapped[dict[str, Any] | None] = mapped_column(
        JsonDoc, doc="the step's output, secrets redacted, large values capped"
    )
    error: Mapped[str | None] = mapped_column(Text)
    traceback: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    duration_ms: Mapped[int] = mapped_column(Integer, doc="wall time of the step")


class Chart(Base):
    """A rendered chart: where it is stored and what it shows."""

    __tablename__ = "charts"

    id: Mapped[int] = mapped_column(primary_key=True)
    execution_id: Mapped[int | None] = mapped_column(
        ForeignKey("strategy_executions.id", ondelete="CASCADE"), index=True
    )
    timeframe: Mapped[str] = mapped_column(String(8))
    store_key: Mapped[str] = mapped_column(
        String(255), index=True, doc="key in the chart store: sha256/…, shared by identical charts"
    )
    size_bytes: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64), doc="hash of the PNG bytes (identifies the chart)")
    width: Mapped[int]
    height: Mapped[int]
    bar_from: Mapped[datetime] = mapped_column(UtcDateTime, doc="first bar shown")
    bar_to: Mapped[datetime] = mapped_column(UtcDateTime, doc="last bar shown")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class LlmCall(Base):
    """One call to an analyst: what was asked, what came back, what it cost."""

    __tablename__ = "llm_calls"

    id: Mapped[int] = mapped_column(primary_key=True)
    execution_id: Mapped[int | None] = mapped_column(
        ForeignKey("strategy_executions.id", ondelete="CASCADE"), index=True
    )
    provider: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(100))
    purpose: Mapped[str] = mapped_column(
        String(16), default="single", doc="`single`, or in a chain `daily`, `weekly`, `consolidation`"
    )
    prompt_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("prompt_versions.id", ondelete="SET NULL")
    )
    rendered_prompt: Mapped[str] = mapped_column(Text, doc="the prompt as sent (secrets redacted)")
    messages: Mapped[list[dict[str, Any]] | None] = mapped_column(
        JsonDoc, doc="the messages as sent, images as chart id and sha256 (not bytes)"
    )
    image_refs: Mapped[list[str] | None] = mapped_column(JsonDoc, doc="chart ids sent with the prompt")
    raw_response: Mapped[str | None] = mapped_column(
        Text, doc="the analyst's raw text, kept even when it does not parse"
    )
    input_tokens: Mapped[int] = mapped_column(default=0)
    output_tokens: Mapped[int] = mapped_column(default=0)
    cost: Mapped[Decimal] = mapped_column(ExactDecimal, doc="USD")
    latency_ms: Mapped[int] = mapped_column(default=0)
    stop_reason: Mapped[str | None] = mapped_column(String(32), doc="the provider's finish / stop reason")
    cached: Mapped[bool] = mapped_column(default=False, doc="answered from the response cache (no cost)")
    cache_key: Mapped[str | None] = mapped_column(String(64), doc="hash of the request (the cache's key)")
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class LlmResponse(Base):
    """A cached answer: the same request (provider, model, parameters, messages, image hashes, schema)."""

    __tablename__ = "llm_response_cache"

    cache_key: Mapped[str] = mapped_column(String(64), primary_key=True, doc="sha256 of the request")
    provider: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(100))
    raw_response: Mapped[str] = mapped_column(Text)
    stop_reason: Mapped[str | None] = mapped_column(String(32))
    input_tokens: Mapped[int] = mapped_column(default=0)
    output_tokens: Mapped[int] = mapped_column(default=0)
    hits: Mapped[int] = mapped_column(default=0, doc="times it answered instead of the provider")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_hit_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class TradingSignal(Base):
    """The analyst's proposal, whether it was valid, and how it turned out."""

    __tablename__ = "trading_signals"

    id: Mapped[int] = mapped_column(primary_key=True)
    execution_id: Mapped[int | None] = mapped_column(
        ForeignKey("strategy_executions.id", ondelete="CASCADE"), index=True
    )
    strategy_id: Mapped[int] = mapped_column(ForeignKey("strategies.id", ondelete="CASCADE"), index=True)
    action: Mapped[SignalAction] = mapped_column(enum_type(SignalAction))
    confidence: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    entry: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    stop_loss: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    take_profit: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    timeframe: Mapped[str | None] = mapped_column(String(8))
    reasoning: Mapped[str] = mapped_column(Text, default="")
    key_factors: Mapped[list[str] | None] = mapped_column(JsonDoc)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    is_valid: Mapped[bool | None] = mapped_column(doc="null until judged; false with reason when blocked")
    reason: Mapped[str | None] = mapped_column(String(64), doc="reason code (risk block, NO_SIGNAL cause)")
    reason_detail: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str | None] = mapped_column(
        String(32), doc="what became of it: no_order, open, won, lost, expired, ..."
    )
    provider: Mapped[str | None] = mapped_column(String(32), doc="the analyst: rules, openai, anthropic")
    model: Mapped[str | None] = mapped_column(String(100))
    prompt_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("prompt_versions.id", ondelete="SET NULL")
    )
    chart_ids: Mapped[list[int] | None] = mapped_column(JsonDoc, doc="charts the signal was made from")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
