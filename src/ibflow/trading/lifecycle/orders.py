"""Order rows and their state changes.

Every change goes through ``check_transition`` (ARCHITECTURE §4) and leaves an ``order_events`` row (from,
to, why, the broker's raw answer) and an ``events`` outbox row in the caller's transaction. When the broker
reports a state our row cannot reach in one step (an ``inactive`` child that filled between two looks), the
shortest allowed path is walked, one event per step, so the table is never bypassed.

``hold_account`` takes the cross-process account lock (rule 4) and lets the same thread take it again, so a
reconciliation that holds it can call the services that take it themselves.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ibflow.brokers.base import BrokerOrderStatus
from ibflow.core.log_context import log_context
from ibflow.db.events.outbox import record_event
from ibflow.db.locks import LockLost, NamedLocks
from ibflow.db.models import Order, OrderEvent
from ibflow.db.states import (
    LIVE_ORDER_STATES,
    ORDER_TRANSITIONS,
    OrderOrigin,
    OrderRole,
    OrderSide,
    OrderState,
    OrderType,
    TimeInForce,
    check_transition,
)

_log = logging.getLogger(__name__)

PROTECTIVE_ROLES = frozenset({OrderRole.STOP, OrderRole.TARGET})

# The broker's vocabulary at the boundary (STYLE: explicit tables; an unknown value raises).
BROKER_STATES: dict[BrokerOrderStatus, OrderState] = {
    BrokerOrderStatus.PENDING_SUBMIT: OrderState.WORKING,
    BrokerOrderStatus.INACTIVE: OrderState.INACTIVE,
    BrokerOrderStatus.SUBMITTED: OrderState.WORKING,
    BrokerOrderStatus.FILLED: OrderState.FILLED,
    BrokerOrderStatus.PENDING_CANCEL: OrderState.CANCEL_PENDING,
    BrokerOrderStatus.CANCELLED: OrderState.CANCELLED,
    BrokerOrderStatus.EXPIRED: OrderState.EXPIRED,
    BrokerOrderStatus.REJECTED: OrderState.REJECTED,
}
ENDED_AT_BROKER = frozenset(
    {
        BrokerOrderStatus.FILLED.value,
        BrokerOrderStatus.CANCELLED.value,
        BrokerOrderStatus.EXPIRED.value,
        BrokerOrderStatus.REJECTED.value,
    }
)
"""Broker statuses after which an order can do nothing more at the broker."""
_WARNING_STATES = frozenset({OrderState.REJECTED, OrderState.SUBMIT_UNKNOWN, OrderState.NEEDS_CONFIRMATION})
_held = threading.local()


@contextmanager
def hold_account(locks: NamedLocks, account_id: str, timeout_s: float = 30.0) -> Iterator[None]:
    """Hold the account's order lock for the block; re-entrant within one thread."""
    name = f"account:{account_id}"
    held: dict[str, NamedLocks] = getattr(_held, "locks", {})
    _held.locks = held
    if name in held:
        yield
        return
    with locks.hold(name, timeout_s):
        held[name] = locks
        try:
            yield
        finally:
            held.pop(name, None)


def verify_account_lock(account_id: str) -> None:
    """Raise ``LockLost`` unless this thread holds the account's lock still (asked of the database)."""
    name = f"account:{account_id}"
    locks: NamedLocks | None = getattr(_held, "locks", {}).get(name)
    if locks is None:
        raise LockLost(f"no lock held on account {account_id}: orders are sent only under it")
    locks.verify(name)


@dataclasses.dataclass(frozen=True)
class NewOrder:
    """What an order row starts with."""

    client_order_id: str
    account_id: str
    conid: int
    symbol: str
    role: OrderRole
    side: OrderSide
    order_type: OrderType
    tif: TimeInForce
    quantity: Decimal
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    strategy_id: int | None = None
    execution_id: int | None = None
    signal_id: int | None = None
    parent_id: int | None = None
    position_id: int | None = None
    expires_at: datetime | None = None
    reduce_only: bool = False
    origin: OrderOrigin = OrderOrigin.IBFLOW
    broker_order_id: str | None = None


