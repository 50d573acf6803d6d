"""Fills apply once, and positions, trades and signal outcomes follow from fills only."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from tests.factories import make_strategy

from ibflow.brokers.base import Execution
from ibflow.core.clock import ManualClock
from ibflow.core.ids import AccountId, BrokerExecId, BrokerOrderId, ClientOrderId, Conid
from ibflow.core.money import quantize
from ibflow.db.engine import SessionFactory
from ibflow.db.models import Event, Fill, Order, Position, Trade, TradingSignal
from ibflow.db.states import (
    OrderRole,
    OrderSide,
    OrderState,
    OrderType,
    PositionStatus,
    SignalAction,
    TimeInForce,
)
from ibflow.trading.lifecycle.fills import apply_executions
from ibflow.trading.lifecycle.orders import NewOrder, create_order
from ibflow.trading.positions.book import compute_positions, rebuild_positions

ACCOUNT = "PAPER-1"
CONID = 265598


def _bracket(session: Session, clock: ManualClock, *, quantity: int = 100) -> tuple[Order, Order, Order]:
    strategy = make_strategy(session, now=clock.now())
    signal = TradingSignal(strategy_id=strategy.id, action=SignalAction.BUY, created_at=clock.now())
    session.add(signal)
    session.flush()

    def row(leg: str, role: OrderRole, side: OrderSide, kind: OrderType, **extra: object) -> Order:
        spec = NewOrder(
            client_order_id=f"ibf-abc-1-{leg}",
            account_id=ACCOUNT,
            conid=CONID,
            symbol="AAPL",
            role=role,
            side=side,
            order_type=kind,
            tif=TimeInForce.DAY if role == OrderRole.ENTRY else TimeInForce.GTC,
            quantity=Decimal(quantity),
            strategy_id=strategy.id,
            signal_id=signal.id,
            broker_order_id=f"B-{leg}",
            **extra,  # type: ignore[arg-type]
        )
        return create_order(session, spec, at=clock.now(), state=OrderState.WORKING)

    parent = row("entry", OrderRole.ENTRY, OrderSide.BUY, OrderType.LIMIT, limit_price=Decimal(100))
    stop = row(
        "stop", OrderRole.STOP, OrderSide.SELL, OrderType.STOP, stop_price=Decimal(95), parent_id=parent.id
    )
    target = row(
        "target",
        OrderRole.TARGET,
        OrderSide.SELL,
        OrderType.LIMIT,
        limit_price=Decimal(110),
        parent_id=parent.id,
    )
    return parent, stop, target


def _execution(
    clock: ManualClock,
    exec_id: str,
    order: Order,
    quantity: str,
    price: str,
    *,
    commission: str = "1.00",
    with_client_id: bool = True,
) -> Execution:
    return Execution(
        account_id=AccountId(ACCOUNT),
        broker_exec_id=BrokerExecId(exec_id),
        conid=Conid(CONID),
        side=order.side,
        quantity=Decimal(quantity),
        price=Decimal(price),
        commission=Decimal(commission),
        executed_at=clock.now(),
        broker_order_id=BrokerOrderId(order.broker_order_id or ""),
        client_order_id=ClientOrderId(order.client_order_id) if with_client_id else None,
    )


def _apply(session: Session, clock: ManualClock, *executions: Execution) -> int:
    new, unmatched = apply_executions(session, account_id=ACCOUNT, executions=executions, at=clock.now())
    assert unmatched == []
    return len(new)


def _count(session: Session, model: type[object]) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def _position(session: Session) -> Position:
    return session.scalars(select(Position)).one()


def test_the_same_fill_applied_twice_changes_nothing(sessions: SessionFactory, clock: ManualClock) -> None:
    with sessions() as session:
        parent, _stop, _target = _bracket(session, clock)
        fill = _execution(clock, "E1", parent, "60", "100.00")
        assert _apply(session, clock, fill) == 1
        session.commit()
        before = (
            _count(session, Fill),
            _count(session, Event),
            _position(session).quantity,
            parent.filled_quantity,
        )

        assert _apply(session, clock, fill) == 0
        session.commit()
        after = (
            _count(session, Fill),
            _count(session, Event),
            _position(session).quantity,
            parent.filled_quantity,
        )

    assert before == after == (1, before[1], Decimal(60), Decimal(60))


def test_a_round_trip_becomes_a_trade_with_pnl_commissions_and_r(
    sessions: SessionFactory, clock: ManualClock
) -> None:
    with sessions() as session:
        parent, stop, target = _bracket(session, clock)
        _apply(session, clock, _execution(clock, "E1", parent, "60", "100.00"))
        clock.advance(timedelta(minutes=1))
        _apply(session, clock, _execution(clock, "E2", parent, "40", "99.50"))
        position = _position(session)
        assert (position.quantity, position.avg_cost, position.status) == (
            Decimal(100),
            Decimal("99.8"),
            PositionStatus.OPEN,
        )
        signal = session.get_one(TradingSignal, parent.signal_id)
        assert signal.outcome == "open"

        clock.advance(timedelta(hours=1))
        # The children carry no client order id: they are matched by broker order id.
        _apply(session, clock, _execution(clock, "E3", target, "100", "110.00", with_client_id=False))
        session.commit()

        trade = session.scalars(select(Trade)).one()
        position = _position(session)

    # Gross (110 - 99.8) x 100 = 1,020; three commissions of 1.00; risk (99.8 - 95) x 100 = 480.
    assert (trade.quantity, trade.entry_price, trade.exit_price) == (
        Decimal(100),
        Decimal("99.8"),
        Decimal(110),
    )
    assert (trade.gross_pnl, trade.commissions, trade.net_pnl) == (Decimal(1020), Decimal(3), Decimal(1017))
    assert trade.initial_risk == Decimal(480)
    assert trade.r_multiple == Decimal(1017) / Decimal(480)
    assert trade.exit_reason == "target"
    assert (position.quantity, position.status, position.realized_pnl) == (
        Decimal(0),
        PositionStatus.CLOSED,
        Decimal(1017),
    )
    assert signal.outcome == "won"
    assert stop.filled_quantity == 0


def test_positions_rebuilt_from_fills_equal_the_stored_ones(
    sessions: SessionFactory, clock: ManualClock
) -> None:
    with sessions() as session:
        parent, stop, target = _bracket(session, clock)
        steps = [
            ("E1", parent, "30", "100.00"),
            ("E2", parent, "70", "100.20"),
            ("E3", stop, "25", "95.00"),
            ("E4", target, "50", "110.00"),
        ]
        for exec_id, order, quantity, price in steps:
            clock.advance(timedelta(minutes=5))
            _apply(session, clock, _execution(clock, exec_id, order, quantity, price, with_client_id=False))
            session.commit()
        stored = {
            (p.strategy_id, p.conid): (p.quantity, p.avg_cost, p.realized_pnl, p.status)
            for p in session.scalars(select(Position))
        }

        computed = compute_positions(session, ACCOUNT)
        rebuilt = rebuild_positions(session, ACCOUNT, at=clock.now())

    assert stored == {
        (key[1], key[2]): (state.quantity, quantize(state.avg_cost), state.realized_pnl, state.status)
        for key, state in computed.items()
    }
    assert stored == {
        (p.strategy_id, p.conid): (p.quantity, p.avg_cost, p.realized_pnl, p.status) for p in rebuilt
    }
    assert next(iter(stored.values()))[0] == Decimal(25)


def test_a_lost_fill_applied_again_lands_where_it_belongs(
    sessions: SessionFactory, clock: ManualClock
) -> None:
    with sessions() as session:
        parent, stop, _target = _bracket(session, clock)
        first = _execution(clock, "E1", parent, "100", "100.00")
        clock.advance(timedelta(minutes=1))
        second = _execution(clock, "E2", stop, "40", "95.00", with_client_id=False)
        _apply(session, clock, first, second)
        session.commit()
        expected = (_position(session).quantity, _position(session).realized_pnl)

        session.execute(delete(Fill).where(Fill.broker_exec_id == "E1"))
        session.commit()
        clock.advance(timedelta(minutes=1))
        assert _apply(session, clock, first, second) == 1
        session.commit()
        position = _position(session)

    # Replayed from every fill in time order: not doubled, not shorted.
    assert (position.quantity, position.realized_pnl) == expected == (Decimal(60), Decimal(-202))
