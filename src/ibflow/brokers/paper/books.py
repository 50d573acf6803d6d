"""The paper broker's books in the ``paper_*`` tables: the account lock, fills, cash and positions.

Every write happens inside a transaction that first locks the account: on SQLite the engine's
``BEGIN IMMEDIATE`` already serialises writers, on PostgreSQL ``SELECT ... FOR UPDATE`` on the account row
does. Whoever holds the lock evaluates, writes and commits; the next one sees the result.

Positions keep IBKR's conventions: the average cost includes the commissions of the opening fills, and
realized P&L is net of the closing fills' commissions. A sell beyond the position opens a short.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ibflow.brokers.paper.matching.commissions import fill_commission
from ibflow.brokers.paper.matching.fills import FillPoint
from ibflow.core.money import ZERO, quantize
from ibflow.db.models.paper import PaperAccount, PaperFill, PaperOrder, PaperPosition
from ibflow.db.states import OrderSide


def lock_account(
    session: Session, account_id: str, *, now: datetime, starting_cash: Decimal, currency: str
) -> PaperAccount:
    """Return the account row locked for this transaction, creating it with the starting cash if new."""
    query = select(PaperAccount).where(PaperAccount.account_id == account_id).with_for_update()
    account = session.scalars(query).one_or_none()
    if account is not None:
        return account
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    session.execute(
        insert(PaperAccount)
        .values(
            account_id=account_id,
            currency=currency,
            starting_cash=starting_cash,
            cash=starting_cash,
            evaluated_until=now,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["account_id"])
    )
    return session.scalars(query).one()


def record_fill(
    session: Session, account: PaperAccount, order: PaperOrder, fill: FillPoint, now: datetime
) -> PaperFill:
    """Book one fill: the fill row, the order's totals, the commission, cash and the position."""
    quantity = Decimal(fill.quantity)
    value = quantity * fill.price
    commission = fill_commission(order.filled_quantity, order.filled_value, quantity, fill.price)
    order.fill_count += 1
    order.filled_quantity += quantity
    order.filled_value += value
    order.commission += commission
    order.updated_at = now
    if order.side is OrderSide.BUY:
        account.cash = quantize(account.cash - value - commission)
    else:
        account.cash = quantize(account.cash + value - commission)
    account.updated_at = now
    row = PaperFill(
        paper_account_id=account.id,
        order_id=order.id,
        broker_exec_id=f"{order.id}.{order.fill_count}",
        conid=order.conid,
        side=order.side,
        quantity=quantity,
        price=fill.price,
        commission=commission,
        executed_at=fill.at,
        created_at=now,
    )
    session.add(row)
    _move_position(session, account, order, row, now)
    return row


def _move_position(
    session: Session, account: PaperAccount, order: PaperOrder, fill: PaperFill, now: datetime
) -> None:
    position = session.scalars(
        select(PaperPosition).where(
            PaperPosition.paper_account_id == account.id, PaperPosition.conid == fill.conid
        )
    ).one_or_none()
    if position is None:
        position = PaperPosition(
            paper_account_id=account.id,
            conid=fill.conid,
            symbol=order.symbol,
            quantity=ZERO,
            avg_cost=ZERO,
            realized_pnl=ZERO,
            updated_at=now,
        )
        session.add(position)
    apply_to_position(position, fill.side, fill.quantity, fill.price, fill.commission)
    position.updated_at = now


def apply_to_position(
    position: PaperPosition, side: OrderSide, quantity: Decimal, price: Decimal, commission: Decimal
) -> None:
    """Move a position by one fill: average cost on the opening part, realized P&L on the closing part."""
    held = position.quantity
    signed = quantity if side is OrderSide.BUY else -quantity
    closing = min(quantity, abs(held)) if held * signed < 0 else ZERO
    opening = quantity - closing
    closing_commission = commission * closing / quantity
    if closing > 0:
        per_share = price - position.avg_cost if held > 0 else position.avg_cost - price
        position.realized_pnl = quantize(position.realized_pnl + per_share * closing - closing_commission)
    remaining = held + signed
    if opening > 0:
        opening_commission = commission - closing_commission
        cost = opening * price + (opening_commission if side is OrderSide.BUY else -opening_commission)
        still_open = abs(held) if closing == 0 else ZERO
        position.avg_cost = quantize((still_open * position.avg_cost + cost) / abs(remaining))
    elif remaining == 0:
        position.avg_cost = ZERO
    position.quantity = remaining
