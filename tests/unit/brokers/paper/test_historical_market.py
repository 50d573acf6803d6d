"""The historical market: the paper broker on daily bars from a file, and its fill model.

A session's path runs open -> low -> high -> close, so limit and stop orders fill when the bar's range
touches them (at their price, or at the open when the session opens beyond them), and a long position's
stop is reached before its target when both lie inside one bar. Orders sent after a close work from the
next session; commissions are the paper broker's own.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from ibflow.brokers.base import BracketRequest, BracketRole, BrokerOrderStatus, OrderRequest, QuoteFlag
from ibflow.brokers.paper import PaperBroker
from ibflow.brokers.paper.market.bar_files import parse_bars
from ibflow.brokers.paper.market.history import HistoricalMarket
from ibflow.core.clock import ManualClock
from ibflow.core.ids import AccountId, ClientOrderId, Conid
from ibflow.db.engine import SessionFactory
from ibflow.db.states import OrderSide, OrderType, TimeInForce

ACCOUNT = AccountId("PAPER-1")
AAPL = Conid(265598)
NEW_YORK = ZoneInfo("America/New_York")
D = Decimal
BARS = """Date,Open,High,Low,Close,Adj Close,Volume
2017-01-03,100,101,99,100,1,5000000
2017-01-04,98,104,96,103,1,5000000
2017-01-05,101,101.5,100,101,1,5000000
"""


def ny(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2017, 1, day, hour, minute, tzinfo=NEW_YORK).astimezone(UTC)


@pytest.fixture
def clock() -> ManualClock:
    """Five minutes after the first session's close."""
    return ManualClock(ny(3, 16, 5))


@pytest.fixture
def market() -> HistoricalMarket:
    return HistoricalMarket({"AAPL": parse_bars(BARS, "AAPL.csv")})


@pytest.fixture
def broker(sessions: SessionFactory, clock: ManualClock, market: HistoricalMarket) -> PaperBroker:
    return PaperBroker(sessions, clock, market)


def order(
    cid: str, side: OrderSide, kind: OrderType, quantity: int, price: str | None = None
) -> OrderRequest:
    limit = D(price) if price is not None and kind is OrderType.LIMIT else None
    stop = D(price) if price is not None and kind is OrderType.STOP else None
    tif = TimeInForce.DAY if side is OrderSide.BUY else TimeInForce.GTC
    return OrderRequest(ClientOrderId(cid), AAPL, side, kind, D(quantity), tif, limit, stop_price=stop)


def bracket(cid: str, quantity: int, *, entry: str, stop: str, target: str) -> BracketRequest:
    return BracketRequest(
        parent=order(cid, OrderSide.BUY, OrderType.LIMIT, quantity, entry),
        stop_loss=order(f"{cid}-stop", OrderSide.SELL, OrderType.STOP, quantity, stop),
        take_profit=order(f"{cid}-target", OrderSide.SELL, OrderType.LIMIT, quantity, target),
    )


def fills(broker: PaperBroker) -> list[tuple[str | None, Decimal, Decimal, Decimal]]:
    found = broker.executions(ACCOUNT, ny(1, 0))
    return [(e.client_order_id, e.quantity, e.price, e.commission) for e in found]


def test_the_daily_bars_are_the_files_and_a_session_in_progress_shows_only_its_past(
    broker: PaperBroker, clock: ManualClock
) -> None:
    clock.set(ny(5, 16, 5))
    bars = broker.historical_bars(AAPL, "1d", ny(1, 0), clock.now())
    assert [(b.open, b.high, b.low, b.close, b.volume) for b in bars] == [
        (D("100.00"), D("101.00"), D("99.00"), D("100.00"), 5000000),
        (D("98.00"), D("104.00"), D("96.00"), D("103.00"), 5000000),
        (D("101.00"), D("101.50"), D("100.00"), D("101.00"), 5000000),
    ]
    assert [b.ts for b in bars] == [ny(3, 9, 30), ny(4, 9, 30), ny(5, 9, 30)]
    clock.set(ny(4, 10, 0))  # half an hour into the second session: on the way from the open to the low
    today = broker.historical_bars(AAPL, "1d", ny(1, 0), clock.now())[-1]
    assert today.partial
    assert today.open == D("98.00")
    assert today.high == D("98.00")
    assert D("96.00") < today.low == today.close < D("98.00")


