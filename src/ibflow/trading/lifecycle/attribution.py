"""Executions that name no order, given to the one unlisted order of ours they can belong to.

A broker whose executions name no order id (IBKR's ``/iserver/account/trades``: a bracket child carries no
client order id either) can attribute them only to the orders it lists (``brokers/ibkr/fills.py``). An
order that ended before the broker's current session is not listed, and its status may not be readable
(IBKR's 503): its fills would stay unmatched, and ibflow would go on holding shares the broker sold.

Only a bracket child can own such an execution: a parent's and a single order's executions carry our client
order id (IBKR's ``order_ref``), so one naming nothing is a child's or someone else's (an order placed in
TWS, or an external one). ``unlisted_owners`` gives it to a child of ours when exactly one fits, and only
when no order the broker lists could own it:

- a live child of ours (not one a sender owns) the broker did not list in this cycle: one with a broker
  id it did not list, or one of unknown outcome whose broker id we never learned (the sender crashed
  before the broker's answer);
- no listed order without a client id (ours or not) of the same contract and side has fills: the
  broker's attribution declined the execution among the orders it lists, and an unlisted child must not
  take what may be a listed order's fill;
- the same contract and side, with room left: what its parent filled less what both children filled (the
  broker resizes the children to cover the parent's fills, which our row of the child may not know yet),
  less what this pass already gave, executions taken oldest first;
- not before the child was sent nor before its parent's first fill;
- at a price the child allows: a limit's (or a stop-limit's) price or better; for a stop (once triggered
  a market order, sold over as many fills as it takes) its price or worse, or at most ``STOP_SLIPPAGE``
  better.

Of a stop and its own target that both fit (a price at or above the target's limit), the target takes it:
both sell the same bracket's shares, so the position is booked the same either way. Any other two orders
that fit leave the execution unnamed: reconciliation then compares positions, where a fill left out shows;
a guessed one would not.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ibflow.brokers.base import BrokerOrder, Execution
from ibflow.core.ids import BrokerOrderId
from ibflow.db.models import Fill, Order
from ibflow.db.states import LIVE_ORDER_STATES, OrderOrigin, OrderRole, OrderSide, OrderState, OrderType

TOLERANCE = timedelta(seconds=1)
"""How far an execution may precede the time we recorded an order as sent (the clocks differ)."""

_SENDER_OWNS = frozenset({OrderState.INTENT, OrderState.SUBMITTING})

STOP_SLIPPAGE = Decimal("0.0025")
"""How far (a fraction of its price) a triggered sell stop's fill may lie above it: a market order sold over
several fills can print a cent or two higher; one far above is another order's."""


def unlisted_owners(
    session: Session, account_id: str, executions: Sequence[Execution], listed: Sequence[BrokerOrder]
) -> dict[str, Order]:
    """Return, by broker execution id, the one unlisted order of ours each anonymous execution fits."""
    anonymous = sorted(
        (e for e in executions if e.broker_order_id is None and e.client_order_id is None),
        key=lambda e: (e.executed_at, e.broker_exec_id),
    )
    if not anonymous:
        return {}
    shown = {o.broker_order_id for o in listed}
    claimed = {(o.conid, o.side) for o in listed if o.client_order_id is None and o.filled_quantity > 0}
    anonymous = [e for e in anonymous if (e.conid, e.side) not in claimed]
    candidates = [
        order
        for order in session.scalars(
            select(Order)
            .where(
                Order.account_id == account_id,
                Order.origin == OrderOrigin.IBFLOW,
                Order.parent_id.is_not(None),
                Order.state.in_(list(LIVE_ORDER_STATES - _SENDER_OWNS)),
            )
            .order_by(Order.id)
        )
        if _unlisted(order, shown)
    ]
    if not candidates:
        return {}
    starts = {order.id: _earliest(session, order) for order in candidates}
    room = {_pool(order): _room(session, order) for order in candidates}
    owners: dict[str, Order] = {}
    for execution in anonymous:
        fitting = [
            order
            for order in candidates
            if room[_pool(order)] >= execution.quantity and _fits(execution, order, starts[order.id])
        ]
        owner = _one_owner(fitting, execution)
        if owner is None:
            continue
        room[_pool(owner)] -= execution.quantity
        owners[execution.broker_exec_id] = owner
    return owners


def _one_owner(fitting: Sequence[Order], execution: Execution) -> Order | None:
    """The one order that fits; of a stop and its own target that both do, the target.

    Both are the same bracket's, selling the same shares (one cancels the other), so either books the same
    position; at a price at or above the target's limit it was the target (a triggered stop sells at once).
    """
    if len(fitting) == 1:
        return fitting[0]
    if len(fitting) == 2 and fitting[0].parent_id == fitting[1].parent_id:
        targets = [o for o in fitting if o.role is OrderRole.TARGET]
        return targets[0] if len(targets) == 1 and _price_allowed(execution.price, targets[0]) else None
    return None


def _pool(order: Order) -> int:
    """What an execution given to a child uses up: its bracket's room (both children's)."""
    return order.parent_id or 0


def _room(session: Session, order: Order) -> Decimal:
    parent = session.get_one(Order, order.parent_id)
    children = session.scalars(select(Order.filled_quantity).where(Order.parent_id == order.parent_id))
    return max(parent.filled_quantity - sum(children, Decimal(0)), Decimal(0))


def _unlisted(order: Order, shown: set[BrokerOrderId]) -> bool:
    if order.broker_order_id is not None:
        return order.broker_order_id not in shown
    return order.state is OrderState.SUBMIT_UNKNOWN


def _earliest(session: Session, order: Order) -> datetime | None:
    """The time before which no execution can be the child's (``None``: none can be yet)."""
    sent = order.submitted_at or order.created_at
    first_parent_fill = session.scalar(
        select(func.min(Fill.filled_at)).where(Fill.order_id == order.parent_id)
    )
    if first_parent_fill is None:
        return None  # a child sells only what its parent bought
    return max(sent - TOLERANCE, first_parent_fill)


def _fits(execution: Execution, order: Order, start: datetime | None) -> bool:
    if execution.conid != order.conid or execution.side != order.side:
        return False
    if start is None or execution.executed_at < start:
        return False
    return _price_allowed(execution.price, order)


def _price_allowed(price: Decimal, order: Order) -> bool:
    selling = order.side is OrderSide.SELL
    if order.order_type is OrderType.MARKET:
        return True
    if order.order_type is OrderType.STOP:
        # Triggered, a stop sells at market: at or below its price, or a little above as its fills go on.
        stop = order.stop_price
        if stop is None:
            return False
        slack = stop * STOP_SLIPPAGE
        return price <= stop + slack if selling else price >= stop - slack
    # A limit, or a stop-limit (once triggered, a limit order).
    limit = order.limit_price
    return limit is not None and (price >= limit if selling else price <= limit)
