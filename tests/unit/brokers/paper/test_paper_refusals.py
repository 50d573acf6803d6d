"""What the paper broker refuses, and that a refusal changes nothing in its books; cancels and modifies."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from ibflow.brokers.base import (
    BracketRequest,
    BrokerOrderStatus,
    OrderChange,
    OrderRequest,
)
from ibflow.brokers.paper import PaperBroker, SimulatedMarket
from ibflow.core.clock import ManualClock
from ibflow.core.errors import DuplicateClientOrderId, NotFound, OrderRejected
from ibflow.core.ids import AccountId, BrokerOrderId, ClientOrderId, Conid
from ibflow.db.states import OrderSide, OrderType, TimeInForce

ACCOUNT = AccountId("PAPER-1")
AAPL = Conid(265598)
BUY, SELL = OrderSide.BUY, OrderSide.SELL
MKT, LMT, STP, STP_LMT = OrderType.MARKET, OrderType.LIMIT, OrderType.STOP, OrderType.STOP_LIMIT
D = Decimal
Snapshot = Callable[[], dict[str, list[tuple[object, ...]]]]


TEN, HUNDRED = D(10), D("100.00")


def request(
    side: OrderSide = BUY,
    kind: OrderType = LMT,
    *,
    quantity: Decimal = TEN,
    limit: Decimal | None = HUNDRED,
    stop: Decimal | None = None,
    conid: int = AAPL,
    cid: str = "r-1",
) -> OrderRequest:
    return OrderRequest(ClientOrderId(cid), Conid(conid), side, kind, quantity, TimeInForce.DAY, limit, stop)


@pytest.fixture
def busy(broker: PaperBroker, clock: ManualClock, market: SimulatedMarket) -> PaperBroker:
    """A broker whose books already hold a fill, a position and a working order."""
    broker.place_order(ACCOUNT, request(kind=MKT, limit=None, cid="seed-1"))
    far = D(int(market.path_price(AAPL, clock.now()) / 2))
    broker.place_order(ACCOUNT, request(limit=far, cid="seed-2"))
    broker.live_orders(ACCOUNT)
    return broker


@pytest.mark.parametrize(
    ("order", "message"),
    [
        (request(conid=42), "unknown conid 42"),
        (request(quantity=D(0)), "quantity 0 must be positive"),
        (request(quantity=D(-5)), "quantity -5 must be positive"),
        (request(quantity=D("1.5")), "quantity 1.5 is not a whole number of shares"),
        (request(limit=D("100.005")), "limit price 100.005 is off the 0.01 tick"),
        (request(limit=D(0)), "limit price 0 must be above zero"),
        (request(limit=D("-1.00")), "limit price -1.00 must be above zero"),
        (request(limit=None), "a LMT order needs a limit price"),
        (request(kind=STP, limit=None), "a STP order needs a stop price"),
        (request(kind=STP_LMT, limit=D(100)), "a STP_LMT order needs a stop price"),
        (request(kind=MKT), "a MKT order takes no limit price"),
        (request(kind=STP, limit=None, stop=D("99.999")), "stop price 99.999 is off the 0.01 tick"),
        (request(cid=" "), "no client order id"),
    ],
)
def test_a_bad_order_is_refused_with_a_clear_reason_and_changes_nothing(
    busy: PaperBroker, snapshot: Snapshot, order: OrderRequest, message: str
) -> None:
    before = snapshot()
    with pytest.raises(OrderRejected, match=message):
        busy.place_order(ACCOUNT, order)
    assert snapshot() == before


def bracket(entry: str | None, stop: str, target: str, side: OrderSide = BUY) -> BracketRequest:
    other = SELL if side is BUY else BUY
    return BracketRequest(
        parent=request(side=side, kind=LMT if entry else MKT, limit=D(entry) if entry else None, cid="br-1"),
        stop_loss=request(side=other, kind=STP, limit=None, stop=D(stop), cid="br-1-stop"),
        take_profit=request(side=other, kind=LMT, limit=D(target), cid="br-1-target"),
    )


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (
            bracket("100.00", stop="101.00", target="110.00"),
            "stop-loss 101.00 must be below the entry 100.00",
        ),
        (bracket("100.00", stop="100.00", target="110.00"), "must be below the entry"),
        (bracket("100.00", stop="95.00", target="99.00"), "take-profit 99.00 must be above the entry"),
        (bracket("100.00", stop="95.00", target="110.00", side=SELL), "stop-loss 95.00 must be above"),
        (bracket(None, stop="100000.00", target="200000.00"), "must be below the entry"),  # market entry
        (bracket("100.00", stop="95.001", target="110.00"), "stop price 95.001 is off the 0.01 tick"),
    ],
)
def test_a_bracket_with_a_leg_on_the_wrong_side_is_refused_and_changes_nothing(
    busy: PaperBroker, snapshot: Snapshot, bad: BracketRequest, message: str
) -> None:
    before = snapshot()
    with pytest.raises(OrderRejected, match=message):
        busy.place_bracket(ACCOUNT, bad)
    assert snapshot() == before


def test_a_bracket_needs_opposite_children_of_the_same_size_and_kind(
    busy: PaperBroker, snapshot: Snapshot
) -> None:
    good = bracket("100.00", stop="95.00", target="110.00")
    same_side = BracketRequest(good.parent, request(kind=STP, limit=None, stop=D(95)), good.take_profit)
    smaller = BracketRequest(good.parent, good.stop_loss, request(side=SELL, quantity=D(5), limit=D(110)))
    wrong_kinds = BracketRequest(
        request(kind=STP, limit=None, stop=D(100)),
        request(side=SELL, limit=D(95)),
        request(side=SELL, kind=MKT, limit=None),
    )
    before = snapshot()
    with pytest.raises(OrderRejected, match="stop-loss child must be on the other side"):
        busy.place_bracket(ACCOUNT, same_side)
    with pytest.raises(OrderRejected, match="take-profit child's quantity 5 differs"):
        busy.place_bracket(ACCOUNT, smaller)
    with pytest.raises(OrderRejected, match="parent must be a market or limit order") as refused:
        busy.place_bracket(ACCOUNT, wrong_kinds)
    assert "stop-loss child must be a stop or stop-limit order" in str(refused.value)
    assert "take-profit child must be a limit order" in str(refused.value)
    assert snapshot() == before


def test_reusing_a_client_order_id_is_a_duplicate(busy: PaperBroker, snapshot: Snapshot) -> None:
    before = snapshot()
    with pytest.raises(DuplicateClientOrderId, match="seed-2"):
        busy.place_order(ACCOUNT, request(cid="seed-2"))
    with pytest.raises(DuplicateClientOrderId, match="seed-1"):
        busy.place_bracket(
            ACCOUNT,
            BracketRequest(
                request(cid="seed-1"),
                request(side=SELL, kind=STP, limit=None, stop=D(90)),
                request(side=SELL, limit=D(110)),
            ),
        )
    assert snapshot() == before
    busy.place_order(AccountId("PAPER-2"), request(cid="seed-2"))  # another account may use it


def test_cancel_takes_effect_on_the_next_look(busy: PaperBroker) -> None:
    working = next(o for o in busy.live_orders(ACCOUNT) if o.client_order_id == "seed-2")
    busy.cancel_order(ACCOUNT, working.broker_order_id)
    after = next(o for o in busy.live_orders(ACCOUNT) if o.client_order_id == "seed-2")
    assert (after.status, after.reason) == (BrokerOrderStatus.CANCELLED, "cancelled on request")
    busy.cancel_order(ACCOUNT, working.broker_order_id)  # again: acknowledged, nothing changes


def test_a_cancel_racing_a_fill_that_already_happened_reports_filled(
    broker: PaperBroker, clock: ManualClock, market: SimulatedMarket
) -> None:
    limit = D(int(market.path_price(AAPL, clock.now()) * 2))  # marketable: fills the moment it arrives
    placed = broker.place_order(ACCOUNT, request(limit=limit))
    clock.advance(timedelta(seconds=1))  # nobody looked, but the path already filled it
    broker.cancel_order(ACCOUNT, BrokerOrderId(placed.broker_order_id))
    [order] = broker.live_orders(ACCOUNT)
    assert (order.status, order.filled_quantity) == (BrokerOrderStatus.FILLED, 10)


def test_unknown_orders_are_not_found(busy: PaperBroker) -> None:
    for unknown in ("999", "abc"):
        with pytest.raises(NotFound, match=unknown):
            busy.cancel_order(ACCOUNT, BrokerOrderId(unknown))
        with pytest.raises(NotFound):
            busy.modify_order(ACCOUNT, BrokerOrderId(unknown), OrderChange(limit_price=D(1)))
    working = next(o for o in busy.live_orders(ACCOUNT) if o.client_order_id == "seed-2")
    with pytest.raises(NotFound):  # another account's order is not ours to touch
        busy.cancel_order(AccountId("PAPER-2"), working.broker_order_id)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (OrderChange(limit_price=D("50.001")), "off the 0.01 tick"),
        (OrderChange(stop_price=D(50)), "a LMT order has no stop price to change"),
        (OrderChange(quantity=D("2.5")), "not a whole number"),
        (OrderChange(), "changes nothing"),
    ],
)
def test_a_bad_modification_is_refused_and_changes_nothing(
    busy: PaperBroker, snapshot: Snapshot, change: OrderChange, message: str
) -> None:
    working = next(o for o in busy.live_orders(ACCOUNT) if o.client_order_id == "seed-2")
    before = snapshot()
    with pytest.raises(OrderRejected, match=message):
        busy.modify_order(ACCOUNT, working.broker_order_id, change)
    assert snapshot() == before


def test_ended_orders_and_bracket_children_sizes_cannot_be_modified(
    busy: PaperBroker, clock: ManualClock, market: SimulatedMarket
) -> None:
    filled = next(o for o in busy.live_orders(ACCOUNT) if o.client_order_id == "seed-1")
    with pytest.raises(OrderRejected, match="is filled: it can no longer be modified"):
        busy.modify_order(ACCOUNT, filled.broker_order_id, OrderChange(quantity=D(20)))
    now = market.path_price(AAPL, clock.now())
    entry, stop, target = D(int(now / 2)), D(int(now / 3)), D(int(now * 2))
    placed = busy.place_bracket(
        ACCOUNT,
        BracketRequest(
            request(limit=entry, cid="br-2"),
            request(side=SELL, kind=STP, limit=None, stop=stop),
            request(side=SELL, limit=target),
        ),
    )
    stop_id = BrokerOrderId(placed[1].broker_order_id)
    with pytest.raises(OrderRejected, match="child's quantity follows its parent"):
        busy.modify_order(ACCOUNT, stop_id, OrderChange(quantity=D(5)))
    with pytest.raises(OrderRejected, match="must be below the entry"):
        busy.modify_order(ACCOUNT, stop_id, OrderChange(stop_price=entry + 1))
    moved = busy.modify_order(ACCOUNT, stop_id, OrderChange(stop_price=stop + 1))
    assert moved.stop_price == stop + 1
    parent_id = BrokerOrderId(placed[0].broker_order_id)
    busy.modify_order(ACCOUNT, parent_id, OrderChange(quantity=D(7)))
    sizes = {o.broker_order_id: o.quantity for o in busy.live_orders(ACCOUNT)}
    assert [sizes[p.broker_order_id] for p in placed] == [7, 7, 7]  # waiting children follow the parent


def test_old_ended_orders_leave_the_live_list(busy: PaperBroker, clock: ManualClock) -> None:
    assert "seed-1" in {o.client_order_id for o in busy.live_orders(ACCOUNT)}
    clock.advance(timedelta(hours=24, seconds=1))
    assert "seed-1" not in {o.client_order_id for o in busy.live_orders(ACCOUNT)}
    assert len(busy.executions(ACCOUNT, datetime(2000, 1, 1, tzinfo=UTC))) == 1  # executions remain
