"""The ``openai`` analyst provider: any OpenAI-compatible chat-completions endpoint, charts as image parts.

Structured output follows ``structured_mode``: ``json_schema`` (strict schema), ``json_object`` (any JSON,
the schema in the prompt) or ``text`` (JSON extracted from the reply), for endpoints without the first two.
"""

from __future__ import annotations

import time
from typing import Any

import httpx2
import openai
from pydantic import SecretStr

from ibflow.llm.chat import ChatReply, ChatRequest, LlmCallFailed
from ibflow.llm.providers._common import b64, ms_since, scrub

NO_KEY = "not-needed"  # local servers (Ollama, vLLM, LM Studio) take any key; the SDK insists on one


class OpenAIChat:
    """Chat completions through the official SDK; retries (429, 5xx, connection) are the SDK's own."""

    provider = "openai"

    def __init__(
        self,
        *,
        api_key: SecretStr | None,
        model: str,
        base_url: str | None = None,
        structured_mode: str = "json_schema",
        max_retries: int = 2,
        http_client: httpx2.Client | None = None,
    ) -> None:
        self.default_model = model
        self.structured_mode = structured_mode
        self._key = api_key
        self._client = openai.OpenAI(
            api_key=api_key.get_secret_value() if api_key is not None else NO_KEY,
            base_url=base_url,
            max_retries=max_retries,
            http_client=http_client,
        )

    def complete(self, request: ChatRequest) -> ChatReply:
        """Send one chat completion and translate the answer (refusal, truncation, usage)."""
        began = time.perf_counter()
        try:
            response = self._client.with_options(timeout=request.timeout_s).chat.completions.create(
                **self._arguments(request)
            )
        except openai.APITimeoutError as exc:
            raise LlmCallFailed(f"timeout: no answer within {request.timeout_s:g} s") from exc
        except openai.APIStatusError as exc:
            raise LlmCallFailed(scrub(f"HTTP {exc.status_code}: {exc.message}", self._key)) from exc
        except openai.APIError as exc:
            raise LlmCallFailed(scrub(f"{type(exc).__name__}: {exc}", self._key)) from exc
        latency = ms_since(began)
        if not response.choices:
            raise LlmCallFailed("the reply has no choices")
        choice = response.choices[0]
        message = choice.message
        refusal = getattr(message, "refusal", None)
        if choice.finish_reason == "content_filter" and not refusal:
            refusal = "the endpoint's content filter stopped the reply"
        usage = response.usage
        return ChatReply(
            raw_text=message.content or refusal or "",
            stop_reason=choice.finish_reason,
            refusal=refusal,
            truncated=choice.finish_reason == "length",
            input_tokens=usage.prompt_tokens if usage else 0,
            output_tokens=usage.completion_tokens if usage else 0,
            latency_ms=latency,
        )

    def _arguments(self, request: ChatRequest) -> dict[str, Any]:
        content: list[dict[str, Any]] = [{"type": "text", "text": request.user}]
        for image in request.images:
            url = f"data:image/png;base64,{b64(image.png)}"
            content.append({"type": "image_url", "image_url": {"url": url, "detail": "high"}})
        arguments: dict[str, Any] = {
            "model": request.model,
            "messages": [
                {"role": "system", "content": request.system},
                {"role": "user", "content": content},
            ],
            "max_tokens": request.max_output_tokens,
            "temperature": request.temperature,
        }
        if request.schema is not None and self.structured_mode == "json_schema":
            arguments["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "trading_signal", "strict": True, "schema": dict(request.schema)},
            }
        elif request.schema is not None and self.structured_mode == "json_object":
            arguments["response_format"] = {"type": "json_object"}
        return arguments
