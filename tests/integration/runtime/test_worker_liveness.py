"""Worker liveness: a Celery worker that stops beating has its running executions interrupted."""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import select
from tests.factories import make_execution, make_strategy

from ibflow.core.clock import ManualClock
from ibflow.db.engine import SessionFactory
from ibflow.db.models import StrategyExecution, WorkerHeartbeat, WorkflowLineage
from ibflow.db.states import ExecutionStatus, StepStatus
from ibflow.workflow.lineage import STEP_NAMES
from ibflow.workflow.runtime.liveness import Heartbeat, beat, reap_dead_workers
from ibflow.workflow.runtime.recovery import INTERRUPTED, recover_executions
from ibflow.workflow.runtime.scheduler import dispatch_due

DEAD_AFTER = timedelta(seconds=60)
OTHER_HOST = "worker-host-2:4242"  # another machine: its pid cannot be checked from here


def _running(sessions: SessionFactory, clock: ManualClock, owner: str) -> int:
    with sessions() as session:
        strategy = make_strategy(session, now=clock.now())
        execution = make_execution(session, strategy, now=clock.now(), owner=owner)
        session.commit()
        return execution.id


def _status(sessions: SessionFactory, execution_id: int) -> StrategyExecution:
    with sessions() as session:
        execution = session.get_one(StrategyExecution, execution_id)
        session.expunge(execution)
        return execution


def _beat(sessions: SessionFactory, clock: ManualClock, owner: str, started_minutes_ago: int = 5) -> None:
    started = clock.now() - timedelta(minutes=started_minutes_ago)
    beat(sessions, owner=owner, role="worker", queues="executions", started_at=started, at=clock.now())


def test_a_run_of_a_worker_that_beats_is_left_alone(sessions: SessionFactory, clock: ManualClock) -> None:
    _beat(sessions, clock, OTHER_HOST)
    execution_id = _running(sessions, clock, OTHER_HOST)
    clock.advance(timedelta(seconds=50))
    _beat(sessions, clock, OTHER_HOST)
    clock.advance(timedelta(seconds=50))

    assert reap_dead_workers(sessions, clock=clock, dead_after=DEAD_AFTER) == []
    assert _status(sessions, execution_id).status is ExecutionStatus.RUNNING


def test_a_run_of_a_worker_that_stopped_beating_is_interrupted_with_every_row(
    sessions: SessionFactory, clock: ManualClock
) -> None:
    _beat(sessions, clock, OTHER_HOST)
    execution_id = _running(sessions, clock, OTHER_HOST)
    clock.advance(DEAD_AFTER + timedelta(seconds=1))  # the worker was SIGKILLed: no more beats

    assert reap_dead_workers(sessions, clock=clock, dead_after=DEAD_AFTER) == [execution_id]

    execution = _status(sessions, execution_id)
    assert execution.status is ExecutionStatus.INTERRUPTED
    assert execution.error is not None
    assert OTHER_HOST in execution.error
    with sessions() as session:
        rows = session.scalars(
            select(WorkflowLineage).where(WorkflowLineage.execution_id == execution_id)
        ).all()
    assert [r.step_name for r in sorted(rows, key=lambda r: r.step_index)] == list(STEP_NAMES)
    assert all(r.status is StepStatus.SKIPPED and r.output == {"reason": INTERRUPTED} for r in rows)


def test_a_reused_owner_tag_does_not_keep_an_old_run_alive(
    sessions: SessionFactory, clock: ManualClock
) -> None:
    # A container restarted: the new worker is pid 1 again, beating under the tag the old run carries.
    execution_id = _running(sessions, clock, OTHER_HOST)
    clock.advance(timedelta(seconds=5))
    _beat(sessions, clock, OTHER_HOST, started_minutes_ago=0)

    assert reap_dead_workers(sessions, clock=clock, dead_after=DEAD_AFTER) == [execution_id]


def test_start_up_recovery_and_the_dispatcher_judge_worker_runs_by_their_heartbeats(
    sessions: SessionFactory, clock: ManualClock
) -> None:
    _beat(sessions, clock, OTHER_HOST)
    execution_id = _running(sessions, clock, OTHER_HOST)
    clock.advance(DEAD_AFTER + timedelta(seconds=1))

    report = recover_executions(sessions, clock=clock, dead_after=DEAD_AFTER)
    assert report.interrupted == [execution_id]

    # and the dispatcher does not count a dead worker's run as "still running"
    second = _running(sessions, clock, "worker-host-3:7")
    with sessions() as session:
        session.execute(
            WorkerHeartbeat.__table__.insert().values(
                owner="worker-host-3:7",
                role="worker",
                queues="",
                started_at=clock.now() - timedelta(hours=1),
                seen_at=clock.now() - timedelta(minutes=10),
            )
        )
        session.commit()
    result = dispatch_due(sessions, clock=clock)
    assert _status(sessions, second).status is ExecutionStatus.INTERRUPTED
    assert [reason for _strategy, reason in result.skipped if reason == "still_running"] == []
    assert len(result.queued) == 2  # both strategies (every minute) are due, neither blocked


def test_a_heartbeat_thread_beats_and_removes_its_row_on_a_clean_stop(
    sessions: SessionFactory, clock: ManualClock
) -> None:
    heartbeat = Heartbeat(sessions, clock=clock, owner="vm:1", role="worker", interval_s=0.05).start()
    with sessions() as session:
        first = session.get_one(WorkerHeartbeat, "vm:1").seen_at
    clock.advance(timedelta(seconds=10))
    for _ in range(100):
        with sessions() as session:
            if session.get_one(WorkerHeartbeat, "vm:1").seen_at > first:
                break
        time.sleep(0.02)
    with sessions() as session:
        assert session.get_one(WorkerHeartbeat, "vm:1").seen_at > first

    heartbeat.stop()

    with sessions() as session:
        assert session.get(WorkerHeartbeat, "vm:1") is None


def test_a_run_its_live_worker_no_longer_has_in_flight_is_interrupted(
    sessions: SessionFactory, clock: ManualClock
) -> None:
    # The task ended on an error it could not record (PostgreSQL restarting): the worker beats on.
    execution_id = _running(sessions, clock, OTHER_HOST)
    started = clock.now() - timedelta(minutes=5)
    beat(sessions, owner=OTHER_HOST, role="worker", queues="", started_at=started, at=clock.now(), running=[])
    assert reap_dead_workers(sessions, clock=clock, dead_after=DEAD_AFTER) == []  # not a beat after it began

    clock.advance(timedelta(seconds=10))
    beat(
        sessions,
        owner=OTHER_HOST,
        role="worker",
        queues="",
        started_at=started,
        at=clock.now(),
        running=[execution_id],
    )
    assert reap_dead_workers(sessions, clock=clock, dead_after=DEAD_AFTER) == []  # in flight: left alone

    clock.advance(timedelta(seconds=10))
    beat(sessions, owner=OTHER_HOST, role="worker", queues="", started_at=started, at=clock.now(), running=[])
    assert reap_dead_workers(sessions, clock=clock, dead_after=DEAD_AFTER) == [execution_id]
    assert _status(sessions, execution_id).status is ExecutionStatus.INTERRUPTED
