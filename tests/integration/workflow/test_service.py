"""The in-process service: the demo runs on schedule, restarts continue cleanly, halt and flatten work."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from tests.workflow_support import MarketableBuy
from typer.testing import CliRunner

from ibflow import bootstrap
from ibflow.cli import app
from ibflow.core.clock import ManualClock
from ibflow.core.settings import BrokerSettings, ChartSettings, DatabaseSettings, RunnerSettings
from ibflow.db.models import Order, Position, Strategy, StrategyExecution, TradingSignal, WorkflowLineage
from ibflow.db.models.paper import PaperOrder
from ibflow.db.states import ExecutionStatus, PositionStatus, StrategyMode
from ibflow.llm.analyst import Analyst
from ibflow.workflow.runtime.service import InlineService
from ibflow.workflow.strategies.demo import seed_demo
from ibflow.workflow.strategies.lookup import reschedule

pytestmark = pytest.mark.integration


def _container(tmp_path: Path, clock: ManualClock) -> bootstrap.Container:
    url = f"sqlite:///{tmp_path / 'ibflow.db'}"
    settings = bootstrap.Settings(
        database=DatabaseSettings(database_url=url),
        broker=BrokerSettings(paper_account_id="PAPER-SVC"),
        charts=ChartSettings(charts_dir=tmp_path / "charts"),
        runner=RunnerSettings(workers=2),
    )
    container = bootstrap.build(settings, clock)
    analyst: Analyst = MarketableBuy()
    container.analysts["marketable-buy"] = lambda: analyst
    return container


def _settle(service: InlineService, container: bootstrap.Container, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with container.sessions() as session:
            busy = session.scalar(
                select(func.count())
                .select_from(StrategyExecution)
                .where(StrategyExecution.status.in_((ExecutionStatus.QUEUED, ExecutionStatus.RUNNING)))
            )
        if not busy:
            return
        time.sleep(0.05)
    raise AssertionError("executions did not finish")


def _minutes(service: InlineService, container: bootstrap.Container, clock: ManualClock, n: int) -> None:
    """Advance a minute at a time: one dispatch tick, wait for the runs, then every periodic job once."""
    for _ in range(n):
        clock.advance(timedelta(minutes=1))
        service.tick()
        _settle(service, container)
        _JOB_TIME[0] += 10_000  # far enough for every job's interval to have passed
        service.run_jobs(now_s=_JOB_TIME[0])


_JOB_TIME = [0.0]


def _check_books(container: bootstrap.Container) -> None:
    with container.sessions() as session:
        executions = session.scalars(select(StrategyExecution)).all()
        slots = Counter((e.strategy_id, e.scheduled_for) for e in executions if e.scheduled_for is not None)
        assert max(slots.values()) == 1  # no duplicated execution
        assert all(e.status is not ExecutionStatus.RUNNING for e in executions)
        finished = [e for e in executions if e.status in (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED)]
        for execution in finished:
            rows = session.scalar(
                select(func.count())
                .select_from(WorkflowLineage)
                .where(WorkflowLineage.execution_id == execution.id)
            )
            assert rows == 11, (execution.id, execution.status, execution.error)
        ours = session.scalars(select(Order.client_order_id)).all()
        assert len(ours) == len(set(ours))
        at_broker = session.scalars(
            select(PaperOrder.client_order_id).where(PaperOrder.client_order_id.is_not(None))
        )
        broker_ids = at_broker.all()
        assert len(broker_ids) == len(set(broker_ids))  # no client order id repeats at the broker


def test_the_demo_runs_on_schedule_and_a_restart_continues_without_duplicates(
    tmp_path: Path, migrated_sqlite: Callable[[Path], str]
) -> None:
    clock = ManualClock(datetime.now(UTC).replace(second=0, microsecond=0))
    migrated_sqlite(tmp_path / "ibflow.db")
    container = _container(tmp_path, clock)
    seed_demo(container.sessions, contracts=container.contract_service(), clock=clock)
    with container.sessions() as session:  # half the demo buys for sure, the rest keeps the rules analyst
        for strategy in session.scalars(select(Strategy).order_by(Strategy.id)).all():
            reschedule(session, strategy, cron="* * * * *", timezone=strategy.timezone, clock=clock)
        for strategy in session.scalars(select(Strategy).order_by(Strategy.id)).all()[:3]:
            strategy.analyst = "marketable-buy"
        session.commit()
    service = container.service()
    service.recover()
    _minutes(service, container, clock, 4)
    service.stopping.set()
    container.service()  # a second service object on the same database does not disturb anything
    _check_books(container)
    with container.sessions() as session:
        entries = session.scalars(select(Order).where(Order.role == "entry")).all()
        assert entries, "no bracket was placed"
        assert any(o.filled_quantity > 0 for o in entries), [(o.client_order_id, o.state) for o in entries]
        before = session.scalar(select(func.count()).select_from(StrategyExecution))

    restarted = _container(tmp_path, clock)  # a new process: fresh container, same database
    again = restarted.service()
    again.recover()
    _minutes(again, restarted, clock, 3)
    _check_books(restarted)
    with restarted.sessions() as session:
        assert session.scalar(select(func.count()).select_from(StrategyExecution)) == before + 3 * 6


def test_halt_stops_new_entries_within_one_tick_and_flatten_closes_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, migrated_sqlite: Callable[[Path], str]
) -> None:
    # The CLI below runs on the wall clock; start the test's clock behind it so time only moves forward.
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10))
    migrated_sqlite(tmp_path / "ibflow.db")
    container = _container(tmp_path, clock)
    seed_demo(container.sessions, contracts=container.contract_service(), clock=clock)
    with container.sessions() as session:
        for strategy in session.scalars(select(Strategy)):
            strategy.analyst = "marketable-buy"
            # Every minute, so the minute after the halt has runs to refuse (the demo itself runs every 5).
            reschedule(session, strategy, cron="* * * * *", timezone=strategy.timezone, clock=clock)
        session.commit()
    service = container.service()
    service.recover()
    _minutes(service, container, clock, 2)
    monkeypatch.setenv("IBFLOW_DATABASE_URL", container.settings.database.url)
    monkeypatch.setenv("IBFLOW_PAPER_ACCOUNT_ID", "PAPER-SVC")
    monkeypatch.setenv("IBFLOW_CHARTS_DIR", str(tmp_path / "charts"))
    runner = CliRunner()
    result = runner.invoke(app, ["trading", "halt", "--reason", "test halt"])
    assert result.exit_code == 0, result.output
    with container.sessions() as session:
        newest = session.scalar(select(func.max(StrategyExecution.id)))
    _minutes(service, container, clock, 1)
    with container.sessions() as session:
        later = session.scalars(
            select(TradingSignal).where(TradingSignal.execution_id > newest, TradingSignal.action == "BUY")
        ).all()
        assert later, "no BUY after the halt"
        assert {s.reason for s in later} == {"TRADING_HALTED"}
    clock.set(datetime.now(UTC))  # the CLI runs on the wall clock: keep one timeline
    result = runner.invoke(app, ["trading", "flatten", "--reason", "end of test"])
    assert result.exit_code == 0, result.output
    broker = container.broker_for(StrategyMode.PAPER)
    clock.set(datetime.now(UTC))
    positions = broker.broker.positions(broker.account_id)
    assert all(p.quantity == 0 for p in positions), (positions, result.output)
    working = [
        o for o in broker.broker.live_orders(broker.account_id) if o.status.value in ("submitted", "inactive")
    ]
    assert working == []
    with container.sessions() as session:
        assert all(p.status is PositionStatus.CLOSED for p in session.scalars(select(Position)))
