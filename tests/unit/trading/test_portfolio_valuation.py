"""Valuation and snapshots come from the paper broker's own numbers, not from ibflow's estimate."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from tests.unit.trading.risk_cases import (
    ACCOUNT,
    CONID,
    OTHER_CONID,
    OTHER_SYMBOL,
    add_position,
    seed_strategy,
)

from ibflow.brokers.base import OrderRequest
from ibflow.brokers.paper.broker import PaperBroker
from ibflow.brokers.paper.market.prices import SimulatedMarket
from ibflow.core.clock import ManualClock
from ibflow.core.ids import AccountId, ClientOrderId, Conid
from ibflow.db.engine import SessionFactory
from ibflow.db.models import PortfolioSnapshot
from ibflow.db.states import OrderSide, OrderType, PositionStatus, TimeInForce
from ibflow.trading.portfolio.valuation import (
    equity_curve,
    snapshot_stamp,
    snapshots,
    take_snapshot,
    value_account,
)


@pytest.fixture
def broker(sessions: SessionFactory, clock: ManualClock) -> PaperBroker:
    """The paper broker on a seeded market, with 100,000 of cash."""
    market = SimulatedMarket(seed=20260101)
    return PaperBroker(sessions, clock, market, starting_cash=Decimal(100_000))


def _buy(broker: PaperBroker, conid: Conid, quantity: int, number: int) -> None:
    broker.place_order(
        ACCOUNT,
        OrderRequest(
            client_order_id=ClientOrderId(f"ibf-test-valuation-{number}"),
            conid=conid,
            side=OrderSide.BUY,
            order_type=OrderType.MARKET,
            quantity=Decimal(quantity),
            tif=TimeInForce.DAY,
        ),
    )


def test_the_valuation_is_the_brokers_numbers(
    broker: PaperBroker, sessions: SessionFactory, clock: ManualClock
) -> None:
    _buy(broker, CONID, 100, 1)
    _buy(broker, OTHER_CONID, 20, 2)
    clock.advance(timedelta(minutes=10))
    clock.advance(timedelta(hours=3))  # prices move: the positions have unrealized P&L
    with sessions() as session:
        strategy = seed_strategy(session, clock)
        # ibflow's books: a closed round trip and a partly realized open position.
        add_position(
            session, clock, strategy_id=strategy.id, status=PositionStatus.CLOSED, realized_pnl=Decimal(250)
        )
        add_position(
            session,
            clock,
            strategy_id=strategy.id,
            conid=OTHER_CONID,
            symbol=OTHER_SYMBOL,
            quantity=Decimal(20),
            realized_pnl=Decimal("-12.5"),
        )
        session.commit()

        valuation = value_account(session, broker=broker, account_id=ACCOUNT, clock=clock)

    summary = broker.account_summary(AccountId(ACCOUNT))
    held = {position.conid: position for position in broker.positions(AccountId(ACCOUNT))}
    assert {position.conid: position.quantity for position in held.values()} == {
        CONID: Decimal(100),
        OTHER_CONID: Decimal(20),
    }
    assert valuation.cash == summary.cash < Decimal(100_000)  # paid for the shares and the commissions
    assert valuation.equity == valuation.net_liquidation == summary.net_liquidation
    assert valuation.buying_power == summary.buying_power
    assert valuation.positions_value == sum(position.market_value for position in held.values())
    assert valuation.net_liquidation == valuation.cash + valuation.positions_value
    assert valuation.unrealized_pnl == sum(position.unrealized_pnl for position in held.values())
    assert valuation.unrealized_pnl != 0
    assert valuation.realized_pnl == Decimal("237.5")  # 250 - 12.5 from ibflow's positions
    by_conid = {position.conid: position for position in valuation.positions}
    assert by_conid[OTHER_CONID].symbol == OTHER_SYMBOL
    assert by_conid[CONID].market_value == held[CONID].market_value
    assert by_conid[CONID].market_price == held[CONID].market_price


def test_snapshots_keep_the_value_over_time(
    broker: PaperBroker, sessions: SessionFactory, clock: ManualClock
) -> None:
    with sessions() as session:
        first = take_snapshot(session, broker=broker, account_id=ACCOUNT, clock=clock)
        session.commit()
    assert (first.cash, first.equity, first.positions_value, first.positions) == (
        Decimal(100_000),
        Decimal(100_000),
        Decimal(0),
        [],
    )

    _buy(broker, CONID, 50, 3)
    clock.advance(timedelta(hours=1))
    with sessions() as session:
        second = take_snapshot(session, broker=broker, account_id=ACCOUNT, clock=clock)
        session.commit()

    summary = broker.account_summary(AccountId(ACCOUNT))
    [position] = broker.positions(AccountId(ACCOUNT))
    with sessions() as session:
        stored = snapshots(session, account_id=ACCOUNT)
        assert [row.id for row in stored] == [first.id, second.id]
        row = session.get(PortfolioSnapshot, second.id)
        assert row is not None
        assert row.taken_at == clock.now()
        assert (row.cash, row.equity) == (summary.cash, summary.net_liquidation)
        assert row.positions_value == position.market_value
        assert row.unrealized_pnl == position.unrealized_pnl
        assert equity_curve(session, account_id=ACCOUNT) == [
            (first.taken_at, first.equity),
            (second.taken_at, second.equity),
        ]
        assert equity_curve(session, account_id=ACCOUNT, since=clock.now()) == [
            (second.taken_at, second.equity)
        ]
        assert row.positions == [
            {
                "conid": CONID,
                "symbol": "",
                "quantity": str(position.quantity),
                "avg_cost": str(position.avg_cost),
                "market_price": str(position.market_price),
                "market_value": str(position.market_value),
                "unrealized_pnl": str(position.unrealized_pnl),
            }
        ]
        assert snapshots(session, account_id=ACCOUNT, since=clock.now()) == [row]
        assert snapshots(session, account_id="DU-OTHER") == []
        assert snapshot_stamp(session, account_id=ACCOUNT) == (2, second.id)
        assert snapshot_stamp(session, account_id="DU-OTHER") == (0, None)
