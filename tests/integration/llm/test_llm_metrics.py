"""An LLM analyst's calls in the metrics: counted by result, with the tokens and the cost its rows hold."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select
from tests.integration.llm.conftest import llm_settings, wire_llm
from tests.integration.llm.test_llm_executions import _buy, _run, _strategy
from tests.llm_servers import LlmServer, good
from tests.metrics_support import total
from tests.workflow_support import Rig

from ibflow.core import metrics
from ibflow.db.models import LlmCall
from ibflow.db.states import ExecutionStatus

pytestmark = pytest.mark.integration


def test_an_openai_call_counts_its_tokens_and_cost_as_its_row_records_them(
    rig: Rig, llm_server: LlmServer
) -> None:
    metrics.configure(None)
    rig = wire_llm(rig, llm_server, llm_settings())
    strategy_id = _strategy(rig, "openai")
    llm_server.answer(good(_buy(rig)))
    before = metrics.exposition(None).decode()

    lineage = _run(rig, strategy_id)
    after = metrics.exposition(None).decode()

    def grew(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    assert lineage.execution.status is ExecutionStatus.SUCCEEDED
    with rig.sessions() as session:
        call = session.scalars(select(LlmCall)).one()
    assert call.input_tokens > 0
    assert call.cost > Decimal(0)
    assert grew("ibflow_llm_calls_total", provider="openai", result="ok") == 1
    assert grew("ibflow_llm_tokens_total", provider="openai", kind="input") == call.input_tokens
    assert grew("ibflow_llm_tokens_total", provider="openai", kind="output") == call.output_tokens
    assert grew("ibflow_llm_cost_usd_total", provider="openai") == pytest.approx(float(call.cost))
