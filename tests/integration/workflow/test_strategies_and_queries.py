"""Strategy creation reports every bad field at once; lineage queries answer what the viewer needs."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from tests.workflow_support import Rig, ScriptedAnalyst, add_strategy, make_rig

from ibflow.brokers.base import SessionStatus
from ibflow.core.clock import ManualClock
from ibflow.core.errors import NotFound, ValidationError
from ibflow.core.ids import ExecutionId, StrategyId
from ibflow.db.engine import SessionFactory
from ibflow.db.locks import NamedLocks
from ibflow.db.states import StrategyState
from ibflow.marketdata.cache import InProcessTtlCache
from ibflow.marketdata.contracts import ContractService
from ibflow.workflow.lineage import recent_executions, step_lineage, step_statistics
from ibflow.workflow.strategies.lookup import (
    IndicatorInput,
    StrategyInput,
    create_strategy,
    find_strategy,
    set_strategy_state,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def rig(engine: Engine, sessions: SessionFactory, clock: ManualClock, tmp_path: Path) -> Rig:
    return make_rig(sessions, clock, tmp_path / "charts", NamedLocks(engine))


def test_every_bad_field_is_reported_at_once(rig: Rig) -> None:
    data = StrategyInput(
        name="  ",
        symbol="NOPE",
        indicators=(
            IndicatorInput("rsi", {"period": 0}),
            IndicatorInput("bbands", {"width": -1}),
            IndicatorInput("macd", {"fast": 30, "slow": 26}),
            IndicatorInput("ichimoku"),
        ),
        cron="61 * * * *",
        timezone="Mars/Base",
        timeframes=("1d", "1h"),
        analyst="oracle",
        mode="yolo",
        risk={"risk_per_trade": "0.5", "min_confidence": "2", "max_quantity": "abc"},
    )
    contracts = ContractService(rig.broker, InProcessTtlCache(), rig.clock)
    with rig.sessions() as session, pytest.raises(ValidationError) as caught:
        create_strategy(session, data=data, contracts=contracts, clock=rig.clock)
    problems = caught.value.problems
    assert set(problems) >= {
        "name",
        "symbol",
        "indicators[0].period",
        "indicators[1].width",
        "indicators[2].fast",
        "indicators[3].type",
        "cron",
        "timezone",
        "timeframes",
        "analyst",
        "mode",
        "risk.risk_per_trade",
        "risk.min_confidence",
        "risk.max_quantity",
    }
    assert "between 0.0001 and 0.05" in problems["risk.risk_per_trade"]
    assert "NOPE is not tradable" in problems["symbol"]


def test_a_strategy_is_found_by_id_or_name_and_an_ambiguous_reference_is_refused(rig: Rig) -> None:
    first = add_strategy(rig, name="first")
    second = add_strategy(rig, name=str(first), symbol="MSFT")
    third = add_strategy(rig, name=str(first + 100), symbol="SPY")
    with rig.sessions() as session:
        with pytest.raises(ValidationError) as caught:
            find_strategy(session, str(first))
        message = str(caught.value)
        assert f"id {first} ('first')" in message
        assert f"id {second}" in message
        assert f"id:{first}" in message
        assert f"name:{first}" in message
        assert find_strategy(session, f"id:{first}").id == first
        assert find_strategy(session, f"name:{first}").id == second
        assert find_strategy(session, f" ID:{first} ").id == first
        assert find_strategy(session, str(first + 100)).id == third  # no strategy has that id
        assert find_strategy(session, str(third)).id == third  # no strategy has that name
        for missing in (f"id:{first + 100}", "name:nobody", "id:abc", "name:", ""):
            with pytest.raises(NotFound):
                find_strategy(session, missing)


def test_a_valid_strategy_is_created_scheduled_found_and_paused(rig: Rig) -> None:
    strategy_id = add_strategy(rig, name="good one")
    with rig.sessions() as session:
        strategy = find_strategy(session, "good one")
        assert strategy.id == strategy_id
        assert find_strategy(session, str(strategy_id)).name == "good one"
        assert strategy.next_run_at is not None
        assert strategy.next_run_at > rig.clock.now()
        set_strategy_state(session, strategy, StrategyState.PAUSED, clock=rig.clock)
        assert strategy.state is StrategyState.PAUSED
        with pytest.raises(NotFound, match="no strategy"):
            find_strategy(session, "missing")
        with pytest.raises(ValidationError) as caught:
            create_strategy(
                session,
                data=StrategyInput(name="good one", symbol="AAPL"),
                contracts=ContractService(rig.broker, InProcessTtlCache(), rig.clock),
                clock=rig.clock,
            )
        assert "already exists" in caught.value.problems["name"]


def test_lineage_queries(rig: Rig) -> None:
    strategy_id = add_strategy(rig)
    rig.analysts["scripted"] = ScriptedAnalyst('{"action": "HOLD"}')
    from ibflow.db.models import Strategy

    with rig.sessions() as session:
        session.get_one(Strategy, strategy_id).analyst = "scripted"
        session.commit()
    ids = []
    for _ in range(3):
        rig.clock.advance(timedelta(minutes=5))
        execution_id = rig.executor.create_manual(StrategyId(strategy_id))
        rig.executor.run(execution_id)
        ids.append(execution_id)
    with rig.sessions() as session:
        recent = recent_executions(session, StrategyId(strategy_id), limit=2)
        assert [e.id for e in recent] == [ids[2], ids[1]]
        step = step_lineage(session, ExecutionId(ids[0]), "decide_signal")
        assert step is not None
        assert step.step_index == 8
        assert step_lineage(session, ExecutionId(ids[0]), 8) is step
        stats = {s.step_name: s for s in step_statistics(session, now=rig.clock.now(), days=1)}
    assert stats["analyze"].count == 3
    assert stats["analyze"].success_rate == 1.0
    assert stats["place_orders"].skipped == 3
    charts = stats["render_charts"]
    spread = [charts.duration_min_ms, charts.duration_p95_ms, charts.duration_max_ms]
    assert spread == sorted(spread)  # the statistics are consistent (no claim on how fast)
    assert all(s.common_errors == [] for s in stats.values())
    with rig.sessions() as session:
        none = step_statistics(session, now=rig.clock.now() + timedelta(days=5), days=1)
    assert none == []
    rig.broker.market.controls.set_session(
        SessionStatus(authenticated=False, connected=False, message="down")
    )
    for _ in range(2):
        rig.executor.run(rig.executor.create_manual(StrategyId(strategy_id)))
    with rig.sessions() as session:
        broker_step = {s.step_name: s for s in step_statistics(session, now=rig.clock.now())}["check_broker"]
    assert (broker_step.count, broker_step.failed) == (5, 2)
    assert broker_step.success_rate == pytest.approx(3 / 5)
    assert broker_step.common_errors == [("BrokerError: paper session is not usable: down", 2)]
    with (
        rig.sessions() as session
    ):  # the newest two runs only: the two that failed (as the lineage page asks)
        newest = step_statistics(
            session, now=rig.clock.now(), strategy_id=StrategyId(strategy_id), last_runs=2
        )
    broker_step = {s.step_name: s for s in newest}["check_broker"]
    assert (broker_step.count, broker_step.failed) == (2, 2)
