"""Fills: each execution at the broker recorded once, matched to our order, then the positions replayed.

A fill is keyed by (account, broker execution id): applying the same execution twice changes nothing
(TRADING-SAFETY rule 6). Executions are matched to our orders by client order id, else by broker order id
(a bracket child's executions carry none of ours). After new fills, every position they touch is replayed
from all of its fills (``positions.replay_position``); nothing is ever moved by a delta.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ibflow.brokers.base import Execution
from ibflow.core.money import ZERO
from ibflow.db.events.outbox import record_event
from ibflow.db.models import Fill, Order
from ibflow.db.states import OrderOrigin
from ibflow.trading.lifecycle.orders import order_by_broker_id, order_by_client_id
from ibflow.trading.positions.book import PositionKey, replay_position


def apply_executions(
    session: Session,
    *,
    account_id: str,
    executions: Iterable[Execution],
    at: datetime,
    owners: Mapping[str, Order] | None = None,
) -> tuple[list[Fill], list[Execution]]:
    """Record new executions as fills and replay the positions they touch.

    Executions are matched to our orders by client order id, else by broker order id (a bracket child's
    executions carry none of ours), else by ``owners`` (broker execution id to the order tracking found
    for an execution that names none). Returns the new fills and the executions no order of ours matched.
    """
    owners = owners or {}
    new: list[Fill] = []
    unmatched: list[Execution] = []
    touched: set[PositionKey] = set()
    # A stable sort by time: executions at the same instant keep the broker's order, which fill ids then keep.
    for execution in sorted(executions, key=lambda e: e.executed_at):
        if _known(session, account_id, execution.broker_exec_id):
            continue
        order = _order_of(session, account_id, execution) or owners.get(execution.broker_exec_id)
        if order is None:
            unmatched.append(execution)
            continue
        fill = _insert_fill(session, account_id, execution, order, at)
        if fill is None:
            continue
        new.append(fill)
        _total_fills(session, order)
        if order.origin == OrderOrigin.IBFLOW:
            touched.add((account_id, order.strategy_id, order.conid))
    for key in sorted(touched, key=str):
        replay_position(session, key, at=at)
    return new, unmatched


def _known(session: Session, account_id: str, broker_exec_id: str) -> bool:
    query = select(Fill.id).where(Fill.account_id == account_id, Fill.broker_exec_id == broker_exec_id)
    return session.scalars(query).first() is not None


def _order_of(session: Session, account_id: str, execution: Execution) -> Order | None:
    if execution.client_order_id:
        order = order_by_client_id(session, execution.client_order_id)
        if order is not None and order.account_id == account_id:
            return order
    if execution.broker_order_id:
        return order_by_broker_id(session, account_id, execution.broker_order_id)
    return None


def _insert_fill(
    session: Session, account_id: str, execution: Execution, order: Order, at: datetime
) -> Fill | None:
    fill = Fill(
        account_id=account_id,
        broker_exec_id=execution.broker_exec_id,
        order_id=order.id,
        conid=execution.conid,
        side=execution.side,
        quantity=execution.quantity,
        price=execution.price,
        commission=execution.commission,
        filled_at=execution.executed_at,
        created_at=at,
    )
    try:
        # A savepoint: another process applying the same execution at once loses on the unique key only.
        with session.begin_nested():
            session.add(fill)
    except IntegrityError:
        return None
    record_event(
        session,
        kind="fill.applied",
        at=at,
        entity_type="order",
        entity_id=order.id,
        execution_id=order.execution_id,
        account_id=account_id,
        message=f"{order.symbol} {order.role.value} {execution.side.value} "
        f"{execution.quantity.normalize():f} filled at {execution.price.normalize():f}",
        payload={
            "client_order_id": order.client_order_id,
            "broker_order_id": order.broker_order_id,
            "broker_exec_id": execution.broker_exec_id,
            "side": execution.side.value,
            "quantity": str(execution.quantity),
            "price": str(execution.price),
            "commission": str(execution.commission),
            "role": order.role.value,
        },
    )
    return fill


def _total_fills(session: Session, order: Order) -> None:
    fills = list(session.scalars(select(Fill).where(Fill.order_id == order.id)))
    quantity = sum((f.quantity for f in fills), ZERO)
    order.filled_quantity = quantity
    order.avg_fill_price = sum((f.quantity * f.price for f in fills), ZERO) / quantity if quantity else None
