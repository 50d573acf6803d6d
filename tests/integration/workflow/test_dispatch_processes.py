"""Two dispatchers in two processes ticking at the same moment create one execution per due slot."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime, timedelta
from multiprocessing.synchronize import Barrier

import pytest
from sqlalchemy import func, select
from tests.factories import make_strategy

from ibflow.core.clock import ManualClock
from ibflow.db.engine import make_engine, session_factory
from ibflow.db.models import StrategyExecution
from ibflow.workflow.runtime.scheduler import dispatch_due

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 4, 17, 0, tzinfo=UTC)
STRATEGIES = 12
TICKS = 5


def _dispatcher(url: str, barrier: Barrier) -> None:
    engine = make_engine(url)
    sessions = session_factory(engine)
    clock = ManualClock(T0)
    for tick in range(TICKS):
        clock.set(T0 + timedelta(minutes=tick))
        barrier.wait(30)
        dispatch_due(sessions, clock=clock)
    engine.dispose()


def test_two_dispatchers_create_one_execution_per_slot(any_migrated_db_url: str) -> None:
    engine = make_engine(any_migrated_db_url)
    sessions = session_factory(engine)
    with sessions() as session:
        for _ in range(STRATEGIES):
            make_strategy(session, now=T0)
        session.commit()
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_dispatcher, args=(any_migrated_db_url, barrier)) for _ in range(2)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
        assert proc.exitcode == 0
    with sessions() as session:
        total = session.scalar(select(func.count()).select_from(StrategyExecution))
        distinct = session.execute(
            select(StrategyExecution.strategy_id, StrategyExecution.scheduled_for).distinct()
        ).all()
    # every strategy has one execution per minute slot (queued, or skipped still_running after the first)
    assert total == len(distinct) == STRATEGIES * TICKS
    engine.dispose()
