"""An executor whose LLM analysts talk to the loopback test server through the real SDKs."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine
from tests.llm_servers import LlmServer, serving
from tests.workflow_support import Rig, make_rig

from ibflow.core.clock import ManualClock
from ibflow.core.settings import LlmSettings
from ibflow.db.engine import SessionFactory
from ibflow.db.locks import NamedLocks
from ibflow.llm.costs import PriceTable
from ibflow.llm.llm_analyst import LlmAnalyst
from ibflow.llm.providers.anthropic import AnthropicChat
from ibflow.llm.providers.openai import OpenAIChat
from ibflow.workflow.executor import Executor

OPENAI_KEY = "sk-test-OPENAI-7f3a9c1e5b"
ANTHROPIC_KEY = "sk-ant-test-ANTHROPIC-2d8e4f6a"


@pytest.fixture
def llm_server() -> Iterator[LlmServer]:
    yield from serving()


def llm_settings(**overrides: Any) -> LlmSettings:
    """Settings with test keys, prices for the test models and generous budgets."""
    values: dict[str, Any] = {
        "openai_api_key": SecretStr(OPENAI_KEY),
        "anthropic_api_key": SecretStr(ANTHROPIC_KEY),
        "openai_model": "gpt-test-vision",
        "anthropic_model": "claude-test",
        "llm_prices": {
            "gpt-test-vision": {"input": Decimal("2.50"), "output": Decimal("10")},
            "claude-test": {"input": Decimal("3"), "output": Decimal("15")},
        },
        "llm_timeout_seconds": 5.0,
        "llm_max_retries": 2,
    }
    values.update(overrides)
    return LlmSettings(**values)


def wire_llm(rig: Rig, server: LlmServer, settings: LlmSettings) -> Rig:
    """Register openai and anthropic analysts on ``rig`` like bootstrap does, pointed at ``server``."""
    prices = PriceTable.from_settings(settings.llm_prices, settings.llm_default_price)
    common: dict[str, Any] = {"max_retries": settings.llm_max_retries}
    rig.analysts["openai"] = LlmAnalyst(
        OpenAIChat(
            api_key=settings.openai_api_key,
            model=settings.openai_model,
            base_url=server.openai_url,
            structured_mode=settings.openai_structured_output,
            **common,
        ),
        prices,
        timeout_s=settings.llm_timeout_seconds,
    )
    rig.analysts["anthropic"] = LlmAnalyst(
        AnthropicChat(
            api_key=settings.anthropic_api_key,
            model=settings.anthropic_model,
            base_url=server.anthropic_url,
            structured_mode=settings.anthropic_structured_output,
            **common,
        ),
        prices,
        timeout_s=settings.llm_timeout_seconds,
    )
    deps = dataclasses.replace(rig.deps, llm_settings=settings)
    return dataclasses.replace(rig, deps=deps, executor=Executor(deps))


@pytest.fixture
def rig(engine: Engine, sessions: SessionFactory, clock: ManualClock, tmp_path: Path) -> Rig:
    return make_rig(sessions, clock, tmp_path / "charts", NamedLocks(engine))
