"""The pages on the real app (the API's app with ``mount_site``), through Starlette's test client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.integration.api.conftest import PASSWORD, Api, serve_app
from tests.llm_servers import LlmServer
from tests.llm_servers import serving as llm_serving

from ibflow.core.ids import StrategyId
from ibflow.db.models import Strategy
from ibflow.workflow.strategies.service import apply_strategy_file

__all__ = ["PASSWORD", "Api", "run_strategy"]


@pytest.fixture
def site(migrated_sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    yield from serve_app(migrated_sqlite_url, tmp_path, monkeypatch, site=True)


@pytest.fixture
def llm_server() -> Iterator[LlmServer]:
    yield from llm_serving()


@pytest.fixture
def llm_site(
    migrated_sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, llm_server: LlmServer
) -> Iterator[Api]:
    """The site with its OpenAI analyst pointed at the loopback LLM test server, and ``scripted`` on it."""
    monkeypatch.setenv("IBFLOW_OPENAI_BASE_URL", llm_server.openai_url)
    monkeypatch.setenv("IBFLOW_OPENAI_API_KEY", "sk-web-test")
    for site in serve_app(migrated_sqlite_url, tmp_path, monkeypatch, site=True):
        with site.container.sessions() as session:
            apply_strategy_file(
                session,
                text=SCRIPTED_STRATEGY,
                fmt="toml",
                contracts=site.container.contract_service(),
                clock=site.clock,
                actor="tests",
            )
            session.commit()
        yield site


SCRIPTED_STRATEGY = """
name = "scripted"
description = "The LLM test server answers"
symbol = "AAPL"
mode = "paper"

[schedule]
cron = "0 0 1 1 *"
timezone = "UTC"
market_hours_only = false

[analyst]
provider = "openai"
model = "gpt-test"
"""


def run_strategy(site: Api, name: str) -> int:
    """Run ``name`` now, in this process, to its end; return the execution's id."""
    with site.container.read_sessions() as session:
        strategy_id = session.scalars(select(Strategy.id).where(Strategy.name == name)).one()
    executor = site.container.executor()
    execution_id = executor.create_manual(StrategyId(strategy_id))
    executor.run(execution_id)
    return int(execution_id)
