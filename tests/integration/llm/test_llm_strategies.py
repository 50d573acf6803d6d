"""Strategies created on the openai and anthropic analysts, with their own model and analysis mode."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select
from tests.integration.llm.conftest import llm_settings, wire_llm
from tests.llm_servers import LlmServer, text
from tests.workflow_support import Rig, add_strategy

from ibflow.core.errors import ValidationError
from ibflow.core.ids import StrategyId
from ibflow.db.models import LlmCall, Strategy, StrategyExecution, TradingSignal
from ibflow.db.states import ExecutionStatus, SignalAction

pytestmark = pytest.mark.integration

PRICES = {
    "gpt-test-vision": {"input": Decimal("2.50"), "output": Decimal("10")},
    "gpt-test-mini": {"input": Decimal("0.15"), "output": Decimal("0.60")},
    "claude-test": {"input": Decimal("3"), "output": Decimal("15")},
}


def _run(rig: Rig, strategy_id: int) -> ExecutionStatus:
    execution_id = rig.executor.create_manual(StrategyId(strategy_id))
    rig.executor.run(execution_id)
    with rig.sessions() as session:
        return session.get_one(StrategyExecution, execution_id).status


def test_a_strategy_created_on_openai_with_its_own_model_runs_against_the_server(
    rig: Rig, llm_server: LlmServer
) -> None:
    rig = wire_llm(rig, llm_server, llm_settings(llm_prices=PRICES))
    strategy_id = add_strategy(rig, name="aapl gpt", analyst="openai", model=" gpt-test-mini ")
    with rig.sessions() as session:
        strategy = session.get_one(Strategy, strategy_id)
        assert (strategy.analyst, strategy.llm_model, strategy.analysis_mode) == (
            "openai",
            "gpt-test-mini",
            "single",
        )

    assert _run(rig, strategy_id) is ExecutionStatus.SUCCEEDED
    (sent,) = llm_server.requests
    assert sent.path == "/v1/chat/completions"
    assert sent.body["model"] == "gpt-test-mini", "the strategy's model, not the provider's setting"
    with rig.sessions() as session:
        signal = session.scalars(select(TradingSignal)).one()
        assert (signal.provider, signal.model, signal.action) == (
            "openai",
            "gpt-test-mini",
            SignalAction.HOLD,
        )
        call = session.scalars(select(LlmCall)).one()
        assert call.model == "gpt-test-mini"
        assert call.cost == Decimal("0.000228")  # 1200 in + 80 out at the mini's prices


def test_a_strategy_created_on_anthropic_in_chain_mode_makes_three_calls(
    rig: Rig, llm_server: LlmServer
) -> None:
    rig = wire_llm(rig, llm_server, llm_settings(llm_prices=PRICES))
    strategy_id = add_strategy(rig, name="aapl claude", analyst="anthropic", analysis_mode="chain")
    llm_server.answer(text("Daily: higher lows."), text("Weekly: confirms."))

    assert _run(rig, strategy_id) is ExecutionStatus.SUCCEEDED
    assert [r.path for r in llm_server.requests] == ["/v1/messages"] * 3
    assert {r.body["model"] for r in llm_server.requests} == {"claude-test"}
    with rig.sessions() as session:
        assert [c.purpose for c in session.scalars(select(LlmCall).order_by(LlmCall.id))] == [
            "daily",
            "weekly",
            "consolidation",
        ]


@pytest.mark.parametrize(
    ("fields", "problem", "says"),
    [
        ({"analyst": "oracle"}, "analyst", "available analysts: rules, rules-intraday, openai, anthropic"),
        (
            {"analyst": "openai", "analysis_mode": "triple"},
            "analysis_mode",
            "available analysis modes: single, chain",
        ),
        ({"analysis_mode": "chain"}, "analysis_mode", "chain needs an LLM analyst (openai, anthropic)"),
        ({"model": "gpt-4o"}, "model", "the rules analyst has no model"),
        ({"analyst": "anthropic", "model": "  "}, "model", "give a model name"),
    ],
)
def test_bad_analyst_fields_name_the_allowed_values(
    rig: Rig, fields: dict[str, str], problem: str, says: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        add_strategy(rig, name="bad", **fields)
    assert says in caught.value.problems[problem]
    assert set(caught.value.problems) == {problem}
    with rig.sessions() as session:
        assert session.scalars(select(Strategy)).all() == []
