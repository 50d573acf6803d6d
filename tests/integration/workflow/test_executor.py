"""One execution on the paper broker: 11 lineage rows, the right ends for BUY, HOLD, NO_SIGNAL and blocks."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from tests.workflow_support import ACCOUNT, Rig, ScriptedAnalyst, add_strategy, buy_reply, make_rig

from ibflow.brokers.base import BrokerOrderStatus, SessionStatus
from ibflow.core.clock import ManualClock
from ibflow.core.ids import ExecutionId, StrategyId
from ibflow.db.engine import SessionFactory
from ibflow.db.locks import NamedLocks
from ibflow.db.models import Chart, LlmCall, Order, Strategy, StrategyExecution, TradingSignal
from ibflow.db.states import ExecutionStatus, StepStatus
from ibflow.workflow.lineage import STEP_NAMES, ExecutionLineage, execution_lineage
from ibflow.workflow.strategies.lookup import reschedule

pytestmark = pytest.mark.integration


@pytest.fixture
def rig(engine: Engine, sessions: SessionFactory, clock: ManualClock, tmp_path: Path) -> Rig:
    return make_rig(sessions, clock, tmp_path / "charts", NamedLocks(engine))


def _run(rig: Rig, strategy_id: int, reply: str | None = None) -> ExecutionLineage:
    if reply is not None:
        rig.analysts["scripted"] = ScriptedAnalyst(reply)
        with rig.sessions() as session:
            strategy = session.get_one(Strategy, strategy_id)
            strategy.analyst = "scripted"
            session.commit()
    execution_id = rig.executor.create_manual(StrategyId(strategy_id))
    rig.executor.run(execution_id)
    with rig.sessions() as session:
        lineage = execution_lineage(session, execution_id)
    assert lineage is not None
    assert [s.step_name for s in lineage.steps] == list(STEP_NAMES)
    assert [s.step_index for s in lineage.steps] == list(range(1, 12))
    return lineage


def _last_price(rig: Rig) -> object:
    from ibflow.core.ids import Conid

    return rig.broker.quote(Conid(265598)).last


def test_a_buy_ends_with_a_bracket_at_the_broker(rig: Rig) -> None:
    strategy_id = add_strategy(rig)
    lineage = _run(rig, strategy_id, buy_reply(_last_price(rig)))  # type: ignore[arg-type]
    assert all(s.status is StepStatus.SUCCEEDED for s in lineage.steps), [
        (s.step_name, s.error) for s in lineage.steps
    ]
    assert lineage.execution.status is ExecutionStatus.SUCCEEDED
    broker_orders = rig.broker.live_orders(ACCOUNT)
    assert len(broker_orders) == 3
    parent = next(o for o in broker_orders if o.client_order_id is not None)
    children = [o for o in broker_orders if o.parent_broker_order_id == parent.broker_order_id]
    assert {c.role for c in children} == {"stop", "target"}
    assert all(c.status is BrokerOrderStatus.INACTIVE for c in children) or parent.filled_quantity > 0
    with rig.sessions() as session:  # charts, LLM call, signal and orders link to the execution
        execution_id = lineage.execution.id
        assert len(session.scalars(select(Chart).where(Chart.execution_id == execution_id)).all()) == 2
        assert len(session.scalars(select(LlmCall).where(LlmCall.execution_id == execution_id)).all()) == 1
        signal = session.scalars(
            select(TradingSignal).where(TradingSignal.execution_id == execution_id)
        ).one()
        assert signal.is_valid is True
        orders = session.scalars(select(Order).where(Order.execution_id == execution_id)).all()
        assert {o.client_order_id.rsplit("-", 1)[1] for o in orders} == {"entry", "stop", "target"}
    assert lineage.steps[9].output is not None
    assert lineage.steps[9].output["status"] == "placed"


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ('{"action": "HOLD", "reasoning": "range"}', "skipped: signal is HOLD"),
        ("I cannot read this chart", "skipped: NO_SIGNAL: no JSON object found in the reply"),
    ],
)
def test_hold_and_no_signal_skip_the_later_steps_with_the_reason(rig: Rig, reply: str, reason: str) -> None:
    lineage = _run(rig, add_strategy(rig), reply)
    statuses = [s.status for s in lineage.steps]
    assert statuses == [StepStatus.SUCCEEDED] * 8 + [StepStatus.SKIPPED] * 3
    assert all(s.output == {"reason": reason} for s in lineage.steps[8:])
    assert lineage.execution.status is ExecutionStatus.SUCCEEDED
    assert rig.broker.live_orders(ACCOUNT) == []


def test_a_risk_block_skips_placing_with_its_reason_code(rig: Rig) -> None:
    strategy_id = add_strategy(rig)
    last = _last_price(rig)
    lineage = _run(rig, strategy_id, buy_reply(last, target_pct="0.01"))  # type: ignore[arg-type]  # R/R 0.33
    risk = lineage.steps[8]
    assert risk.status is StepStatus.SUCCEEDED
    assert risk.output is not None
    assert risk.output["reason"] == "REWARD_RISK_TOO_LOW"
    assert [s.status for s in lineage.steps[9:]] == [StepStatus.SKIPPED] * 2
    assert lineage.steps[9].output is not None
    assert "REWARD_RISK_TOO_LOW" in lineage.steps[9].output["reason"]
    assert rig.broker.live_orders(ACCOUNT) == []
    with rig.sessions() as session:
        signal = session.scalars(select(TradingSignal)).one()
        assert (signal.is_valid, signal.reason) == (False, "REWARD_RISK_TOO_LOW")
        assert session.scalars(select(Order)).all() == []


def test_a_failing_step_fails_the_execution_and_skips_the_rest(rig: Rig) -> None:
    rig.broker.market.controls.set_session(
        SessionStatus(authenticated=False, connected=True, message="expired")
    )
    lineage = _run(rig, add_strategy(rig))
    assert lineage.execution.status is ExecutionStatus.FAILED
    assert lineage.execution.error is not None
    assert lineage.execution.error.startswith("check_broker: BrokerError")
    failed = lineage.steps[1]
    assert failed.status is StepStatus.FAILED
    assert failed.error is not None
    assert "session is not usable" in failed.error
    assert failed.traceback is not None
    assert all(s.status is StepStatus.SKIPPED for s in lineage.steps[2:])
    assert lineage.has_errors


def test_editing_the_strategy_later_does_not_change_the_runs_lineage(rig: Rig) -> None:
    strategy_id = add_strategy(rig)
    lineage = _run(rig, strategy_id, '{"action": "HOLD"}')
    before = lineage.steps[0].output
    with rig.sessions() as session:
        strategy = session.get_one(Strategy, strategy_id)
        reschedule(session, strategy, cron="0 10 * * 1-5", timezone="Europe/Zurich", clock=rig.clock)
        strategy.risk_per_trade = strategy.risk_per_trade / 2
        strategy.name = "renamed"
        session.commit()
    with rig.sessions() as session:
        again = execution_lineage(session, ExecutionId(lineage.execution.id))
        execution = session.get_one(StrategyExecution, lineage.execution.id)
    assert again is not None
    assert again.steps[0].output == before
    assert before is not None
    assert before["cron"] == "*/5 * * * *"
    assert before["name"] == "aapl"
    assert execution.config_snapshot == before


def test_a_manual_run_is_refused_while_the_strategy_runs(rig: Rig) -> None:
    from ibflow.core.errors import ValidationError

    strategy_id = add_strategy(rig)
    first = rig.executor.create_manual(StrategyId(strategy_id))
    with rig.sessions() as session:
        session.get_one(StrategyExecution, first).status = ExecutionStatus.RUNNING
        session.commit()
    with pytest.raises(ValidationError, match="is running now"):
        rig.executor.create_manual(StrategyId(strategy_id))
