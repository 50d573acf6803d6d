"""The database side of LLM calls: the cache, the budget and one ``llm_calls`` row per call.

Each step commits on its own session: a call costs money whether or not the rest of the execution works,
so its row (and a budget event) must survive a later failure of the step.
"""

from __future__ import annotations

from dataclasses import dataclass

from ibflow.core.clock import Clock
from ibflow.core.logging import REDACTED
from ibflow.db.engine import SessionFactory
from ibflow.db.models.executions import LlmCall
from ibflow.llm import budget as budgets
from ibflow.llm import cache
from ibflow.llm.analyst import CallOutcome
from ibflow.llm.chat import ChatReply, ChatRequest
from ibflow.llm.costs import PriceTable, estimate


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

    def cached(self, key: str) -> ChatReply | None:
        """Return the cached reply for ``key`` when the cache is on."""
        if not self.cache_on:
            return None
        with self.sessions() as session:
            reply = cache.lookup(session, key, clock=self.clock)
            session.commit()
            return reply

    def admit(self, request: ChatRequest) -> float:
        """Check the budgets for this call's ceiling; return its timeout or raise ``BudgetExceeded``."""
        with self.sessions() as session:
            try:
                return budgets.check(
                    session,
                    budget=self.budget,
                    estimate=estimate(request, self.prices),
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
                cache.store(
                    session,
                    outcome.cache_key,
                    provider=self.provider,
                    model=request.model,
                    reply=reply,
                    clock=self.clock,
                )
            session.commit()
            return row.id

    def _clean(self, text: str) -> str:
        for secret in self.secrets:
            if secret:
                text = text.replace(secret, REDACTED)
        return text
