"""Replay a strategy's decisions on a manual clock, through the same executor and jobs as live.

With daily bars a strategy decides once per session, after its close, whatever its cron says: the clock is
set to each decision time in turn; the periodic jobs that keep trading right (track orders and fills, watch
protection, expire entries, snapshot the portfolio) run there first, as the in-process scheduler would have
run them since the last decision (the paper broker matches orders over the whole path in between, so how
often they run does not change any fill); then one scheduled execution is created for that time and run
through all 11 steps, with its lineage. A stop request is honoured between executions: what ran is kept.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from ibflow.core.clock import ManualClock
from ibflow.core.ids import ExecutionId, StrategyId
from ibflow.db.engine import SessionFactory
from ibflow.db.models.executions import StrategyExecution
from ibflow.db.states import ExecutionStatus, ExecutionTrigger
from ibflow.workflow.executor import Executor
from ibflow.workflow.runtime.service import PeriodicJob

REPLAYED_JOBS = ("track_orders", "watch_protection", "expire_entries", "snapshot_portfolio")
"""The periodic jobs run before each decision, in this order (by name, without the account suffix)."""


@dataclass(frozen=True)
class ReplayOutcome:
    """What a replay ran."""

    executions: list[ExecutionId]
    stopped: bool
    """True when a stop request ended it before the last decision time."""


def replayed_jobs(jobs: Sequence[PeriodicJob]) -> list[PeriodicJob]:
    """Return the jobs a replay runs between decisions, in ``REPLAYED_JOBS`` order."""
    rank = {name: index for index, name in enumerate(REPLAYED_JOBS)}
    chosen = [job for job in jobs if job.name.split("[")[0] in rank]
    return sorted(chosen, key=lambda job: rank[job.name.split("[")[0]])


def replay(
    *,
    strategy_id: StrategyId,
    decision_times: Sequence[datetime],
    sessions: SessionFactory,
    clock: ManualClock,
    executor: Executor,
    jobs: Sequence[PeriodicJob],
    progress: Callable[[int], None] = lambda done: None,
    stop_requested: Callable[[], bool] = lambda: False,
) -> ReplayOutcome:
    """Run one execution of ``strategy_id`` at each of ``decision_times`` (oldest first), jobs before each."""
    ran: list[ExecutionId] = []
    for at in decision_times:
        if stop_requested():
            return ReplayOutcome(ran, stopped=True)
        clock.set(at)
        for job in jobs:
            job.run()
        execution_id = _queue(sessions, strategy_id, at)
        executor.run(execution_id)
        ran.append(execution_id)
        progress(len(ran))
    return ReplayOutcome(ran, stopped=False)


def _queue(sessions: SessionFactory, strategy_id: StrategyId, at: datetime) -> ExecutionId:
    with sessions() as session:
        execution = StrategyExecution(
            strategy_id=strategy_id,
            trigger=ExecutionTrigger.SCHEDULE,
            scheduled_for=at,
            status=ExecutionStatus.QUEUED,
            created_at=at,
        )
        session.add(execution)
        session.commit()
        return ExecutionId(execution.id)
