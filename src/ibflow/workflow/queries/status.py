"""``ibflow status`` in one read: the kill switch, broker sessions, accounts, positions, orders, next runs.

Everything comes from ibflow's database, so it answers in well under a second without touching the broker:
the account numbers from the newest portfolio snapshot (with its time), the broker session from the last
``broker.session_changed`` event the running service recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ibflow.core.clock import Clock
from ibflow.db.models.positions import ReconcileMismatch
from ibflow.db.models.strategies import Strategy
from ibflow.db.models.system import Event, TradingState
from ibflow.db.states import StrategyState
from ibflow.trading.risk.kill_switch import GLOBAL_SCOPE, NEVER_CHANGED, realized_pnl_of_day
from ibflow.workflow.queries.trading_views import (
    WORKING,
    OrderView,
    PositionView,
    View,
    latest_snapshot,
    list_orders,
    open_positions,
)


@dataclass(frozen=True)
class TradingStateView(View):
    """The kill switch."""

    state: str
    reason: str
    changed_by: str
    changed_at: datetime | None


@dataclass(frozen=True)
class AccountView(View):
    """One broker account: its session as last seen, and its numbers at the newest snapshot."""

    account_id: str
    kind: str
    """What the account is: the simulated paper broker, an IBKR paper account or an IBKR LIVE one."""
    session_healthy: bool | None
    session_detail: str
    session_seen_at: datetime | None
    cash: Decimal | None
    equity: Decimal | None
    unrealized_pnl: Decimal | None
    realized_today: Decimal
    snapshot_at: datetime | None


@dataclass(frozen=True)
class MismatchView(View):
    """An open difference between ibflow's books and the broker's."""

    account_id: str
    conid: int
    ibflow_quantity: Decimal
    broker_quantity: Decimal
    detail: str
    detected_at: datetime


@dataclass(frozen=True)
class NextRunView(View):
    """When an active strategy runs next."""

    strategy: str
    symbol: str
    cron: str
    timezone: str
    next_run_at: datetime | None


@dataclass(frozen=True)
class StatusReport:
    """Everything ``ibflow status`` shows."""

    at: datetime
    trading: TradingStateView
    accounts: list[AccountView]
    positions: list[PositionView]
    working_orders: list[OrderView]
    mismatches: list[MismatchView]
    next_runs: list[NextRunView]

    def as_dict(self) -> dict[str, Any]:
        """Return the report as JSON-ready values."""
        return {
            "at": self.at.isoformat(),
            "trading": self.trading.as_dict(),
            "accounts": [item.as_dict() for item in self.accounts],
            "positions": [item.as_dict() for item in self.positions],
            "working_orders": [item.as_dict() for item in self.working_orders],
            "mismatches": [item.as_dict() for item in self.mismatches],
            "next_runs": [item.as_dict() for item in self.next_runs],
        }


def trading_state(session: Session) -> TradingStateView:
    """Read the kill switch without writing (ACTIVE when it was never set)."""
    row = session.scalars(select(TradingState).where(TradingState.scope == GLOBAL_SCOPE)).one_or_none()
    if row is None or row.changed_at == NEVER_CHANGED:
        return TradingStateView("ACTIVE", "never changed", "system", None)
    return TradingStateView(row.state.value, row.reason, row.changed_by, row.changed_at)


def account_view(session: Session, account_id: str, clock: Clock, kind: str = "") -> AccountView:
    """Read one account's session and numbers from the database."""
    event = session.scalars(
        select(Event)
        .where(Event.kind == "broker.session_changed", Event.account_id == account_id)
        .order_by(Event.id.desc())
        .limit(1)
    ).first()
    snapshot = latest_snapshot(session, account_id)
    payload = (event.payload or {}) if event is not None else {}
    return AccountView(
        account_id=account_id,
        kind=kind,
        session_healthy=bool(payload["healthy"]) if "healthy" in payload else None,
        session_detail=str(payload.get("detail", "no loss of session recorded")),
        session_seen_at=event.created_at if event is not None else None,
        cash=snapshot.cash if snapshot is not None else None,
        equity=snapshot.equity if snapshot is not None else None,
        unrealized_pnl=snapshot.unrealized_pnl if snapshot is not None else None,
        realized_today=realized_pnl_of_day(session, account_id, clock.now()),
        snapshot_at=snapshot.taken_at if snapshot is not None else None,
    )


def status_report(session: Session, *, accounts: Mapping[str, str], clock: Clock) -> StatusReport:
    """Build the whole status from the database (``accounts``: each account id and its kind)."""
    mismatches = session.scalars(
        select(ReconcileMismatch)
        .where(ReconcileMismatch.resolved_at.is_(None))
        .order_by(ReconcileMismatch.detected_at)
    )
    strategies = session.scalars(
        select(Strategy)
        .where(Strategy.state == StrategyState.ACTIVE)
        .order_by(Strategy.next_run_at.is_(None), Strategy.next_run_at, Strategy.id)
        .limit(10)
    )
    return StatusReport(
        at=clock.now(),
        trading=trading_state(session),
        accounts=[account_view(session, account_id, clock, kind) for account_id, kind in accounts.items()],
        positions=open_positions(session),
        working_orders=list_orders(session, state=WORKING, limit=100),
        mismatches=[
            MismatchView(
                row.account_id,
                row.conid,
                row.ibflow_quantity,
                row.broker_quantity,
                row.detail,
                row.detected_at,
            )
            for row in mismatches
        ],
        next_runs=[
            NextRunView(row.name, row.symbol, row.cron, row.timezone, row.next_run_at) for row in strategies
        ],
    )
