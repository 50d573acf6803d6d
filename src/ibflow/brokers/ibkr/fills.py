"""Which order each IBKR execution belongs to.

``/iserver/account/trades`` names no order id, only the ``order_ref`` (our ``cOID``), and bracket children
carry none. The ``Broker`` contract promises each execution its broker order id where it can be known, so
this module matches them against the live orders read in the same cycle. An execution with a client order id
gets the listed order of that id (or stays as it is). One without (a bracket child's, or an order placed
outside ibflow) can go only to a listed order without a client id, of the same contract and side, with fills,
and only when it lies in that order's window:

- not after the order's last update (``lastExecutionTime_r``, IBKR's "last status update") by more than
  ``TIME_TOLERANCE``: both times are whole seconds at IBKR, stamped apart;
- for a bracket child, not before its parent's first fill (the earliest execution with the parent's client
  order id). A child whose parent is listed, or named in ``parent_client_ids``, but whose parent's fills are
  not in the list yet gets nothing this time (a listed parent filled in this session, well inside the days
  read; the next read has them). A child whose parent cannot be told (not listed and not known, or placed
  outside ibflow) has no lower bound;
- for an order with a limit price, at a price its limit allows (a limit moved after a fill may leave that
  fill out).

Each order then takes the executions of its window from the latest back while its filled quantity (less what
already names it) has room, stopping at the first that does not fit. An execution taken by two orders goes
to the one whose last update is within ``TIME_TOLERANCE`` of it when exactly one is, else to neither; an
order that loses one keeps only what it took before it (the rest of its walk was counted on it). So no order
gets more than its filled quantity, and where the owner cannot be told the execution keeps no order id
(reconciliation then compares positions) rather than a guessed one: a fill left out shows there, a fill
booked to the wrong order does not.

What can still go wrong: an order whose own executions are missing from the list (IBKR's trades lagging its
orders) while another fill of the same contract and side lies in its window; for an order with no lower
bound that window reaches back over all the days read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from ibflow.brokers.base import BrokerOrder, Execution, OrderSide
from ibflow.core.ids import BrokerOrderId, ClientOrderId

TIME_TOLERANCE = timedelta(seconds=1)
"""How far an execution's time may pass an order's last update (both whole seconds at IBKR)."""

_NO_BOUND = datetime.min.replace(tzinfo=UTC)
_NOTHING = datetime.max.replace(tzinfo=UTC)


def attribute(
    executions: list[Execution],
    orders: list[BrokerOrder],
    *,
    parent_client_ids: Mapping[BrokerOrderId, ClientOrderId] | None = None,
) -> list[Execution]:
    """Return ``executions`` (by time) with the broker order id filled in where exactly one order fits.

    ``parent_client_ids`` gives the client order id of parents not in ``orders`` (what the broker saw of
    them), so their children's executions are bounded by the parents' first fills too.
    """
    by_client = {o.client_order_id: o.broker_order_id for o in orders if o.client_order_id is not None}
    owners = _anonymous_owners(executions, orders, parent_client_ids or {})
    result: list[Execution] = []
    for index in sorted(range(len(executions)), key=lambda i: _when(executions[i])):
        execution = executions[index]
        if execution.broker_order_id is not None:
            result.append(execution)
        elif execution.client_order_id is not None:
            known = by_client.get(execution.client_order_id)
            result.append(execution if known is None else replace(execution, broker_order_id=known))
        elif index in owners:
            result.append(replace(execution, broker_order_id=owners[index]))
        else:
            result.append(execution)
    return result


def _anonymous_owners(
    executions: Sequence[Execution],
    orders: Sequence[BrokerOrder],
    parent_client_ids: Mapping[BrokerOrderId, ClientOrderId],
) -> dict[int, BrokerOrderId]:
    listed = {o.broker_order_id: o for o in orders}
    anonymous = [
        i for i, e in enumerate(executions) if e.broker_order_id is None and e.client_order_id is None
    ]
    walks: dict[BrokerOrderId, list[int]] = {}
    updated: dict[BrokerOrderId, datetime] = {}
    for order in orders:
        if order.client_order_id is not None or order.filled_quantity <= 0:
            continue
        start = _earliest(order, listed, executions, parent_client_ids)
        window = sorted(
            (i for i in anonymous if _fits(executions[i], order, start)),
            key=lambda i: _when(executions[i]),
            reverse=True,
        )
        room = order.filled_quantity - sum(
            (e.quantity for e in executions if e.broker_order_id == order.broker_order_id), Decimal(0)
        )
        taken: list[int] = []
        for index in window:
            if executions[index].quantity > room:
                break
            taken.append(index)
            room -= executions[index].quantity
        walks[order.broker_order_id] = taken
        updated[order.broker_order_id] = order.updated_at
    takers: dict[int, list[BrokerOrderId]] = {}
    for order_id, taken in walks.items():
        for index in taken:
            takers.setdefault(index, []).append(order_id)
    owners: dict[int, BrokerOrderId] = {}
    for order_id, taken in walks.items():
        for index in taken:
            names = takers[index]
            near = [n for n in names if abs(executions[index].executed_at - updated[n]) <= TIME_TOLERANCE]
            if len(names) > 1 and near != [order_id]:
                break  # shared: neither takes it, and what this order took after it was counted on it
            owners[index] = order_id
    return owners


def _earliest(
    order: BrokerOrder,
    listed: Mapping[BrokerOrderId, BrokerOrder],
    executions: Sequence[Execution],
    parent_client_ids: Mapping[BrokerOrderId, ClientOrderId],
) -> datetime:
    """The time before which no execution can be the order's (``_NOTHING``: none can be, for now)."""
    parent_id = order.parent_broker_order_id
    if parent_id is None:
        return _NO_BOUND
    parent = listed.get(parent_id)
    client_id = parent.client_order_id if parent is not None else parent_client_ids.get(parent_id)
    if client_id is None:
        return _NO_BOUND  # a parent placed outside ibflow, or one never seen: its fills cannot be told
    fills = [
        e.executed_at for e in executions if e.client_order_id == client_id or e.broker_order_id == parent_id
    ]
    if fills:
        return min(fills)
    # A listed parent filled in this session, inside the days read: its fills are not in this list yet.
    # One not listed ended in an earlier session, before the list starts when its fills are not in it.
    return _NOTHING if parent is not None else _NO_BOUND


def _fits(execution: Execution, order: BrokerOrder, start: datetime) -> bool:
    if execution.conid != order.conid or execution.side != order.side:
        return False
    if not start <= execution.executed_at <= order.updated_at + TIME_TOLERANCE:
        return False
    limit = order.limit_price
    if limit is None:
        return True
    return execution.price >= limit if order.side is OrderSide.SELL else execution.price <= limit


def _when(execution: Execution) -> tuple[datetime, str]:
    return (execution.executed_at, execution.broker_exec_id)
