"""The LLM analyst: renders the strategy's prompts, sends the charts, and turns the reply into a signal.

``single`` mode makes one call with both charts. ``chain`` mode makes three: the daily analysis (daily
chart), the weekly confirmation (weekly chart and the daily text) and the consolidation that answers with
the signal. Every call goes through the ledger: the cache first, then the budget (a call that would break it
is not made: ``BudgetExceeded`` propagates), then one ``llm_calls`` row. Whatever cannot be acted on — no
answer, a refusal, a cut-off reply, text that does not parse — becomes NO_SIGNAL with the reason and the raw
text; it is never HOLD.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import partial

from ibflow.llm.analyst import (
    AnalystInput,
    AnalystOutput,
    AnalystUsage,
    CallLedger,
    CallOutcome,
    PromptText,
)
from ibflow.llm.cache import cache_key
from ibflow.llm.chat import ChatImage, ChatModel, ChatReply, ChatRequest, LlmCallFailed
from ibflow.llm.costs import PriceTable
from ibflow.llm.prompts.render import render
from ibflow.llm.schema import SIGNAL_JSON_SCHEMA
from ibflow.llm.signals import ParsedSignal, no_signal, parse_signal


class _NoLedger:
    """No cache, no budget, nothing stored (an analyst used outside an execution)."""

    def cached(self, key: str) -> ChatReply | None:
        return None

    def admit(self, request: ChatRequest) -> float:
        return request.timeout_s

    def record(self, outcome: CallOutcome) -> int:
        return 0


@dataclass
class _Call:
    reply: ChatReply | None
    problem: str | None
    call_id: int
    cost: Decimal


@dataclass
class LlmAnalyst:
    """An ``Analyst`` on a provider's chat API."""

    chat: ChatModel
    prices: PriceTable
    max_output_tokens: int = 1500
    temperature: float = 0.2
    timeout_s: float = 60.0
    uses_prompts: bool = True
    name: str = field(init=False, default="")
    model: str = field(init=False, default="")

    def __post_init__(self) -> None:
        self.name = self.chat.provider
        self.model = self.chat.default_model

    def analyze(self, request: AnalystInput) -> AnalystOutput:
        """Run the strategy's analysis mode; NO_SIGNAL (with the reason) for anything unusable."""
        ledger = request.ledger or _NoLedger()
        calls: list[_Call] = []
        if request.mode == "chain":
            signal = self._chain(request, ledger, calls)
        else:
            signal = self._single(request, ledger, calls)
        analysis = request.templates.get("analysis")
        return AnalystOutput(
            provider=self.name,
            model=request.model or self.model,
            raw_text=signal.raw_text,
            signal=signal,
            usage=AnalystUsage(
                input_tokens=sum(c.reply.input_tokens for c in calls if c.reply),
                output_tokens=sum(c.reply.output_tokens for c in calls if c.reply),
                cost=sum((c.cost for c in calls), Decimal(0)),
                latency_ms=sum(c.reply.latency_ms for c in calls if c.reply),
            ),
            call_ids=tuple(c.call_id for c in calls),
            prompt_version_id=None if analysis is None else analysis.version_id,
        )

    def _single(self, request: AnalystInput, ledger: CallLedger, calls: list[_Call]) -> ParsedSignal:
        variables = dict(request.variables)
        chat_request = self._request(request, "analysis", variables, _images(request), structured=True)
        call = self._call("single", chat_request, request.templates["analysis"], ledger)
        calls.append(call)
        return _signal(call, request)

    def _chain(self, request: AnalystInput, ledger: CallLedger, calls: list[_Call]) -> ParsedSignal:
        variables = dict(request.variables)
        steps = (
            ("daily", "analysis", _images(request, "1d"), "daily_analysis"),
            ("weekly", "weekly", _images(request, "1w"), "weekly_analysis"),
        )
        for purpose, role, images, produces in steps:
            chat_request = self._request(request, role, variables, images, structured=False)
            call = self._call(purpose, chat_request, request.templates[role], ledger)
            calls.append(call)
            if call.problem is not None or call.reply is None:
                raw = call.reply.raw_text if call.reply else ""
                return no_signal(raw, f"{purpose} analysis: {call.problem}")
            variables[produces] = call.reply.raw_text
        chat_request = self._request(request, "consolidation", variables, (), structured=True)
        call = self._call("consolidation", chat_request, request.templates["consolidation"], ledger)
        calls.append(call)
        return _signal(call, request)

    def _request(
        self,
        request: AnalystInput,
        role: str,
        variables: dict[str, object],
        images: tuple[ChatImage, ...],
        *,
        structured: bool,
    ) -> ChatRequest:
        return ChatRequest(
            model=request.model or self.model,
            system=render(request.templates["system"].body, variables),
            user=render(request.templates[role].body, variables),
            images=images,
            schema=SIGNAL_JSON_SCHEMA if structured else None,
            max_output_tokens=self.max_output_tokens,
            temperature=self.temperature,
            timeout_s=self.timeout_s,
        )

    def _call(self, purpose: str, chat_request: ChatRequest, prompt: PromptText, ledger: CallLedger) -> _Call:
        key = cache_key(self.chat.provider, self.chat.structured_mode, chat_request)
        outcome = CallOutcome(purpose, prompt.version_id, chat_request, None, Decimal(0), cache_key=key)
        hit = ledger.cached(key)
        if hit is not None:
            call_id = ledger.record(replace(outcome, reply=hit, cached=True))
            return _Call(hit, _problem(hit, chat_request), call_id, Decimal(0))
        for image in chat_request.images:
            image.png  # noqa: B018  read the charts before the budget is asked: a missing one fails first
        timeout = ledger.admit(chat_request)  # raises BudgetExceeded: the call is not made
        try:
            reply = self.chat.complete(replace(chat_request, timeout_s=timeout))
        except LlmCallFailed as exc:
            call_id = ledger.record(replace(outcome, error=str(exc)))
            return _Call(None, f"no usable answer from {self.chat.provider}: {exc}", call_id, Decimal(0))
        cost = self.prices.cost(chat_request.model, reply.input_tokens, reply.output_tokens)
        call_id = ledger.record(replace(outcome, reply=reply, cost=cost))
        return _Call(reply, _problem(reply, chat_request), call_id, cost)


def _problem(reply: ChatReply, request: ChatRequest) -> str | None:
    if reply.refusal:
        return f"the model refused: {reply.refusal}"
    if reply.truncated:
        return f"the reply was cut off at the output limit ({request.max_output_tokens} tokens)"
    if not reply.raw_text.strip():
        return "the reply is empty"
    return None


def _signal(call: _Call, request: AnalystInput) -> ParsedSignal:
    raw = call.reply.raw_text if call.reply else ""
    if call.problem is not None:
        return no_signal(raw, call.problem)
    return parse_signal(raw, now=request.as_of)


def _images(request: AnalystInput, timeframe: str | None = None) -> tuple[ChatImage, ...]:
    """The charts to send, their bytes read only when the call is made (a cache hit never reads them)."""
    return tuple(
        ChatImage(
            ref.timeframe, ref.sha256, partial(request.chart_png.__getitem__, ref.timeframe), ref.chart_id
        )
        for ref in request.charts
        if ref.timeframe in request.chart_png and (timeframe is None or ref.timeframe == timeframe)
    )