def state_for(status: BrokerOrderStatus, filled_quantity: Decimal) -> OrderState:
    """Translate a broker status into our state; a working order with fills is ``partially_filled``."""
    try:
        state = BROKER_STATES[BrokerOrderStatus(status)]
    except (KeyError, ValueError):
        raise ValueError(f"unknown broker order status {status!r}") from None
    if state == OrderState.WORKING and filled_quantity > 0:
        return OrderState.PARTIALLY_FILLED
    return state


def create_order(
    session: Session,
    spec: NewOrder,
    *,
    at: datetime,
    state: OrderState = OrderState.INTENT,
    reason: str = "",
    detail: dict[str, Any] | None = None,
) -> Order:
    """Write an order row in ``state`` with its first event (flushed, so it has an id)."""
    fields = dataclasses.asdict(spec)
    order = Order(
        **fields,
        state=state,
        filled_quantity=Decimal(0),
        send_attempts=0,
        created_at=at,
        updated_at=at,
    )
    session.add(order)
    session.flush()
    _record(session, order, None, state, at=at, reason=reason or "created", detail=detail)
    return order


def move(
    session: Session,
    order: Order,
    target: OrderState,
    *,
    at: datetime,
    reason: str = "",
    detail: dict[str, Any] | None = None,
) -> bool:
    """Move ``order`` to ``target`` in one allowed step; False when it is already there."""
    if order.state == target and target != OrderState.PARTIALLY_FILLED:
        return False
    check_transition(order.state, target)
    previous = order.state
    order.state = target
    order.updated_at = at
    if target == OrderState.SUBMIT_UNKNOWN:
        order.unknown_since = at
    if reason and target in (OrderState.REJECTED, OrderState.CANCELLED, OrderState.EXPIRED):
        order.reason = reason
    _record(session, order, previous, target, at=at, reason=reason, detail=detail)
    return True


def move_towards(
    session: Session,
    order: Order,
    target: OrderState,
    *,
    at: datetime,
    reason: str = "",
    detail: dict[str, Any] | None = None,
) -> bool:
    """Bring ``order`` to ``target`` along the shortest allowed path; False when none exists or no change."""
    if order.state == target and target != OrderState.PARTIALLY_FILLED:
        return False
    path = transition_path(order.state, target)
    if path is None:
        return False
    for step in path:
        move(session, order, step, at=at, reason=reason, detail=detail if step == target else None)
    return True


def transition_path(current: OrderState, target: OrderState) -> list[OrderState] | None:
    """Return the shortest list of states leading from ``current`` to ``target`` (``None``: unreachable)."""
    if target in ORDER_TRANSITIONS[current]:
        return [target]
    seen = {current}
    queue: deque[tuple[OrderState, list[OrderState]]] = deque([(current, [])])
    while queue:
        state, path = queue.popleft()
        for following in sorted(ORDER_TRANSITIONS[state], key=_preference):
            if following in seen:
                continue
            if following == target:
                return [*path, following]
            seen.add(following)
            queue.append((following, [*path, following]))
    return None


def _preference(state: OrderState) -> tuple[int, str]:
    # Between equally short paths, pass through the plainest states: working before inactive.
    order = (OrderState.WORKING, OrderState.PARTIALLY_FILLED, OrderState.INACTIVE, OrderState.CANCEL_PENDING)
    return (order.index(state) if state in order else len(order), state.value)


