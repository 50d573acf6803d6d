"""The LLM budget check writes llm.budget_reached when an execution's or the day's budget stops a call."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from tests.integration.llm.conftest import llm_settings, wire_llm
from tests.llm_servers import LlmServer, serving
from tests.unit.events.support import check_event, covers, the_event
from tests.workflow_support import Rig, add_strategy, make_rig

from ibflow.core.clock import ManualClock
from ibflow.core.ids import StrategyId
from ibflow.db.engine import SessionFactory
from ibflow.db.locks import NamedLocks
from ibflow.db.models import Strategy
from ibflow.db.states import ExecutionStatus

pytestmark = pytest.mark.integration


@pytest.fixture
def server() -> Iterator[LlmServer]:
    yield from serving()


@pytest.fixture
def rig(engine: Engine, sessions: SessionFactory, clock: ManualClock, tmp_path: Path) -> Rig:
    return make_rig(sessions, clock, tmp_path / "charts", NamedLocks(engine))


@covers("llm.budget_reached")
@pytest.mark.parametrize(
    ("limits", "expected"),
    [
        (
            {"llm_execution_max_tokens": 2000},
            ("execution", "2000", "0", "LLM budget of the execution reached"),
        ),
        (
            {"llm_daily_max_cost": Decimal(0)},
            ("daily", "0", "0", "the daily LLM cost cap (USD 0) is reached"),
        ),
    ],
    ids=["execution", "daily"],
)
def test_a_call_a_budget_forbids_is_not_made_and_is_an_event(
    rig: Rig, server: LlmServer, limits: dict[str, Any], expected: tuple[str, str, str, str]
) -> None:
    rig = wire_llm(rig, server, llm_settings(**limits))
    strategy_id = add_strategy(rig)
    with rig.sessions() as session:
        session.get_one(Strategy, strategy_id).analyst = "openai"
        session.commit()
    execution_id = rig.executor.create_manual(StrategyId(strategy_id))

    rig.executor.run(execution_id)

    scope, limit, spent, says = expected
    assert server.requests == []
    event = the_event(rig.sessions, "llm.budget_reached")
    check_event(
        event,
        "llm.budget_reached",
        entity_id=None,
        says=[says],
        payload={"scope": scope, "limit": limit, "spent": spent},
        severity="warning",
    )
    assert event.execution_id == execution_id
    finished = the_event(rig.sessions, "execution.finished")
    assert (finished.payload or {})["status"] == ExecutionStatus.FAILED.value
