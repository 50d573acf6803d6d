"""The step engine: one lineage row per step, skips after a stop or a failure, lineage never loses work."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from ibflow.core.clock import ManualClock
from ibflow.core.ids import ExecutionId
from ibflow.db.engine import SessionFactory, make_engine, session_factory
from ibflow.db.models import Event, Strategy, StrategyExecution, WorkflowLineage
from ibflow.db.states import ExecutionStatus, ExecutionTrigger, StepStatus, StrategyMode, StrategyState
from ibflow.workflow.engine import SKIP_AFTER_FAILURE, Step, StepContext, StepResult, run_steps
from ibflow.workflow.lineage import STEP_NAMES, execution_lineage

NOW = datetime(2026, 3, 4, 17, 0, tzinfo=UTC)


@dataclass
class Bag:
    seen: list[str] = field(default_factory=list)


def _execution(sessions: SessionFactory) -> ExecutionId:
    with sessions() as session:
        strategy = Strategy(
            name="s",
            conid=1,
            symbol="X",
            timeframes=["1d"],
            cron="* * * * *",
            mode=StrategyMode.PAPER,
            state=StrategyState.ACTIVE,
            risk_per_trade=Decimal("0.01"),
            max_position_value=Decimal(1000),
            max_quantity=Decimal(10),
            min_reward_risk=Decimal(1),
            min_confidence=Decimal("0.5"),
            max_entry_deviation=Decimal("0.05"),
            created_at=NOW,
            updated_at=NOW,
        )
        session.add(strategy)
        session.flush()
        execution = StrategyExecution(
            strategy_id=strategy.id,
            trigger=ExecutionTrigger.MANUAL,
            status=ExecutionStatus.RUNNING,
            created_at=NOW,
        )
        session.add(execution)
        session.commit()
        return ExecutionId(execution.id)


def _ok(name: str) -> Step[Bag]:
    def run(ctx: StepContext[Bag]) -> StepResult:
        ctx.state.seen.append(name)
        return StepResult(input={"step": name}, output={"done": name})

    return Step(name, run)


def _event_step(name: str) -> Step[Bag]:
    def run(ctx: StepContext[Bag]) -> StepResult:
        ctx.session.add(Event(kind="test.business", message=name, created_at=NOW))
        return StepResult(output={"wrote": "event"})

    return Step(name, run)


def _rows(sessions: SessionFactory, execution_id: ExecutionId) -> list[WorkflowLineage]:
    with sessions() as session:
        lineage = execution_lineage(session, execution_id)
        assert lineage is not None
        return lineage.steps


def test_every_step_gets_one_row_in_order(sessions: SessionFactory, clock: ManualClock) -> None:
    execution_id = _execution(sessions)
    steps = [_ok(name) for name in STEP_NAMES]
    bag = Bag()
    outcome = run_steps(steps, execution_id=execution_id, state=bag, sessions=sessions, clock=clock)
    assert outcome.failed_step is None
    rows = _rows(sessions, execution_id)
    assert [r.step_name for r in rows] == list(STEP_NAMES)
    assert [r.step_index for r in rows] == list(range(1, 12))
    assert all(r.status is StepStatus.SUCCEEDED for r in rows)
    assert rows[0].input == {"step": "load_strategy"}
    assert bag.seen == list(STEP_NAMES)


def test_a_normal_stop_skips_the_rest_with_the_reason(sessions: SessionFactory, clock: ManualClock) -> None:
    execution_id = _execution(sessions)

    def hold(ctx: StepContext[Bag]) -> StepResult:
        return StepResult(output={"action": "HOLD"}, stop_reason="signal is HOLD")

    steps = [_ok("a"), Step("b", hold), _ok("c"), _ok("d")]
    outcome = run_steps(steps, execution_id=execution_id, state=Bag(), sessions=sessions, clock=clock)
    assert outcome.stop_reason == "signal is HOLD"
    rows = _rows(sessions, execution_id)
    assert [r.status for r in rows] == [StepStatus.SUCCEEDED] * 2 + [StepStatus.SKIPPED] * 2
    assert rows[2].output == {"reason": "skipped: signal is HOLD"}


def test_a_raising_step_records_error_and_traceback_and_skips_the_rest(
    sessions: SessionFactory, clock: ManualClock
) -> None:
    execution_id = _execution(sessions)

    def boom(ctx: StepContext[Bag]) -> StepResult:
        ctx.session.add(Event(kind="test.half_written", created_at=NOW))  # rolled back with the step
        raise RuntimeError("chart store unreachable")

    steps = [_ok("a"), Step("b", boom), _ok("c")]
    outcome = run_steps(steps, execution_id=execution_id, state=Bag(), sessions=sessions, clock=clock)
    assert outcome.failed_step == "b"
    assert outcome.error == "b: RuntimeError: chart store unreachable"
    rows = _rows(sessions, execution_id)
    assert [r.status for r in rows] == [StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.SKIPPED]
    assert rows[1].error == "RuntimeError: chart store unreachable"
    assert rows[1].traceback is not None
    assert "in boom" in rows[1].traceback
    assert rows[2].output == {"reason": SKIP_AFTER_FAILURE}
    with sessions() as session:
        assert session.scalars(select(Event).where(Event.kind == "test.half_written")).all() == []


def test_when_recording_lineage_fails_the_business_result_is_kept(
    sessions: SessionFactory, clock: ManualClock
) -> None:
    execution_id = _execution(sessions)
    with sessions() as session:  # a row already at index 2 makes recording step 2 fail (unique key)
        session.add(
            WorkflowLineage(
                execution_id=execution_id,
                step_index=2,
                step_name="planted",
                status=StepStatus.SKIPPED,
                started_at=NOW,
                duration_ms=0,
            )
        )
        session.commit()
    bag = Bag()
    outcome = run_steps(
        [_ok("a"), _event_step("b"), _ok("c")],
        execution_id=execution_id,
        state=bag,
        sessions=sessions,
        clock=clock,
    )
    assert outcome.failed_step is None
    assert bag.seen == ["a", "c"]  # the run went on
    with sessions() as session:
        assert len(session.scalars(select(Event).where(Event.kind == "test.business")).all()) == 1
    assert [r.step_name for r in _rows(sessions, execution_id)] == ["a", "planted", "c"]


def test_secrets_are_redacted_in_lineage(sessions: SessionFactory, clock: ManualClock) -> None:
    execution_id = _execution(sessions)

    def with_secrets(ctx: StepContext[Bag]) -> StepResult:
        return StepResult(
            input={
                "provider": {"api_key": "sk-live-abc", "token": SecretStr("t0k3n")},
                "password": "hunter2",
            },
            output={"note": "x" * 10_000, "items": list(range(500))},
        )

    run_steps(
        [Step("s", with_secrets)], execution_id=execution_id, state=Bag(), sessions=sessions, clock=clock
    )
    row = _rows(sessions, execution_id)[0]
    text = str(row.input) + str(row.output)
    for secret in ("sk-live-abc", "t0k3n", "hunter2"):
        assert secret not in text
    assert row.input == {"provider": {"api_key": "***", "token": "***"}, "password": "***"}
    assert row.output is not None
    assert row.output["note"].endswith("…[truncated: 6000 chars more]")
    assert row.output["items"][-1] == "…[truncated: 300 more]"


def _killable_run(url: str, execution_id: int, gate: str) -> None:
    engine = make_engine(url)
    sessions = session_factory(engine)

    def wait_forever(ctx: StepContext[Bag]) -> StepResult:
        Path(gate).write_text("in step 3")
        time.sleep(60)
        return StepResult()

    steps = [_ok("one"), _ok("two"), Step("three", wait_forever), _ok("four")]
    run_steps(
        steps,
        execution_id=ExecutionId(execution_id),
        state=Bag(),
        sessions=sessions,
        clock=ManualClock(NOW),
    )


@pytest.mark.integration
def test_sigkill_during_step_k_leaves_rows_before_k_committed(
    migrated_sqlite_url: str, tmp_path: Path
) -> None:
    sqlite_url = migrated_sqlite_url
    engine = make_engine(sqlite_url)
    sessions = session_factory(engine)
    execution_id = _execution(sessions)
    gate = tmp_path / "gate"
    proc = multiprocessing.get_context("spawn").Process(
        target=_killable_run, args=(sqlite_url, execution_id, str(gate))
    )
    proc.start()
    deadline = time.monotonic() + 30
    while not gate.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gate.exists()
    assert proc.pid is not None
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(10)
    rows = _rows(sessions, execution_id)
    assert [(r.step_index, r.step_name, r.status) for r in rows] == [
        (1, "one", StepStatus.SUCCEEDED),
        (2, "two", StepStatus.SUCCEEDED),
    ]
    engine.dispose()


def test_secrets_in_a_failing_steps_input_reach_no_log_line(
    sessions: SessionFactory, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    execution_id = _execution(sessions)

    def leaky(ctx: StepContext[Bag]) -> StepResult:
        error = RuntimeError("provider refused the request")
        error.step_input = {"api_key": "sk-live-xyz", "secret": SecretStr("s3cr3t")}  # type: ignore[attr-defined]
        raise error

    with caplog.at_level(logging.DEBUG):
        run_steps([Step("s", leaky)], execution_id=execution_id, state=Bag(), sessions=sessions, clock=clock)
    row = _rows(sessions, execution_id)[0]
    assert row.input == {"api_key": "***", "secret": "***"}
    for secret in ("sk-live-xyz", "s3cr3t"):
        assert secret not in caplog.text
        assert secret not in str(row.input) + str(row.error) + str(row.traceback)
    assert "provider refused the request" in caplog.text


def test_non_finite_numbers_become_null_in_lineage(sessions: SessionFactory, clock: ManualClock) -> None:
    execution_id = _execution(sessions)

    def warming_up(ctx: StepContext[Bag]) -> StepResult:
        return StepResult(output={"sma_200": float("nan"), "ratio": float("inf"), "rsi": 55.5})

    run_steps([Step("s", warming_up)], execution_id=execution_id, state=Bag(), sessions=sessions, clock=clock)
    assert _rows(sessions, execution_id)[0].output == {"sma_200": None, "ratio": None, "rsi": 55.5}
