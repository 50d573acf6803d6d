"""The ``anthropic`` analyst provider: the Messages API, charts as base64 image blocks.

With ``structured_mode="tool"`` the signal comes back through a forced tool call whose input schema is the
signal schema; with ``"text"`` the reply's text carries the JSON.
"""

from __future__ import annotations

import json
import time
from typing import Any

import anthropic
import httpx2
from pydantic import SecretStr

from ibflow.llm.chat import ChatReply, ChatRequest, LlmCallFailed
from ibflow.llm.providers._common import b64, ms_since, scrub
from ibflow.llm.schema import SIGNAL_TOOL_NAME


class AnthropicChat:
    """Messages through the official SDK; retries (429, 5xx, connection) are the SDK's own."""

    provider = "anthropic"

    def __init__(
        self,
        *,
        api_key: SecretStr | None,
        model: str,
        base_url: str | None = None,
        structured_mode: str = "tool",
        max_retries: int = 2,
        http_client: httpx2.Client | None = None,
    ) -> None:
        self.default_model = model
        self.structured_mode = structured_mode
        self._key = api_key
        self._client = anthropic.Anthropic(
            api_key=api_key.get_secret_value() if api_key is not None else None,
            base_url=base_url,
            max_retries=max_retries,
            http_client=http_client,
        )

    def complete(self, request: ChatRequest) -> ChatReply:
        """Send one message and translate the answer (tool input, refusal, truncation, usage)."""
        began = time.perf_counter()
        try:
            response = self._client.with_options(timeout=request.timeout_s).messages.create(
                **self._arguments(request)
            )
        except anthropic.APITimeoutError as exc:
            raise LlmCallFailed(f"timeout: no answer within {request.timeout_s:g} s") from exc
        except anthropic.APIStatusError as exc:
            raise LlmCallFailed(scrub(f"HTTP {exc.status_code}: {exc.message}", self._key)) from exc
        except anthropic.APIError as exc:
            raise LlmCallFailed(scrub(f"{type(exc).__name__}: {exc}", self._key)) from exc
        latency = ms_since(began)
        texts, tool_inputs = [], []
        for block in response.content:
            if block.type == "tool_use" and block.name == SIGNAL_TOOL_NAME:
                tool_inputs.append(json.dumps(block.input))
            elif block.type == "text":
                texts.append(block.text)
        raw = tool_inputs[0] if len(tool_inputs) == 1 else "\n".join(texts + tool_inputs)
        stop = response.stop_reason
        return ChatReply(
            raw_text=raw,
            stop_reason=stop,
            refusal=("the model refused: " + " ".join(texts)).strip() if stop == "refusal" else None,
            truncated=stop == "max_tokens",
            input_tokens=response.usage.input_tokens,
            output_tokens=response.usage.output_tokens,
            latency_ms=latency,
        )

    def _arguments(self, request: ChatRequest) -> dict[str, Any]:
        content: list[dict[str, Any]] = [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": b64(i.png)}}
            for i in request.images
        ]
        content.append({"type": "text", "text": request.user})
        arguments: dict[str, Any] = {
            "model": request.model,
            "system": request.system,
            "messages": [{"role": "user", "content": content}],
            "max_tokens": request.max_output_tokens,
        }  # this SDK's Messages API takes no temperature: the model's default applies
        if request.schema is not None and self.structured_mode == "tool":
            arguments["tools"] = [
                {
                    "name": SIGNAL_TOOL_NAME,
                    "description": "Record the trading signal for this chart analysis.",
                    "input_schema": dict(request.schema),
                }
            ]
            arguments["tool_choice"] = {"type": "tool", "name": SIGNAL_TOOL_NAME}
        return arguments
