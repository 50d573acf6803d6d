"""Brackets at the paper broker: children wait for the parent, then only they cancel each other."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from ibflow.brokers.base import (
    BracketRequest,
    BracketRole,
    BrokerOrder,
    BrokerOrderStatus,
    OrderChange,
    OrderRequest,
)
from ibflow.brokers.paper import PaperBroker, SimulatedMarket
from ibflow.core.clock import ManualClock
from ibflow.core.ids import AccountId, BrokerOrderId, ClientOrderId, Conid
from ibflow.db.engine import SessionFactory
from ibflow.db.states import OrderSide, OrderType, TimeInForce

ACCOUNT = AccountId("PAPER-1")
AAPL, SPY = Conid(265598), Conid(756733)
TICK = Decimal("0.01")
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def down(value: float) -> Decimal:
    return Decimal(repr(value)).quantize(TICK, rounding=ROUND_FLOOR)


def up(value: float) -> Decimal:
    return Decimal(repr(value)).quantize(TICK, rounding=ROUND_CEILING)


def bracket(
    cid: str,
    quantity: int,
    *,
    stop: Decimal,
    target: Decimal,
    entry: Decimal | None = None,
    conid: Conid = AAPL,
) -> BracketRequest:
    size = Decimal(quantity)
    kind = OrderType.MARKET if entry is None else OrderType.LIMIT
    return BracketRequest(
        parent=OrderRequest(ClientOrderId(cid), conid, OrderSide.BUY, kind, size, TimeInForce.DAY, entry),
        stop_loss=OrderRequest(
            ClientOrderId(f"{cid}-stop"),
            conid,
            OrderSide.SELL,
            OrderType.STOP,
            size,
            TimeInForce.GTC,
            stop_price=stop,
        ),
        take_profit=OrderRequest(
            ClientOrderId(f"{cid}-target"),
            conid,
            OrderSide.SELL,
            OrderType.LIMIT,
            size,
            TimeInForce.GTC,
            limit_price=target,
        ),
    )


def legs(broker: PaperBroker) -> dict[BracketRole | None, BrokerOrder]:
    return {o.role: o for o in broker.live_orders(ACCOUNT)}


def test_children_are_inactive_until_the_parent_fills(
    broker: PaperBroker, clock: ManualClock, market: SimulatedMarket
) -> None:
    now = market.path_price(AAPL, clock.now())
    entry = down(now * 0.5)  # far below: the parent waits
    placed = broker.place_bracket(
        ACCOUNT, bracket("b-1", 10, entry=entry, stop=down(now * 0.45), target=up(now * 2))
    )
    assert [p.status for p in placed] == [
        BrokerOrderStatus.SUBMITTED,
        BrokerOrderStatus.INACTIVE,
        BrokerOrderStatus.INACTIVE,
    ]
    assert [p.role for p in placed] == [BracketRole.PARENT, BracketRole.STOP, BracketRole.TARGET]
    assert [p.client_order_id for p in placed] == ["b-1", None, None]  # children are known by parent + role
    clock.advance(timedelta(hours=3))
    waiting = legs(broker)
    assert waiting[BracketRole.STOP].status is BrokerOrderStatus.INACTIVE
    assert waiting[BracketRole.TARGET].status is BrokerOrderStatus.INACTIVE
    for role in (BracketRole.STOP, BracketRole.TARGET):
        assert waiting[role].parent_broker_order_id == placed[0].broker_order_id
        assert waiting[role].client_order_id is None
    marketable = up(market.path_price(AAPL, clock.now()) + 1)
    broker.modify_order(
        ACCOUNT, BrokerOrderId(placed[0].broker_order_id), OrderChange(limit_price=marketable)
    )
    working = legs(broker)
    assert working[BracketRole.PARENT].status is BrokerOrderStatus.FILLED
    assert working[BracketRole.STOP].status is BrokerOrderStatus.SUBMITTED
    assert working[BracketRole.TARGET].status is BrokerOrderStatus.SUBMITTED


def test_a_stop_fill_cancels_the_target_and_closes_the_position(
    broker: PaperBroker, clock: ManualClock, market: SimulatedMarket
) -> None:
    now = market.path_price(AAPL, clock.now())
    low, high = market.path_range(AAPL, clock.now(), clock.now() + timedelta(hours=12))
    stop = down((now + low) / 2)
    placed = broker.place_bracket(ACCOUNT, bracket("b-2", 20, stop=stop, target=up(high + 1)))
    clock.advance(timedelta(hours=12))
    final = legs(broker)
    assert final[BracketRole.STOP].status is BrokerOrderStatus.FILLED
    assert final[BracketRole.TARGET].status is BrokerOrderStatus.CANCELLED
    assert "one-cancels-other" in final[BracketRole.TARGET].reason
    assert final[BracketRole.PARENT].status is BrokerOrderStatus.FILLED  # the parent is not in the group
    executions = broker.executions(ACCOUNT, EPOCH)
    stop_fills = [e for e in executions if e.broker_order_id == placed[1].broker_order_id]
    assert [(f.price, f.quantity) for f in stop_fills] == [(stop, 20)]
    assert stop_fills[0].client_order_id is None  # like IBKR: match it by broker order id
    assert broker.positions(ACCOUNT) == []
    entry = next(e for e in executions if e.client_order_id == "b-2")
    cash = broker.account_summary(ACCOUNT).cash
    assert cash == 100_000 - 20 * entry.price - entry.commission + 20 * stop - stop_fills[0].commission


def test_a_target_fill_cancels_the_stop(
    broker: PaperBroker, clock: ManualClock, market: SimulatedMarket
) -> None:
    now = market.path_price(AAPL, clock.now())
    low, high = market.path_range(AAPL, clock.now(), clock.now() + timedelta(hours=12))
    target = up((now + high) / 2)
    placed = broker.place_bracket(ACCOUNT, bracket("b-3", 20, stop=down(low - 1), target=target))
    clock.advance(timedelta(hours=12))
    final = legs(broker)
    assert final[BracketRole.TARGET].status is BrokerOrderStatus.FILLED
    assert final[BracketRole.STOP].status is BrokerOrderStatus.CANCELLED
    [target_fill] = [
        e for e in broker.executions(ACCOUNT, EPOCH) if e.broker_order_id == placed[2].broker_order_id
    ]
    assert target_fill.price == target


def test_a_partial_child_fill_reduces_its_sibling(sessions: SessionFactory, clock: ManualClock) -> None:
    market = SimulatedMarket(seed=11, participation=0.0002)
    broker = PaperBroker(sessions, clock, market)
    now = market.path_price(SPY, clock.now())
    low, high = market.path_range(SPY, clock.now(), clock.now() + timedelta(days=2))
    quantity = 30 * int(market.day_path(SPY, clock.now().date()).caps.max())
    broker.place_bracket(
        ACCOUNT, bracket("b-4", quantity, stop=down((now + low) / 2), target=up(high + 1), conid=SPY)
    )
    seen_partial = False
    for _ in range(2 * 24 * 60 // 5):
        clock.advance(timedelta(minutes=5))
        orders = legs(broker)
        parent, stop, target = (orders[r] for r in (BracketRole.PARENT, BracketRole.STOP, BracketRole.TARGET))
        if stop.status is BrokerOrderStatus.SUBMITTED and parent.filled_quantity > 0:
            held = parent.filled_quantity - stop.filled_quantity - target.filled_quantity
            assert stop.quantity == stop.filled_quantity + held
            assert target.quantity == target.filled_quantity + held
            if stop.filled_quantity > 0:
                seen_partial = True
                assert target.quantity == parent.filled_quantity - stop.filled_quantity
        if stop.status is BrokerOrderStatus.FILLED:
            break
    assert seen_partial
    assert stop.filled_quantity == quantity
    assert target.status is BrokerOrderStatus.CANCELLED
    assert broker.positions(ACCOUNT) == []


def test_cancelling_an_unfilled_parent_cancels_its_children(
    broker: PaperBroker, clock: ManualClock, market: SimulatedMarket
) -> None:
    now = market.path_price(AAPL, clock.now())
    placed = broker.place_bracket(
        ACCOUNT, bracket("b-5", 10, entry=down(now * 0.5), stop=down(now * 0.4), target=up(now * 2))
    )
    broker.cancel_order(ACCOUNT, BrokerOrderId(placed[0].broker_order_id))
    orders = legs(broker)
    assert {o.status for o in orders.values()} == {BrokerOrderStatus.CANCELLED}
    assert orders[BracketRole.STOP].reason == "the parent ended without a fill"


def test_a_day_parent_that_expires_unfilled_takes_its_children(
    broker: PaperBroker, clock: ManualClock, market: SimulatedMarket
) -> None:
    now = market.path_price(AAPL, clock.now())
    broker.place_bracket(
        ACCOUNT, bracket("b-6", 10, entry=down(now * 0.5), stop=down(now * 0.4), target=up(now * 2))
    )
    clock.set(datetime(2026, 3, 5, 5, 0, tzinfo=UTC))
    orders = legs(broker)
    assert orders[BracketRole.PARENT].status is BrokerOrderStatus.EXPIRED
    assert orders[BracketRole.STOP].status is BrokerOrderStatus.CANCELLED
    assert orders[BracketRole.TARGET].status is BrokerOrderStatus.CANCELLED
