"""Positions, round trips (trades) and signal outcomes, replayed from fills only.

Positions are never moved by deltas: each (account, strategy, contract) is replayed from all of its fills,
oldest first, so a fill that was lost and applied again later lands where it belongs and nothing is
counted twice. ``rebuild_positions`` runs the same replay for a whole account.

Replay rules (long-only): a buy from flat opens a round trip; buys move the average cost; sells realize
``(price - average cost) x quantity``; every commission is charged to realized P&L as it is paid; when the
quantity is back at zero the round trip closes into a ``trades`` row with gross and net P&L, commissions
and the R multiple against the stop the entry was placed with. ``positions.realized_pnl`` is the position's
realized P&L over its whole life, net of commissions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from ibflow.core.money import ZERO
from ibflow.db.events.outbox import record_event
from ibflow.db.models import Fill, Order, Position, Trade, TradingSignal
from ibflow.db.states import OrderOrigin, OrderRole, OrderSide, PositionStatus
from ibflow.trading.lifecycle.client_ids import purpose_of

PositionKey = tuple[str, int | None, int]
"""(account, strategy, conid)."""


@dataclass
class RoundTrip:
    """One round trip from flat to flat (or still open)."""

    opened_at: datetime
    signal_id: int | None
    initial_stop: Decimal | None
    bought: Decimal = ZERO
    cost: Decimal = ZERO
    sold: Decimal = ZERO
    proceeds: Decimal = ZERO
    gross: Decimal = ZERO
    commissions: Decimal = ZERO
    closed_at: datetime | None = None
    exit_reason: str | None = None

    @property
    def entry_price(self) -> Decimal:
        """Average price of the buys."""
        return self.cost / self.bought if self.bought else ZERO

    @property
    def exit_price(self) -> Decimal:
        """Average price of the sells."""
        return self.proceeds / self.sold if self.sold else ZERO

    @property
    def net(self) -> Decimal:
        """P&L after every commission of the round trip."""
        return self.gross - self.commissions

    @property
    def initial_risk(self) -> Decimal | None:
        """(entry - stop) x quantity, when the entry had a stop below it."""
        if self.initial_stop is None or self.entry_price <= self.initial_stop:
            return None
        return (self.entry_price - self.initial_stop) * self.bought


@dataclass
class PositionState:
    """A position as its fills say it is."""

    key: PositionKey
    symbol: str
    quantity: Decimal = ZERO
    avg_cost: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    trips: list[RoundTrip] = field(default_factory=list)

    @property
    def status(self) -> PositionStatus:
        """Open while shares are held."""
        return PositionStatus.OPEN if self.quantity != 0 else PositionStatus.CLOSED

    @property
    def open_trip(self) -> RoundTrip | None:
        """The round trip still open, if any."""
        return self.trips[-1] if self.trips and self.trips[-1].closed_at is None else None


def _fills_of(session: Session, key: PositionKey) -> list[tuple[Fill, Order]]:
    account_id, strategy_id, conid = key
    strategy = Order.strategy_id.is_(None) if strategy_id is None else Order.strategy_id == strategy_id
    query = (
        select(Fill, Order)
        .join(Order, Fill.order_id == Order.id)
        .where(Fill.account_id == account_id, Fill.conid == conid, Order.origin == OrderOrigin.IBFLOW)
        .where(strategy)
    )
    rows = [(fill, order) for fill, order in session.execute(query).all()]
    return sorted(rows, key=lambda row: (row[0].filled_at, row[0].id))


def compute_position(session: Session, key: PositionKey) -> PositionState:
    """Replay one position from its fills without writing anything."""
    rows = _fills_of(session, key)
    state = PositionState(key=key, symbol=rows[0][1].symbol if rows else "")
    for fill, order in rows:
        if fill.side == OrderSide.BUY:
            _buy(session, state, fill, order)
        else:
            _sell(state, fill, order)
    return state


def _buy(session: Session, state: PositionState, fill: Fill, order: Order) -> None:
    if state.quantity == 0 or state.open_trip is None:
        state.trips.append(
            RoundTrip(
                opened_at=fill.filled_at, signal_id=order.signal_id, initial_stop=_stop_of(session, order)
            )
        )
    trip = state.trips[-1]
    held = state.quantity + fill.quantity
    state.avg_cost = (state.avg_cost * state.quantity + fill.price * fill.quantity) / held
    state.quantity = held
    state.realized_pnl -= fill.commission
    trip.bought += fill.quantity
    trip.cost += fill.price * fill.quantity
    trip.commissions += fill.commission


def _sell(state: PositionState, fill: Fill, order: Order) -> None:
    trip = state.open_trip
    gross = (fill.price - state.avg_cost) * fill.quantity
    state.quantity -= fill.quantity
    state.realized_pnl += gross - fill.commission
    if trip is None:
        return
    trip.sold += fill.quantity
    trip.proceeds += fill.price * fill.quantity
    trip.gross += gross
    trip.commissions += fill.commission
    if state.quantity <= 0:
        trip.closed_at = fill.filled_at
        trip.exit_reason = exit_reason(order)
        state.avg_cost = ZERO


def _stop_of(session: Session, entry: Order) -> Decimal | None:
    stop = session.scalars(
        select(Order.stop_price).where(Order.parent_id == entry.id, Order.role == OrderRole.STOP)
    ).first()
    if stop is not None:
        return stop
    if entry.signal_id is not None:
        signal = session.get(TradingSignal, entry.signal_id)
        return signal.stop_loss if signal is not None else None
    return None


def exit_reason(order: Order) -> str:
    """Say why a round trip ended, from the order that closed it."""
    if order.role == OrderRole.STOP:
        return "stop"
    if order.role == OrderRole.TARGET:
        return "target"
    purpose = purpose_of(order.client_order_id)
    return purpose.value if purpose is not None else "manual"


def replay_position(session: Session, key: PositionKey, *, at: datetime) -> Position:
    """Replay one position from its fills and store it, its new trades and its signals' outcomes."""
    state = compute_position(session, key)
    row = position_row(session, key, state.symbol, at)
    opened = row.quantity == 0 and state.quantity != 0
    if row.quantity != 0 and state.quantity == 0:
        # The round trip closed: a flatten or close asked for it is done, and must not sell the next one.
        row.exit_requested = row.exit_requested_at = None
    row.quantity = state.quantity
    row.avg_cost = state.avg_cost
    row.realized_pnl = state.realized_pnl
    row.status = state.status
    row.updated_at = at
    trip = state.trips[-1] if state.trips else None
    if trip is not None:
        row.opened_at = trip.opened_at
        row.closed_at = trip.closed_at
        row.signal_id = trip.signal_id
        row.initial_stop = trip.initial_stop
    _link_orders(session, key, row)
    _store_trades(session, row, state, at)
    if opened:
        record_event(
            session,
            kind="position.opened",
            at=at,
            entity_type="position",
            entity_id=row.id,
            account_id=row.account_id,
            message=f"{row.symbol}: holding {row.quantity.normalize():f} at {row.avg_cost}",
        )
    if state.quantity < 0:
        record_event(
            session,
            kind="position.short",
            at=at,
            severity="error",
            entity_type="position",
            entity_id=row.id,
            account_id=row.account_id,
            message=f"{row.symbol}: short {(-state.quantity).normalize():f} shares; ibflow is long-only",
        )
    return row