def _record(
    session: Session,
    order: Order,
    previous: OrderState | None,
    target: OrderState,
    *,
    at: datetime,
    reason: str,
    detail: dict[str, Any] | None,
) -> None:
    session.add(
        OrderEvent(
            order_id=order.id,
            from_state=previous,
            to_state=target,
            reason=reason,
            broker_detail=detail,
            created_at=at,
        )
    )
    was = previous.value if previous is not None else "new"
    with log_context(client_order_id=order.client_order_id):  # DEBUG: the event below is what users read
        _log.debug("order %s %s: %s -> %s (%s)", order.symbol, order.role.value, was, target.value, reason)
    record_event(
        session,
        kind="order.state_changed",
        at=at,
        severity="warning" if target in _WARNING_STATES else "info",
        entity_type="order",
        entity_id=order.id,
        execution_id=order.execution_id,
        account_id=order.account_id,
        message=f"{order.symbol} {order.role.value} {order.side.value} {order.quantity.normalize():f}: "
        f"{was} -> {target.value}" + (f" ({reason})" if reason else ""),
        payload={
            "client_order_id": order.client_order_id,
            "broker_order_id": order.broker_order_id,
            "from": previous.value if previous is not None else None,
            "to": target.value,
            "role": order.role.value,
            "origin": order.origin.value,
            "reason": reason,
        },
    )
    if target is OrderState.NEEDS_CONFIRMATION and order.parent_id is None:  # children follow their parent
        record_event(
            session,
            kind="order.needs_confirmation",
            at=at,
            severity="warning",
            entity_type="order",
            entity_id=order.id,
            execution_id=order.execution_id,
            account_id=order.account_id,
            message=f"{order.symbol} {order.role.value} {order.client_order_id} waits for a trader to confirm"
            + (f": {reason}" if reason else ""),
            payload={
                "client_order_id": order.client_order_id,
                "broker_order_id": order.broker_order_id,
                "question": reason,
            },
        )


def broker_detail(value: Any) -> dict[str, Any]:
    """Turn a broker answer (a dataclass, or an error) into a JSON document for ``order_events``."""
    if isinstance(value, BaseException):
        return {"error": type(value).__name__, "message": str(value)}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {key: _json(item) for key, item in dataclasses.asdict(value).items()}
    return {"value": _json(value)}


def _json(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal | datetime):
        return str(value) if isinstance(value, Decimal) else value.isoformat()
    if isinstance(value, list | tuple):
        return [_json(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _json(item) for key, item in value.items()}
    return str(value)


def order_by_client_id(session: Session, client_order_id: str) -> Order | None:
    """Return the order with our client order id, if any."""
    return session.scalars(select(Order).where(Order.client_order_id == client_order_id)).first()


def order_by_broker_id(session: Session, account_id: str, broker_order_id: str) -> Order | None:
    """Return the order the broker knows as ``broker_order_id`` in ``account_id``, if any."""
    return session.scalars(
        select(Order).where(Order.account_id == account_id, Order.broker_order_id == broker_order_id)
    ).first()


def children_of(session: Session, parent: Order) -> list[Order]:
    """Return a bracket parent's children (stop first, then target)."""
    rows = session.scalars(select(Order).where(Order.parent_id == parent.id).order_by(Order.id))
    return sorted(rows, key=lambda child: 0 if child.role == OrderRole.STOP else 1)


def live_orders_of(
    session: Session,
    account_id: str,
    *,
    roles: Iterable[OrderRole] | None = None,
    origin: OrderOrigin | None = OrderOrigin.IBFLOW,
) -> list[Order]:
    """Return the account's orders that may still fill, oldest first."""
    query = select(Order).where(Order.account_id == account_id, Order.state.in_(LIVE_ORDER_STATES))
    if roles is not None:
        query = query.where(Order.role.in_(list(roles)))
    if origin is not None:
        query = query.where(Order.origin == origin)
    return list(session.scalars(query.order_by(Order.id)))


def settling(order: Order) -> bool:
    """Tell whether the broker says the order ended while some of its fills have not reached us yet.

    Such a row stays live in our books (TRADING-SAFETY: "settling, not missing, not done") until the fills
    arrive: a stop reported filled is not a missing stop, and a parent reported filled does not yet hold
    shares that protection could be sized on.
    """
    return order.state in LIVE_ORDER_STATES and order.broker_status in ENDED_AT_BROKER


def remaining(order: Order) -> Decimal:
    """Return the quantity of ``order`` not filled yet."""
    return max(order.quantity - order.filled_quantity, Decimal(0))
