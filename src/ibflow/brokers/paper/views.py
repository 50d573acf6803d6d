"""Translate the paper books into the broker-neutral types, with explicit tables for every value."""

from __future__ import annotations

from decimal import Decimal

from ibflow.brokers.base import BracketRole, BrokerOrder, BrokerOrderStatus, BrokerPosition, Execution
from ibflow.core.ids import AccountId, BrokerExecId, BrokerOrderId, ClientOrderId, Conid
from ibflow.core.money import quantize
from ibflow.db.models.paper import PaperFill, PaperLeg, PaperOrder, PaperOrderStatus, PaperPosition

STATUS: dict[PaperOrderStatus, BrokerOrderStatus] = {
    PaperOrderStatus.INACTIVE: BrokerOrderStatus.INACTIVE,
    PaperOrderStatus.WORKING: BrokerOrderStatus.SUBMITTED,
    PaperOrderStatus.PENDING_CANCEL: BrokerOrderStatus.PENDING_CANCEL,
    PaperOrderStatus.FILLED: BrokerOrderStatus.FILLED,
    PaperOrderStatus.CANCELLED: BrokerOrderStatus.CANCELLED,
    PaperOrderStatus.EXPIRED: BrokerOrderStatus.EXPIRED,
}
ROLE: dict[PaperLeg, BracketRole] = {
    PaperLeg.PARENT: BracketRole.PARENT,
    PaperLeg.STOP: BracketRole.STOP,
    PaperLeg.TARGET: BracketRole.TARGET,
}


def broker_order_id(order_id: int) -> BrokerOrderId:
    """Return the broker order id of a paper order row."""
    return BrokerOrderId(str(order_id))


def order_view(account_id: str, row: PaperOrder) -> BrokerOrder:
    """Return a paper order as the broker reports it."""
    average = quantize(row.filled_value / row.filled_quantity) if row.filled_quantity > 0 else None
    return BrokerOrder(
        account_id=AccountId(account_id),
        broker_order_id=broker_order_id(row.id),
        conid=Conid(row.conid),
        side=row.side,
        order_type=row.order_type,
        tif=row.tif,
        quantity=row.quantity,
        filled_quantity=row.filled_quantity,
        status=STATUS[row.status],
        # When it last changed in market time: an order that ended did so at ``ended_at``, however late the
        # books were evaluated (``updated_at`` is when they were).
        updated_at=row.ended_at if row.ended_at is not None else row.updated_at,
        client_order_id=ClientOrderId(row.client_order_id) if row.client_order_id else None,
        parent_broker_order_id=broker_order_id(row.parent_id) if row.parent_id else None,
        role=ROLE[row.leg] if row.leg is not None else None,
        limit_price=row.limit_price,
        stop_price=row.stop_price,
        avg_fill_price=average,
        reason=row.reason,
    )


def execution_view(account_id: str, fill: PaperFill, order: PaperOrder) -> Execution:
    """Return a fill as the broker reports it; a bracket child's carries no client order id."""
    return Execution(
        account_id=AccountId(account_id),
        broker_exec_id=BrokerExecId(fill.broker_exec_id),
        conid=Conid(fill.conid),
        side=fill.side,
        quantity=fill.quantity,
        price=fill.price,
        commission=fill.commission,
        executed_at=fill.executed_at,
        broker_order_id=broker_order_id(order.id),
        client_order_id=ClientOrderId(order.client_order_id) if order.client_order_id else None,
    )


def position_view(account_id: str, row: PaperPosition, mark: Decimal) -> BrokerPosition:
    """Return a position valued at ``mark``."""
    return BrokerPosition(
        account_id=AccountId(account_id),
        conid=Conid(row.conid),
        quantity=row.quantity,
        avg_cost=row.avg_cost,
        market_price=mark,
        market_value=quantize(row.quantity * mark),
        unrealized_pnl=quantize(row.quantity * (mark - row.avg_cost)),
        realized_pnl=row.realized_pnl,
    )
