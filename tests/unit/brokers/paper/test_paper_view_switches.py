"""The switches that make the paper broker's view late and forgetful, and the outside cancel (issue 10)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from ibflow.brokers.base import BrokerOrderStatus, OrderRequest
from ibflow.brokers.paper import PaperBroker, SimulatedMarket
from ibflow.core.clock import ManualClock
from ibflow.core.ids import AccountId, BrokerOrderId, ClientOrderId, Conid
from ibflow.db.states import OrderSide, OrderType, TimeInForce

ACCOUNT = AccountId("PAPER-1")
SPY = Conid(756733)
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def _market_buy(cid: str) -> OrderRequest:
    return OrderRequest(
        ClientOrderId(cid), SPY, OrderSide.BUY, OrderType.MARKET, Decimal(10), TimeInForce.GTC
    )


def _resting_buy(broker: PaperBroker, cid: str) -> OrderRequest:
    far_below = (broker.quote(SPY).last * Decimal("0.5")).quantize(Decimal("0.01"))
    return OrderRequest(
        ClientOrderId(cid), SPY, OrderSide.BUY, OrderType.LIMIT, Decimal(10), TimeInForce.GTC, far_below
    )


def test_lagging_executions_delay_the_fills_but_not_the_order_status(
    broker: PaperBroker, clock: ManualClock, market: SimulatedMarket
) -> None:
    market.controls.lag_executions(timedelta(minutes=3))
    placed = broker.place_order(ACCOUNT, _market_buy("lag-1"))
    clock.advance(timedelta(minutes=1))

    status = broker.order_status(ACCOUNT, BrokerOrderId(placed.broker_order_id))
    assert (status.status, status.filled_quantity) == (BrokerOrderStatus.FILLED, Decimal(10))
    assert [p.quantity for p in broker.positions(ACCOUNT)] == [Decimal(10)]
    assert broker.executions(ACCOUNT, EPOCH) == []  # reported filled, its execution not yet

    clock.advance(timedelta(minutes=3))
    [execution] = broker.executions(ACCOUNT, EPOCH)
    assert (execution.client_order_id, execution.quantity) == ("lag-1", Decimal(10))

    market.controls.lag_executions(timedelta(minutes=30))
    assert broker.executions(ACCOUNT, EPOCH) == []
    market.controls.lag_executions(timedelta(0))
    assert len(broker.executions(ACCOUNT, EPOCH)) == 1


def test_forgotten_ended_orders_leave_the_live_list_after_the_window_but_stay_findable(
    broker: PaperBroker, clock: ManualClock, market: SimulatedMarket
) -> None:
    market.controls.forget_ended_orders(timedelta(minutes=30))
    filled = broker.place_order(ACCOUNT, _market_buy("forget-1"))
    working = broker.place_order(ACCOUNT, _resting_buy(broker, "forget-2"))
    clock.advance(timedelta(minutes=29))
    assert {o.client_order_id for o in broker.live_orders(ACCOUNT)} == {"forget-1", "forget-2"}

    clock.advance(timedelta(minutes=2))
    assert [o.client_order_id for o in broker.live_orders(ACCOUNT)] == ["forget-2"]  # still working
    found = broker.order_status(ACCOUNT, BrokerOrderId(filled.broker_order_id))
    assert found.status is BrokerOrderStatus.FILLED
    assert len(broker.executions(ACCOUNT, EPOCH)) == 1

    market.controls.forget_ended_orders(timedelta(0))
    broker.cancel_order(ACCOUNT, BrokerOrderId(working.broker_order_id))
    assert broker.live_orders(ACCOUNT) == []  # zero forgets at once
    market.controls.forget_ended_orders(None)  # the broker's default (a day) lists both again
    assert len(broker.live_orders(ACCOUNT)) == 2


def test_an_order_cancelled_from_outside_shows_as_cancelled(broker: PaperBroker, clock: ManualClock) -> None:
    placed = broker.place_order(ACCOUNT, _resting_buy(broker, "outside-1"))
    assert broker.live_orders(ACCOUNT)[0].status is BrokerOrderStatus.SUBMITTED

    broker.cancel_from_outside(ACCOUNT, BrokerOrderId(placed.broker_order_id))
    clock.advance(timedelta(minutes=1))

    [listed] = broker.live_orders(ACCOUNT)
    assert (listed.client_order_id, listed.status) == ("outside-1", BrokerOrderStatus.CANCELLED)
    assert broker.order_status(ACCOUNT, BrokerOrderId(placed.broker_order_id)).status is (
        BrokerOrderStatus.CANCELLED
    )
    clock.advance(timedelta(hours=2))
    assert broker.executions(ACCOUNT, EPOCH) == []  # it never filled
