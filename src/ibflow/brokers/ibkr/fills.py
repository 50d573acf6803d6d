"""Which order each IBKR execution belongs to.

``/iserver/account/trades`` names no order id, only the ``order_ref`` (our ``cOID``), and bracket children
carry none. The ``Broker`` contract promises each execution its broker order id where it can be known, so
this module matches them against the live orders read in the same cycle: by client order id where there is
one; otherwise to the one order of the same contract and side, without a client id, whose filled quantity
still has room for the execution and whose last fill is not older than it. When two such orders fit, the
execution keeps no order id (reconciliation then compares positions) rather than a guessed one.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from ibflow.brokers.base import BrokerOrder, Execution
from ibflow.core.ids import BrokerOrderId


def attribute(executions: list[Execution], orders: list[BrokerOrder]) -> list[Execution]:
    """Return ``executions`` with the broker order id filled in where exactly one order fits."""
    by_client = {o.client_order_id: o.broker_order_id for o in orders if o.client_order_id is not None}
    room: dict[BrokerOrderId, Decimal] = {o.broker_order_id: o.filled_quantity for o in orders}
    for execution in executions:  # what the referenced orders' own fills use up first
        if execution.client_order_id is not None and execution.client_order_id in by_client:
            owner = by_client[execution.client_order_id]
            room[owner] = room.get(owner, Decimal(0)) - execution.quantity
    anonymous = [o for o in orders if o.client_order_id is None and o.filled_quantity > 0]
    result: list[Execution] = []
    for execution in sorted(executions, key=lambda e: (e.executed_at, e.broker_exec_id)):
        if execution.broker_order_id is not None:
            result.append(execution)
        elif execution.client_order_id is not None:
            known = by_client.get(execution.client_order_id)
            result.append(execution if known is None else replace(execution, broker_order_id=known))
        else:
            fitting = [
                o
                for o in anonymous
                if o.conid == execution.conid
                and o.side == execution.side
                and room[o.broker_order_id] >= execution.quantity
                and o.updated_at >= execution.executed_at
            ]
            if len(fitting) == 1:
                owner = fitting[0].broker_order_id
                room[owner] -= execution.quantity
                result.append(replace(execution, broker_order_id=owner))
            else:
                result.append(execution)
    return result
