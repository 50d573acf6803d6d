"""Local servers that speak the OpenAI chat-completions and Anthropic messages APIs, on loopback.

Answers are scripted per test: ``good(dict)``, ``garbage``, ``truncated``, ``refusal``, ``status(429)``,
``slow(seconds, then)``. Every request body and its headers are kept, so tests can check what was sent.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


@dataclass(frozen=True)
class Answer:
    """One scripted answer: its kind, the JSON it carries, an HTTP status, a delay."""

    kind: str
    payload: dict[str, Any] = field(default_factory=dict)
    status: int = 200
    delay_s: float = 0.0


def good(payload: dict[str, Any]) -> Answer:
    """A well-formed signal."""
    return Answer("good", payload)


def text(content: str) -> Answer:
    """A plain-text reply (a chain step)."""
    return Answer("text", {"text": content})


GARBAGE = Answer("garbage")
TRUNCATED = Answer("truncated")
REFUSAL = Answer("refusal")


def status(code: int) -> Answer:
    """An HTTP error (429, 500, ...)."""
    return Answer("status", status=code)


def slow(seconds: float, then: Answer) -> Answer:
    """``then``, after ``seconds``."""
    return Answer(then.kind, then.payload, then.status, seconds)


HOLD = {
    "action": "HOLD",
    "confidence": 0.6,
    "entry": None,
    "stop_loss": None,
    "take_profit": None,
    "timeframe": "1d",
    "reasoning": "range-bound",
    "key_factors": ["range"],
    "valid_for_minutes": 60,
}


@dataclass
class Recorded:
    """A request the server received."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class LlmServer:
    """Both APIs on one loopback port; ``script`` answers in order, then ``default``."""

    def __init__(self) -> None:
        self.script: deque[Answer] = deque()
        self.default = good(HOLD)
        self.requests: list[Recorded] = []
        self.answer_seconds: list[float] = []  # per request: handler entry until the answer is ready
        self.port = _free_port()
        app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._openai, methods=["POST"]),
                Route("/v1/messages", self._anthropic, methods=["POST"]),
            ]
        )
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def openai_url(self) -> str:
        """Base URL for the OpenAI SDK."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def anthropic_url(self) -> str:
        """Base URL for the Anthropic SDK."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Serve in a thread until ``stop``."""
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the LLM test server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        """Stop serving."""
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def answer(self, *answers: Answer) -> None:
        """Queue answers for the next requests."""
        self.script.extend(answers)

    async def _next(self, request: Request) -> tuple[Answer, dict[str, Any]]:
        began = time.perf_counter()
        body = await request.json()
        self.requests.append(Recorded(request.url.path, dict(request.headers), body))
        answer = self.script.popleft() if self.script else self.default
        if answer.delay_s:
            await asyncio.sleep(answer.delay_s)
        self.answer_seconds.append(time.perf_counter() - began)
        return answer, body

    async def _openai(self, request: Request) -> JSONResponse:
        answer, body = await self._next(request)
        if answer.kind == "status":
            return JSONResponse({"error": {"message": "slow down", "type": "rate_limit"}}, answer.status)
        content, refusal, finish = _content(answer), None, "stop"
        if answer.kind == "refusal":
            content, refusal = None, "I can't help with trading decisions."
        if answer.kind == "truncated":
            finish = "length"
        message = {"role": "assistant", "content": content, "refusal": refusal}
        return JSONResponse(
            {
                "id": "chatcmpl-test",
                "object": "chat.completion",
                "created": 0,
                "model": body.get("model", "m"),
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                "usage": {"prompt_tokens": 1200, "completion_tokens": 80, "total_tokens": 1280},
            }
        )

    async def _anthropic(self, request: Request) -> JSONResponse:
        answer, body = await self._next(request)
        if answer.kind == "status":
            return JSONResponse(
                {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}},
                answer.status,
            )
        stop = "tool_use" if body.get("tool_choice") else "end_turn"
        blocks: list[dict[str, Any]]
        if answer.kind == "good" and body.get("tool_choice"):
            blocks = [
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": body["tool_choice"]["name"],
                    "input": answer.payload,
                }
            ]
        elif answer.kind == "refusal":
            blocks, stop = [{"type": "text", "text": "I can't help with that."}], "refusal"
        else:
            blocks = [{"type": "text", "text": _content(answer) or ""}]
            stop = "max_tokens" if answer.kind == "truncated" else "end_turn"
        return JSONResponse(
            {
                "id": "msg_test",
                "type": "message",
                "role": "assistant",
                "model": body.get("model", "m"),
                "content": blocks,
                "stop_reason": stop,
                "stop_sequence": None,
                "usage": {"input_tokens": 1500, "output_tokens": 90},
            }
        )


def _content(answer: Answer) -> str | None:
    if answer.kind == "good":
        return json.dumps(answer.payload)
    if answer.kind == "text":
        return str(answer.payload["text"])
    if answer.kind == "garbage":
        return "The chart looks interesting; I would watch it. <html>%%%"
    if answer.kind == "truncated":
        return json.dumps(HOLD)[:40]
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serving() -> Iterator[LlmServer]:
    """Start a server for a fixture; stop it afterwards."""
    server = LlmServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
