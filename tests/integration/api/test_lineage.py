"""The lineage endpoints: one step, a strategy's recent runs, and step statistics aggregated in SQL.

The statistics are checked against the lineage rows themselves, counted here in Python.
"""

from __future__ import annotations

import statistics
from datetime import timedelta

import pytest
from sqlalchemy import select
from tests.integration.api.conftest import Api, problem

from ibflow.core.ids import StrategyId
from ibflow.db.models import Strategy
from ibflow.db.models.executions import StrategyExecution, WorkflowLineage
from ibflow.db.states import StepStatus

pytestmark = pytest.mark.integration


def _run(api: Api, name: str, times: int) -> list[int]:
    executor = api.container.executor()
    with api.container.read_sessions() as session:
        strategy_id = session.scalars(select(Strategy.id).where(Strategy.name == name)).one()
    ids = []
    for _ in range(times):
        execution_id = executor.create_manual(StrategyId(strategy_id))
        executor.run(execution_id)
        ids.append(int(execution_id))
        api.clock.advance(timedelta(minutes=5))
    return ids


def _expected(api: Api, step: str, strategy_id: int | None = None) -> dict[str, object]:
    with api.container.read_sessions() as session:
        query = select(WorkflowLineage.status, WorkflowLineage.duration_ms).where(
            WorkflowLineage.step_name == step
        )
        if strategy_id is not None:
            query = query.join(StrategyExecution).where(StrategyExecution.strategy_id == strategy_id)
        rows = session.execute(query).all()
    ran = sorted(d for s, d in rows if s is not StepStatus.SKIPPED) or [0]
    return {
        "count": len(rows),
        "succeeded": sum(1 for s, _ in rows if s is StepStatus.SUCCEEDED),
        "duration_min_ms": ran[0],
        "duration_max_ms": ran[-1],
        "duration_avg_ms": pytest.approx(statistics.fmean(ran)),
        "duration_p95_ms": ran[round(0.95 * (len(ran) - 1))],
    }


def test_one_step_its_strategys_recent_runs_and_the_unknowns(api: Api) -> None:
    viewer = api.bearer("viewer")
    spy = _run(api, "demo-spy-bands", 2)
    client = api.fresh()
    step = client.get(f"/api/v1/lineage/execution/{spy[0]}/step/render_charts", headers=viewer).json()
    assert (step["execution_id"], step["step_index"], step["step_name"]) == (spy[0], 6, "render_charts")
    assert step["status"] == "succeeded"
    assert step["duration_ms"] >= 0
    assert step["output"]

    with api.container.read_sessions() as session:
        strategy_id = session.scalars(
            select(StrategyExecution.strategy_id).where(StrategyExecution.id == spy[0])
        ).one()
    recent = client.get(f"/api/v1/lineage/strategy/{strategy_id}/recent?limit=5", headers=viewer).json()
    assert [run["id"] for run in recent] == sorted(spy, reverse=True)
    assert [s["step_name"] for s in recent[0]["steps"]][:2] == ["load_strategy", "check_broker"]
    assert len(recent[0]["steps"]) == 11

    unknown_step = client.get(f"/api/v1/lineage/execution/{spy[0]}/step/teleport", headers=viewer)
    assert problem(unknown_step)["status"] == 404
    assert "render_charts" in problem(unknown_step)["detail"]  # it lists the real ones
    assert (
        problem(client.get("/api/v1/lineage/execution/987654/step/analyze", headers=viewer))["status"] == 404
    )
    assert problem(client.get("/api/v1/lineage/strategy/987654/recent", headers=viewer))["status"] == 404
    too_many = client.get(f"/api/v1/lineage/strategy/{strategy_id}/recent?limit=1000", headers=viewer)
    assert problem(too_many)["status"] == 422


def test_step_statistics_match_the_rows_for_all_one_strategy_and_the_last_day(api: Api) -> None:
    viewer = api.bearer("viewer")
    _run(api, "demo-spy-bands", 3)
    _run(api, "demo-aapl-trend", 2)
    client = api.fresh()
    url = "/api/v1/lineage/step/{}/statistics"
    for step in ("load_strategy", "render_charts", "place_orders"):
        everything = client.get(url.format(step), headers=viewer).json()
        assert {k: everything[k] for k in _expected(api, step)} == _expected(api, step)
        assert everything["count"] == 5
    with api.container.read_sessions() as session:
        aapl = session.scalars(select(Strategy.id).where(Strategy.name == "demo-aapl-trend")).one()
    one = client.get(url.format("render_charts"), params={"strategy_id": aapl}, headers=viewer).json()
    assert one["count"] == 2
    assert {k: one[k] for k in _expected(api, "render_charts", aapl)} == _expected(api, "render_charts", aapl)

    assert client.get(url.format("analyze"), params={"days": 1}, headers=viewer).json()["count"] == 5
    api.clock.advance(timedelta(days=2))
    assert client.get(url.format("analyze"), params={"days": 1}, headers=viewer).json()["count"] == 0
    assert client.get(url.format("analyze"), headers=viewer).json()["count"] == 5
    assert problem(client.get(url.format("analyze"), params={"days": 0}, headers=viewer))["status"] == 422
    assert problem(client.get(url.format("nope"), headers=viewer))["status"] == 404
