"""The daily summary: once a day per account, after the summary hour (UTC), one event saying what the day
came to — equity and its change, realized P&L of the trades closed, open positions, executions and fills.

It is an outbox event like any other (``summary.daily``), so the notification targets that subscribe to
``daily_summary`` receive it through the shared reader. At most one per account and day, whichever process
runs the job first: the check and the write hold the account's summary lock. Executions are counted for
the whole installation (an execution names its strategy, not an account); everything else is the account's.
A day on which no process runs between the summary hour and midnight (UTC) has no summary.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ibflow.core.clock import Clock
from ibflow.db.engine import SessionFactory
from ibflow.db.events.outbox import record_event
from ibflow.db.locks import NamedLocks
from ibflow.db.models import Event, Fill, PortfolioSnapshot, Position, StrategyExecution, Trade, TradingState
from ibflow.db.states import ExecutionStatus, PositionStatus

KIND = "summary.daily"


def write_daily_summary(
    sessions: SessionFactory, *, account_id: str, clock: Clock, locks: NamedLocks, hour_utc: int
) -> bool:
    """Write the summary of today (UTC) for ``account_id`` once ``hour_utc`` has passed; tell if it did."""
    now = clock.now().astimezone(UTC)
    if now.hour < hour_utc:
        return False
    day = now.date()
    start = datetime.combine(day, time(0), tzinfo=UTC)
    with locks.hold(f"daily-summary:{account_id}", timeout_s=30), sessions() as session:
        if _written(session, account_id, day, start):
            return False
        payload = _payload(session, account_id, day, start, now)
        record_event(
            session,
            kind=KIND,
            at=now,
            message=_message(payload),
            account_id=account_id,
            payload=payload,
        )
        session.commit()
    return True


def _written(session: Session, account_id: str, day: date, start: datetime) -> bool:
    payloads = session.scalars(
        select(Event.payload).where(
            Event.kind == KIND, Event.account_id == account_id, Event.created_at >= start
        )
    )
    return any((payload or {}).get("date") == str(day) for payload in payloads)


def _snapshot(session: Session, account_id: str, before: datetime) -> PortfolioSnapshot | None:
    return session.scalars(
        select(PortfolioSnapshot)
        .where(PortfolioSnapshot.account_id == account_id, PortfolioSnapshot.taken_at <= before)
        .order_by(PortfolioSnapshot.taken_at.desc(), PortfolioSnapshot.id.desc())
        .limit(1)
    ).first()


def _first_snapshot(session: Session, account_id: str, since: datetime) -> PortfolioSnapshot | None:
    return session.scalars(
        select(PortfolioSnapshot)
        .where(PortfolioSnapshot.account_id == account_id, PortfolioSnapshot.taken_at >= since)
        .order_by(PortfolioSnapshot.taken_at, PortfolioSnapshot.id)
        .limit(1)
    ).first()


def _payload(
    session: Session, account_id: str, day: date, start: datetime, now: datetime
) -> dict[str, object]:
    latest = _snapshot(session, account_id, now)
    opening = _snapshot(session, account_id, start) or _first_snapshot(session, account_id, start)
    trades = session.scalars(
        select(Trade.net_pnl).where(
            Trade.account_id == account_id, Trade.closed_at >= start, Trade.closed_at <= now
        )
    ).all()
    statuses = dict(
        session.execute(
            select(StrategyExecution.status, func.count())
            .where(StrategyExecution.finished_at >= start, StrategyExecution.finished_at <= now)
            .group_by(StrategyExecution.status)
        ).all()
    )
    fills = session.scalar(
        select(func.count())
        .select_from(Fill)
        .where(Fill.account_id == account_id, Fill.filled_at >= start, Fill.filled_at <= now)
    )
    open_positions = session.scalar(
        select(func.count())
        .select_from(Position)
        .where(Position.account_id == account_id, Position.status == PositionStatus.OPEN)
    )
    state = session.scalar(select(TradingState.state).where(TradingState.scope == "global"))
    equity = latest.equity if latest is not None else None
    change = equity - opening.equity if equity is not None and opening is not None else None
    return {
        "date": str(day),
        "equity": _text(equity),
        "equity_change": _text(change),
        "realized_pnl": _text(sum(trades, Decimal(0))),
        "trades_closed": len(trades),
        "open_positions": int(open_positions or 0),
        "executions": sum(int(n) for n in statuses.values()),
        "executions_failed": int(statuses.get(ExecutionStatus.FAILED, 0)),
        "fills": int(fills or 0),
        "trading_state": str(state.value if state is not None else "ACTIVE"),
    }


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _message(payload: dict[str, object]) -> str:
    equity = payload["equity"] or "unknown"
    change = f" ({payload['equity_change']} today)" if payload["equity_change"] is not None else ""
    return (
        f"{payload['date']}: equity {equity}{change}; realized {payload['realized_pnl']} on "
        f"{payload['trades_closed']} closed trade(s); {payload['open_positions']} open position(s); "
        f"{payload['executions']} execution(s) of all strategies, {payload['executions_failed']} failed; "
        f"{payload['fills']} fill(s); trading {payload['trading_state']}"
    )
