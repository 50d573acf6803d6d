"""What an LLM provider is asked and what it answers, in ibflow's words (SDKs are translated at the edge)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ibflow.core.errors import IbflowError


@dataclass(frozen=True)
class ChatImage:
    """A chart sent with a prompt: the PNG bytes (or how to read them) and what identifies them.

    ``source`` may be a function returning the bytes: it is called when ``png`` is first read, so a call
    answered from the cache (keyed by ``sha256``) never reads them. Images compare by what identifies them.
    """

    timeframe: str
    sha256: str
    source: bytes | Callable[[], bytes] = field(repr=False, compare=False)
    chart_id: int | None = None

    @property
    def png(self) -> bytes:
        """Return the PNG bytes, read once."""
        if isinstance(self.source, bytes):
            return self.source
        data = self.source()
        object.__setattr__(self, "source", data)  # read once; the image stays the same image
        return data


@dataclass(frozen=True)
class ChatRequest:
    """One call: a system and a user message with charts, and the schema the answer must follow (or none)."""

    model: str
    system: str
    user: str
    images: tuple[ChatImage, ...] = ()
    schema: Mapping[str, Any] | None = None
    max_output_tokens: int = 1500
    temperature: float = 0.2
    timeout_s: float = 60.0

    def messages(self, *, with_chart_ids: bool = True) -> list[dict[str, Any]]:
        """Return the messages as stored and hashed: text as sent, images by sha256 (and chart id)."""
        parts: list[dict[str, Any]] = [{"type": "text", "text": self.user}]
        for image in self.images:
            ref: dict[str, Any] = {"type": "image", "timeframe": image.timeframe, "sha256": image.sha256}
            if with_chart_ids:
                ref["chart_id"] = image.chart_id
            parts.append(ref)
        return [{"role": "system", "content": self.system}, {"role": "user", "content": parts}]


@dataclass(frozen=True)
class ChatReply:
    """What came back: the raw text (a tool call's input as JSON), why it stopped, and the usage."""

    raw_text: str
    stop_reason: str | None = None
    refusal: str | None = None
    truncated: bool = False
    input_tokens: int = 0
    output_tokens: int = 0
    latency_ms: int = 0


class LlmCallFailed(IbflowError):
    """The provider gave no usable answer (timeout, rate limit after the SDK's retries, an API error)."""


class ChatModel(Protocol):
    """A provider's chat API; ``complete`` raises ``LlmCallFailed`` rather than return a partial reply."""

    provider: str
    default_model: str
    structured_mode: str

    def complete(self, request: ChatRequest) -> ChatReply:
        """Send ``request`` and return the reply."""
        ...
