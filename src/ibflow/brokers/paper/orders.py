"""Paper order rows: finding them, refusing duplicate client ids, changing them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ibflow.brokers.base import OrderChange, OrderRequest
from ibflow.core.errors import DuplicateClientOrderId, NotFound, OrderRejected
from ibflow.db.models.paper import PaperAccount, PaperLeg, PaperOrder, PaperOrderStatus


def require_client_id(order: OrderRequest) -> None:
    """Refuse an order without our client order id."""
    if not order.client_order_id or not order.client_order_id.strip():
        raise OrderRejected("order refused: it has no client order id")


def refuse_duplicate(session: Session, account: PaperAccount, order: OrderRequest) -> None:
    """Raise ``DuplicateClientOrderId`` when the account already has an order with this client id."""
    existing = session.scalars(
        select(PaperOrder.id).where(
            PaperOrder.paper_account_id == account.id,
            PaperOrder.client_order_id == order.client_order_id,
        )
    ).first()
    if existing is not None:
        raise DuplicateClientOrderId(
            f"client order id {order.client_order_id} is already order {existing} at the paper broker"
        )


def find_order(session: Session, account: PaperAccount, broker_order_id: str) -> PaperOrder:
    """Return the account's order with ``broker_order_id``; ``NotFound`` otherwise."""
    row = session.get(PaperOrder, int(broker_order_id)) if broker_order_id.isdigit() else None
    if row is None or row.paper_account_id != account.id:
        raise NotFound(f"no order {broker_order_id} in paper account {account.account_id}")
    return row


def bracket_legs(session: Session, parent_id: int) -> dict[PaperLeg, PaperOrder]:
    """Return the parent and the children of a bracket by leg."""
    rows = session.scalars(
        select(PaperOrder).where(or_(PaperOrder.id == parent_id, PaperOrder.parent_id == parent_id))
    )
    return {row.leg: row for row in rows if row.leg is not None}


def apply_change(session: Session, row: PaperOrder, change: OrderChange, now: datetime) -> None:
    """Apply an already checked change; waiting children follow a new parent quantity."""
    if change.quantity is not None:
        row.quantity = change.quantity
        if row.leg is PaperLeg.PARENT and row.filled_quantity == 0:
            for leg, child in bracket_legs(session, row.id).items():
                if leg is not PaperLeg.PARENT and child.status is PaperOrderStatus.INACTIVE:
                    child.quantity = change.quantity
                    child.updated_at = now
    if change.limit_price is not None:
        row.limit_price = change.limit_price
    if change.stop_price is not None:
        row.stop_price = change.stop_price
    row.updated_at = now
