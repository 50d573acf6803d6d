"""The daily summary: once a day per account after the summary hour, what the day came to, sent to the
targets that subscribe to it like any other notification."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.integration.notify.support import CLI
from tests.notify_receiver import receiver
from tests.unit.events.support import covers
from tests.workflow_support import MarketableBuy

from ibflow import bootstrap
from ibflow.core.clock import ManualClock
from ibflow.core.ids import StrategyId
from ibflow.core.settings import BrokerSettings, ChartSettings, DatabaseSettings, NotifySettings
from ibflow.db.models import Event, Fill, Strategy
from ibflow.llm.analyst import Analyst
from ibflow.notify.targets import add_target
from ibflow.workflow.strategies.demo import seed_demo

pytestmark = pytest.mark.integration


def _summaries(container: bootstrap.Container) -> list[Event]:
    with container.sessions() as session:
        return list(session.scalars(select(Event).where(Event.kind == "summary.daily").order_by(Event.id)))


@covers("summary.daily")
def test_one_summary_a_day_after_the_hour_with_the_days_figures_reaches_its_subscribers(
    tmp_path: Path, migrated_sqlite: Callable[[Path], str]
) -> None:
    clock = ManualClock(datetime(2026, 3, 4, 15, 0, tzinfo=UTC))
    migrated_sqlite(tmp_path / "ibflow.db")
    container = bootstrap.build(
        bootstrap.Settings(
            database=DatabaseSettings(database_url=f"sqlite:///{tmp_path / 'ibflow.db'}"),
            broker=BrokerSettings(paper_account_id="PAPER-SUM"),
            charts=ChartSettings(charts_dir=tmp_path / "charts"),
            notify=NotifySettings(notify_daily_summary_hour_utc=21),
        ),
        clock,
    )
    analyst: Analyst = MarketableBuy()
    container.analysts["marketable-buy"] = lambda: analyst
    seed_demo(container.sessions, contracts=container.contract_service(), clock=clock)
    with container.sessions() as session:
        strategy = session.scalars(select(Strategy).order_by(Strategy.id)).first()
        assert strategy is not None
        strategy.analyst = "marketable-buy"
        strategy_id = strategy.id
        session.commit()
    jobs = {job.name.split("[")[0]: job for job in container.periodic_jobs()}

    with receiver() as http:
        with container.sessions() as session:
            add_target(
                session, url=http.url("daily"), actor=CLI, clock=clock, notifications=["daily_summary"]
            )
            add_target(session, url=http.url("fills"), actor=CLI, clock=clock, notifications=["order_filled"])
            session.commit()
        container.notifier.run()  # the notify cursor starts here
        jobs["snapshot_portfolio"].run()  # the day's opening value
        executor = container.executor()
        executor.run(executor.create_manual(StrategyId(strategy_id)))  # a marketable entry: it fills
        clock.advance(timedelta(minutes=5))
        jobs["track_orders"].run()
        jobs["snapshot_portfolio"].run()

        assert jobs["summary"].run() is False  # 15:05 UTC: before the summary hour
        assert _summaries(container) == []
        clock.set(datetime(2026, 3, 4, 21, 0, 1, tzinfo=UTC))
        assert jobs["summary"].run() is True
        assert jobs["summary"].run() is False  # once a day, however often the job runs
        container.notifier.run()

        (summary,) = _summaries(container)
        payload = summary.payload or {}
        with container.sessions() as session:
            fills = len(session.scalars(select(Fill)).all())
        assert payload["date"] == "2026-03-04"
        assert summary.account_id == "PAPER-SUM"
        assert payload["executions"] == 1
        assert payload["executions_failed"] == 0
        assert fills >= 1
        assert payload["fills"] == fills
        assert payload["open_positions"] == 1
        assert payload["trading_state"] == "ACTIVE"
        assert payload["equity"] is not None
        assert Decimal(str(payload["equity_change"])) < 0  # the entry's commission, at least
        (sent,) = http.bodies("daily")
        assert "2026-03-04: equity" in sent
        assert "1 open position(s)" in sent
        assert all("2026-03-04" not in body for body in http.bodies("fills"))  # not subscribed

        clock.set(datetime(2026, 3, 5, 21, 30, tzinfo=UTC))  # the next day has a summary of its own
        assert jobs["summary"].run() is True
        assert [json.dumps(e.payload)[:24] for e in _summaries(container)] == [
            '{"date": "2026-03-04", "',
            '{"date": "2026-03-05", "',
        ]
