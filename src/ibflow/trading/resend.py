"""Send entry brackets a crash left unsent: rows still in ``intent`` provably never reached the broker.

Run under the account lock during reconciliation (so at start-up, before the first dispatch). A bracket is
sent once, as it was judged, if its entry has not expired and the kill switch still allows entries;
otherwise its rows are ``rejected`` with the reason. A row that reached ``submitting`` is never resent:
it may be live, and tracking settles it by client order id.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ibflow.brokers.base import Broker
from ibflow.core.clock import Clock
from ibflow.db.engine import SessionFactory
from ibflow.db.models import Order
from ibflow.db.states import OrderRole, OrderState
from ibflow.trading.orders import children_of, move
from ibflow.trading.state import OrderPurpose, allows, current_state
from ibflow.trading.submission import send_bracket

_CHILD_ORDER = {OrderRole.STOP: 0, OrderRole.TARGET: 1}


def resend_unsent(
    sessions: SessionFactory, *, broker: Broker, account_id: str, clock: Clock, halt_after: int
) -> list[str]:
    """Send (or reject) every never-sent entry bracket of the account; return the parents' client ids."""
    now = clock.now()
    to_send: list[list[Order]] = []
    handled: list[str] = []
    with sessions() as session:
        parents = session.scalars(
            select(Order).where(
                Order.account_id == account_id,
                Order.role == OrderRole.ENTRY,
                Order.state == OrderState.INTENT,
            )
        ).all()
        state = current_state(session, at=now)
        for parent in parents:
            children = sorted(children_of(session, parent), key=lambda c: _CHILD_ORDER.get(c.role, 9))
            rows = [parent, *children]
            handled.append(parent.client_order_id)
            if parent.expires_at is not None and parent.expires_at <= now:
                _reject(session, rows, now, "never sent before a crash, and expired since")
            elif [c.role for c in children] != [OrderRole.STOP, OrderRole.TARGET]:
                _reject(session, rows, now, "never sent before a crash, and not a complete bracket")
            elif not allows(state.state, OrderPurpose.ENTRY, reduces_exposure=False):
                _reject(session, rows, now, f"never sent before a crash; trading is now {state.state.value}")
            else:
                to_send.append(rows)
        session.commit()
    for rows in to_send:
        send_bracket(sessions, broker=broker, clock=clock, orders=rows, halt_after=halt_after)
    return handled


def _reject(session: Session, rows: list[Order], now: datetime, reason: str) -> None:
    for row in rows:
        move(session, row, OrderState.REJECTED, at=now, reason=reason)
