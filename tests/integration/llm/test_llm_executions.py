"""Executions with the openai and anthropic analysts against the loopback test server (real SDKs)."""

from __future__ import annotations

import base64
import json
import logging
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from tests.integration.llm.conftest import ANTHROPIC_KEY, OPENAI_KEY, llm_settings, wire_llm
from tests.llm_servers import GARBAGE, HOLD, REFUSAL, TRUNCATED, LlmServer, good, slow, status, text
from tests.workflow_support import Rig, add_strategy

from ibflow.core.ids import Conid, StrategyId
from ibflow.db.models import Event, LlmCall, Order, Strategy, TradingSignal, WorkflowLineage
from ibflow.db.states import ExecutionStatus, SignalAction, StepStatus
from ibflow.workflow.lineage import ExecutionLineage, execution_lineage

pytestmark = pytest.mark.integration
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _strategy(rig: Rig, analyst: str, **columns: Any) -> int:
    strategy_id = add_strategy(rig)
    with rig.sessions() as session:
        strategy = session.get_one(Strategy, strategy_id)
        strategy.analyst = analyst
        for name, value in columns.items():
            setattr(strategy, name, value)
        session.commit()
    return strategy_id


def _run(rig: Rig, strategy_id: int) -> ExecutionLineage:
    execution_id = rig.executor.create_manual(StrategyId(strategy_id))
    rig.executor.run(execution_id)
    with rig.sessions() as session:
        lineage = execution_lineage(session, execution_id)
    assert lineage is not None
    return lineage


def _step(lineage: ExecutionLineage, name: str) -> WorkflowLineage:
    return next(s for s in lineage.steps if s.step_name == name)


def _buy(rig: Rig) -> dict[str, Any]:
    last = rig.broker.quote(Conid(265598)).last
    entry = (last * Decimal("1.001")).quantize(Decimal("0.01"))
    return {
        "action": "BUY",
        "confidence": 0.8,
        "entry": float(entry),
        "stop_loss": float((entry * Decimal("0.97")).quantize(Decimal("0.01"))),
        "take_profit": float((entry * Decimal("1.06")).quantize(Decimal("0.01"))),
        "timeframe": "1d",
        "reasoning": "breakout above the 20-day high on volume",
        "key_factors": ["breakout", "volume"],
        "valid_for_minutes": 120,
    }


def _stored_text(rig: Rig) -> str:
    with rig.sessions() as session:
        calls = session.scalars(select(LlmCall)).all()
        lineage = session.scalars(select(WorkflowLineage)).all()
        signals = session.scalars(select(TradingSignal)).all()
        rows: list[Any] = [
            [c.rendered_prompt, c.messages, c.raw_response, c.error, c.image_refs] for c in calls
        ]
        rows += [[row.input, row.output, row.error, row.traceback] for row in lineage]
        rows += [[s.reasoning, s.reason_detail] for s in signals]
    return json.dumps(rows, default=str)


