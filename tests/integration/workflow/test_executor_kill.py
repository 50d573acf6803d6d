"""A process killed during step k leaves lineage rows 1..k-1 committed; recovery marks the run interrupted."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.workflow_support import add_strategy, make_rig

from ibflow.core.clock import ManualClock
from ibflow.core.ids import ExecutionId, StrategyId
from ibflow.db.engine import make_engine, session_factory
from ibflow.db.locks import NamedLocks
from ibflow.db.models import Strategy, StrategyExecution
from ibflow.db.states import ExecutionStatus, StepStatus
from ibflow.llm.analyst import AnalystInput, AnalystOutput
from ibflow.workflow.lineage import STEP_NAMES, execution_lineage
from ibflow.workflow.runtime.recovery import INTERRUPTED, recover_executions

pytestmark = pytest.mark.integration
T0 = datetime(2026, 3, 4, 17, 0, tzinfo=UTC)


class HangingAnalyst:
    """Signals it is inside ``analyze`` (step 7), then hangs until killed."""

    name = "hanging"
    model = "hang"

    def __init__(self, gate: Path) -> None:
        self.gate = gate

    def analyze(self, request: AnalystInput) -> AnalystOutput:
        self.gate.write_text("in analyze")
        time.sleep(120)
        raise AssertionError("should have been killed")


def _child(url: str, charts: str, gate: str, execution_id: int) -> None:
    engine = make_engine(url)
    rig = make_rig(session_factory(engine), ManualClock(T0), Path(charts), NamedLocks(engine))
    rig.analysts["hanging"] = HangingAnalyst(Path(gate))
    rig.executor.run(ExecutionId(execution_id))


def test_sigkill_during_analyze_leaves_the_first_six_rows(migrated_sqlite_url: str, tmp_path: Path) -> None:
    sqlite_url = migrated_sqlite_url
    engine = make_engine(sqlite_url)
    sessions = session_factory(engine)
    rig = make_rig(sessions, ManualClock(T0), tmp_path / "charts", NamedLocks(engine))
    strategy_id = add_strategy(rig)
    with sessions() as session:
        session.get_one(Strategy, strategy_id).analyst = "hanging"
        session.commit()
    execution_id = rig.executor.create_manual(StrategyId(strategy_id))
    gate = tmp_path / "gate"
    proc = multiprocessing.get_context("spawn").Process(
        target=_child, args=(sqlite_url, str(tmp_path / "charts"), str(gate), execution_id)
    )
    proc.start()
    deadline = time.monotonic() + 60
    while not gate.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gate.exists(), "the child never reached analyze"
    assert proc.pid is not None
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(10)

    with sessions() as session:
        lineage = execution_lineage(session, execution_id)
        assert lineage is not None
        assert [(s.step_index, s.status) for s in lineage.steps] == [
            (i, StepStatus.SUCCEEDED) for i in range(1, 7)
        ]
        assert lineage.execution.status is ExecutionStatus.RUNNING

    report = recover_executions(sessions, clock=ManualClock(T0))
    assert report.interrupted == [execution_id]
    with sessions() as session:
        lineage = execution_lineage(session, execution_id)
        assert lineage is not None
        assert [s.step_name for s in lineage.steps] == list(STEP_NAMES)
        assert all(s.output == {"reason": INTERRUPTED} for s in lineage.steps[6:])
        running = session.scalars(
            select(StrategyExecution).where(StrategyExecution.status == ExecutionStatus.RUNNING)
        )
        assert running.all() == []
    engine.dispose()
