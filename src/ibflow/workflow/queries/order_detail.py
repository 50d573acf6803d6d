"""One order with its history: every state change, its fills, its parent and its children.

Reads only ibflow's database (what tracking recorded), as ``trading_views`` does; prices keep the contract's
tick in ``OrderView.tick`` so a caller shows them at it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from ibflow.db.models.orders import Fill, Order, OrderEvent
from ibflow.workflow.queries.trading_views import OrderView, View, order_views


@dataclass(frozen=True)
class OrderEventView(View):
    """One state change: from (none for the first), to, why, when."""

    id: int
    from_state: str | None
    to_state: str
    reason: str
    created_at: datetime


@dataclass(frozen=True)
class FillView(View):
    """One execution at the broker against the order."""

    id: int
    quantity: Decimal
    price: Decimal
    commission: Decimal
    filled_at: datetime


@dataclass(frozen=True)
class OrderDetail:
    """An order, its events (oldest first), fills (oldest first), parent and children."""

    order: OrderView
    events: list[OrderEventView]
    fills: list[FillView]
    parent: OrderView | None
    children: list[OrderView]


def order_detail(session: Session, order_id: int) -> OrderDetail | None:
    """Return the order ``order_id`` with its history, ``None`` when there is none."""
    row = session.get(Order, order_id)
    if row is None:
        return None
    children = list(session.scalars(select(Order).where(Order.parent_id == order_id).order_by(Order.id)))
    parent = session.get(Order, row.parent_id) if row.parent_id is not None else None
    views = order_views(session, [row, *children, *([parent] if parent is not None else [])])
    events = session.scalars(
        select(OrderEvent).where(OrderEvent.order_id == order_id).order_by(OrderEvent.id)
    )
    fills = session.scalars(select(Fill).where(Fill.order_id == order_id).order_by(Fill.filled_at, Fill.id))
    return OrderDetail(
        order=views[0],
        events=[
            OrderEventView(
                id=e.id,
                from_state=e.from_state.value if e.from_state is not None else None,
                to_state=e.to_state.value,
                reason=e.reason or "",
                created_at=e.created_at,
            )
            for e in events
        ],
        fills=[
            FillView(
                id=f.id, quantity=f.quantity, price=f.price, commission=f.commission, filled_at=f.filled_at
            )
            for f in fills
        ],
        parent=views[-1] if parent is not None else None,
        children=views[1 : 1 + len(children)],
    )
