"""The test controls: halt, delay, freeze, remove liquidity, the session switch, and FaultyBroker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal

import pytest
from sqlalchemy import select

from ibflow.brokers.base import (
    BracketRequest,
    Broker,
    BrokerOrderStatus,
    OrderRequest,
    QuoteFlag,
    SessionStatus,
)
from ibflow.brokers.paper import Fault, FaultyBroker, PaperBroker, SimulatedMarket
from ibflow.core.clock import ManualClock
from ibflow.core.errors import DuplicateClientOrderId, OrderNotSent, OrderOutcomeUnknown
from ibflow.core.ids import AccountId, ClientOrderId, Conid
from ibflow.db.engine import SessionFactory
from ibflow.db.models import PaperOrder
from ibflow.db.states import OrderSide, OrderType, TimeInForce
from ibflow.trading.lifecycle.cancels import Waiting

ACCOUNT = AccountId("PAPER-1")
SPY = Conid(756733)
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def market_order(cid: str, quantity: int = 10, side: OrderSide = OrderSide.BUY) -> OrderRequest:
    return OrderRequest(ClientOrderId(cid), SPY, side, OrderType.MARKET, Decimal(quantity), TimeInForce.GTC)


def test_a_halt_stops_fills_and_flags_the_quote(
    broker: PaperBroker, clock: ManualClock, market: SimulatedMarket
) -> None:
    halted_at = clock.now()
    market.controls.halt(SPY, at=halted_at)
    broker.place_order(ACCOUNT, market_order("h-1"))
    clock.advance(timedelta(hours=2))
    assert broker.executions(ACCOUNT, EPOCH) == []
    quote = broker.quote(SPY)
    assert (quote.flag, quote.ts, quote.last) == (QuoteFlag.HALTED, halted_at, market.price(SPY, halted_at))
    market.controls.resume(SPY, at=clock.now())
    [fill] = broker.executions(ACCOUNT, EPOCH)
    assert (fill.executed_at, fill.price) == (clock.now(), market.price(SPY, clock.now()))
    assert broker.quote(SPY).flag is QuoteFlag.LIVE


def test_a_delay_shows_an_old_price_but_fills_at_the_real_one(
    broker: PaperBroker, clock: ManualClock, market: SimulatedMarket
) -> None:
    market.controls.delay(SPY, 15, at=clock.now())
    clock.advance(timedelta(minutes=40))
    quote = broker.quote(SPY)
    fifteen_ago = clock.now() - timedelta(minutes=15)
    assert (quote.flag, quote.ts, quote.last) == (
        QuoteFlag.DELAYED,
        fifteen_ago,
        market.price(SPY, fifteen_ago),
    )
    broker.place_order(ACCOUNT, market_order("dl-1"))
    [fill] = broker.executions(ACCOUNT, EPOCH)
    assert fill.price == market.price(SPY, clock.now())
    market.controls.undelay(SPY, at=clock.now())
    assert broker.quote(SPY).flag is QuoteFlag.LIVE


def test_a_freeze_holds_the_quote_at_the_freeze_time(
    broker: PaperBroker, clock: ManualClock, market: SimulatedMarket
) -> None:
    frozen_at = clock.now()
    market.controls.freeze(SPY, at=frozen_at)
    for _ in range(3):
        clock.advance(timedelta(minutes=45))
        quote = broker.quote(SPY)
        assert (quote.flag, quote.ts, quote.last) == (
            QuoteFlag.FROZEN,
            frozen_at,
            market.price(SPY, frozen_at),
        )
    market.controls.unfreeze(SPY, at=clock.now())
    assert broker.quote(SPY) == market.quote(SPY, clock.now())
    assert broker.quote(SPY).last == market.price(SPY, clock.now())


def test_without_liquidity_a_stop_triggers_but_fills_only_when_liquidity_returns(
    sessions: SessionFactory, broker: PaperBroker, clock: ManualClock, market: SimulatedMarket
) -> None:
    start = clock.now()
    broker.place_order(ACCOUNT, market_order("l-0", 50))  # a position to protect
    now = market.path_price(SPY, start)
    low, _ = market.path_range(SPY, start, start + timedelta(hours=6))
    stop = Decimal(repr((now + low) / 2)).quantize(Decimal("0.01"), rounding=ROUND_FLOOR)
    protective = OrderRequest(
        ClientOrderId("l-1"),
        SPY,
        OrderSide.SELL,
        OrderType.STOP,
        Decimal(50),
        TimeInForce.GTC,
        stop_price=stop,
    )
    placed = broker.place_order(ACCOUNT, protective)
    market.controls.remove_liquidity(SPY, at=start)
    clock.advance(timedelta(hours=6))
    stop_order = next(o for o in broker.live_orders(ACCOUNT) if o.broker_order_id == placed.broker_order_id)
    assert (stop_order.status, stop_order.filled_quantity) == (BrokerOrderStatus.SUBMITTED, 0)
    with sessions() as session:
        triggered_at = session.scalars(
            select(PaperOrder.triggered_at).where(PaperOrder.id == int(placed.broker_order_id))
        ).one()
    assert triggered_at is not None
    assert start < triggered_at < clock.now()
    assert market.path_range(SPY, start, triggered_at)[0] == pytest.approx(float(stop), abs=1e-6)
    market.controls.restore_liquidity(SPY, at=clock.now())
    fills = [e for e in broker.executions(ACCOUNT, EPOCH) if e.broker_order_id == placed.broker_order_id]
    assert [(f.executed_at, f.price, f.quantity) for f in fills] == [
        (clock.now(), market.price(SPY, clock.now()), 50)
    ]


def test_the_session_switch(broker: PaperBroker, market: SimulatedMarket) -> None:
    assert broker.session_status().healthy
    market.controls.set_session(SessionStatus(authenticated=False, connected=True, message="logged out"))
    assert not broker.session_status().healthy
    assert broker.session_status().message == "logged out"


def test_switches_refuse_nonsense(market: SimulatedMarket) -> None:
    at = datetime(2026, 3, 4, 17, tzinfo=UTC)
    controls = market.controls
    with pytest.raises(ValueError, match="not on"):
        controls.resume(SPY, at=at)
    controls.halt(SPY, at=at)
    with pytest.raises(ValueError, match="already on"):
        controls.halt(SPY, at=at)
    with pytest.raises(ValueError, match="before it started"):
        controls.resume(SPY, at=at - timedelta(minutes=1))
    controls.resume(SPY, at=at + timedelta(minutes=5))
    with pytest.raises(ValueError, match="before its last end"):
        controls.halt(SPY, at=at)
    with pytest.raises(ValueError, match="positive number of minutes"):
        controls.delay(SPY, 0, at=at)


def test_a_halt_inside_the_evaluated_window_is_respected(
    broker: PaperBroker, clock: ManualClock, market: SimulatedMarket
) -> None:
    start = clock.now()
    broker.place_order(ACCOUNT, market_order("h-2", 10))
    market.controls.halt(SPY, at=start)
    market.controls.resume(SPY, at=start + timedelta(minutes=30))
    clock.advance(timedelta(hours=1))  # nobody looked during the halt
    [fill] = broker.executions(ACCOUNT, EPOCH)
    assert fill.executed_at == start + timedelta(minutes=30)


# FaultyBroker


@pytest.fixture
def faulty(broker: PaperBroker) -> FaultyBroker:
    return FaultyBroker(broker)


def inner_orders(faulty: FaultyBroker) -> set[str | None]:
    return {o.client_order_id for o in faulty.inner.live_orders(ACCOUNT)}


def test_a_faulty_broker_is_a_broker_that_counts_calls(faulty: FaultyBroker) -> None:
    assert isinstance(faulty, Broker)
    assert faulty.name == "paper"
    assert faulty.total_calls == 0
    faulty.session_status()
    faulty.search_contracts("SPY")
    faulty.contract_details(SPY)
    faulty.quote(SPY)
    faulty.historical_bars(SPY, "1d", EPOCH, datetime(2026, 3, 1, tzinfo=UTC))
    faulty.account_summary(ACCOUNT)
    placed = faulty.place_order(ACCOUNT, market_order("f-0"))
    faulty.live_orders(ACCOUNT)
    faulty.executions(ACCOUNT, EPOCH)
    faulty.positions(ACCOUNT)
    faulty.cancel_order(ACCOUNT, placed.broker_order_id)
    assert faulty.total_calls == 11
    assert faulty.calls["place_order"] == 1
    assert faulty.calls["place_bracket"] == 0


def test_accept_then_raise_places_the_order_but_answers_unknown(faulty: FaultyBroker) -> None:
    faulty.inject(Fault.ACCEPT_THEN_RAISE)
    with pytest.raises(OrderOutcomeUnknown):
        faulty.place_order(ACCOUNT, market_order("f-1"))
    assert "f-1" in inner_orders(faulty)
    assert faulty.calls["place_order"] == 1


@pytest.mark.parametrize(
    ("fault", "error"),
    [(Fault.REFUSE_BEFORE_SENDING, OrderNotSent), (Fault.LOSE_IN_FLIGHT, OrderOutcomeUnknown)],
)
def test_faults_before_sending_never_reach_the_broker(
    faulty: FaultyBroker, fault: Fault, error: type[Exception]
) -> None:
    faulty.inject(fault)
    with pytest.raises(error):
        faulty.place_order(ACCOUNT, market_order("f-2"))
    assert "f-2" not in inner_orders(faulty)
    faulty.place_order(ACCOUNT, market_order("f-2"))  # one-shot: the next call goes through
    assert "f-2" in inner_orders(faulty)
    assert faulty.calls["place_order"] == 2


def test_a_duplicate_answer_comes_back_for_an_order_that_exists(faulty: FaultyBroker) -> None:
    faulty.inject(Fault.DUPLICATE_ORDER_ID)
    with pytest.raises(DuplicateClientOrderId):
        faulty.place_order(ACCOUNT, market_order("f-3"))
    assert "f-3" in inner_orders(faulty)


def test_bracket_faults_are_separate_from_single_order_faults(
    faulty: FaultyBroker, clock: ManualClock, market: SimulatedMarket
) -> None:
    price = market.price(SPY, clock.now())
    size = Decimal(5)
    bracket = BracketRequest(
        market_order("fb-1", 5),
        OrderRequest(
            ClientOrderId("fb-1-stop"),
            SPY,
            OrderSide.SELL,
            OrderType.STOP,
            size,
            TimeInForce.GTC,
            stop_price=price - 5,
        ),
        OrderRequest(
            ClientOrderId("fb-1-target"),
            SPY,
            OrderSide.SELL,
            OrderType.LIMIT,
            size,
            TimeInForce.GTC,
            limit_price=price + 5,
        ),
    )
    faulty.inject(Fault.LOSE_IN_FLIGHT, "place_bracket")
    faulty.inject(Fault.ACCEPT_THEN_RAISE, "place_bracket")
    assert faulty.pending_faults("place_bracket") == [Fault.LOSE_IN_FLIGHT, Fault.ACCEPT_THEN_RAISE]
    assert faulty.pending_faults() == []
    faulty.place_order(ACCOUNT, market_order("fb-0"))  # single orders are not affected
    with pytest.raises(OrderOutcomeUnknown, match="lost in flight"):
        faulty.place_bracket(ACCOUNT, bracket)
    assert "fb-1" not in inner_orders(faulty)
    with pytest.raises(OrderOutcomeUnknown, match="after sending"):
        faulty.place_bracket(ACCOUNT, bracket)
    assert len([o for o in faulty.inner.live_orders(ACCOUNT) if o.parent_broker_order_id]) == 2
    faulty.inject(Fault.REFUSE_BEFORE_SENDING, "place_bracket")
    with pytest.raises(OrderNotSent):
        faulty.place_bracket(ACCOUNT, bracket)
    faulty.inject(Fault.DUPLICATE_ORDER_ID, "place_bracket")
    with pytest.raises(DuplicateClientOrderId, match="injected"):
        faulty.place_bracket(
            ACCOUNT, BracketRequest(market_order("fb-2", 5), bracket.stop_loss, bracket.take_profit)
        )
    assert faulty.calls["place_bracket"] == 4
    assert "fb-2" in inner_orders(faulty)


def test_a_faulty_broker_is_waited_on_as_the_broker_it_wraps(faulty: FaultyBroker) -> None:
    # A cancel is watched as the wrapped broker allows: IBKR's live orders are read every 5.5 s, so a
    # wrapper that hid it would be watched 0.5 s apart through a 5 s cache and never see the cancel.
    class Paced:
        name = "ibkr"
        live_orders_interval_s = 5.5

        def live_orders_fresh(self, account_id: AccountId) -> list[object]:
            return [account_id]

    paced = FaultyBroker(Paced())  # type: ignore[arg-type]
    assert Waiting.suited_to(paced) == Waiting(looks=5, pause_s=5.5)
    assert paced.live_orders_fresh(AccountId("DU1")) == ["DU1"]  # type: ignore[attr-defined]
    # the paper broker offers neither: it is read anew every time, and waited on with the default
    assert Waiting.suited_to(faulty) == Waiting()
    assert not hasattr(faulty, "live_orders_fresh")
