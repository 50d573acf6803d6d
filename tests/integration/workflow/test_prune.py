"""Retention never removes what explains an order; it drops the details of old runs that placed none."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from tests.workflow_support import MarketableBuy, ScriptedAnalyst, add_strategy, make_rig

from ibflow.core.clock import ManualClock
from ibflow.core.ids import StrategyId
from ibflow.db.engine import SessionFactory
from ibflow.db.locks import NamedLocks
from ibflow.db.models import Chart, LlmCall, Strategy, StrategyExecution, WorkflowLineage
from ibflow.workflow.runtime.prune import prune

pytestmark = pytest.mark.integration


def _count(sessions: SessionFactory, model: type, execution_id: int) -> int:
    with sessions() as session:
        return int(
            session.scalar(select(func.count()).select_from(model).where(model.execution_id == execution_id))  # type: ignore[attr-defined]
        )


def test_prune_keeps_runs_that_placed_orders(
    engine: Engine, sessions: SessionFactory, clock: ManualClock, tmp_path: Path
) -> None:
    rig = make_rig(sessions, clock, tmp_path / "charts", NamedLocks(engine))
    rig.analysts["buy"] = MarketableBuy()
    rig.analysts["hold"] = ScriptedAnalyst('{"action": "HOLD"}')
    ids = {}
    for name, analyst in (("buyer", "buy"), ("holder", "hold")):
        strategy_id = add_strategy(rig, name=name)
        with sessions() as session:
            session.get_one(Strategy, strategy_id).analyst = analyst
            session.commit()
        execution_id = rig.executor.create_manual(StrategyId(strategy_id))
        rig.executor.run(execution_id)
        ids[name] = execution_id
    with sessions() as session:
        held_keys = session.scalars(select(Chart.store_key).where(Chart.execution_id == ids["holder"])).all()
    assert held_keys
    assert all((tmp_path / "charts" / key).exists() for key in held_keys)

    assert prune(sessions, store=rig.deps.chart_store, clock=clock, keep=timedelta(days=30)).executions == 0
    clock.advance(timedelta(days=31))
    report = prune(sessions, store=rig.deps.chart_store, clock=clock, keep=timedelta(days=30))

    assert (report.executions, report.charts) == (1, len(held_keys))
    for model in (WorkflowLineage, Chart, LlmCall):
        assert _count(sessions, model, ids["holder"]) == 0
        assert _count(sessions, model, ids["buyer"]) > 0
    assert not any((tmp_path / "charts" / key).exists() for key in held_keys)
    with sessions() as session:  # the runs themselves stay, with their summaries
        assert session.scalar(select(func.count()).select_from(StrategyExecution)) == 2
