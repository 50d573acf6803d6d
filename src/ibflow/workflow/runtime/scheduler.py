"""The dispatcher: claim due strategies, create their executions once per slot, advance ``next_run_at``.

Run every few seconds by a runner. Claiming is safe across processes: PostgreSQL skips rows another
dispatcher holds (``FOR UPDATE SKIP LOCKED``), SQLite serialises the whole tick (``BEGIN IMMEDIATE``), and
the unique key on (strategy, scheduled time) stops a second dispatcher or a retry from doubling a slot.
Slots older than the grace period are not run: one ``skipped`` execution records the missed window. A slot
that comes due while the strategy still runs is recorded ``skipped`` with ``still_running``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ibflow.core.clock import Clock
from ibflow.core.ids import ExecutionId, StrategyId
from ibflow.db.engine import SessionFactory
from ibflow.db.models.executions import StrategyExecution
from ibflow.db.models.strategies import Strategy
from ibflow.db.states import ExecutionStatus, ExecutionTrigger, StrategyState
from ibflow.workflow.runtime.recovery import interrupt_if_orphaned
from ibflow.workflow.runtime.schedule import next_run_after, slots_between

log = logging.getLogger(__name__)

DEFAULT_GRACE = timedelta(minutes=2)
MAX_COUNTED_MISSED = 20_000
ACTIVE_STATUSES = (ExecutionStatus.QUEUED, ExecutionStatus.RUNNING)


@dataclass
class DispatchResult:
    """What one tick did."""

    queued: list[ExecutionId] = field(default_factory=list)
    skipped: list[tuple[StrategyId, str]] = field(default_factory=list)


def dispatch_due(
    sessions: SessionFactory, *, clock: Clock, grace: timedelta = DEFAULT_GRACE
) -> DispatchResult:
    """Create the executions of every due slot of every active strategy; return what was queued."""
    result = DispatchResult()
    now = clock.now()
    with sessions() as session:
        due = session.scalars(
            select(Strategy)
            .where(Strategy.state == StrategyState.ACTIVE, Strategy.next_run_at <= now)
            .order_by(Strategy.next_run_at)
            .with_for_update(skip_locked=True)
        ).all()
        for strategy in due:
            try:
                with session.begin_nested():
                    _dispatch_one(session, strategy, now, grace, result)
            except Exception:  # one broken strategy must not stop the others from running
                log.exception("could not dispatch strategy %s (%s)", strategy.id, strategy.name)
        session.commit()
    return result


def _dispatch_one(
    session: Session, strategy: Strategy, now: datetime, grace: timedelta, result: DispatchResult
) -> None:
    slot = strategy.next_run_at
    if slot is None:  # the query only returns strategies with a slot; keep mypy and readers sure
        return
    if now - slot > grace:
        resume = next_run_after(strategy.cron, strategy.timezone, now - grace - timedelta(microseconds=1))
        summary = _missed_summary(strategy, slot, resume)
        _create(
            session,
            strategy,
            slot=slot,
            status=ExecutionStatus.SKIPPED,
            now=now,
            summary=summary,
            result=result,
        )
        strategy.next_run_at = resume
        return
    strategy.next_run_at = next_run_after(strategy.cron, strategy.timezone, slot)
    if strategy.market_hours_only and not exchange_open(slot):
        return  # outside exchange hours: not a missed run, nothing to record
    busy = [
        execution
        for execution in session.scalars(
            select(StrategyExecution).where(
                StrategyExecution.strategy_id == strategy.id, StrategyExecution.status.in_(ACTIVE_STATUSES)
            )
        )
        if not interrupt_if_orphaned(session, execution, now)  # a run whose process died does not block
    ]
    if busy:
        summary = {"reason": "still_running", "running_execution_id": busy[0].id}
        _create(
            session,
            strategy,
            slot=slot,
            status=ExecutionStatus.SKIPPED,
            now=now,
            summary=summary,
            result=result,
        )
    else:
        _create(
            session, strategy, slot=slot, status=ExecutionStatus.QUEUED, now=now, summary=None, result=result
        )


def _missed_summary(strategy: Strategy, first: datetime, resume: datetime) -> dict[str, Any]:
    count, last = slots_between(strategy.cron, strategy.timezone, first, resume, MAX_COUNTED_MISSED)
    return {
        "reason": "missed_window",
        "first_missed": first.isoformat(),
        "last_missed": last.isoformat(),
        "missed_slots": count if count < MAX_COUNTED_MISSED else f"{MAX_COUNTED_MISSED}+",
    }


def _create(
    session: Session,
    strategy: Strategy,
    *,
    slot: datetime,
    status: ExecutionStatus,
    now: datetime,
    summary: dict[str, Any] | None,
    result: DispatchResult,
) -> None:
    execution = StrategyExecution(
        strategy_id=strategy.id,
        trigger=ExecutionTrigger.SCHEDULE,
        scheduled_for=slot,
        status=status,
        created_at=now,
        finished_at=now if status is ExecutionStatus.SKIPPED else None,
        summary=summary,
    )
    try:
        with session.begin_nested():
            session.add(execution)
    except IntegrityError:
        log.info("slot %s of strategy %s already dispatched elsewhere", slot.isoformat(), strategy.id)
        return
    if status is ExecutionStatus.QUEUED:
        result.queued.append(ExecutionId(execution.id))
    else:
        result.skipped.append((StrategyId(strategy.id), str((summary or {}).get("reason"))))


@lru_cache(maxsize=1)
def _nyse() -> Any:
    import exchange_calendars

    return exchange_calendars.get_calendar("XNYS")


def exchange_open(at: datetime) -> bool:
    """Tell whether NYSE is in a regular session at ``at``."""
    import warnings

    import pandas as pd
    from pandas.errors import Pandas4Warning

    with warnings.catch_warnings():  # exchange_calendars 4.13 still reads .values of tz-aware data
        warnings.simplefilter("ignore", Pandas4Warning)
        calendar = _nyse()
        minute = pd.Timestamp(at).floor("min")
        if minute < calendar.first_minute or minute > calendar.last_minute:
            return False
        return bool(calendar.is_open_on_minute(minute))