def test_between_sessions_the_quote_is_the_last_close_and_counts_as_live(broker: PaperBroker) -> None:
    quote = broker.quote(AAPL)
    assert (quote.last, quote.flag, quote.ts) == (D("100.00"), QuoteFlag.LIVE, ny(3, 16))


def test_a_limit_the_range_touches_fills_at_its_price_in_the_next_session(
    broker: PaperBroker, clock: ManualClock
) -> None:
    broker.place_order(ACCOUNT, order("touch", OrderSide.BUY, OrderType.LIMIT, 1000, "97"))
    assert fills(broker) == []  # nothing fills after the close
    clock.set(ny(4, 16, 5))
    assert fills(broker) == [("touch", D(1000), D("97.00"), D("5.00"))]  # 0.005 a share


def test_a_limit_the_range_misses_does_not_fill_and_expires_with_the_session(
    broker: PaperBroker, clock: ManualClock
) -> None:
    placed = broker.place_order(ACCOUNT, order("miss", OrderSide.BUY, OrderType.LIMIT, 10, "95.99"))
    clock.set(ny(4, 16, 5))
    assert fills(broker) == []
    assert broker.order_status(ACCOUNT, placed.broker_order_id).status is BrokerOrderStatus.EXPIRED


def test_orders_the_open_gaps_through_fill_at_the_open(broker: PaperBroker, clock: ManualClock) -> None:
    broker.place_order(ACCOUNT, order("gap-limit", OrderSide.BUY, OrderType.LIMIT, 10, "99"))
    broker.place_order(ACCOUNT, order("market", OrderSide.BUY, OrderType.MARKET, 10))
    clock.set(ny(4, 16, 5))
    assert fills(broker) == [
        ("gap-limit", D(10), D("98.00"), D("1.00")),  # the open, below the limit; the USD 1 minimum
        ("market", D(10), D("98.00"), D("1.00")),
    ]
    broker.place_order(ACCOUNT, order("gap-stop", OrderSide.SELL, OrderType.STOP, 20, "102"))
    clock.set(ny(5, 16, 5))  # the third session opens at 101, below the stop
    assert fills(broker)[-1] == ("gap-stop", D(20), D("101.00"), D("1.00"))


def test_when_stop_and_target_both_lie_inside_one_bar_the_stop_fills_first(
    broker: PaperBroker, clock: ManualClock
) -> None:
    placed = broker.place_bracket(ACCOUNT, bracket("both", 100, entry="99", stop="97", target="103.5"))
    clock.set(ny(4, 16, 5))  # 96 to 104: both levels inside the bar
    legs = {o.role: o for o in broker.live_orders(ACCOUNT)}
    assert legs[BracketRole.STOP].status is BrokerOrderStatus.FILLED
    assert legs[BracketRole.TARGET].status is BrokerOrderStatus.CANCELLED
    prices = [(e.broker_order_id, e.price) for e in broker.executions(ACCOUNT, ny(1, 0))]
    assert prices == [(placed[0].broker_order_id, D("98.00")), (placed[1].broker_order_id, D("97.00"))]
    assert broker.positions(ACCOUNT) == []


def test_a_target_alone_inside_the_bar_fills_at_its_price(broker: PaperBroker, clock: ManualClock) -> None:
    placed = broker.place_bracket(ACCOUNT, bracket("target", 100, entry="99", stop="95", target="103.5"))
    clock.set(ny(4, 16, 5))
    legs = {o.role: o for o in broker.live_orders(ACCOUNT)}
    assert legs[BracketRole.TARGET].status is BrokerOrderStatus.FILLED
    assert legs[BracketRole.STOP].status is BrokerOrderStatus.CANCELLED
    executions = broker.executions(ACCOUNT, ny(1, 0))
    assert [(e.broker_order_id, e.price) for e in executions][-1] == (placed[2].broker_order_id, D("103.50"))
    cash = broker.account_summary(ACCOUNT).cash
    assert cash == D(100_000) - 100 * D("98.00") - 1 + 100 * D("103.50") - 1


def test_a_symbol_the_bundled_universe_lacks_gets_a_stable_made_up_conid() -> None:
    bars = parse_bars(BARS, "GOOG.csv")
    first = HistoricalMarket({"GOOG": bars}).universe.by_symbol("GOOG")
    again = HistoricalMarket({"GOOG": bars, "AAPL": bars}).universe.by_symbol("GOOG")
    assert first.conid == again.conid >= 2_150_000_001
