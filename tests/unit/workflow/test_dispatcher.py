"""The dispatcher: one execution per slot; still-running and missed windows recorded; edits obeyed."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from tests.factories import make_execution, make_strategy

from ibflow.core.clock import ManualClock
from ibflow.core.errors import ValidationError
from ibflow.db.engine import SessionFactory
from ibflow.db.models import Strategy, StrategyExecution
from ibflow.db.states import ExecutionStatus, StrategyState
from ibflow.workflow.runtime.recovery import owner_id
from ibflow.workflow.runtime.schedule import next_run_after, validate_cron
from ibflow.workflow.runtime.scheduler import dispatch_due, exchange_open

T0 = datetime(2026, 3, 4, 17, 0, tzinfo=UTC)


def _executions(sessions: SessionFactory) -> list[StrategyExecution]:
    with sessions() as session:
        return list(session.scalars(select(StrategyExecution).order_by(StrategyExecution.id)))


def test_a_due_slot_is_queued_once_and_next_run_advances(sessions: SessionFactory) -> None:
    clock = ManualClock(T0)
    with sessions() as session:
        strategy_id = make_strategy(session, now=T0).id
        session.commit()
    first = dispatch_due(sessions, clock=clock)
    again = dispatch_due(sessions, clock=clock)
    assert len(first.queued) == 1
    assert again.queued == []
    [execution] = _executions(sessions)
    assert execution.status is ExecutionStatus.QUEUED
    assert execution.scheduled_for == T0
    with sessions() as session:
        strategy = session.get(Strategy, strategy_id)
        assert strategy is not None
        assert strategy.next_run_at == T0 + timedelta(minutes=1)


def test_a_slot_due_while_the_strategy_still_runs_is_skipped_still_running(sessions: SessionFactory) -> None:
    clock = ManualClock(T0)
    with sessions() as session:
        strategy = make_strategy(session, now=T0)
        make_execution(session, strategy, now=T0, owner=owner_id())  # this process: alive
        session.commit()
    result = dispatch_due(sessions, clock=clock)
    assert result.queued == []
    assert result.skipped[0][1] == "still_running"
    skipped = _executions(sessions)[-1]
    assert skipped.status is ExecutionStatus.SKIPPED
    assert skipped.summary is not None
    assert skipped.summary["reason"] == "still_running"


def test_a_run_whose_process_died_is_interrupted_and_does_not_block_the_slot(
    sessions: SessionFactory,
) -> None:
    with sessions() as session:
        strategy = make_strategy(session, now=T0)
        stale = make_execution(session, strategy, now=T0, owner=f"{socket.gethostname()}:999999999")
        session.commit()
        stale_id = stale.id
    result = dispatch_due(sessions, clock=ManualClock(T0))
    assert len(result.queued) == 1
    with sessions() as session:
        interrupted = session.get(StrategyExecution, stale_id)
        assert interrupted is not None
        assert interrupted.status is ExecutionStatus.INTERRUPTED


def test_impossible_dates_are_refused_and_a_broken_row_does_not_stop_the_others(
    sessions: SessionFactory,
) -> None:
    with pytest.raises(ValidationError, match="cron"):
        validate_cron("0 0 30 2 *")
    with sessions() as session:
        make_strategy(session, now=T0, cron="0 0 30 2 *")  # written around the validation
        make_strategy(session, now=T0)
        session.commit()
    assert len(dispatch_due(sessions, clock=ManualClock(T0)).queued) == 1


def test_a_day_of_downtime_leaves_one_missed_window_record(sessions: SessionFactory) -> None:
    with sessions() as session:
        make_strategy(session, now=T0)
        session.commit()
    clock = ManualClock(T0 + timedelta(days=1, seconds=20))
    result = dispatch_due(sessions, clock=clock)
    executions = _executions(sessions)
    assert len(executions) == 1
    missed = executions[0]
    assert missed.status is ExecutionStatus.SKIPPED
    assert missed.summary is not None
    assert missed.summary["reason"] == "missed_window"
    assert missed.summary["first_missed"] == T0.isoformat()
    # 17:00 .. 16:58 next day are missed; 16:59 and 17:00 are within the 2-minute grace and still run
    assert missed.summary["missed_slots"] == 1439
    assert result.queued == []
    # the slots inside the grace period still run, one per tick
    assert len(dispatch_due(sessions, clock=clock).queued) == 1


def test_paused_strategies_do_not_run_and_edits_apply_from_the_next_tick(sessions: SessionFactory) -> None:
    clock = ManualClock(T0)
    with sessions() as session:
        paused = make_strategy(session, now=T0, state=StrategyState.PAUSED)
        edited = make_strategy(session, now=T0, cron="0 * * * *")
        session.commit()
        paused_id, edited_id = paused.id, edited.id
    assert len(dispatch_due(sessions, clock=clock).queued) == 1  # only the active one
    with sessions() as session:  # edit: every 5 minutes from now on
        strategy = session.get(Strategy, edited_id)
        assert strategy is not None
        strategy.cron = "*/5 * * * *"
        strategy.next_run_at = next_run_after(strategy.cron, strategy.timezone, clock.now())
        session.commit()
        for execution in session.scalars(select(StrategyExecution)):
            execution.status = ExecutionStatus.SUCCEEDED
        session.commit()
    clock.advance(timedelta(minutes=5))
    queued = dispatch_due(sessions, clock=clock).queued
    assert len(queued) == 1
    scheduled = [e.scheduled_for for e in _executions(sessions) if e.strategy_id == edited_id]
    assert scheduled == [T0, T0 + timedelta(minutes=5)]
    assert all(e.strategy_id != paused_id for e in _executions(sessions))


def test_the_exchange_hours_filter_runs_only_while_nyse_is_open(sessions: SessionFactory) -> None:
    saturday = datetime(2026, 3, 7, 15, 0, tzinfo=UTC)
    wednesday_open = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)  # 10:00 New York
    wednesday_night = datetime(2026, 3, 5, 2, 0, tzinfo=UTC)
    assert exchange_open(wednesday_open)
    assert not exchange_open(saturday)
    assert not exchange_open(wednesday_night)
    for when, runs in ((saturday, False), (wednesday_open, True)):
        with sessions() as session:
            strategy = make_strategy(session, now=when, market_hours_only=True)
            session.commit()
            strategy_id = strategy.id
        queued = dispatch_due(sessions, clock=ManualClock(when)).queued
        assert bool(queued) is runs
        with sessions() as session:  # either way the schedule moved on
            moved = session.get(Strategy, strategy_id)
            assert moved is not None
            assert moved.next_run_at == when + timedelta(minutes=1)
            moved.state = StrategyState.PAUSED
            session.commit()
