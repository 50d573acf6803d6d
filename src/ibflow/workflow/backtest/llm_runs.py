"""A backtest's LLM calls: the estimate shown before a run, and what the run used (for its results).

A call's cache key hashes the rendered prompt and the chart images of its execution time, which are known
only once that execution has run. So the estimate counts as answered from the cache the calls an earlier
backtest recorded (each backtest's own database keeps every call's cache key) when that backtest made the
same requests: the same strategy file (analyst, model, prompt text, indicators, timeframes, risk), data
source, starting cash, the LLM settings that enter a request (model, structured mode, output cap,
temperature) and chart size (``request_basis``, kept in its summary), and the same first session. Its
executions replay identically as long as every answer comes from the cache, so the calls of its leading
executions whose decision times match this run's, whose every call recorded a key and no error, and whose
keys the shared response cache still holds, cost nothing; every later execution's calls count as new. It
assumes the bars of a data source do not change between the runs (a CSV edited in place would not be
noticed; the cache then answers only what still matches, and the run makes the rest as new calls).

Tokens per new call are estimated as ``costs.estimate`` does (the prompt's characters over three, 1,600
per chart, the output at its cap) with an allowance for the variables rendered into the prompt; the cost
follows from the price table.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ibflow.core.clock import Clock
from ibflow.core.ids import StrategyId
from ibflow.core.settings import ChartSettings, LlmSettings
from ibflow.db.engine import SessionFactory, make_engine, read_session_factory
from ibflow.db.models.backtests import Backtest
from ibflow.db.models.executions import LlmCall, LlmResponse, StrategyExecution
from ibflow.db.models.strategies import Strategy
from ibflow.db.states import ExecutionStatus
from ibflow.llm.costs import CHARS_PER_TOKEN, IMAGE_TOKENS, PriceTable
from ibflow.llm.prompts import store as prompts
from ibflow.llm.schema import SIGNAL_JSON_SCHEMA

LLM_ANALYSTS = ("openai", "anthropic")
VARIABLE_CHARS = 6000
"""Allowance per call for what the variables add to the templates (indicator series, context)."""


@dataclass(frozen=True)
class LlmEstimate:
    """The most a backtest's LLM calls may make and cost; ``cached`` of ``calls`` cost nothing."""

    provider: str
    model: str
    executions: int
    calls: int
    cached: int
    """Calls an earlier backtest of the same requests left in the response cache (see the module)."""
    input_tokens: int
    """Of the new calls only, as are ``output_tokens`` and ``cost``."""
    output_tokens: int
    cost: Decimal

    @property
    def new_calls(self) -> int:
        return self.calls - self.cached

    @property
    def paid(self) -> bool:
        """True when new calls have a price (none new, or a local model priced at 0, asks nothing)."""
        return self.new_calls > 0 and self.cost > 0

    def describe(self) -> str:
        """One line for the terminal."""
        return (
            f"LLM analyst {self.provider} ({self.model}): at most {self.calls:,} calls "
            f"({self.executions:,} executions), of which {self.cached:,} answered from the cache; "
            f"{self.new_calls:,} new calls, about {self.input_tokens:,} input and at most "
            f"{self.output_tokens:,} output tokens, at most USD {self.cost}"
        )

    def as_json(self) -> dict[str, Any]:
        """The estimate for the API."""
        return {
            "provider": self.provider,
            "model": self.model,
            "executions": self.executions,
            "calls": self.calls,
            "cached_calls": self.cached,
            "new_calls": self.new_calls,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": str(self.cost),
            "paid": self.paid,
            "text": self.describe(),
        }


def estimate_llm(
    session: Session,
    strategy_id: StrategyId,
    *,
    times: Sequence[datetime],
    basis: str,
    main: SessionFactory,
    cache: SessionFactory | None,
    llm: LlmSettings,
    clock: Clock,
) -> LlmEstimate | None:
    """Return the estimate for executions at ``times`` of the installed strategy (``session``: the
    backtest's database); None for an offline analyst. ``basis`` is the run's ``request_basis``; the calls
    an earlier backtest of it in ``main`` left in the response ``cache`` count as free."""
    executions = len(times)
    strategy = session.get(Strategy, strategy_id)
    if strategy is None or strategy.analyst not in LLM_ANALYSTS:
        return None
    model = strategy.llm_model or (llm.openai_model if strategy.analyst == "openai" else llm.anthropic_model)
    templates = prompts.resolve(
        session, template_id=strategy.prompt_template_id, version_id=strategy.prompt_version_id, clock=clock
    )
    system = len(templates["system"].body)
    schema = len(str(SIGNAL_JSON_SCHEMA))
    charts = len(strategy.timeframes)
    if strategy.analysis_mode == "chain":
        per_execution = [
            _tokens(system + len(templates["analysis"].body), images=1),
            _tokens(system + len(templates["weekly"].body), images=1) + llm.llm_max_output_tokens,
            _tokens(system + len(templates["consolidation"].body) + schema, images=0)
            + 2 * llm.llm_max_output_tokens,
        ]
    else:
        per_execution = [_tokens(system + len(templates["analysis"].body) + schema, images=charts)]
    answered, cached = (0, 0) if cache is None else answered_ahead(main, cache, basis, times)
    fresh = executions - answered
    input_tokens = fresh * sum(per_execution)
    output_tokens = fresh * len(per_execution) * llm.llm_max_output_tokens
    prices = PriceTable.from_settings(llm.llm_prices, llm.llm_default_price)
    return LlmEstimate(
        strategy.analyst,
        model,
        executions,
        cached + fresh * len(per_execution),
        cached,
        input_tokens,
        output_tokens,
        prices.cost(model, input_tokens, output_tokens),
    )


