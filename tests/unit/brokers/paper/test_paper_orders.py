"""Single orders at the paper broker: each type fills where the path went, big ones in parts, DAY expires."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

import pytest

from ibflow.brokers.base import BrokerOrder, BrokerOrderStatus, Execution, OrderChange, OrderRequest
from ibflow.brokers.paper import PaperBroker, SimulatedMarket
from ibflow.brokers.paper.matching.fills import to_tick
from ibflow.core.clock import ManualClock
from ibflow.core.ids import AccountId, BrokerOrderId, ClientOrderId, Conid
from ibflow.db.engine import SessionFactory
from ibflow.db.states import OrderSide, OrderType, TimeInForce

ACCOUNT = AccountId("PAPER-1")
AAPL, SPY = Conid(265598), Conid(756733)
TICK = Decimal("0.01")
BUY, SELL = OrderSide.BUY, OrderSide.SELL
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def request(
    cid: str,
    side: OrderSide,
    kind: OrderType,
    quantity: int = 10,
    *,
    limit: Decimal | None = None,
    stop: Decimal | None = None,
    tif: TimeInForce = TimeInForce.GTC,
    conid: Conid = AAPL,
) -> OrderRequest:
    return OrderRequest(ClientOrderId(cid), conid, side, kind, Decimal(quantity), tif, limit, stop)


def down(value: float) -> Decimal:
    return Decimal(repr(value)).quantize(TICK, rounding=ROUND_FLOOR)


def up(value: float) -> Decimal:
    return Decimal(repr(value)).quantize(TICK, rounding=ROUND_CEILING)


def order_of(broker: PaperBroker, broker_order_id: str) -> BrokerOrder:
    return next(o for o in broker.live_orders(ACCOUNT) if o.broker_order_id == broker_order_id)


def fills_of(broker: PaperBroker, broker_order_id: str) -> list[Execution]:
    return [e for e in broker.executions(ACCOUNT, EPOCH) if e.broker_order_id == broker_order_id]


def test_an_account_opens_on_first_use_with_the_starting_cash(broker: PaperBroker) -> None:
    summary = broker.account_summary(ACCOUNT)
    assert (summary.cash, summary.net_liquidation, summary.buying_power) == (Decimal(100_000),) * 3
    assert summary.currency == "USD"
    assert broker.positions(ACCOUNT) == []
    assert broker.live_orders(AccountId("PAPER-2")) == []  # another account, its own books


def test_a_market_order_fills_on_the_next_look_at_the_current_price(
    broker: PaperBroker, clock: ManualClock, market: SimulatedMarket
) -> None:
    placed = broker.place_order(ACCOUNT, request("m-1", BUY, OrderType.MARKET, 10))
    assert placed.status is BrokerOrderStatus.SUBMITTED
    assert placed.client_order_id == "m-1"
    [fill] = broker.executions(ACCOUNT, EPOCH)
    price = market.price(AAPL, clock.now())
    assert (fill.price, fill.quantity, fill.commission, fill.executed_at) == (price, 10, 1, clock.now())
    assert fill.client_order_id == "m-1"
    assert order_of(broker, placed.broker_order_id).status is BrokerOrderStatus.FILLED
    [position] = broker.positions(ACCOUNT)
    assert position.quantity == 10
    assert position.avg_cost == price + Decimal("0.1")  # the USD 1 commission over 10 shares
    assert broker.account_summary(ACCOUNT).cash == 100_000 - 10 * price - 1


@pytest.mark.parametrize(
    ("side", "kind"),
    [
        (BUY, OrderType.LIMIT),
        (SELL, OrderType.LIMIT),
        (BUY, OrderType.STOP),
        (SELL, OrderType.STOP),
        (BUY, OrderType.STOP_LIMIT),
        (SELL, OrderType.STOP_LIMIT),
    ],
)
def test_each_order_type_fills_at_a_price_the_path_reached_in_its_interval(
    broker: PaperBroker, clock: ManualClock, market: SimulatedMarket, side: OrderSide, kind: OrderType
) -> None:
    placed_at = clock.now()
    now = market.path_price(AAPL, placed_at)
    low, high = market.path_range(AAPL, placed_at, placed_at + timedelta(hours=12))
    # a level half-way to where the path goes next: below for buy limits and sell stops, above otherwise
    below = (side is BUY) == (kind is OrderType.LIMIT)
    level = down((now + low) / 2) if below else up((now + high) / 2)
    limit = stop = None
    if kind is OrderType.LIMIT:
        limit = level
    else:
        stop = level
        if kind is OrderType.STOP_LIMIT:
            limit = level + Decimal("0.05") if side is BUY else level - Decimal("0.05")
    placed = broker.place_order(ACCOUNT, request("o-1", side, kind, limit=limit, stop=stop))
    clock.advance(timedelta(hours=12))
    [fill] = fills_of(broker, placed.broker_order_id)
    assert placed_at <= fill.executed_at <= clock.now()
    reached_low, reached_high = market.path_range(AAPL, placed_at, fill.executed_at)
    assert to_tick(reached_low, TICK) <= fill.price <= to_tick(reached_high, TICK)
    assert fill.price == level  # the path crossed the level continuously: it fills right there
    before = market.path_range(AAPL, placed_at, fill.executed_at - timedelta(milliseconds=1))
    assert (before[0] > float(level)) if below else (before[1] < float(level))  # not a moment earlier
    if limit is not None:
        assert fill.price <= limit if side is BUY else fill.price >= limit


def test_a_large_order_fills_in_parts_against_the_volume(
    sessions: SessionFactory, clock: ManualClock
) -> None:
    market = SimulatedMarket(seed=11, participation=0.0005)
    broker = PaperBroker(sessions, clock, market)
    cap = int(market.day_path(SPY, clock.now().date()).caps.max())
    placed = broker.place_order(ACCOUNT, request("big-1", BUY, OrderType.MARKET, 6 * cap, conid=SPY))
    clock.advance(timedelta(minutes=2, seconds=30))
    partly = order_of(broker, placed.broker_order_id)
    assert partly.status is BrokerOrderStatus.SUBMITTED
    assert 0 < partly.filled_quantity < partly.quantity
    clock.advance(timedelta(minutes=30))
    fills = fills_of(broker, placed.broker_order_id)
    assert len(fills) >= 6
    assert sum(f.quantity for f in fills) == 6 * cap
    minutes = [int(f.executed_at.timestamp()) // 60 for f in fills]
    assert minutes == sorted(set(minutes))  # at most one fill a minute
    for fill in fills:
        path = market.day_path(SPY, fill.executed_at.date())
        assert fill.quantity <= int(path.caps[int(path.seconds(fill.executed_at) // 60)])
    assert order_of(broker, placed.broker_order_id).status is BrokerOrderStatus.FILLED
    assert sum(f.commission for f in fills) == max(Decimal("0.005") * 6 * cap, Decimal(1))
    assert len({f.broker_exec_id for f in fills}) == len(fills)


def test_a_day_order_expires_at_the_end_of_the_trading_day(
    broker: PaperBroker, clock: ManualClock, market: SimulatedMarket
) -> None:
    far = down(market.path_price(AAPL, clock.now()) * 0.5)
    day = broker.place_order(ACCOUNT, request("d-1", BUY, OrderType.LIMIT, limit=far, tif=TimeInForce.DAY))
    gtc = broker.place_order(ACCOUNT, request("g-1", BUY, OrderType.LIMIT, limit=far))
    midnight_new_york = datetime(2026, 3, 5, 5, 0, tzinfo=UTC)
    clock.set(midnight_new_york - timedelta(microseconds=1))
    assert order_of(broker, day.broker_order_id).status is BrokerOrderStatus.SUBMITTED
    clock.set(midnight_new_york)
    expired = order_of(broker, day.broker_order_id)
    assert (expired.status, expired.filled_quantity) == (BrokerOrderStatus.EXPIRED, 0)
    assert "expired" in expired.reason
    assert order_of(broker, gtc.broker_order_id).status is BrokerOrderStatus.SUBMITTED


def test_a_day_order_that_filled_in_part_keeps_its_fills_when_it_expires(
    sessions: SessionFactory, clock: ManualClock
) -> None:
    market = SimulatedMarket(seed=11, participation=0.0005)
    broker = PaperBroker(sessions, clock, market)
    clock.set(datetime(2026, 3, 5, 4, 57, tzinfo=UTC))  # three minutes before midnight New York
    placed = broker.place_order(
        ACCOUNT, request("d-2", BUY, OrderType.MARKET, 1_000_000, tif=TimeInForce.DAY, conid=SPY)
    )
    clock.advance(timedelta(hours=1))
    order = order_of(broker, placed.broker_order_id)
    assert order.status is BrokerOrderStatus.EXPIRED
    assert 0 < order.filled_quantity < order.quantity
    assert len(fills_of(broker, placed.broker_order_id)) == 3
    assert broker.positions(ACCOUNT)[0].quantity == order.filled_quantity


def test_orders_on_a_closed_exchange_wait_for_the_open(sessions: SessionFactory) -> None:
    clock = ManualClock(datetime(2026, 3, 7, 15, tzinfo=UTC))  # Saturday
    market = SimulatedMarket(seed=11, calendar="XNYS")
    broker = PaperBroker(sessions, clock, market)
    placed = broker.place_order(ACCOUNT, request("w-1", BUY, OrderType.MARKET, tif=TimeInForce.DAY))
    clock.set(datetime(2026, 3, 9, 13, 29, tzinfo=UTC))  # Monday, a minute before the open
    assert fills_of(broker, placed.broker_order_id) == []
    clock.set(datetime(2026, 3, 9, 20, 0, tzinfo=UTC))  # the close: the DAY order lived until then
    [fill] = fills_of(broker, placed.broker_order_id)
    opening = datetime(2026, 3, 9, 13, 30, tzinfo=UTC)
    assert (fill.executed_at, fill.price) == (opening, market.price(AAPL, opening))


def test_modify_moves_a_working_limit(
    broker: PaperBroker, clock: ManualClock, market: SimulatedMarket
) -> None:
    far = down(market.path_price(AAPL, clock.now()) * 0.5)
    placed = broker.place_order(ACCOUNT, request("mod-1", BUY, OrderType.LIMIT, 5, limit=far))
    clock.advance(timedelta(minutes=5))
    assert fills_of(broker, placed.broker_order_id) == []
    marketable = up(market.path_price(AAPL, clock.now()) * 1.01)
    changed = broker.modify_order(
        ACCOUNT,
        BrokerOrderId(placed.broker_order_id),
        OrderChange(quantity=Decimal(8), limit_price=marketable),
    )
    assert (changed.quantity, changed.limit_price) == (8, marketable)
    [fill] = fills_of(broker, placed.broker_order_id)
    assert (fill.executed_at, fill.quantity) == (clock.now(), 8)
    assert fill.price == market.price(AAPL, clock.now())
