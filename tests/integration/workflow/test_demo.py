"""The demo trades under the default account limits: no risk check stops its six strategies from entering."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.workflow_support import MarketableBuy

from ibflow import bootstrap
from ibflow.core.clock import ManualClock
from ibflow.core.ids import StrategyId
from ibflow.core.settings import ChartSettings, DatabaseSettings
from ibflow.db.models import Order, Strategy, StrategyExecution, Trade, TradingSignal
from ibflow.db.states import ExecutionStatus, OrderRole
from ibflow.llm.analyst import Analyst
from ibflow.trading.risk.checks import RiskReason
from ibflow.workflow.strategies.demo import DEMO_ANALYST, DEMO_CRON, DEMO_STRATEGIES, seed_demo

pytestmark = pytest.mark.integration
WHEN = datetime(2026, 12, 6, 2, 0, tzinfo=UTC)
RISK_REASONS = {reason.value for reason in RiskReason}


def _demo(tmp_path: Path, migrated_sqlite: object) -> bootstrap.Container:
    url = migrated_sqlite(tmp_path / "ibflow.db")  # type: ignore[operator]
    settings = bootstrap.Settings(  # default risk and broker settings: the limits a new user has
        database=DatabaseSettings(database_url=url), charts=ChartSettings(charts_dir=tmp_path / "charts")
    )
    container = bootstrap.build(settings, ManualClock(WHEN))
    analyst: Analyst = MarketableBuy()
    container.analysts["marketable-buy"] = lambda: analyst
    seed_demo(container.sessions, contracts=container.contract_service(), clock=container.clock)
    return container


def _run_all(container: bootstrap.Container) -> dict[str, TradingSignal]:
    executor = container.executor()
    with container.sessions() as session:
        strategies = [(s.id, s.name) for s in session.scalars(select(Strategy).order_by(Strategy.id))]
    signals = {}
    for strategy_id, name in strategies:
        execution_id = executor.create_manual(StrategyId(strategy_id))
        executor.run(execution_id)
        with container.sessions() as session:
            signals[name] = session.scalars(
                select(TradingSignal).where(TradingSignal.execution_id == execution_id)
            ).one()
    return signals


def test_each_demo_strategy_ends_in_an_order_or_a_decision_no_risk_check_blocked(
    tmp_path: Path, migrated_sqlite: object
) -> None:
    container = _demo(tmp_path, migrated_sqlite)
    with container.sessions() as session:
        strategies = session.scalars(select(Strategy)).all()
        assert sorted(s.name for s in strategies) == sorted(name for name, _, _ in DEMO_STRATEGIES)
        assert {(s.cron, s.analyst) for s in strategies} == {(DEMO_CRON, DEMO_ANALYST)}
    signals = _run_all(container)
    assert not [(name, s.reason, s.reason_detail) for name, s in signals.items() if s.reason in RISK_REASONS]
    with container.sessions() as session:
        orders = session.scalars(select(Order)).all()
    entries = [o for o in orders if o.role == OrderRole.ENTRY]
    bought = {name for name, s in signals.items() if s.action.value == "BUY"}
    assert bought, {name: s.action for name, s in signals.items()}
    assert len(entries) == len(bought)
    for entry in entries:  # intraday levels: the stop within a percent, the target 2R above
        children = {o.role: o for o in orders if o.parent_id == entry.id}
        price, stop = entry.limit_price, children[OrderRole.STOP].stop_price
        target = children[OrderRole.TARGET].limit_price
        assert price is not None
        assert stop is not None
        assert target is not None
        assert 0 < (price - stop) / price < Decimal("0.01")
        assert target - price >= Decimal("1.5") * (price - stop)


def test_six_entries_at_once_meet_the_position_count_before_the_exposure_limit(
    tmp_path: Path, migrated_sqlite: object
) -> None:
    container = _demo(tmp_path, migrated_sqlite)
    with container.sessions() as session:
        for strategy in session.scalars(select(Strategy)):
            strategy.analyst = "marketable-buy"
        session.commit()
    signals = _run_all(container)
    reasons = [s.reason for s in signals.values()]
    assert reasons.count(None) == 5, reasons  # five positions: the default MAX_OPEN_POSITIONS
    assert reasons.count(RiskReason.MAX_OPEN_POSITIONS.value) == 1, reasons
    assert RiskReason.MAX_EXPOSURE.value not in reasons


@pytest.mark.parametrize("start", [datetime(2026, 12, 6, 13, 28, tzinfo=UTC)])
def test_within_the_first_hour_a_stop_or_a_target_closes_a_demo_position(
    tmp_path: Path, migrated_sqlite: object, start: datetime
) -> None:
    """The demo's hour as ``ibflow serve`` runs it, on a manual clock a minute at a time (the hour a real
    ``serve`` measured with no exit at 0.15 ATR stops; benchmarks/demo_footprint.py measures others)."""
    url = migrated_sqlite(tmp_path / "ibflow.db")  # type: ignore[operator]
    settings = bootstrap.Settings(
        database=DatabaseSettings(database_url=url), charts=ChartSettings(charts_dir=tmp_path / "charts")
    )
    clock = ManualClock(start)
    container = bootstrap.build(settings, clock)
    seed_demo(container.sessions, contracts=container.contract_service(), clock=clock)
    service = container.service()
    service.recover()
    for minute in range(1, 61):
        clock.advance(timedelta(minutes=1))
        service.tick()
        _settle(container)  # the runner's threads finish this minute's runs before the clock moves on
        service.run_jobs(now_s=minute * 60.0)
    with container.sessions() as session:
        exits = session.scalars(select(Trade.exit_reason).where(Trade.closed_at <= clock.now())).all()
    container.engine.dispose()
    assert {"stop", "target"} & {str(reason) for reason in exits}, exits


def _settle(container: bootstrap.Container) -> None:
    deadline = time.monotonic() + 120  # a bound on the wait, not a speed check
    while time.monotonic() < deadline:
        with container.sessions() as session:
            busy = session.scalars(
                select(StrategyExecution.id).where(
                    StrategyExecution.status.in_((ExecutionStatus.QUEUED, ExecutionStatus.RUNNING))
                )
            ).first()
        if busy is None:
            return
        time.sleep(0.02)
    raise AssertionError("executions did not finish")