def position_row(session: Session, key: PositionKey, symbol: str, at: datetime) -> Position:
    """Return the position row of ``key``, made (flat, closed) when there is none yet."""
    account_id, strategy_id, conid = key
    strategy = Position.strategy_id.is_(None) if strategy_id is None else Position.strategy_id == strategy_id
    row = session.scalars(
        select(Position).where(Position.account_id == account_id, Position.conid == conid, strategy)
    ).first()
    if row is None:
        row = Position(
            account_id=account_id,
            strategy_id=strategy_id,
            conid=conid,
            symbol=symbol,
            status=PositionStatus.CLOSED,
            quantity=ZERO,
            avg_cost=ZERO,
            realized_pnl=ZERO,
            updated_at=at,
        )
        session.add(row)
        session.flush()
    return row


def _link_orders(session: Session, key: PositionKey, row: Position) -> None:
    # Entries that filled, and their children, belong to the position: exits and the watchdog find them so.
    account_id, strategy_id, conid = key
    entries = session.scalars(
        select(Order).where(
            Order.account_id == account_id,
            Order.conid == conid,
            Order.strategy_id == strategy_id,
            Order.role == OrderRole.ENTRY,
            Order.position_id.is_(None),
        )
    ).all()
    # Quantities are text on SQLite: compare them here, never in SQL.
    for entry in (entry for entry in entries if entry.filled_quantity > 0):
        entry.position_id = row.id
        for child in session.scalars(select(Order).where(Order.parent_id == entry.id)):
            child.position_id = row.id


