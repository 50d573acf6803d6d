"""Sync with the broker now: the tracking job of every account, run at a trader's request.

The periodic tracking job (``jobs.tracking_job``: orders, fills, protection, the daily-loss check) runs
every ``IBFLOW_TRACK_INTERVAL_SECONDS``; ``sync_accounts`` runs the same job at once, in this process, under
the same account lock (``hold_account``, taken inside the job), and says what changed: the orders whose state
moved, the fills recorded, the protective orders resized or cancelled, and the trading state if the daily
loss limit halted it. An account whose broker cannot be reached says why and the others are synced still.
With Celery the container sends the job to the ``trading`` queue instead (``Container.sync_with_broker``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ibflow.core.errors import IbflowError
from ibflow.db.models import Fill, Order
from ibflow.workflow.deps import BrokerHandle, WorkflowDeps
from ibflow.workflow.queries.status import trading_state
from ibflow.workflow.runtime.jobs import tracking_job

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OrderMove:
    """An order whose state the sync changed (``before`` is ``None`` for an order it created)."""

    order_id: int
    symbol: str
    role: str
    before: str | None
    after: str

    def describe(self) -> str:
        return f"#{self.order_id} {self.symbol} {self.role} {self.before or 'new'} -> {self.after}"


@dataclass(frozen=True)
class NewFill:
    """A fill the sync recorded."""

    fill_id: int
    order_id: int | None
    side: str
    quantity: Decimal
    price: Decimal


@dataclass(frozen=True)
class AccountSync:
    """What the sync of one account changed, or why it could not."""

    account_id: str
    orders: list[OrderMove] = field(default_factory=list)
    fills: list[NewFill] = field(default_factory=list)
    error: str | None = None

    @property
    def changed_anything(self) -> bool:
        """Synced, or stopped only after some of its changes were committed (then they are reported)."""
        return self.error is None or bool(self.orders or self.fills)

    def describe(self) -> str:
        moves = [move.describe() for move in self.orders[:_SHOWN]]
        if len(self.orders) > _SHOWN:
            moves.append(f"{len(self.orders) - _SHOWN} more")
        fills = [_count(len(self.fills), "new fill")] if self.fills else []
        if self.error is not None:
            if not moves and not fills:
                return f"{self.account_id}: not synced: {self.error}"
            # part of the job committed before it stopped: say what changed, then why it stopped
            return f"{self.account_id}: " + ", ".join(moves + fills) + f"; then stopped: {self.error}"
        if not moves and not fills:
            return f"{self.account_id}: nothing changed"
        return f"{self.account_id}: " + ", ".join(moves + fills)


@dataclass(frozen=True)
class BrokerSync:
    """The answer of a sync: done here (``queued`` False, with what changed), or sent to the workers."""

    queued: bool
    accounts: list[AccountSync] = field(default_factory=list)
    trading_state: str | None = None
    """The kill switch after the sync (the daily-loss check may have halted trading); ``None`` when queued."""
    jobs: list[str] = field(default_factory=list)
    """The tracking jobs sent to the workers' ``trading`` queue (Celery)."""

    @property
    def complete(self) -> bool:
        return all(account.error is None for account in self.accounts)

    def describe(self) -> str:
        """One line: what changed in each account, or that the workers were asked."""
        if self.queued:
            jobs = ", ".join(self.jobs)
            return f"sync sent to the workers' trading queue ({jobs}); the pages update as it lands"
        line = "synced with the broker: " + "; ".join(account.describe() for account in self.accounts)
        if self.trading_state == "HALTED":
            line += "; trading is HALTED"
        return line

    def as_dict(self) -> dict[str, Any]:
        return {
            "queued": self.queued,
            "complete": self.complete,
            "message": self.describe(),
            "trading_state": self.trading_state,
            "jobs": self.jobs,
            "accounts": [
                {
                    "account_id": account.account_id,
                    "error": account.error,
                    "orders": [move.__dict__ for move in account.orders],
                    "fills": [
                        {**fill.__dict__, "quantity": _plain(fill.quantity), "price": _plain(fill.price)}
                        for fill in account.fills
                    ],
                }
                for account in self.accounts
            ],
        }


def sync_accounts(deps: WorkflowDeps, accounts: Sequence[BrokerHandle]) -> BrokerSync:
    """Run the tracking job of every account now, in this thread; say what changed in each."""
    done = [_sync_one(deps, handle) for handle in accounts]
    with deps.sessions() as session:
        state = trading_state(session).state
    return BrokerSync(queued=False, accounts=done, trading_state=state)


def _sync_one(deps: WorkflowDeps, handle: BrokerHandle) -> AccountSync:
    """Sync one account; any failure is this account's answer (the others are synced still), and what the
    job committed before it stopped (fills, order moves) is reported with it."""
    account_id = handle.account_id
    try:
        with deps.sessions() as session:
            states, last_order, last_fill = _books(session, account_id)
    except Exception as exc:
        log.exception("sync of %s: could not read the books", account_id)
        return AccountSync(account_id, error=_reason(exc))
    error = None
    try:
        tracking_job(deps, handle)()
    except Exception as exc:  # the broker away, the lock busy, a bug: say so, sync the other accounts
        if not isinstance(exc, IbflowError):
            log.exception("sync of %s failed", account_id)
        error = _reason(exc)
    try:
        with deps.sessions() as session:
            moves = _moves(session, account_id, states, last_order)
            fills = _fills_after(session, account_id, last_fill)
    except Exception as exc:
        log.exception("sync of %s: could not read what changed", account_id)
        return AccountSync(account_id, error=error or _reason(exc))
    return AccountSync(account_id, orders=moves, fills=fills, error=error)


def _reason(exc: Exception) -> str:
    """What a user is told: an ibflow error's own words; anything else by kind only (details in the log)."""
    if isinstance(exc, IbflowError):
        return str(exc) or type(exc).__name__
    return f"unexpected {type(exc).__name__} (details in the server log)"


def _books(session: Session, account_id: str) -> tuple[dict[int, str], int, int]:
    """Every live order's state, and the last order and fill ids, before the sync."""
    live = session.execute(select(Order.id, Order.state).where(Order.account_id == account_id)).all()
    states = {order_id: state.value for order_id, state in live if not state.is_terminal}
    last_order = session.scalar(select(func.max(Order.id)).where(Order.account_id == account_id)) or 0
    last_fill = session.scalar(select(func.max(Fill.id)).where(Fill.account_id == account_id)) or 0
    return states, last_order, last_fill


def _moves(session: Session, account_id: str, before: dict[int, str], last_order: int) -> list[OrderMove]:
    rows = session.scalars(
        select(Order)
        .where(Order.account_id == account_id, Order.id.in_(before) | (Order.id > last_order))
        .order_by(Order.id)
    ).all()
    return [
        OrderMove(order.id, order.symbol, order.role.value, before.get(order.id), order.state.value)
        for order in rows
        if before.get(order.id) != order.state.value
    ]


def _fills_after(session: Session, account_id: str, last_fill: int) -> list[NewFill]:
    rows = session.scalars(
        select(Fill).where(Fill.account_id == account_id, Fill.id > last_fill).order_by(Fill.id)
    ).all()
    return [NewFill(f.id, f.order_id, f.side.value, f.quantity, f.price) for f in rows]


_SHOWN = 4
"""Order changes named in the one-line answer; the JSON lists them all."""


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _plain(value: Decimal) -> str:
    return f"{value.normalize():f}"
