"""The installation's state as gauges, read from the database when ``/metrics`` is scraped.

Counted events belong to the process that saw them; what *is* (orders by state, open positions, the kill
switch, executions waiting) is read from the one database, so every machine's ``/metrics`` says the same
and nothing is counted twice. A few grouped counts per scrape; no label names a user, a strategy or an
account.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ibflow.core.metrics import Gauge
from ibflow.db.models import Order, WorkerHeartbeat
from ibflow.db.models.executions import StrategyExecution
from ibflow.db.models.positions import Position, ReconcileMismatch
from ibflow.db.models.system import TradingState
from ibflow.db.states import ExecutionStatus, OrderState, PositionStatus, TradingStateValue
from ibflow.trading.risk.kill_switch import GLOBAL_SCOPE

log = logging.getLogger(__name__)

WAITING = (ExecutionStatus.QUEUED, ExecutionStatus.RUNNING)


def state_gauges(
    session: Session,
    *,
    now: datetime,
    dead_after: timedelta,
    queue_depths: Mapping[str, int] | None = None,
) -> list[Gauge]:
    """Every state gauge (``queue_depths``: messages waiting in the broker's queues, when known)."""
    gauges = [
        _executions(session),
        _orders(session),
        Gauge(
            "ibflow_open_positions",
            "Positions holding shares now.",
            (),
            {(): float(_count(session, Position.status == PositionStatus.OPEN, Position.id))},
        ),
        _kill_switch(session),
        Gauge(
            "ibflow_reconcile_mismatches_open",
            "Position mismatches with the broker not resolved yet.",
            (),
            {(): float(_count(session, ReconcileMismatch.resolved_at.is_(None), ReconcileMismatch.id))},
        ),
        _workers(session, now, dead_after),
    ]
    if queue_depths is not None:
        gauges.append(
            Gauge(
                "ibflow_queue_messages",
                "Messages waiting in the Celery broker's queue.",
                ("queue",),
                {(name,): float(depth) for name, depth in queue_depths.items()},
            )
        )
    return gauges


def reader(
    read_session: Callable[[], Session],
    *,
    now: Callable[[], datetime],
    dead_after: timedelta,
    queue_depths: Callable[[], Mapping[str, int] | None] = lambda: None,
) -> Callable[[], list[Gauge]]:
    """A function reading the gauges in a session of its own (the collector calls it at each scrape)."""

    def read() -> list[Gauge]:
        reached = True
        try:
            depths = queue_depths()
        except Exception:  # the broker is away: say so, and the rest still
            log.warning("could not read the broker's queue lengths for /metrics", exc_info=True)
            depths, reached = None, False
        with read_session() as session:
            gauges = state_gauges(session, now=now(), dead_after=dead_after, queue_depths=depths)
        if depths is not None or not reached:
            up: dict[tuple[str, ...], float] = {(): 1.0 if reached else 0.0}
            gauges.append(Gauge("ibflow_queue_broker_up", "1 when the Celery broker answered.", (), up))
        return gauges

    return read


def _count(session: Session, where: object, column: object) -> int:
    return int(session.scalar(select(func.count(column)).where(where)) or 0)  # type: ignore[arg-type]


def _executions(session: Session) -> Gauge:
    found = dict(
        session.execute(
            select(StrategyExecution.status, func.count(StrategyExecution.id))
            .where(StrategyExecution.status.in_(WAITING))
            .group_by(StrategyExecution.status)
        ).all()
    )
    return Gauge(
        "ibflow_executions_in_progress",
        "Executions queued (the queue's depth) and running now.",
        ("status",),
        {(status.value,): float(found.get(status, 0)) for status in WAITING},
    )


def _orders(session: Session) -> Gauge:
    found = dict(session.execute(select(Order.state, func.count(Order.id)).group_by(Order.state)).all())
    return Gauge(
        "ibflow_orders",
        "Orders in each state now.",
        ("state",),
        {(state.value,): float(found.get(state, 0)) for state in OrderState},
    )


def _kill_switch(session: Session) -> Gauge:
    current = session.scalar(select(TradingState.state).where(TradingState.scope == GLOBAL_SCOPE))
    current = current or TradingStateValue.ACTIVE  # no row yet: never changed, ACTIVE
    return Gauge(
        "ibflow_kill_switch",
        "1 for the kill switch's state now (ACTIVE, REDUCING, HALTED), 0 for the others.",
        ("state",),
        {(value.value,): 1.0 if value is current else 0.0 for value in TradingStateValue},
    )


def _workers(session: Session, now: datetime, dead_after: timedelta) -> Gauge:
    found = dict(
        session.execute(
            select(WorkerHeartbeat.role, func.count(WorkerHeartbeat.owner))
            .where(WorkerHeartbeat.seen_at >= now - dead_after)
            .group_by(WorkerHeartbeat.role)
        ).all()
    )
    return Gauge(
        "ibflow_runtime_processes",
        "Celery workers and beat processes whose heartbeat is recent.",
        ("role",),
        {(role,): float(found.get(role, 0)) for role in ("worker", "beat")},
    )
