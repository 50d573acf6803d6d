"""A backtest's LLM calls: the estimate shown before a run, and what the run used (for its results).

The estimate counts as free the calls an earlier backtest of the same requests left in the response cache
(``cached_calls`` says how it knows them and what it assumes); every other call is new. Tokens per new call
are estimated as ``costs.estimate`` does (the prompt's characters over three, 1,600 per chart, the output
at its cap) with an allowance for the variables rendered into the prompt; the cost follows from the price
table.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_CEILING, Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ibflow.core.clock import Clock
from ibflow.core.ids import StrategyId
from ibflow.core.money import money_str
from ibflow.core.settings import LlmSettings
from ibflow.db.engine import SessionFactory
from ibflow.db.models.executions import LlmCall
from ibflow.db.models.strategies import Strategy
from ibflow.llm.costs import CHARS_PER_TOKEN, IMAGE_TOKENS, PriceTable
from ibflow.llm.prompts import store as prompts
from ibflow.llm.schema import SIGNAL_JSON_SCHEMA
from ibflow.workflow.backtest.cached_calls import LLM_ANALYSTS, answered_ahead

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
            f"{self.output_tokens:,} output tokens, "
            f"at most USD {money_str(self.cost, rounding=ROUND_CEILING)}"
        )

    def as_json(self) -> dict[str, Any]:
        """The estimate for the API (``cost_usd`` exact, to the millionth; the text in cents, rounded up)."""
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
    basis: str | None,
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
    answered, cached = (0, 0)
    if cache is not None and basis is not None:
        answered, cached = answered_ahead(main, cache, basis, times)
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
