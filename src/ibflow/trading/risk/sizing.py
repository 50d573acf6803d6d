"""How big an entry may be: the risk-based size in whole shares, and what the account already carries.

Code decides size, never the analyst. Exposure and open positions count an entry order from the moment its
intent is committed until it ends (it may fill at any time), so two entries racing for the last slot are
decided under the account lock by whichever re-checks second.
"""

from __future__ import annotations

from collections.abc import Collection
from decimal import ROUND_FLOOR, Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from ibflow.core.money import ZERO
from ibflow.db.models.orders import Order
from ibflow.db.models.positions import Position
from ibflow.db.states import LIVE_ORDER_STATES, OrderRole, OrderState, PositionStatus

PENDING_ENTRY_STATES = LIVE_ORDER_STATES | {OrderState.INTENT}


def _whole(value: Decimal) -> Decimal:
    # Always down: a size is never rounded up, not even from 0.99 to 1.
    return max(ZERO, value.to_integral_value(rounding=ROUND_FLOOR))


def size_entry(
    *,
    equity: Decimal,
    risk_per_trade: Decimal,
    entry: Decimal,
    stop: Decimal,
    max_position_value: Decimal,
    buying_power: Decimal,
    max_quantity: Decimal,
) -> tuple[Decimal, dict[str, str]]:
    """Size an entry: ``floor(equity * risk_per_trade / |entry - stop|)``, capped; whole shares, 0 stays 0.

    The caps are the strategy's max position value (``floor(max_position_value / entry)``), the broker's
    buying power (``floor(buying_power / entry)``) and the strategy's max quantity. Returns the size and,
    for lineage, every number that led to it (as exact strings) including which limit decided it.
    """
    budget = equity * risk_per_trade
    per_share_risk = abs(entry - stop)
    sizing: dict[str, str] = {
        "equity": str(equity),
        "risk_per_trade": str(risk_per_trade),
        "budget": str(budget),
        "per_share_risk": str(per_share_risk),
    }
    if per_share_risk == 0 or entry <= 0:
        sizing.update(size="0", limited_by="no per-share risk" if entry > 0 else "no entry price")
        return ZERO, sizing
    candidates = {
        "risk": _whole(budget / per_share_risk),
        "max_position_value": _whole(max_position_value / entry),
        "buying_power": _whole(buying_power / entry),
        "max_quantity": _whole(max_quantity),
    }
    limited_by = min(candidates, key=lambda name: candidates[name])
    size = candidates[limited_by]
    sizing.update(
        risk_size=str(candidates["risk"]),
        cap_max_position_value=str(candidates["max_position_value"]),
        cap_buying_power=str(candidates["buying_power"]),
        cap_max_quantity=str(candidates["max_quantity"]),
        size=str(size),
        limited_by=limited_by,
    )
    return size, sizing


def open_position_keys(
    session: Session, account_id: str, *, excluding: Collection[int] = ()
) -> set[tuple[int | None, int]]:
    """Return (strategy, conid) of every open position and every pending entry order of the account.

    ``excluding``: order ids left out (a written bracket judged again does not count against itself).
    """
    positions = session.execute(
        select(Position.strategy_id, Position.conid).where(
            Position.account_id == account_id, Position.status == PositionStatus.OPEN
        )
    ).all()
    entries = session.execute(
        select(Order.strategy_id, Order.conid).where(
            Order.account_id == account_id,
            Order.role == OrderRole.ENTRY,
            Order.state.in_(PENDING_ENTRY_STATES),
            Order.id.not_in(excluding),
        )
    ).all()
    return {(strategy_id, conid) for strategy_id, conid in [*positions, *entries]}


def account_exposure(session: Session, account_id: str, *, excluding: Collection[int] = ()) -> Decimal:
    """Sum open positions at cost plus the unfilled rest of pending entry orders at their limit price."""
    positions = session.execute(
        select(Position.quantity, Position.avg_cost).where(
            Position.account_id == account_id, Position.status == PositionStatus.OPEN
        )
    ).all()
    entries = session.scalars(
        select(Order).where(
            Order.account_id == account_id,
            Order.role == OrderRole.ENTRY,
            Order.state.in_(PENDING_ENTRY_STATES),
            Order.id.not_in(excluding),
        )
    ).all()
    held = sum((quantity * avg_cost for quantity, avg_cost in positions), ZERO)
    pending = sum(
        (
            max(ZERO, order.quantity - order.filled_quantity)
            * (order.limit_price or order.stop_price or order.avg_fill_price or ZERO)
            for order in entries
        ),
        ZERO,
    )
    return held + pending
