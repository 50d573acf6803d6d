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

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
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
    """Create the executions of every due slot of every active strategy; return what was queued.

    One tick is a handful of statements whatever the number due: the claim, the busy runs of those
    strategies, one insert of every new execution (a slot another dispatcher took is skipped by the unique
    key), and the new ``next_run_at`` of each, in one transaction.
    """
    result = DispatchResult()
    now = clock.now()
    with sessions() as session:
        due = [
            _Due(*row)
            for row in session.execute(
                select(
                    Strategy.id,
                    Strategy.name,
                    Strategy.cron,
                    Strategy.timezone,
                    Strategy.next_run_at,
                    Strategy.market_hours_only,
                )
                .where(Strategy.state == StrategyState.ACTIVE, Strategy.next_run_at <= now)
                .order_by(Strategy.next_run_at)
                .with_for_update(skip_locked=True, of=Strategy)
            )
        ]
        if not due:
            return result
        busy = _busy(session, [strategy.id for strategy in due], now)
        rows: list[dict[str, Any]] = []
        moves: list[dict[str, Any]] = []
        for strategy in due:
            try:  # one broken strategy (a cron that no longer parses) must not stop the others
                row, next_run_at = _plan_one(strategy, now, grace, busy.get(strategy.id))
            except Exception:
                log.exception("could not dispatch strategy %s (%s)", strategy.id, strategy.name)
                continue
            moves.append({"id": strategy.id, "next_run_at": next_run_at})
            if row is not None:
                rows.append(row)
        _insert(session, rows, result)
        if moves:
            session.execute(update(Strategy), moves)  # one statement for all (by primary key)
        session.commit()
    return result


@dataclass(frozen=True)
class _Due:
    """What the tick reads of a due strategy."""

    id: int
    name: str
    cron: str
    timezone: str
    next_run_at: datetime | None
    market_hours_only: bool


def _busy(session: Session, strategy_ids: list[int], now: datetime) -> dict[int, int]:
    """The running or queued execution of each of ``strategy_ids`` (one whose process died does not count)."""
    busy: dict[int, int] = {}
    active = session.scalars(
        select(StrategyExecution).where(
            StrategyExecution.strategy_id.in_(strategy_ids), StrategyExecution.status.in_(ACTIVE_STATUSES)
        )
    ).all()
    for execution in active:
        if not interrupt_if_orphaned(session, execution, now):
            busy.setdefault(execution.strategy_id, execution.id)
    return busy


def _plan_one(
    strategy: _Due, now: datetime, grace: timedelta, running_id: int | None
) -> tuple[dict[str, Any] | None, datetime | None]:
    """Return the execution row this slot gets (``None``: outside market hours) and the next slot."""
    slot = strategy.next_run_at
    if slot is None:  # the query only returns strategies with a slot; keep mypy and readers sure
        return None, None
    if now - slot > grace:
        resume = next_run_after(strategy.cron, strategy.timezone, now - grace - timedelta(microseconds=1))
        summary = _missed_summary(strategy, slot, resume)
        return _row(strategy, slot, ExecutionStatus.SKIPPED, now, summary), resume
    following = next_run_after(strategy.cron, strategy.timezone, slot)
    if strategy.market_hours_only and not exchange_open(slot):
        return None, following  # outside exchange hours: not a missed run, nothing to record
    if running_id is not None:
        summary = {"reason": "still_running", "running_execution_id": running_id}
        return _row(strategy, slot, ExecutionStatus.SKIPPED, now, summary), following
    return _row(strategy, slot, ExecutionStatus.QUEUED, now, None), following


def _missed_summary(strategy: _Due, first: datetime, resume: datetime) -> dict[str, Any]:
    count, last = slots_between(strategy.cron, strategy.timezone, first, resume, MAX_COUNTED_MISSED)
    return {
        "reason": "missed_window",
        "first_missed": first.isoformat(),
        "last_missed": last.isoformat(),
        "missed_slots": count if count < MAX_COUNTED_MISSED else f"{MAX_COUNTED_MISSED}+",
    }


def _row(
    strategy: _Due,
    slot: datetime,
    status: ExecutionStatus,
    now: datetime,
    summary: dict[str, Any] | None,
) -> dict[str, Any]:
    return {
        "strategy_id": strategy.id,
        "trigger": ExecutionTrigger.SCHEDULE,
        "scheduled_for": slot,
        "status": status,
        "created_at": now,
        "finished_at": now if status is ExecutionStatus.SKIPPED else None,
        "summary": summary,
    }


def _insert(session: Session, rows: list[dict[str, Any]], result: DispatchResult) -> None:
    """Insert the new executions at once; a slot another dispatcher already took is left out."""
    if not rows:
        return
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = (
        insert(StrategyExecution)
        .on_conflict_do_nothing(index_elements=["strategy_id", "scheduled_for"])
        .returning(StrategyExecution.id, StrategyExecution.strategy_id, StrategyExecution.status)
    )
    # One statement compiled once (cached), sent for every row: "insertmanyvalues" batches them.
    returned = session.connection().execute(statement, rows)
    created = {strategy_id: (execution_id, status) for execution_id, strategy_id, status in returned}
    for row in rows:  # in the order the strategies came due
        found = created.get(row["strategy_id"])
        if found is None:
            slot, strategy_id = row["scheduled_for"], row["strategy_id"]
            log.info("slot %s of strategy %s already dispatched elsewhere", slot, strategy_id)
            continue
        execution_id, status = found
        if status is ExecutionStatus.QUEUED:
            result.queued.append(ExecutionId(execution_id))
        else:
            result.skipped.append((StrategyId(row["strategy_id"]), str((row["summary"] or {}).get("reason"))))


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
