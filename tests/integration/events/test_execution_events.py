"""The executor writes one execution.finished per run with its outcome, and decide writes signal.recorded."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine
from tests.unit.events.support import check_event, covers, the_event
from tests.workflow_support import Rig, ScriptedAnalyst, add_strategy, buy_reply, make_rig

from ibflow.brokers.base import SessionStatus
from ibflow.core.clock import ManualClock
from ibflow.core.ids import Conid, ExecutionId, StrategyId
from ibflow.db.engine import SessionFactory
from ibflow.db.locks import NamedLocks
from ibflow.db.models import Strategy, StrategyExecution, TradingSignal

pytestmark = pytest.mark.integration

HOLD = '{"action": "HOLD", "reasoning": "range"}'


@pytest.fixture
def rig(engine: Engine, sessions: SessionFactory, clock: ManualClock, tmp_path: Path) -> Rig:
    return make_rig(sessions, clock, tmp_path / "charts", NamedLocks(engine))


def _run(rig: Rig, reply: str) -> tuple[int, ExecutionId]:
    strategy_id = add_strategy(rig)
    rig.analysts["scripted"] = ScriptedAnalyst(reply)
    with rig.sessions() as session:
        session.get_one(Strategy, strategy_id).analyst = "scripted"
        session.commit()
    execution_id = rig.executor.create_manual(StrategyId(strategy_id))
    rig.executor.run(execution_id)
    return strategy_id, execution_id


def _last(rig: Rig) -> Decimal:
    return rig.broker.quote(Conid(265598)).last


@covers("execution.finished")
@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("buy", ("ordered", "BUY", "BUY, 3 order(s) placed", None)),
        ("hold", ("no_order", "HOLD", "HOLD, no order", "signal is HOLD")),
        ("low reward", ("blocked", "BUY", "BUY, blocked", "risk: REWARD_RISK_TOO_LOW")),
        ("session lost", ("failed", None, "-, failed", "check_broker: BrokerError")),
    ],
)
def test_every_execution_ends_with_one_event_saying_what_came_of_it(
    rig: Rig, case: str, expected: tuple[str, str | None, str, str | None]
) -> None:
    outcome, action, says, reason_has = expected
    replies = {
        "buy": buy_reply(_last(rig)),
        "hold": HOLD,
        "low reward": buy_reply(_last(rig), target_pct="0.01"),
        "session lost": HOLD,
    }
    if case == "session lost":
        rig.broker.market.controls.set_session(SessionStatus(authenticated=False, connected=True))
    strategy_id, execution_id = _run(rig, replies[case])

    event = the_event(rig.sessions, "execution.finished")
    with rig.sessions() as session:
        execution = session.get_one(StrategyExecution, execution_id)
        duration_ms = round((execution.finished_at - execution.started_at).total_seconds() * 1000)  # type: ignore[operator]
        status = execution.status.value
    check_event(
        event,
        "execution.finished",
        entity_id=execution_id,
        says=[f"aapl: {says}", " in "],
        payload={
            "strategy_id": strategy_id,
            "strategy": "aapl",
            "status": status,
            "outcome": outcome,
            "action": action,
            "duration_ms": duration_ms,
            "trigger": "manual",
        },
        severity="error" if outcome == "failed" else "info",
    )
    assert status == ("failed" if outcome == "failed" else "succeeded")
    reason = (event.payload or {})["reason"]
    if reason_has is None:
        assert reason is None
    else:
        assert reason_has in reason
        assert reason_has in event.message
    assert event.execution_id == execution_id


@covers("signal.recorded")
@pytest.mark.parametrize("case", ["buy", "no signal"])
def test_a_parsed_signal_is_an_event_with_its_levels(rig: Rig, case: str) -> None:
    reply = buy_reply(_last(rig)) if case == "buy" else "I cannot read this chart"
    strategy_id, execution_id = _run(rig, reply)

    with rig.sessions() as session:
        signal = session.query(TradingSignal).one()
        levels = (signal.entry, signal.stop_loss, signal.take_profit)
        confidence, action, detail = signal.confidence, signal.action.value, signal.reason_detail
    event = the_event(rig.sessions, "signal.recorded")

    check_event(
        event,
        "signal.recorded",
        entity_id=signal.id,
        says=[f"aapl: {action}"],
        payload={
            "strategy_id": strategy_id,
            "action": action,
            "model": "script-v1",
            "reason": None if case == "buy" else detail,  # the sizing text lands on the row later
        },
    )
    stored = event.payload or {}
    for key, value in zip(
        ("confidence", "entry", "stop_loss", "take_profit"), (confidence, *levels), strict=True
    ):
        assert (None if stored[key] is None else Decimal(stored[key])) == value, key
    assert event.execution_id == execution_id
    if case == "buy":
        entry, stop, target = (value.normalize() for value in levels if value is not None)
        assert f"entry {entry:f} stop {stop:f} target {target:f}" in event.message
    else:
        assert action == "NO_SIGNAL"
        assert "no JSON object found" in event.message
