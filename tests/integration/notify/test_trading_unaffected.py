"""A notification target that hangs, then fails, never holds up trading: under ``ibflow serve``'s service
an execution on the paper broker runs and places its bracket while the notify job is stuck in a send."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.integration.notify.support import CLI, write
from tests.notify_receiver import receiver
from tests.workflow_support import MarketableBuy

from ibflow import bootstrap
from ibflow.core.clock import ManualClock
from ibflow.core.ids import StrategyId
from ibflow.core.settings import (
    BrokerSettings,
    ChartSettings,
    DatabaseSettings,
    NotifySettings,
    RunnerSettings,
)
from ibflow.db.models import Order, Strategy, StrategyExecution
from ibflow.db.models.notify import DeliveryStatus, NotificationDelivery
from ibflow.db.models.paper import PaperOrder
from ibflow.db.states import ExecutionStatus
from ibflow.llm.analyst import Analyst
from ibflow.notify.targets import add_target
from ibflow.workflow.strategies.demo import seed_demo

pytestmark = pytest.mark.integration


def _container(tmp_path: Path, clock: ManualClock) -> bootstrap.Container:
    settings = bootstrap.Settings(
        database=DatabaseSettings(database_url=f"sqlite:///{tmp_path / 'ibflow.db'}"),
        broker=BrokerSettings(paper_account_id="PAPER-NTF"),
        charts=ChartSettings(charts_dir=tmp_path / "charts"),
        runner=RunnerSettings(workers=1, dispatch_interval_seconds=3600),
        notify=NotifySettings(notify_interval_seconds=0.1, notify_timeout_seconds=60),
    )
    container = bootstrap.build(settings, clock)
    analyst: Analyst = MarketableBuy()
    container.analysts["marketable-buy"] = lambda: analyst
    return container


def _wait_for(check: Callable[[], bool], what: str, limit_s: float = 60) -> None:
    deadline = time.monotonic() + limit_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting: {what}")
        time.sleep(0.05)


def test_an_execution_places_its_order_while_the_notify_job_hangs_on_a_failing_target(
    tmp_path: Path, migrated_sqlite: Callable[[Path], str]
) -> None:
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    migrated_sqlite(tmp_path / "ibflow.db")
    container = _container(tmp_path, clock)
    seed_demo(container.sessions, contracts=container.contract_service(), clock=clock)
    with container.sessions() as session:
        strategy = session.scalars(select(Strategy).order_by(Strategy.id)).first()
        assert strategy is not None
        strategy.analyst = "marketable-buy"
        strategy_id = strategy.id
        session.commit()

    with receiver(status=500, hold=True) as http:
        with container.sessions() as session:
            add_target(session, url=http.url("ops"), actor=CLI, clock=clock, notifications=["all"])
            session.commit()
        container.notifier.queue.enqueue()  # the cursor starts before anything happens
        write(container.sessions, clock, "exit")
        service = container.service()
        serving = threading.Thread(target=service.serve, daemon=True)
        serving.start()
        _wait_for(lambda: http.count() == 1, "the notify job to reach the target")

        execution_id = service.run_now(StrategyId(strategy_id))  # the notify job is stuck in its send

        def finished() -> bool:
            with container.sessions() as session:
                status = session.get_one(StrategyExecution, execution_id).status
            return status not in (ExecutionStatus.QUEUED, ExecutionStatus.RUNNING)

        _wait_for(finished, "the execution to finish")
        still_held = http.count()
        http.released.set()  # the target now answers 500 to everything
        service.stopping.set()
        serving.join(timeout=60)

    with container.sessions() as session:
        execution = session.get_one(StrategyExecution, execution_id)
        entries = session.scalars(select(Order).where(Order.execution_id == execution_id)).all()
        at_broker = session.scalars(select(PaperOrder.client_order_id)).all()
        first = session.scalars(select(NotificationDelivery).order_by(NotificationDelivery.id)).first()
    assert execution.status is ExecutionStatus.SUCCEEDED, execution.error
    assert {o.role for o in entries} >= {"entry", "stop"}
    (entry,) = [o for o in entries if o.role == "entry"]
    assert entry.client_order_id in set(at_broker)  # the bracket reached the broker
    assert still_held == 1  # the whole run happened while the one send hung
    assert first is not None
    assert first.status is DeliveryStatus.PENDING
    assert first.attempts >= 1
    assert "500" in first.last_error