def _store_trades(session: Session, row: Position, state: PositionState, at: datetime) -> None:
    closed = [trip for trip in state.trips if trip.closed_at is not None]
    stored = session.scalars(select(Trade.id).where(Trade.position_id == row.id)).all()
    for trip in closed[len(stored) :]:
        _store_trade(session, row, trip, at)
    open_trip = state.open_trip
    if open_trip is not None and open_trip.signal_id is not None:
        _set_outcome(session, open_trip.signal_id, "open")


def _store_trade(session: Session, row: Position, trip: RoundTrip, at: datetime) -> None:
    closed_at = trip.closed_at or at
    risk = trip.initial_risk
    trade = Trade(
        account_id=row.account_id,
        strategy_id=row.strategy_id,
        position_id=row.id,
        signal_id=trip.signal_id,
        conid=row.conid,
        symbol=row.symbol,
        quantity=trip.bought,
        entry_price=trip.entry_price,
        exit_price=trip.exit_price,
        gross_pnl=trip.gross,
        commissions=trip.commissions,
        net_pnl=trip.net,
        initial_risk=risk,
        r_multiple=trip.net / risk if risk else None,
        exit_reason=trip.exit_reason,
        opened_at=trip.opened_at,
        closed_at=closed_at,
    )
    session.add(trade)
    session.flush()
    outcome = "won" if trip.net > 0 else "lost" if trip.net < 0 else "breakeven"
    if trip.signal_id is not None:
        _set_outcome(session, trip.signal_id, outcome)
    record_event(
        session,
        kind="trade.closed",
        at=at,
        severity="info",
        entity_type="trade",
        entity_id=trade.id,
        account_id=row.account_id,
        message=f"{row.symbol}: {trip.bought.normalize():f} shares {trip.exit_reason}, "
        f"net {trade.net_pnl.quantize(Decimal('0.01'))}"
        + (f", {trade.r_multiple.quantize(Decimal('0.01'))} R" if trade.r_multiple is not None else ""),
        payload={"net_pnl": str(trade.net_pnl), "exit_reason": trip.exit_reason, "signal_id": trip.signal_id},
    )


def _set_outcome(session: Session, signal_id: int, outcome: str) -> None:
    signal = session.get(TradingSignal, signal_id)
    if signal is not None and signal.outcome != outcome:
        signal.outcome = outcome


def set_signal_outcome(session: Session, signal_id: int | None, outcome: str) -> None:
    """Record what became of a signal whose entry never filled (rejected, expired, cancelled)."""
    if signal_id is not None:
        _set_outcome(session, signal_id, outcome)


def compute_positions(session: Session, account_id: str) -> dict[PositionKey, PositionState]:
    """Replay every position of ``account_id`` from its fills, writing nothing."""
    return {key: compute_position(session, key) for key in _keys(session, account_id)}


def rebuild_positions(session: Session, account_id: str, *, at: datetime) -> list[Position]:
    """Recompute every position of ``account_id`` from fills and store the result (the caller commits)."""
    return [replay_position(session, key, at=at) for key in _keys(session, account_id)]


def _keys(session: Session, account_id: str) -> list[PositionKey]:
    from_fills = session.execute(
        select(Order.strategy_id, Fill.conid)
        .join(Order, Fill.order_id == Order.id)
        .where(Fill.account_id == account_id, Order.origin == OrderOrigin.IBFLOW)
        .distinct()
    ).all()
    from_rows = session.execute(
        select(Position.strategy_id, Position.conid).where(Position.account_id == account_id)
    ).all()
    keys = {(account_id, strategy, conid) for strategy, conid in [*from_fills, *from_rows]}
    return sorted(keys, key=str)
