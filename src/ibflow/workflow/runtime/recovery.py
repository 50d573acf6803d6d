"""Crash recovery at start-up, before the first dispatch (ARCHITECTURE §5).

Executions left ``running`` by a process that is gone become ``interrupted`` (their missing lineage rows
``skipped: interrupted``); queued executions that never started are re-queued when still fresh, else
recorded as skipped. Orders left ``submitting`` are handled by the trading core's recovery
(``submitting`` -> ``submit_unknown``), then reconciliation settles them.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ibflow.core.clock import Clock
from ibflow.core.ids import ExecutionId
from ibflow.core.metrics import instruments
from ibflow.db.after_commit import on_commit
from ibflow.db.engine import SessionFactory
from ibflow.db.models.executions import StrategyExecution, WorkflowLineage
from ibflow.db.states import ExecutionStatus, StepStatus
from ibflow.workflow.lineage import STEP_NAMES

INTERRUPTED = "skipped: interrupted"


def owner_id() -> str:
    """Return this process's owner tag for the executions it runs (``host:pid``)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def owner_alive(owner: str | None) -> bool:
    """Tell whether the process that claimed an execution still runs (only knowable on this host)."""
    host, _, pid_text = (owner or "").partition(":")
    if host != socket.gethostname():
        return bool(host)  # another host: cannot tell, assume alive (Celery workers bring heartbeats)
    if not pid_text.isdigit():
        return False
    return _pid_alive(int(pid_text))


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class RecoveryReport:
    """What start-up recovery changed."""

    interrupted: list[ExecutionId] = field(default_factory=list)
    requeued: list[ExecutionId] = field(default_factory=list)
    expired: list[ExecutionId] = field(default_factory=list)


def _alive_before_start(owner: str | None) -> bool:
    # At start-up nothing of this process runs yet: a row claimed by our own host:pid is from an earlier
    # process that had the same pid (a restarted container is always pid 1).
    return owner != owner_id() and owner_alive(owner)


def _run_alive(
    session: Session,
    execution: StrategyExecution,
    now: datetime,
    is_alive: Callable[[str | None], bool],
    dead_after: timedelta,
) -> bool:
    """A Celery worker's run is judged by its heartbeats; any other by ``is_alive``."""
    from ibflow.workflow.runtime.liveness import heartbeat_says_gone

    gone = heartbeat_says_gone(session, execution, now, dead_after)
    return is_alive(execution.owner) if gone is None else not gone


def recover_executions(
    sessions: SessionFactory,
    *,
    clock: Clock,
    grace: timedelta = timedelta(minutes=2),
    is_alive: Callable[[str | None], bool] = _alive_before_start,
    dead_after: timedelta = timedelta(seconds=60),
) -> RecoveryReport:
    """Mark orphaned running executions interrupted and sort out queued ones; return what changed."""
    report = RecoveryReport()
    now = clock.now()
    with sessions() as session:
        stale = session.scalars(
            select(StrategyExecution).where(
                StrategyExecution.status.in_((ExecutionStatus.RUNNING, ExecutionStatus.QUEUED))
            )
        ).all()
        for execution in stale:
            if execution.status is ExecutionStatus.RUNNING:
                if _run_alive(session, execution, now, is_alive, dead_after):
                    continue
                interrupt(session, execution, now)
                report.interrupted.append(ExecutionId(execution.id))
            elif now - (execution.scheduled_for or execution.created_at) <= grace:
                report.requeued.append(ExecutionId(execution.id))
            else:
                execution.status = ExecutionStatus.SKIPPED
                execution.finished_at = now
                execution.summary = {"reason": "not started before a restart"}
                report.expired.append(ExecutionId(execution.id))
        session.commit()
    return report


def interrupt_execution(sessions: SessionFactory, execution_id: int, *, at: datetime) -> None:
    """Mark one running execution interrupted now, filling its missing lineage rows (best effort)."""
    with sessions() as session:
        execution = session.get(StrategyExecution, execution_id)
        if execution is not None and execution.status is ExecutionStatus.RUNNING:
            interrupt(session, execution, at)
            session.commit()


def interrupt_if_orphaned(
    session: Session,
    execution: StrategyExecution,
    now: datetime,
    dead_after: timedelta = timedelta(seconds=60),
) -> bool:
    """Interrupt a running execution whose owner process is gone (in the caller's transaction)."""
    if execution.status is not ExecutionStatus.RUNNING:
        return False
    if _run_alive(session, execution, now, owner_alive, dead_after):
        return False
    interrupt(session, execution, now, why="the process running it stopped")
    return True


def interrupt(
    session: Session,
    execution: StrategyExecution,
    now: datetime,
    *,
    why: str = "the process running it stopped; recovered at start-up",
) -> None:
    """Mark ``execution`` interrupted, its missing lineage rows ``skipped: interrupted`` (caller commits)."""
    done = set(
        session.scalars(
            select(WorkflowLineage.step_index).where(WorkflowLineage.execution_id == execution.id)
        ).all()
    )
    for index, name in enumerate(STEP_NAMES, start=1):
        if index not in done:
            session.add(
                WorkflowLineage(
                    execution_id=execution.id,
                    step_index=index,
                    step_name=name,
                    status=StepStatus.SKIPPED,
                    output={"reason": INTERRUPTED},
                    started_at=now,
                    duration_ms=0,
                )
            )
    execution.status = ExecutionStatus.INTERRUPTED
    execution.finished_at = now
    execution.error = why
    on_commit(session, _count_interrupted)


def _count_interrupted() -> None:
    instruments().executions.labels(ExecutionStatus.INTERRUPTED.value, "failed").inc()
