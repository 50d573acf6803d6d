"""The database side of LLM calls: the cache, the budget and one ``llm_calls`` row per call.

Each step commits on its own session: a call costs money whether or not the rest of the execution works,
so its row (and a budget event) must survive a later failure of the step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from ibflow.core.clock import Clock
from ibflow.core.logging import REDACTED
from ibflow.core.metrics import instruments
from ibflow.core.money import quantize
from ibflow.db.engine import SessionFactory
from ibflow.db.models.executions import LlmCall
from ibflow.llm import budget as budgets
from ibflow.llm import cache
from ibflow.llm.analyst import CallOutcome
from ibflow.llm.chat import ChatReply, ChatRequest
from ibflow.llm.costs import PriceTable, estimate
from ibflow.llm.run_cap import RunCap


@dataclass
class DbLedger:
    """The ``CallLedger`` of one execution, on the main database."""

    sessions: SessionFactory
    clock: Clock
    budget: budgets.Budget
    prices: PriceTable
    provider: str
    execution_id: int | None = None
    cache_on: bool = False
    secrets: tuple[str, ...] = ()
    cache_sessions: SessionFactory | None = None
    """Where the response cache lives, when not in ``sessions``' database (a backtest's shared cache file)."""
    run_cap: RunCap | None = None
    """A cap over the whole run (a backtest's ``--budget``), checked before the execution's budgets."""
    _written: dict[int, dict[str, Any]] = field(default_factory=dict, init=False, repr=False, compare=False)

    def cached(self, key: str) -> ChatReply | None:
        """Return the cached reply for ``key`` when the cache is on."""
        if not self.cache_on:
            return None
        with (self.cache_sessions or self.sessions)() as session:
            reply = cache.lookup(session, key, clock=self.clock)
            session.commit()
            return reply

    def admit(self, request: ChatRequest) -> float:
        """Check the budgets for this call's ceiling; return its timeout or raise ``BudgetExceeded``."""
        ceiling = estimate(request, self.prices)
        if self.run_cap is not None:
            self.run_cap.check(ceiling)  # raises BudgetExceeded: the call is not made, the run stops
        with self.sessions() as session:
            try:
                return budgets.check(
                    session,
                    budget=self.budget,
                    estimate=ceiling,
                    execution_id=self.execution_id,
                    now=self.clock.now(),
                )
            finally:
                session.commit()  # the budget event is kept even though the call is refused

    def record(self, outcome: CallOutcome) -> int:
        """Write the call's row (and a complete reply to the cache); return its id."""
        request, reply = outcome.request, outcome.reply
        with self.sessions() as session:
            row = LlmCall(
                execution_id=self.execution_id,
                provider=self.provider,
                model=request.model,
                purpose=outcome.purpose,
                prompt_version_id=outcome.prompt_version_id,
                rendered_prompt=self._clean(f"{request.system}\n\n{request.user}"),
                messages=request.messages(),
                image_refs=[f"chart:{i.chart_id} sha256:{i.sha256}" for i in request.images],
                raw_response=None if reply is None else self._clean(reply.raw_text),
                input_tokens=0 if reply is None else reply.input_tokens,
                output_tokens=0 if reply is None else reply.output_tokens,
                cost=outcome.cost,
                latency_ms=0 if reply is None else reply.latency_ms,
                stop_reason=None if reply is None else reply.stop_reason,
                cached=outcome.cached,
                cache_key=outcome.cache_key,
                error=None if outcome.error is None else self._clean(outcome.error),
                created_at=self.clock.now(),
            )
            session.add(row)
            if reply is not None and not outcome.cached and outcome.cache_key and outcome.error is None:
                if self.cache_sessions is None:
                    self._store(session, outcome.cache_key, request.model, reply)
                else:
                    with self.cache_sessions() as cache_session:
                        self._store(cache_session, outcome.cache_key, request.model, reply)
                        cache_session.commit()
            session.commit()
            if self.run_cap is not None and not outcome.cached:
                self.run_cap.spend(outcome.cost)
            result = "error" if outcome.error is not None else "cached" if outcome.cached else "ok"
            count_call(self.provider, result, row.input_tokens, row.output_tokens, row.cost)
            self._written[row.id] = lineage(row, cost=quantize(row.cost))  # the cost as stored and read back
            return row.id

    def _store(self, session: Session, key: str, model: str, reply: ChatReply) -> None:
        cache.store(session, key, provider=self.provider, model=model, reply=reply, clock=self.clock)

    def written(self, call_ids: Sequence[int]) -> list[dict[str, Any]] | None:
        """Return the calls ``call_ids`` as lineage shows them when this ledger wrote them all, else None.

        The same documents ``lineage`` makes of the rows read back, without reading them back.
        """
        if not all(call_id in self._written for call_id in call_ids):
            return None
        return [self._written[call_id] for call_id in sorted(set(call_ids))]

    def _clean(self, text: str) -> str:
        for secret in self.secrets:
            if secret:
                text = text.replace(secret, REDACTED)
        return text


def count_call(provider: str, result: str, input_tokens: int, output_tokens: int, cost: Decimal) -> None:
    """Count one recorded call (``result``: ok, error or cached) in the metrics; a cached one used nothing."""
    found = instruments()
    found.llm_calls.labels(provider, result).inc()
    if result != "cached":
        found.llm_tokens.labels(provider, "input").inc(input_tokens)
        found.llm_tokens.labels(provider, "output").inc(output_tokens)
        found.llm_cost.labels(provider).inc(float(cost))


def lineage(row: LlmCall, *, cost: Decimal | None = None) -> dict[str, Any]:
    """Return one call as lineage shows it: prompt, images, raw answer, tokens, cost (``cost`` if given)."""
    return {
        "llm_call_id": row.id,
        "purpose": row.purpose,
        "provider": row.provider,
        "model": row.model,
        "prompt_version_id": row.prompt_version_id,
        "rendered_prompt": row.rendered_prompt,
        "images": [p for m in row.messages or [] for p in _parts(m) if p.get("type") == "image"],
        "raw_response": row.raw_response,
        "input_tokens": row.input_tokens,
        "output_tokens": row.output_tokens,
        "cost": row.cost if cost is None else cost,
        "latency_ms": row.latency_ms,
        "stop_reason": row.stop_reason,
        "cached": row.cached,
        "error": row.error,
    }


def _parts(message: dict[str, Any]) -> list[dict[str, Any]]:
    content = message.get("content")
    return [p for p in content if isinstance(p, dict)] if isinstance(content, list) else []
