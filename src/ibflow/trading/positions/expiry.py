"""Entry expiry: an entry still working at its ``expires_at`` (the signal's expiry or the end of the New York
trading day, set at submission) is cancelled, and its children are resized to what it filled.

A cancel is always allowed by the kill switch. An entry that filled nothing ends with its signal's outcome
``expired``; one that filled part keeps its position, protected by children shrunk to the filled quantity
(``protection.align_protection``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ibflow.brokers.base import Broker
from ibflow.core.clock import Clock
from ibflow.core.settings import BrokerSettings, RiskSettings
from ibflow.db.engine import SessionFactory
from ibflow.db.events.outbox import record_event
from ibflow.db.locks import NamedLocks
from ibflow.db.models import Order
from ibflow.db.states import OrderOrigin, OrderRole, OrderState
from ibflow.trading.lifecycle.cancels import Services, Waiting, cancel_and_confirm
from ibflow.trading.lifecycle.orders import hold_account
from ibflow.trading.lifecycle.tracking import envs
from ibflow.trading.positions.book import set_signal_outcome
from ibflow.trading.positions.protection import align_protection
from ibflow.trading.risk.kill_switch import OrderPurpose, require_allowed

_EXPIRABLE = (OrderState.WORKING, OrderState.PARTIALLY_FILLED, OrderState.INACTIVE)


def expire_entries(
    sessions: SessionFactory,
    *,
    broker: Broker,
    locks: NamedLocks,
    account_id: str,
    clock: Clock,
    risk_env: RiskSettings | None = None,
    broker_env: BrokerSettings | None = None,
    waiting: Waiting | None = None,
) -> list[int]:
    """Cancel every entry of the account past its expiry; return the ids of the entries that ended."""
    services = Services(sessions, broker, locks, clock, *envs(risk_env, broker_env), waiting)
    with hold_account(locks, account_id):
        services.sync(account_id)
        now = clock.now()
        with sessions() as session:
            require_allowed(session, OrderPurpose.CANCEL, reduces_exposure=True, at=now)
            due_ids = _due(session, account_id, now)
            session.commit()
        if not due_ids:
            return []
        unconfirmed = cancel_and_confirm(services, account_id, due_ids, why="entry expired")
        ended = [order_id for order_id in due_ids if order_id not in unconfirmed]
        with sessions() as session:
            for order_id in ended:
                order = session.get_one(Order, order_id)
                if order.filled_quantity == 0:
                    set_signal_outcome(session, order.signal_id, "expired")
            session.commit()
        align_protection(services, account_id)
    return ended


def _due(session: Session, account_id: str, now: datetime) -> list[int]:
    due = session.scalars(
        select(Order).where(
            Order.account_id == account_id,
            Order.origin == OrderOrigin.IBFLOW,
            Order.role == OrderRole.ENTRY,
            Order.state.in_(_EXPIRABLE),
            Order.expires_at.is_not(None),
            Order.expires_at <= now,
        )
    ).all()
    for order in due:
        record_event(
            session,
            kind="order.expiring",
            at=now,
            entity_type="order",
            entity_id=order.id,
            execution_id=order.execution_id,
            account_id=account_id,
            message=f"{order.symbol} entry reached its expiry {order.expires_at:%Y-%m-%d %H:%M} UTC "
            f"with {order.filled_quantity.normalize():f} of {order.quantity.normalize():f} filled",
        )
    return [order.id for order in due]