def test_openai_execution_sends_both_charts_and_the_schema_and_lineage_shows_the_call(
    rig: Rig, llm_server: LlmServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    rig = wire_llm(rig, llm_server, llm_settings())
    strategy_id = _strategy(rig, "openai")
    llm_server.answer(good(_buy(rig)))
    lineage = _run(rig, strategy_id)

    assert lineage.execution.status is ExecutionStatus.SUCCEEDED, [
        (s.step_name, s.error) for s in lineage.steps
    ]
    sent = llm_server.requests[0]
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {OPENAI_KEY}"  # the key goes to the endpoint only
    images = [p for p in sent.body["messages"][1]["content"] if p["type"] == "image_url"]
    assert len(images) == 2
    for part in images:
        prefix, data = part["image_url"]["url"].split(",", 1)
        assert prefix == "data:image/png;base64"
        assert base64.b64decode(data).startswith(PNG_MAGIC)
    schema = sent.body["response_format"]["json_schema"]
    assert schema["strict"] is True
    assert "action" in schema["schema"]["properties"]
    assert "AAPL" in sent.body["messages"][1]["content"][0]["text"]

    with rig.sessions() as session:
        signal = session.scalars(select(TradingSignal)).one()
        assert signal.action is SignalAction.BUY
        assert signal.provider == "openai"
        assert signal.model == "gpt-test-vision"
        assert signal.prompt_version_id is not None
        assert len(signal.chart_ids or []) == 2
        assert session.scalars(select(Order)).all(), "a parsed BUY within the limits is placed"
    analyze = _step(lineage, "analyze").output
    assert analyze is not None
    (call,) = analyze["calls"]
    assert "AAPL" in call["rendered_prompt"]
    assert call["raw_response"] == json.dumps(_buy(rig))
    assert [i["timeframe"] for i in call["images"]] == ["1d", "1w"]
    assert all(len(i["sha256"]) == 64 for i in call["images"])
    assert (call["input_tokens"], call["output_tokens"]) == (1200, 80)
    assert Decimal(call["cost"]) == Decimal("0.003800")
    assert call["cached"] is False
    snapshot = lineage.execution.config_snapshot or {}
    assert snapshot["llm"]["prompts"]["analysis"]["template"] == "default-analysis-en"

    stored = _stored_text(rig) + "\n".join(r.getMessage() for r in caplog.records)
    assert OPENAI_KEY not in stored
    assert ANTHROPIC_KEY not in stored


def test_a_replay_at_the_same_time_on_the_same_bars_is_answered_from_the_cache(
    rig: Rig, llm_server: LlmServer
) -> None:
    rig = wire_llm(rig, llm_server, llm_settings(llm_cache="on"))
    strategy_id = _strategy(rig, "openai")
    started = rig.clock.now()
    first = _run(rig, strategy_id)
    assert first.execution.status is ExecutionStatus.SUCCEEDED
    assert len(llm_server.requests) == 1

    rig.clock.set(started)
    replay = _run(rig, strategy_id)
    assert replay.execution.status is ExecutionStatus.SUCCEEDED
    assert len(llm_server.requests) == 1, "the replay must not call the provider"
    output = _step(replay, "analyze").output
    assert output is not None
    (call,) = output["calls"]
    assert call["cached"] is True
    assert Decimal(call["cost"]) == 0
    assert call["raw_response"] == json.dumps(HOLD)


def test_the_cache_is_off_by_default(rig: Rig, llm_server: LlmServer) -> None:
    rig = wire_llm(rig, llm_server, llm_settings())
    strategy_id = _strategy(rig, "openai")
    started = rig.clock.now()
    _run(rig, strategy_id)
    rig.clock.set(started)
    _run(rig, strategy_id)
    assert len(llm_server.requests) == 2


@pytest.mark.parametrize("analyst", ["openai", "anthropic"])
@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (GARBAGE, "no JSON object found"),
        (TRUNCATED, "cut off at the output limit"),
        (REFUSAL, "refused"),
    ],
    ids=["garbage", "truncated", "refusal"],
)
def test_unusable_replies_become_no_signal_with_the_raw_text_and_no_order(
    rig: Rig, llm_server: LlmServer, analyst: str, answer: Any, reason: str
) -> None:
    rig = wire_llm(rig, llm_server, llm_settings())
    strategy_id = _strategy(rig, analyst)
    llm_server.answer(answer)
    lineage = _run(rig, strategy_id)
    assert lineage.execution.status is ExecutionStatus.SUCCEEDED
    with rig.sessions() as session:
        signal = session.scalars(select(TradingSignal)).one()
        assert signal.action is SignalAction.NO_SIGNAL, "never HOLD, never an order"
        assert reason in (signal.reason_detail or "")
        assert session.scalars(select(Order)).all() == []
        call = session.scalars(select(LlmCall)).one()
        assert call.raw_response is not None
    assert _step(lineage, "place_orders").status is StepStatus.SKIPPED


@pytest.mark.parametrize("analyst", ["openai", "anthropic"])
def test_a_429_is_retried_by_the_sdk_and_the_second_answer_counts(
    rig: Rig, llm_server: LlmServer, analyst: str
) -> None:
    rig = wire_llm(rig, llm_server, llm_settings())
    strategy_id = _strategy(rig, analyst)
    llm_server.answer(status(429), good(_buy(rig)))
    _run(rig, strategy_id)
    assert len(llm_server.requests) == 2
    with rig.sessions() as session:
        assert session.scalars(select(TradingSignal)).one().action is SignalAction.BUY


@pytest.mark.parametrize("analyst", ["openai", "anthropic"])
def test_a_timeout_is_no_signal_with_the_reason(rig: Rig, llm_server: LlmServer, analyst: str) -> None:
    rig = wire_llm(rig, llm_server, llm_settings(llm_timeout_seconds=0.3, llm_max_retries=0))
    strategy_id = _strategy(rig, analyst)
    llm_server.answer(slow(2.0, good(HOLD)))
    lineage = _run(rig, strategy_id)
    assert lineage.execution.status is ExecutionStatus.SUCCEEDED
    with rig.sessions() as session:
        signal = session.scalars(select(TradingSignal)).one()
        assert signal.action is SignalAction.NO_SIGNAL
        assert "timeout" in (signal.reason_detail or "")
        assert "timeout" in (session.scalars(select(LlmCall)).one().error or "")
        assert session.scalars(select(Order)).all() == []


