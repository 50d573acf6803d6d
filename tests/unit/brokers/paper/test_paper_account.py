"""Account numbers, positions, bars and contracts as the paper broker reports them; restarts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path

import pytest

from ibflow.brokers.base import BrokerOrderStatus, OrderRequest
from ibflow.brokers.paper import PaperBroker, SimulatedMarket
from ibflow.brokers.paper.market.calendar import ExchangeSessions
from ibflow.core.clock import ManualClock
from ibflow.core.errors import BrokerRejected, NotFound
from ibflow.core.ids import AccountId, ClientOrderId, Conid
from ibflow.core.settings import BrokerSettings
from ibflow.db.engine import SessionFactory, make_engine, session_factory
from ibflow.db.states import OrderSide, OrderType, TimeInForce

ACCOUNT = AccountId("PAPER-1")
AAPL, SPY = Conid(265598), Conid(756733)
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
D = Decimal


def order(
    cid: str, side: OrderSide, quantity: int, kind: OrderType = OrderType.MARKET, limit: Decimal | None = None
) -> OrderRequest:
    return OrderRequest(ClientOrderId(cid), AAPL, side, kind, D(quantity), TimeInForce.GTC, limit)


def test_account_summary_values_positions_and_reserves_working_buys(
    broker: PaperBroker, clock: ManualClock, market: SimulatedMarket
) -> None:
    broker.place_order(ACCOUNT, order("a-1", OrderSide.BUY, 10))
    price = market.price(AAPL, clock.now())
    resting = D(int(price / 2))
    broker.place_order(ACCOUNT, order("a-2", OrderSide.BUY, 5, OrderType.LIMIT, resting))
    clock.advance(timedelta(minutes=7))
    summary = broker.account_summary(ACCOUNT)
    cash = 100_000 - 10 * price - 1
    assert summary.cash == cash
    assert summary.net_liquidation == cash + 10 * market.price(AAPL, clock.now())
    assert summary.buying_power == cash - 5 * resting


def test_positions_keep_average_cost_and_realized_pnl_and_may_go_short(
    broker: PaperBroker, clock: ManualClock, market: SimulatedMarket
) -> None:
    buy_price = market.price(AAPL, clock.now())
    broker.place_order(ACCOUNT, order("p-1", OrderSide.BUY, 100))
    clock.advance(timedelta(hours=1))
    sell_price = market.price(AAPL, clock.now())
    broker.place_order(ACCOUNT, order("p-2", OrderSide.SELL, 40))
    [position] = broker.positions(ACCOUNT)
    avg = buy_price + D("0.01")  # USD 1 commission over 100 shares
    assert (position.quantity, position.avg_cost) == (60, avg)
    assert position.realized_pnl == (sell_price - avg) * 40 - 1
    assert position.market_price == sell_price
    assert position.market_value == 60 * sell_price
    assert position.unrealized_pnl == 60 * (sell_price - avg)
    broker.place_order(ACCOUNT, order("p-3", OrderSide.SELL, 260))  # 60 close, 200 open a short
    [short] = broker.positions(ACCOUNT)
    commission = D("1.30")  # 260 shares
    assert short.quantity == -200
    assert short.avg_cost == sell_price - commission * 200 / 260 / 200
    assert short.realized_pnl == position.realized_pnl + (sell_price - avg) * 60 - commission * 60 / 260
    broker.place_order(ACCOUNT, order("p-4", OrderSide.BUY, 200))
    assert broker.positions(ACCOUNT) == []


def test_historical_bars_never_look_past_the_clock(
    broker: PaperBroker, clock: ManualClock, market: SimulatedMarket
) -> None:
    bars = broker.historical_bars(
        AAPL, "1d", clock.now() - timedelta(days=10), clock.now() + timedelta(days=5)
    )
    assert len(bars) == 10
    assert bars[-1].partial
    assert bars[-1].close == market.price(AAPL, clock.now())
    assert broker.historical_bars(AAPL, "1d", clock.now(), clock.now() - timedelta(days=1)) == []
    with pytest.raises(BrokerRejected, match="only '1d' bars, not '1h'"):
        broker.historical_bars(AAPL, "1h", clock.now() - timedelta(days=1), clock.now())
    with pytest.raises(NotFound):
        broker.historical_bars(Conid(1), "1d", clock.now() - timedelta(days=1), clock.now())


def test_contracts(broker: PaperBroker) -> None:
    details = broker.contract_details(AAPL)
    assert (details.symbol, details.min_tick, details.currency, details.sec_type) == (
        "AAPL",
        D("0.01"),
        "USD",
        "STK",
    )
    assert broker.search_contracts("spy")[0].conid == SPY
    with pytest.raises(NotFound):
        broker.contract_details(Conid(1))


def test_the_broker_is_built_from_settings(sessions: SessionFactory, clock: ManualClock) -> None:
    settings = BrokerSettings(paper_seed=99, paper_calendar="XNYS", paper_starting_cash=D(5000))
    broker = PaperBroker.from_settings(settings, sessions, clock)
    assert broker.market.seed == 99
    assert isinstance(broker.market.calendar, ExchangeSessions)
    assert broker.account_summary(ACCOUNT).cash == 5000


def down(value: float) -> Decimal:
    return Decimal(repr(value)).quantize(D("0.01"), rounding=ROUND_FLOOR)


def test_a_restart_keeps_orders_positions_and_cash(
    sqlite_url: str, engine: object, clock: ManualClock
) -> None:
    first = PaperBroker(session_factory(make_engine(sqlite_url)), clock, SimulatedMarket(seed=11))
    first.place_order(ACCOUNT, order("r-1", OrderSide.BUY, 25))
    resting = D(int(first.market.price(AAPL, clock.now()) / 2))
    first.place_order(ACCOUNT, order("r-2", OrderSide.BUY, 5, OrderType.LIMIT, resting))
    before = (first.live_orders(ACCOUNT), first.positions(ACCOUNT), first.account_summary(ACCOUNT))
    second = PaperBroker(session_factory(make_engine(sqlite_url)), clock, SimulatedMarket(seed=11))
    after = (second.live_orders(ACCOUNT), second.positions(ACCOUNT), second.account_summary(ACCOUNT))
    assert after == before
    assert [o.status for o in after[0]] == [BrokerOrderStatus.FILLED, BrokerOrderStatus.SUBMITTED]


def test_orders_that_filled_while_nobody_looked_fill_at_the_prices_of_then(
    sqlite_url: str, engine: object, tmp_path: Path, migrated_sqlite: Callable[[Path], str]
) -> None:
    start = datetime(2026, 3, 4, 17, 0, tzinfo=UTC)
    market = SimulatedMarket(seed=11)
    low, _ = market.path_range(AAPL, start, start + timedelta(hours=6))
    limit = down((market.path_price(AAPL, start) + low) / 2)
    watched_url = migrated_sqlite(tmp_path / "watched.db")
    outcomes = []
    for url, step in ((sqlite_url, None), (watched_url, timedelta(minutes=5))):
        clock = ManualClock(start)
        broker = PaperBroker(session_factory(make_engine(url)), clock, SimulatedMarket(seed=11))
        broker.place_order(ACCOUNT, order("n-1", OrderSide.BUY, 30, OrderType.LIMIT, limit))
        if step is None:  # the process stops; a new one starts three days later
            clock.set(start + timedelta(days=3))
            broker = PaperBroker(session_factory(make_engine(url)), clock, SimulatedMarket(seed=11))
        else:
            while clock.now() < start + timedelta(days=3):
                clock.advance(step)
                broker.positions(ACCOUNT)
        outcomes.append(broker.executions(ACCOUNT, EPOCH))
    unwatched, watched = outcomes
    assert unwatched == watched
    [fill] = unwatched
    assert start < fill.executed_at < start + timedelta(hours=6)
    assert fill.price == limit
