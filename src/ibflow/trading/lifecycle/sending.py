"""Sending order rows to a broker and recording what came of it (TRADING-SAFETY rules 1 to 3).

Every send commits ``submitting`` before the broker call and the outcome after it, in sessions of its own,
so no transaction is open while the broker works (the paper broker writes its own books in the same
database). Outcomes:

==========================  ===========================================================================
acknowledged                the broker's ids and status are recorded (parent ``working``, children
                            ``inactive``, or whatever the broker reports)
``OrderRejected``           ``rejected`` with the broker's reason (definitive)
``OrderNotSent``            provably never left: sent once more; refused again, ``rejected``
``OrderOutcomeUnknown``     ``submit_unknown`` (``unknown_since`` set); never sent again: tracking settles
                            it by client order id or proves it absent after the grace period
``DuplicateClientOrderId``  the broker already holds it: looked up in its live orders and given that
                            state; never counted as rejected
``OrderNeedsConfirmation``  the broker asked a question ibflow may not answer: not placed; an entry's rows
                            wait ``needs_confirmation`` for a trader (``confirmations.py``); any other
                            order (exit, stop, replacement) ends ``rejected``: it must never wait
anything else               treated as ambiguous (``submit_unknown``); errors that are not ibflow's own
                            are raised again after the outcome is committed
==========================  ===========================================================================

Callers hold the account lock (``orders.hold_account``) around a send. Right before each broker call the
sender asks the database whether the lock is still held (``LockLost`` otherwise: a PostgreSQL server
releases it when its connection drops) and runs the caller's ``guard`` (an entry's: is trading still
allowed?); a guard that answers with a reason ends the rows ``rejected`` with it, nothing sent.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy.orm import Session

from ibflow.brokers.base import BracketRole, Broker, BrokerOrder, OrderRequest, PlacedOrder
from ibflow.core.clock import Clock
from ibflow.core.errors import (
    BrokerRejected,
    DuplicateClientOrderId,
    IbflowError,
    OrderNeedsConfirmation,
    OrderNotSent,
    OrderOutcomeUnknown,
    OrderRejected,
)
from ibflow.core.faultpoints import AFTER_BROKER_CALL, crash_point
from ibflow.core.ids import AccountId, ClientOrderId, Conid
from ibflow.core.log_context import log_context
from ibflow.db.engine import SessionFactory
from ibflow.db.events.outbox import record_event
from ibflow.db.models import Order
from ibflow.db.states import OrderRole, OrderState
from ibflow.trading.lifecycle.orders import (
    broker_detail,
    move,
    move_towards,
    state_for,
    verify_account_lock,
)
from ibflow.trading.positions.book import set_signal_outcome
from ibflow.trading.risk.kill_switch import record_broker_error, record_broker_success

MAX_SEND_ATTEMPTS = 2
"""A not-sent order is sent once more, never a third time."""

_ROLE_OF_LEG = {BracketRole.PARENT: OrderRole.ENTRY, BracketRole.STOP: OrderRole.STOP}
_ROLE_OF_LEG[BracketRole.TARGET] = OrderRole.TARGET


class Outcome(StrEnum):
    """How a send ended, as far as we know now."""

    ACKNOWLEDGED = "acknowledged"
    REJECTED = "rejected"
    UNKNOWN = "unknown"
    NEEDS_CONFIRMATION = "needs_confirmation"


@dataclass(frozen=True)
class SendResult:
    """The outcome of one send and what the broker said."""

    outcome: Outcome
    detail: str
    attempts: int


def request_for(order: Order) -> OrderRequest:
    """Build the broker request for an order row (prices are already on the tick)."""
    return OrderRequest(
        client_order_id=ClientOrderId(order.client_order_id),
        conid=Conid(order.conid),
        side=order.side,
        order_type=order.order_type,
        quantity=order.quantity,
        tif=order.tif,
        limit_price=order.limit_price,
        stop_price=order.stop_price,
        confirmed_questions=frozenset(order.confirmed_questions or ()),
    )


def send_single(
    sessions: SessionFactory, *, broker: Broker, clock: Clock, order_id: int, halt_after: int
) -> SendResult:
    """Send one committed order row with ``place_order`` and commit the outcome."""
    with sessions() as session:
        order = session.get_one(Order, order_id)
        account_id, request = AccountId(order.account_id), request_for(order)
    with log_context(client_order_id=request.client_order_id):
        return send(
            sessions,
            broker=broker,
            clock=clock,
            order_ids=[order_id],
            place=lambda: [broker.place_order(account_id, request)],
            halt_after=halt_after,
        )


def send(
    sessions: SessionFactory,
    *,
    broker: Broker,
    clock: Clock,
    order_ids: Sequence[int],
    place: Callable[[], list[PlacedOrder]],
    halt_after: int,
    guard: Guard | None = None,
) -> SendResult:
    """Mark the rows ``submitting``, call ``place`` and record the outcome (the first row is the parent)."""
    for attempt in range(1, MAX_SEND_ATTEMPTS + 1):
        refusal = _last_look(sessions, order_ids, guard)
        if refusal is not None:
            return _refuse(sessions, order_ids, clock, refusal, attempts=attempt - 1)
        _mark_submitting(sessions, order_ids, clock, attempt)
        try:
            placed = place()
            crash_point(AFTER_BROKER_CALL)
        except OrderNotSent as exc:
            if attempt < MAX_SEND_ATTEMPTS:
                _note_not_sent(sessions, order_ids, clock, exc)
                continue
            failure = _Failure(Outcome.REJECTED, f"not sent after {attempt} attempts: {exc}", counts=True)
            return _conclude(
                sessions, order_ids, clock, failure, exc=exc, halt_after=halt_after, attempts=attempt
            )
        except DuplicateClientOrderId as exc:
            return _settle_duplicate(sessions, broker, order_ids, clock, exc=exc, attempts=attempt)
        except OrderNeedsConfirmation as exc:
            return _await_confirmation(sessions, order_ids, clock, exc, attempts=attempt)
        except Exception as exc:
            failure = _classify(exc)
            result = _conclude(
                sessions, order_ids, clock, failure, exc=exc, halt_after=halt_after, attempts=attempt
            )
            if isinstance(exc, IbflowError):
                return result
            raise
        return _acknowledge(sessions, order_ids, clock, placed, attempt)
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class _Failure:
    outcome: Outcome
    reason: str
    counts: bool
    """Whether it counts as a broker error towards the automatic halt (a definitive refusal does not)."""


def _classify(exc: Exception) -> _Failure:
    if isinstance(exc, OrderRejected | BrokerRejected):
        return _Failure(Outcome.REJECTED, str(exc), counts=False)
    if isinstance(exc, OrderOutcomeUnknown):
        return _Failure(Outcome.UNKNOWN, f"outcome unknown: {exc}", counts=True)
    # Anything else may have happened after the order left: treat it as ambiguous, never resend.
    return _Failure(Outcome.UNKNOWN, f"outcome unknown after {type(exc).__name__}: {exc}", counts=True)


Guard = Callable[[], str | None]
"""Asked right before the broker call: ``None`` to send, or the reason the rows must not go out."""


def _last_look(sessions: SessionFactory, order_ids: Sequence[int], guard: Guard | None) -> str | None:
    with sessions() as session:
        account_id = session.get_one(Order, order_ids[0]).account_id
    verify_account_lock(account_id)
    return None if guard is None else guard()


def _refuse(
    sessions: SessionFactory, order_ids: Sequence[int], clock: Clock, reason: str, *, attempts: int
) -> SendResult:
    now = clock.now()
    with sessions() as session:
        rows = [session.get_one(Order, order_id) for order_id in order_ids]
        for row in rows:
            move(session, row, OrderState.REJECTED, at=now, reason=f"not sent: {reason}")
        set_signal_outcome(session, rows[0].signal_id, "blocked")
        record_event(
            session,
            kind="order.refused",
            at=now,
            severity="warning",
            entity_type="order",
            entity_id=rows[0].id,
            execution_id=rows[0].execution_id,
            account_id=rows[0].account_id,
            message=f"{rows[0].client_order_id} not sent: {reason}",
        )
        session.commit()
    return SendResult(Outcome.REJECTED, f"not sent: {reason}", attempts)


def _await_confirmation(
    sessions: SessionFactory,
    order_ids: Sequence[int],
    clock: Clock,
    exc: OrderNeedsConfirmation,
    *,
    attempts: int,
) -> SendResult:
    with sessions() as session:
        role = session.get_one(Order, order_ids[0]).role
    if role is not OrderRole.ENTRY:
        # An exit, a stop or a replacement must never wait for a person: the position would stay unprotected
        # or unsold. It ends rejected (nothing is at the broker); the watchdog and flatten act again, and
        # the question's id belongs on the allow-list if such orders are to go out by themselves.
        why = f"{exc}; an {role.value} order never waits for a confirmation (allow-list the id to send it)"
        failure = _Failure(Outcome.REJECTED, why, counts=False)
        return _conclude(sessions, order_ids, clock, failure, exc=exc, halt_after=0, attempts=attempts)
    now = clock.now()
    detail = {"question": exc.question, "message_ids": list(exc.message_ids)}
    with sessions() as session:
        for order_id in order_ids:
            order = session.get_one(Order, order_id)
            reason = exc.question if order_id == order_ids[0] else "its parent waits for confirmation"
            move(session, order, OrderState.NEEDS_CONFIRMATION, at=now, reason=reason, detail=detail)
        session.commit()
    return SendResult(Outcome.NEEDS_CONFIRMATION, str(exc), attempts)


def _mark_submitting(sessions: SessionFactory, order_ids: Sequence[int], clock: Clock, attempt: int) -> None:
    now = clock.now()
    with sessions() as session:
        for order_id in order_ids:
            order = session.get_one(Order, order_id)
            move(session, order, OrderState.SUBMITTING, at=now, reason=f"sending, attempt {attempt}")
            order.send_attempts += 1
            order.submitted_at = now
        session.commit()


def _note_not_sent(
    sessions: SessionFactory, order_ids: Sequence[int], clock: Clock, exc: OrderNotSent
) -> None:
    with sessions() as session:
        parent = session.get_one(Order, order_ids[0])
        record_event(
            session,
            kind="order.not_sent",
            at=clock.now(),
            severity="warning",
            entity_type="order",
            entity_id=parent.id,
            execution_id=parent.execution_id,
            account_id=parent.account_id,
            message=f"{parent.client_order_id} provably not sent ({exc}); sending it once more",
            payload=broker_detail(exc),
        )
        session.commit()


def _conclude(
    sessions: SessionFactory,
    order_ids: Sequence[int],
    clock: Clock,
    failure: _Failure,
    *,
    exc: BaseException,
    halt_after: int,
    attempts: int,
) -> SendResult:
    now = clock.now()
    target = OrderState.REJECTED if failure.outcome == Outcome.REJECTED else OrderState.SUBMIT_UNKNOWN
    with sessions() as session:
        for order_id in order_ids:
            order = session.get_one(Order, order_id)
            move(session, order, target, at=now, reason=failure.reason, detail=broker_detail(exc))
            if target == OrderState.REJECTED and order.role == OrderRole.ENTRY:
                set_signal_outcome(session, order.signal_id, "rejected")
        if failure.counts:
            record_broker_error(session, at=now, detail=failure.reason, halt_after=halt_after)
        session.commit()
    return SendResult(failure.outcome, failure.reason, attempts)


def _acknowledge(
    sessions: SessionFactory, order_ids: Sequence[int], clock: Clock, placed: list[PlacedOrder], attempts: int
) -> SendResult:
    now = clock.now()
    with sessions() as session:
        orders = [session.get_one(Order, order_id) for order_id in order_ids]
        answers = _pair(orders, placed)
        for order in orders:
            answer = answers.get(order.id)
            if answer is None:
                # The broker acknowledged the request but not this leg: only tracking can tell.
                move(session, order, OrderState.SUBMIT_UNKNOWN, at=now, reason="leg not acknowledged")
                continue
            order.broker_order_id = answer.broker_order_id
            order.broker_status = answer.status.value
            target = state_for(answer.status, order.filled_quantity)
            move_towards(session, order, target, at=now, reason="acknowledged", detail=broker_detail(answer))
        record_broker_success(session)
        session.commit()
    ids = ", ".join(answer.broker_order_id for answer in placed)
    return SendResult(Outcome.ACKNOWLEDGED, f"acknowledged as {ids}", attempts)


def _pair(orders: list[Order], placed: list[PlacedOrder]) -> dict[int, PlacedOrder]:
    if len(orders) == 1 and placed:
        return {orders[0].id: placed[0]}
    by_role = {_ROLE_OF_LEG[answer.role]: answer for answer in placed if answer.role is not None}
    if len(by_role) == len(placed):
        return {order.id: by_role[order.role] for order in orders if order.role in by_role}
    return {order.id: answer for order, answer in zip(orders, placed, strict=False)}


def _settle_duplicate(
    sessions: SessionFactory,
    broker: Broker,
    order_ids: Sequence[int],
    clock: Clock,
    *,
    exc: DuplicateClientOrderId,
    attempts: int,
) -> SendResult:
    with sessions() as session:
        parent = session.get_one(Order, order_ids[0])
        account_id, client_order_id = AccountId(parent.account_id), parent.client_order_id
    try:
        live = broker.live_orders(account_id)
    except IbflowError:
        live = []
    found = next((o for o in live if o.client_order_id == client_order_id), None)
    if found is None:
        reason = f"the broker calls the id a duplicate but does not list it ({exc}); tracking settles it"
        failure = _Failure(Outcome.UNKNOWN, reason, counts=False)
        return _conclude(sessions, order_ids, clock, failure, exc=exc, halt_after=0, attempts=attempts)
    legs = [found, *(o for o in live if o.parent_broker_order_id == found.broker_order_id)]
    now = clock.now()
    with sessions() as session:
        for order_id in order_ids:
            order = session.get_one(Order, order_id)
            match = _leg_for(order, found, legs)
            if match is None:
                move(session, order, OrderState.SUBMIT_UNKNOWN, at=now, reason="duplicate id; leg not listed")
                continue
            adopt(session, order, match, at=now, reason="duplicate client order id: found at the broker")
        session.commit()
    return SendResult(Outcome.ACKNOWLEDGED, f"already at the broker as {found.broker_order_id}", attempts)


def _leg_for(order: Order, parent: BrokerOrder, legs: list[BrokerOrder]) -> BrokerOrder | None:
    if order.role not in (OrderRole.STOP, OrderRole.TARGET) or order.parent_id is None:
        return parent
    wanted = BracketRole.STOP if order.role == OrderRole.STOP else BracketRole.TARGET
    return next((leg for leg in legs if leg.role == wanted), None)


def adopt(session: Session, order: Order, found: BrokerOrder, *, at: datetime, reason: str) -> bool:
    """Give ``order`` the broker's id and status as ``found`` reports them.

    An order the broker reports ended with more filled than the fills we applied is *settling*: it stays
    live (``working`` or ``partially_filled``) with the broker's status recorded, and ends once its fills
    arrived (``orders.settling``).
    """
    reported_before = order.broker_status
    order.broker_order_id = found.broker_order_id
    order.broker_status = found.status.value
    target = state_for(found.status, found.filled_quantity)
    if target.is_terminal and found.filled_quantity > order.filled_quantity:
        if reported_before != found.status.value:
            _note_settling(session, order, found, at)
        if order.state in _STAYS_WHILE_SETTLING:
            return False
        target = OrderState.PARTIALLY_FILLED if order.filled_quantity > 0 else OrderState.WORKING
    return move_towards(session, order, target, at=at, reason=reason, detail=broker_detail(found))


_STAYS_WHILE_SETTLING = frozenset(
    {OrderState.WORKING, OrderState.PARTIALLY_FILLED, OrderState.CANCEL_PENDING}
)


def _note_settling(session: Session, order: Order, found: BrokerOrder, at: datetime) -> None:
    record_event(
        session,
        kind="order.settling",
        at=at,
        entity_type="order",
        entity_id=order.id,
        execution_id=order.execution_id,
        account_id=order.account_id,
        message=f"{order.symbol} {order.role.value}: the broker reports it {found.status.value} with "
        f"{found.filled_quantity.normalize():f} filled; {order.filled_quantity.normalize():f} applied so "
        "far, the rest of its fills have not arrived",
        payload={"client_order_id": order.client_order_id, "broker_order_id": found.broker_order_id},
    )