def test_a_call_over_the_execution_budget_is_not_made_and_the_step_fails(
    rig: Rig, llm_server: LlmServer
) -> None:
    rig = wire_llm(rig, llm_server, llm_settings(llm_execution_max_tokens=2000))
    strategy_id = _strategy(rig, "openai")
    lineage = _run(rig, strategy_id)
    assert llm_server.requests == []
    assert lineage.execution.status is ExecutionStatus.FAILED
    analyze = _step(lineage, "analyze")
    assert analyze.status is StepStatus.FAILED
    assert "budget_exceeded" in (analyze.error or "")
    assert analyze.input is not None
    assert analyze.input["reason"] == "budget_exceeded"
    with rig.sessions() as session:
        assert session.scalars(select(Order)).all() == []
        assert session.scalars(select(TradingSignal)).all() == []
        (event,) = session.scalars(select(Event).where(Event.kind == "llm.budget_reached")).all()
        assert event.payload == {"scope": "execution", "limit": "2000", "spent": "0"}


def test_the_daily_cap_stops_calls_and_raises_one_event(rig: Rig, llm_server: LlmServer) -> None:
    # a call's ceiling is about USD 0.026 and it costs 0.0038: two calls fit under 0.03, the third would not
    rig = wire_llm(rig, llm_server, llm_settings(llm_daily_max_cost=Decimal("0.03")))
    strategy_id = _strategy(rig, "openai")
    outcomes = [_run(rig, strategy_id).execution.status for _ in range(4)]
    assert outcomes == [ExecutionStatus.SUCCEEDED] * 2 + [ExecutionStatus.FAILED] * 2
    assert len(llm_server.requests) == 2
    with rig.sessions() as session:
        events = session.scalars(select(Event).where(Event.kind == "llm.budget_reached")).all()
        assert [e.payload["scope"] for e in events if e.payload] == ["daily"]
        spent = sum((c.cost for c in session.scalars(select(LlmCall))), Decimal(0))
        assert spent <= Decimal("0.03")
        assert session.scalars(select(Order)).all() == []  # HOLD answers and refused calls: no order


def test_anthropic_gets_image_blocks_and_a_forced_tool_call(rig: Rig, llm_server: LlmServer) -> None:
    rig = wire_llm(rig, llm_server, llm_settings())
    strategy_id = _strategy(rig, "anthropic")
    llm_server.answer(good(_buy(rig)))
    _run(rig, strategy_id)
    sent = llm_server.requests[0]
    assert sent.path == "/v1/messages"
    assert sent.headers["authorization"] == f"Bearer {ANTHROPIC_KEY}"
    blocks = sent.body["messages"][0]["content"]
    images = [b for b in blocks if b["type"] == "image"]
    assert len(images) == 2
    assert all(base64.b64decode(b["source"]["data"]).startswith(PNG_MAGIC) for b in images)
    assert sent.body["tool_choice"] == {"type": "tool", "name": "record_signal"}
    assert "action" in sent.body["tools"][0]["input_schema"]["properties"]
    with rig.sessions() as session:
        signal = session.scalars(select(TradingSignal)).one()
        assert signal.action is SignalAction.BUY
        assert signal.provider == "anthropic"
    assert ANTHROPIC_KEY not in _stored_text(rig)


def test_chain_mode_makes_daily_weekly_and_consolidation_calls(rig: Rig, llm_server: LlmServer) -> None:
    rig = wire_llm(rig, llm_server, llm_settings())
    strategy_id = _strategy(rig, "openai", analysis_mode="chain")
    llm_server.answer(text("Daily: uptrend, higher lows."), text("Weekly: confirms."), good(_buy(rig)))
    lineage = _run(rig, strategy_id)
    daily, weekly, consolidation = llm_server.requests
    assert [p["type"] for p in daily.body["messages"][1]["content"]] == ["text", "image_url"]
    assert "response_format" not in daily.body
    assert "Daily: uptrend" in weekly.body["messages"][1]["content"][0]["text"]
    assert "Weekly: confirms." in consolidation.body["messages"][1]["content"][0]["text"]
    assert consolidation.body["response_format"]["type"] == "json_schema"
    output = _step(lineage, "analyze").output
    assert output is not None
    assert [c["purpose"] for c in output["calls"]] == ["daily", "weekly", "consolidation"]
    with rig.sessions() as session:
        assert session.scalars(select(TradingSignal)).one().action is SignalAction.BUY