def request_basis(
    strategy_text: str, source: str, cash: Decimal, *, llm: LlmSettings, charts: ChartSettings
) -> str:
    """A hash of what a backtest's LLM requests depend on besides the bars and the execution times."""
    document = {
        "strategy": strategy_text,
        "data": source,
        "cash": str(cash),
        "models": [llm.openai_model, llm.anthropic_model],
        "structured": [llm.openai_structured_output, llm.anthropic_structured_output],
        "max_output_tokens": llm.llm_max_output_tokens,
        "temperature": llm.llm_temperature,
        "chart": [charts.chart_width_px, charts.chart_height_px],
    }
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


def answered_ahead(
    main: SessionFactory, cache: SessionFactory, basis: str, times: Sequence[datetime]
) -> tuple[int, int]:
    """How many leading executions at ``times`` an earlier backtest of ``basis`` answered wholly from what
    the response ``cache`` holds, and their calls (the best earlier backtest's; ``(0, 0)`` for none)."""
    with main() as session:
        earlier = [
            Path(row.database_path)
            for row in session.scalars(select(Backtest).order_by(Backtest.id.desc()))
            if row.summary.get("llm_requests") == basis
        ]
    best = (0, 0)
    for database in earlier:
        if database.exists():
            best = max(best, _answered_by(database, cache, times))
    return best


def _answered_by(database: Path, cache: SessionFactory, times: Sequence[datetime]) -> tuple[int, int]:
    engine = make_engine(f"sqlite:///{database.as_posix()}")
    try:
        with read_session_factory(engine)() as session:
            ran = session.execute(
                select(StrategyExecution.id, StrategyExecution.scheduled_for, StrategyExecution.status)
                .order_by(StrategyExecution.id)
                .limit(len(times))
            ).all()
            rows = session.execute(
                select(LlmCall.execution_id, LlmCall.cache_key, LlmCall.error).where(
                    LlmCall.provider.in_(LLM_ANALYSTS)
                )
            ).all()
    finally:
        engine.dispose()
    keys: dict[int | None, list[str | None]] = {}
    for execution_id, key, error in rows:
        keys.setdefault(execution_id, []).append(None if error else key)
    with cache() as session:
        held = set(session.scalars(select(LlmResponse.cache_key)))
    executions = calls = 0
    for (execution_id, at, status), expected in zip(ran, times, strict=False):
        found = keys.get(execution_id, [])
        if at != expected or status != ExecutionStatus.SUCCEEDED or not found:
            break
        if any(key is None or key not in held for key in found):
            break
        executions, calls = executions + 1, calls + len(found)
    return executions, calls


def _tokens(chars: int, *, images: int) -> int:
    return math.ceil((chars + VARIABLE_CHARS) / CHARS_PER_TOKEN) + IMAGE_TOKENS * images


def llm_usage(session: Session) -> dict[str, Any]:
    """What a backtest's analysts used: calls made (errors included), cache hits, tokens and cost in USD."""
    llm = LlmCall.provider.in_(LLM_ANALYSTS)  # the rules analysts record a row per execution too
    made = select(LlmCall).where(llm, LlmCall.cached.is_(False)).subquery()
    calls, input_tokens, output_tokens = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(made.c.input_tokens), 0),
            func.coalesce(func.sum(made.c.output_tokens), 0),
        ).select_from(made)
    ).one()
    hits = session.scalar(select(func.count()).select_from(LlmCall).where(llm, LlmCall.cached.is_(True)))
    cost = sum(session.scalars(select(LlmCall.cost).where(llm, LlmCall.cached.is_(False))), Decimal(0))
    return {
        "calls": int(calls),
        "cache_hits": int(hits or 0),
        "input_tokens": int(input_tokens),
        "output_tokens": int(output_tokens),
        "cost_usd": str(cost),
    }
