"""The persistent response cache: a request's hash -> the reply it got (one table in the main database)."""

from __future__ import annotations

import hashlib
import json

from sqlalchemy.orm import Session

from ibflow.core.clock import Clock
from ibflow.db.models.executions import LlmResponse
from ibflow.llm.chat import ChatReply, ChatRequest


def cache_key(provider: str, structured_mode: str, request: ChatRequest) -> str:
    """Hash what decides the answer: provider, model, parameters, messages, image hashes and schema."""
    document = {
        "provider": provider,
        "model": request.model,
        "params": {
            "max_output_tokens": request.max_output_tokens,
            "temperature": request.temperature,
            "structured": structured_mode,
        },
        "messages": request.messages(with_chart_ids=False),  # chart ids differ per run; the bytes do not
        "schema": request.schema,
    }
    return hashlib.sha256(json.dumps(document, sort_keys=True, default=str).encode()).hexdigest()


def lookup(session: Session, key: str, *, clock: Clock) -> ChatReply | None:
    """Return the cached reply for ``key`` (counting the hit), or None."""
    row = session.get(LlmResponse, key)
    if row is None:
        return None
    row.hits += 1
    row.last_hit_at = clock.now()
    return ChatReply(
        raw_text=row.raw_response,
        stop_reason=row.stop_reason,
        input_tokens=row.input_tokens,
        output_tokens=row.output_tokens,
    )


def store(session: Session, key: str, *, provider: str, model: str, reply: ChatReply, clock: Clock) -> None:
    """Keep a complete reply for ``key``; refusals and cut-off replies are not cached (they may not recur)."""
    if reply.refusal or reply.truncated or session.get(LlmResponse, key) is not None:
        return
    session.add(
        LlmResponse(
            cache_key=key,
            provider=provider,
            model=model,
            raw_response=reply.raw_text,
            stop_reason=reply.stop_reason,
            input_tokens=reply.input_tokens,
            output_tokens=reply.output_tokens,
            hits=0,
            created_at=clock.now(),
        )
    )
