"""Worker liveness: heartbeats of the Celery runtime's processes, and the runs of a dead worker interrupted.

Each ``ibflow worker`` (and ``ibflow beat``) writes a row in ``worker_heartbeats`` every few seconds under
its owner tag (``host:pid``, the tag it stamps on the executions it claims). A worker that stops beating for
``worker_dead_after_seconds`` is dead: ``reap_dead_workers`` marks its running executions ``interrupted``
(their missing lineage rows ``skipped: interrupted``), as start-up recovery does for the in-process runner;
the caller then lets the trading core settle the orders it left mid-submit. A heartbeat row whose process
started after an execution it owns began is a new process under a reused pid (a container's pid 1): the old
run is dead too.

A worker also says at each beat which executions it has in flight (``running``). A run its live worker
no longer has in flight at a beat written after the run began was dropped (its task ended on an error that
could not be recorded, say while PostgreSQL restarted): it is interrupted too, so nothing stays ``running``
while its worker goes on beating.

Owners with no heartbeat row (``ibflow serve``, ``ibflow run``) are judged as before: by pid on this host,
and alive when on another host (nothing can tell).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ibflow.core.clock import Clock
from ibflow.core.ids import ExecutionId
from ibflow.db.engine import SessionFactory
from ibflow.db.models import WorkerHeartbeat
from ibflow.db.models.executions import StrategyExecution
from ibflow.db.states import ExecutionStatus

log = logging.getLogger(__name__)

DEFAULT_DEAD_AFTER = timedelta(seconds=60)
FORGET_AFTER = timedelta(days=1)
"""Heartbeat rows of processes silent this long are deleted (nothing of theirs can still be running)."""


def beat(
    sessions: SessionFactory,
    *,
    owner: str,
    role: str,
    queues: str,
    started_at: datetime,
    at: datetime,
    running: Collection[int] | None = None,
) -> None:
    """Record that ``owner`` is alive now (with the executions it has in flight, for a worker)."""
    shown = None if running is None else ",".join(str(i) for i in sorted(running))
    with sessions() as session:
        row = session.get(WorkerHeartbeat, owner)
        if row is None:
            row = WorkerHeartbeat(owner=owner)
            session.add(row)
        row.role, row.queues, row.started_at, row.seen_at, row.running = role, queues, started_at, at, shown
        session.commit()


def forget(sessions: SessionFactory, owner: str) -> None:
    """Remove ``owner``'s heartbeat (a clean shutdown: it runs nothing any more)."""
    with sessions() as session:
        session.execute(delete(WorkerHeartbeat).where(WorkerHeartbeat.owner == owner))
        session.commit()


def heartbeat_says_gone(
    session: Session, execution: StrategyExecution, now: datetime, dead_after: timedelta
) -> bool | None:
    """Whether the heartbeats show the owner of a running ``execution`` dead, or no longer running it at a
    beat written after it began; ``None``: its owner writes no heartbeat."""
    owner, started = execution.owner, execution.started_at
    if not owner:
        return None
    row = session.get(WorkerHeartbeat, owner)
    if row is None:
        return None
    if started is not None and started < row.started_at:
        return True  # the owner tag was reused by a process started after the run began
    if now - row.seen_at > dead_after:
        return True
    return (
        row.running is not None
        and started is not None
        and row.seen_at > started
        and str(execution.id) not in row.running.split(",")
    )


def reap_dead_workers(
    sessions: SessionFactory, *, clock: Clock, dead_after: timedelta = DEFAULT_DEAD_AFTER
) -> list[ExecutionId]:
    """Interrupt the running executions of workers whose heartbeats stopped; return their ids."""
    from ibflow.workflow.runtime.recovery import interrupt

    now = clock.now()
    interrupted: list[ExecutionId] = []
    with sessions() as session:
        running = session.scalars(
            select(StrategyExecution)
            .where(StrategyExecution.status == ExecutionStatus.RUNNING)
            .with_for_update(skip_locked=True)
        ).all()
        for execution in running:
            if heartbeat_says_gone(session, execution, now, dead_after):
                interrupt(
                    session, execution, now, why=f"its worker {execution.owner} stopped beating or dropped it"
                )
                interrupted.append(ExecutionId(execution.id))
        session.execute(delete(WorkerHeartbeat).where(WorkerHeartbeat.seen_at < now - FORGET_AFTER))
        session.commit()
    if interrupted:
        log.warning("interrupted %d execution(s) of dead workers: %s", len(interrupted), interrupted)
    return interrupted


class Heartbeat:
    """A daemon thread that beats for this process every ``interval_s`` until ``stop``."""

    def __init__(
        self,
        sessions: SessionFactory,
        *,
        clock: Clock,
        owner: str,
        role: str,
        queues: str = "",
        interval_s: float = 10.0,
        on_error: Callable[[Exception], object] | None = None,
        running: Callable[[], Collection[int]] | None = None,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._owner, self._role, self._queues = owner, role, queues
        self._interval_s = interval_s
        self._on_error = on_error
        self._running = running
        self._started_at = clock.now()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"ibflow-heartbeat-{role}", daemon=True)

    def start(self) -> Heartbeat:
        """Beat once now (so the process counts as alive before it takes work), then every interval."""
        self.beat_once()
        self._thread.start()
        return self

    def beat_once(self) -> None:
        """Write one heartbeat."""
        beat(
            self._sessions,
            owner=self._owner,
            role=self._role,
            queues=self._queues,
            started_at=self._started_at,
            at=self._clock.now(),
            running=None if self._running is None else self._running(),
        )

    def _loop(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self.beat_once()
            except Exception as exc:  # the database is away: say so, beat again next time
                log.warning("heartbeat of %s failed: %s", self._owner, exc)
                if self._on_error is not None:
                    self._on_error(exc)

    def stop(self, *, forget_row: bool = True) -> None:
        """Stop beating; remove the row when the process ends cleanly."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self._interval_s + 5)
        if forget_row:
            try:
                forget(self._sessions, self._owner)
            except Exception as exc:
                log.warning("could not remove the heartbeat of %s: %s", self._owner, exc)
