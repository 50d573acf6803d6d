"""Properties of the paper broker over generated orders and look schedules.

- every fill lies within the low and high of its daily bar;
- a limit (or stop-limit) never fills worse than its limit;
- the same seed and the same times give identical prices, bars and fills;
- fills do not depend on how often anyone looks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from ibflow.brokers.base import OrderRequest
from ibflow.brokers.paper import PaperBroker, SimulatedMarket
from ibflow.brokers.paper.market.calendar import new_york_date, new_york_day
from ibflow.brokers.paper.matching.fills import to_tick
from ibflow.core.clock import ManualClock
from ibflow.core.ids import AccountId, ClientOrderId, Conid
from ibflow.db.base import Base
from ibflow.db.engine import make_engine, session_factory
from ibflow.db.states import OrderSide, OrderType, TimeInForce

ACCOUNT = AccountId("PAPER-1")
T0 = datetime(2026, 3, 4, 17, 0, tzinfo=UTC)
HORIZON = timedelta(days=2)
CONIDS = [Conid(265598), Conid(756733), Conid(76792991)]
TICK = Decimal("0.01")


@dataclass(frozen=True)
class Spec:
    conid: Conid
    side: OrderSide
    kind: OrderType
    distance: float
    quantity: int
    tif: TimeInForce


specs = st.builds(
    Spec,
    st.sampled_from(CONIDS),
    st.sampled_from(list(OrderSide)),
    st.sampled_from(list(OrderType)),
    st.floats(min_value=-0.03, max_value=0.03),
    st.integers(min_value=1, max_value=20_000),
    st.sampled_from(list(TimeInForce)),
)
schedules = st.lists(st.integers(min_value=1, max_value=int(HORIZON.total_seconds())), max_size=25)


def requests(market: SimulatedMarket, orders: list[Spec]) -> list[OrderRequest]:
    result = []
    for n, spec in enumerate(orders):
        level = to_tick(market.path_price(spec.conid, T0) * (1 + spec.distance), TICK)
        limit = stop = None
        if spec.kind in (OrderType.LIMIT, OrderType.STOP_LIMIT):
            limit = level
        if spec.kind in (OrderType.STOP, OrderType.STOP_LIMIT):
            stop = level
            if spec.kind is OrderType.STOP_LIMIT:  # a little room beyond the stop
                limit = level + TICK * 10 if spec.side is OrderSide.BUY else level - TICK * 10
        cid = ClientOrderId(f"p-{n}")
        result.append(
            OrderRequest(cid, spec.conid, spec.side, spec.kind, Decimal(spec.quantity), spec.tif, limit, stop)
        )
    return result


def run(orders: list[Spec], looks: list[int], seed: int = 3) -> tuple[PaperBroker, ManualClock]:
    """Place the orders at T0, look at the given offsets (seconds), then once at the horizon."""
    engine = make_engine("sqlite://")
    Base.metadata.create_all(engine)
    clock = ManualClock(T0)
    market = SimulatedMarket(seed=seed, participation=0.002)
    broker = PaperBroker(session_factory(engine), clock, market)
    for request in requests(market, orders):
        broker.place_order(ACCOUNT, request)
    for offset in sorted(looks):
        clock.set(T0 + timedelta(seconds=offset))
        broker.live_orders(ACCOUNT)
    clock.set(T0 + HORIZON)
    return broker, clock


def outcome(broker: PaperBroker) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    fills = [
        (e.broker_exec_id, e.broker_order_id, e.executed_at, e.price, e.quantity, e.commission)
        for e in broker.executions(ACCOUNT, T0 - timedelta(days=1))
    ]
    orders = [
        (o.broker_order_id, o.status, o.filled_quantity, o.quantity) for o in broker.live_orders(ACCOUNT)
    ]
    return fills, orders


@settings(max_examples=15, deadline=None)
@given(st.lists(specs, min_size=1, max_size=6), schedules)
def test_fills_lie_in_their_daily_bar_and_limits_are_never_worse(
    orders: list[Spec], looks: list[int]
) -> None:
    broker, _ = run(orders, looks)
    placed = {r.client_order_id: r for r in requests(broker.market, orders)}
    for fill in broker.executions(ACCOUNT, T0):
        day_start, day_end = new_york_day(new_york_date(fill.executed_at))
        [bar] = broker.historical_bars(fill.conid, "1d", day_start, day_end)
        assert bar.ts == day_start
        assert bar.low <= fill.price <= bar.high, (fill, bar)
        assert fill.client_order_id is not None
        order = placed[fill.client_order_id]
        if order.limit_price is not None:
            if order.side is OrderSide.BUY:
                assert fill.price <= order.limit_price
            else:
                assert fill.price >= order.limit_price
        assert fill.executed_at < day_end


@settings(max_examples=10, deadline=None)
@given(st.lists(specs, min_size=1, max_size=6), schedules, schedules)
def test_fills_do_not_depend_on_how_often_anyone_looks(
    orders: list[Spec], often: list[int], rarely: list[int]
) -> None:
    first, _ = run(orders, often)
    second, _ = run(orders, rarely[:2])
    assert outcome(first) == outcome(second)


@settings(max_examples=5, deadline=None)
@given(st.lists(specs, min_size=1, max_size=6), schedules)
def test_the_same_seed_and_times_give_identical_prices_bars_and_fills(
    orders: list[Spec], looks: list[int]
) -> None:
    (one, clock_one), (two, clock_two) = run(orders, looks), run(orders, looks)
    assert outcome(one) == outcome(two)
    for conid in CONIDS:
        assert one.quote(conid) == two.quote(conid)
        month_ago = T0 - timedelta(days=30)
        assert one.historical_bars(conid, "1d", month_ago, clock_one.now()) == two.historical_bars(
            conid, "1d", month_ago, clock_two.now()
        )


def test_another_seed_gives_other_prices_and_fills() -> None:
    orders = [
        Spec(CONIDS[0], OrderSide.BUY, OrderType.LIMIT, -0.01, 5000, TimeInForce.GTC),
        Spec(CONIDS[1], OrderSide.SELL, OrderType.STOP, -0.005, 300, TimeInForce.DAY),
        Spec(CONIDS[2], OrderSide.BUY, OrderType.MARKET, 0.0, 40_000, TimeInForce.GTC),
    ]
    (one, _), (other, _) = run(orders, [3600]), run(orders, [3600], seed=4)
    assert outcome(one)[0], "the scenario fills something"
    assert outcome(other)[0] != outcome(one)[0]
    assert one.quote(CONIDS[0]) != other.quote(CONIDS[0])
