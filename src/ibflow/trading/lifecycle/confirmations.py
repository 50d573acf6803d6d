"""A trader confirms or rejects an order the broker asked a question about (``needs_confirmation``).

The broker asked and ibflow declined at once (TRADING-SAFETY, "IBKR order questions"), so nothing is at the
broker. Only entries wait: an exit, a stop or a replacement asked a question ends ``rejected`` at once
(``sending.py``), since a position must never stay unsold or unprotected while a person is away.
Confirming records the question's message ids on the order (audited) and sends it again under the
account lock: the entry bracket is judged again exactly as a first send is (strategy active, kill switch,
fresh quote, limits), so a confirmation an hour later cannot slip past a limit; the broker then answers those
ids for this order only. Rejecting ends the order and its children ``rejected`` with the trader's reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ibflow.brokers.base import Broker
from ibflow.core.clock import Clock
from ibflow.core.errors import InvalidTransition, NotFound
from ibflow.core.settings import BrokerSettings, RiskSettings
from ibflow.db.engine import SessionFactory
from ibflow.db.locks import NamedLocks
from ibflow.db.models import Order, OrderEvent
from ibflow.db.states import OrderRole, OrderState
from ibflow.trading.audit import record_audit
from ibflow.trading.lifecycle.orders import children_of, hold_account, move
from ibflow.trading.lifecycle.submission import resend_bracket
from ibflow.trading.positions.book import set_signal_outcome


@dataclass(frozen=True)
class Confirmation:
    """What became of a confirmed or rejected order: its state after, and the question it answered."""

    order_id: int
    client_order_id: str
    state: str
    question: str
    message_ids: tuple[str, ...]


def pending_question(session: Session, order: Order) -> tuple[str, tuple[str, ...]]:
    """The question text and message ids that put ``order`` in ``needs_confirmation``."""
    event = session.scalars(
        select(OrderEvent)
        .where(OrderEvent.order_id == order.id, OrderEvent.to_state == OrderState.NEEDS_CONFIRMATION)
        .order_by(OrderEvent.id.desc())
        .limit(1)
    ).first()
    detail = (event.broker_detail or {}) if event is not None else {}
    return str(detail.get("question", event.reason if event else "")), tuple(detail.get("message_ids", ()))


def confirm_order(
    sessions: SessionFactory,
    *,
    broker: Broker,
    locks: NamedLocks,
    clock: Clock,
    order_id: int,
    actor: str,
    risk_env: RiskSettings,
    broker_env: BrokerSettings,
) -> Confirmation:
    """Confirm the broker's question for ``order_id`` and send the order again (judged again if an entry)."""
    account_id = _waiting(sessions, order_id).account_id
    with hold_account(locks, account_id):
        with sessions() as session:
            order = _waiting_in(session, order_id)
            question, ids = pending_question(session, order)
            order.confirmed_questions = sorted({*(order.confirmed_questions or ()), *ids})
            record_audit(
                session,
                actor=actor,
                action="order.confirm",
                at=clock.now(),
                target_type="order",
                target_id=order.id,
                before={"state": order.state.value},
                after={"confirmed_questions": order.confirmed_questions},
                detail=question,
            )
            session.commit()
        resend_bracket(
            sessions,
            broker=broker,
            parent_id=order_id,
            clock=clock,
            risk_env=risk_env,
            broker_env=broker_env,
            context=f"confirmed by {actor}",
        )
    return _result(sessions, order_id, question, ids)


def reject_order(
    sessions: SessionFactory, *, locks: NamedLocks, clock: Clock, order_id: int, actor: str, reason: str
) -> Confirmation:
    """End a waiting order (and its children) ``rejected``: the broker never held it."""
    account_id = _waiting(sessions, order_id).account_id
    with hold_account(locks, account_id), sessions() as session:
        order = _waiting_in(session, order_id)
        question, ids = pending_question(session, order)
        why = f"rejected by {actor}: {reason}" if reason else f"rejected by {actor}"
        now = clock.now()
        for row in [order, *children_of(session, order)]:
            if row.state is OrderState.NEEDS_CONFIRMATION:
                move(session, row, OrderState.REJECTED, at=now, reason=why)
        if order.role is OrderRole.ENTRY:
            set_signal_outcome(session, order.signal_id, "rejected")
        record_audit(
            session,
            actor=actor,
            action="order.reject",
            at=now,
            target_type="order",
            target_id=order.id,
            before={"state": OrderState.NEEDS_CONFIRMATION.value},
            after={"state": OrderState.REJECTED.value},
            detail=why,
        )
        session.commit()
    return _result(sessions, order_id, question, ids)


def _waiting(sessions: SessionFactory, order_id: int) -> Order:
    with sessions() as session:
        order = _waiting_in(session, order_id)
        session.expunge(order)
        return order


def _waiting_in(session: Session, order_id: int) -> Order:
    order = session.get(Order, order_id)
    if order is None:
        raise NotFound(f"order {order_id} does not exist")
    if order.parent_id is not None:
        raise InvalidTransition(
            f"order {order_id} is a bracket child: confirm or reject its parent {order.parent_id}"
        )
    if order.state is not OrderState.NEEDS_CONFIRMATION:
        raise InvalidTransition(f"order {order_id} is {order.state.value}, not waiting for a confirmation")
    if order.role is not OrderRole.ENTRY:  # rows of an older ibflow: exits and protection never wait now
        raise InvalidTransition(f"order {order_id} is an {order.role.value}: only entries wait for a trader")
    return order


def _result(sessions: SessionFactory, order_id: int, question: str, ids: tuple[str, ...]) -> Confirmation:
    with sessions() as session:
        order = session.get_one(Order, order_id)
        return Confirmation(order.id, order.client_order_id, order.state.value, question, ids)
