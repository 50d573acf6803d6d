"""Retention never removes what explains an order; it drops the details of old runs that placed none."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from tests.workflow_support import MarketableBuy, Rig, ScriptedAnalyst, add_strategy, make_rig

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
    ids = _run_pair(rig, sessions)
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


def _run_pair(rig: Rig, sessions: SessionFactory, holder_symbol: str = "MSFT") -> dict[str, int]:
    """Run a strategy that buys AAPL and one that holds ``holder_symbol`` (another symbol: other charts)."""
    rig.analysts["buy"] = MarketableBuy()
    rig.analysts["hold"] = ScriptedAnalyst('{"action": "HOLD"}')
    ids = {}
    for name, analyst, symbol in (("buyer", "buy", "AAPL"), ("holder", "hold", holder_symbol)):
        strategy_id = add_strategy(rig, name=name, symbol=symbol)
        with sessions() as session:
            session.get_one(Strategy, strategy_id).analyst = analyst
            session.commit()
        execution_id = rig.executor.create_manual(StrategyId(strategy_id))
        rig.executor.run(execution_id)
        ids[name] = execution_id
    return ids


def _chart_files(sessions: SessionFactory, root: Path, execution_id: int) -> list[Path]:
    with sessions() as session:
        keys = session.scalars(select(Chart.store_key).where(Chart.execution_id == execution_id)).all()
    return [root / key for key in keys]


def test_charts_of_a_run_without_an_order_go_after_the_short_retention_an_orders_stay(
    engine: Engine, sessions: SessionFactory, clock: ManualClock, tmp_path: Path
) -> None:
    rig = make_rig(sessions, clock, tmp_path / "charts", NamedLocks(engine))
    ids = _run_pair(rig, sessions)
    held, bought = (_chart_files(sessions, tmp_path / "charts", ids[n]) for n in ("holder", "buyer"))
    assert held
    assert bought
    assert all(path.exists() for path in held + bought)
    keep, chart_keep = timedelta(days=30), timedelta(hours=6)

    clock.advance(timedelta(hours=5))
    assert (
        prune(
            sessions,
            store=rig.deps.chart_store,
            clock=clock,
            keep=keep,
            chart_keep=chart_keep,
        ).charts
        == 0
    )
    clock.advance(timedelta(hours=2))
    report = prune(
        sessions,
        store=rig.deps.chart_store,
        clock=clock,
        keep=keep,
        chart_keep=chart_keep,
    )

    assert (report.executions, report.charts) == (0, len(held))
    assert not any(path.exists() for path in held)
    assert all(path.exists() for path in bought)
    assert _count(sessions, Chart, ids["holder"]) == 0
    assert _count(sessions, Chart, ids["buyer"]) == len(bought)
    assert _count(sessions, WorkflowLineage, ids["holder"]) > 0  # lineage stays for the long retention


def _file_bytes(url: str) -> int:
    path = Path(url.removeprefix("sqlite:///"))
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


def test_pruning_gives_the_sqlite_file_its_space_back(
    engine: Engine, sessions: SessionFactory, clock: ManualClock, tmp_path: Path, migrated_sqlite_url: str
) -> None:
    rig = make_rig(sessions, clock, tmp_path / "charts", NamedLocks(engine))
    rig.analysts["hold"] = ScriptedAnalyst('{"action": "HOLD"}')
    strategy_id = add_strategy(rig, name="holder")
    with sessions() as session:
        session.get_one(Strategy, strategy_id).analyst = "hold"
        session.commit()
    for round_ in range(2):  # the first prune switches the file to incremental vacuum, the second uses it
        for _ in range(2):
            execution_id = rig.executor.create_manual(StrategyId(strategy_id))
            rig.executor.run(execution_id)
            with sessions() as session:  # a bulky payload, as a verbose analyst's would be
                for row in session.scalars(
                    select(WorkflowLineage).where(WorkflowLineage.execution_id == execution_id)
                ):
                    row.output = {"bulk": [f"{round_}-{i}-{'x' * 90}" for i in range(2_000)]}
                session.commit()
        engine.dispose()  # let the WAL checkpoint into the file, so the size below is the file's
        before = _file_bytes(migrated_sqlite_url)
        clock.advance(timedelta(days=31))
        report = prune(sessions, store=rig.deps.chart_store, clock=clock, keep=timedelta(days=30))
        assert report.executions == 2
        assert report.bytes_freed > 2_000_000, report
        assert _file_bytes(migrated_sqlite_url) < before - 2_000_000


def _keys(sessions: SessionFactory, execution_id: int) -> set[str]:
    with sessions() as session:
        return set(session.scalars(select(Chart.store_key).where(Chart.execution_id == execution_id)))


def test_a_chart_shared_with_a_kept_run_stays_until_no_run_references_it(
    engine: Engine, sessions: SessionFactory, clock: ManualClock, tmp_path: Path
) -> None:
    rig = make_rig(sessions, clock, tmp_path / "charts", NamedLocks(engine))
    ids = _run_pair(rig, sessions, holder_symbol="AAPL")  # the same symbol and bars: the same charts
    held, bought = _keys(sessions, ids["holder"]), _keys(sessions, ids["buyer"])
    assert held == bought
    assert all(key.startswith("sha256/") for key in held)
    assert sorted(p.name for p in (tmp_path / "charts").rglob("*.png")) == sorted(
        k.split("/")[-1] for k in held
    )
    clock.advance(timedelta(hours=7))
    report = prune(sessions, store=rig.deps.chart_store, clock=clock, keep=timedelta(days=30))

    assert report.charts == len(held)  # the holder's rows went
    assert _keys(sessions, ids["holder"]) == set()
    assert all(rig.deps.chart_store.get(key).startswith(b"\x89PNG") for key in bought)  # the buyer's stay


def test_charts_two_pruned_runs_share_are_deleted_once_both_rows_are_gone(
    engine: Engine, sessions: SessionFactory, clock: ManualClock, tmp_path: Path
) -> None:
    rig = make_rig(sessions, clock, tmp_path / "charts", NamedLocks(engine))
    rig.analysts["hold"] = ScriptedAnalyst('{"action": "HOLD"}')
    ids = []
    for name in ("first", "second"):
        strategy_id = add_strategy(rig, name=name)
        with sessions() as session:
            session.get_one(Strategy, strategy_id).analyst = "hold"
            session.commit()
        ids.append(rig.executor.create_manual(StrategyId(strategy_id)))
        rig.executor.run(ids[-1])
    shared = _keys(sessions, ids[0])
    assert shared == _keys(sessions, ids[1])
    assert len(list((tmp_path / "charts").rglob("*.png"))) == len(shared)  # stored once for both runs
    clock.advance(timedelta(hours=7))
    report = prune(sessions, store=rig.deps.chart_store, clock=clock, keep=timedelta(days=30))

    assert report.charts == 2 * len(shared)
    assert list((tmp_path / "charts").rglob("*.png")) == []
