"""Which order each IBKR execution is given: a bracket child's executions name no order of ours."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from ibflow.brokers.base import BracketRole, BrokerOrder, BrokerOrderStatus, Execution, OrderSide, OrderType
from ibflow.brokers.ibkr.fills import attribute
from ibflow.core.ids import AccountId, BrokerExecId, BrokerOrderId, ClientOrderId, Conid
from ibflow.db.states import TimeInForce

ACCOUNT = AccountId("DU1234567")
AAPL = Conid(265598)
SPY = Conid(756733)
TODAY = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


def order(
    order_id: str,
    side: OrderSide,
    filled: int,
    updated_at: datetime,
    *,
    quantity: int = 10,
    coid: str | None = None,
    parent: str | None = None,
    order_type: OrderType = OrderType.STOP,
    limit: str | None = None,
    conid: Conid = AAPL,
) -> BrokerOrder:
    return BrokerOrder(
        account_id=ACCOUNT,
        broker_order_id=BrokerOrderId(order_id),
        conid=conid,
        side=side,
        order_type=order_type,
        tif=TimeInForce.GTC,
        quantity=Decimal(quantity),
        filled_quantity=Decimal(filled),
        status=BrokerOrderStatus.FILLED if filled == quantity else BrokerOrderStatus.SUBMITTED,
        updated_at=updated_at,
        client_order_id=None if coid is None else ClientOrderId(coid),
        parent_broker_order_id=None if parent is None else BrokerOrderId(parent),
        role=None if parent is None else BracketRole.TARGET if limit else BracketRole.STOP,
        limit_price=None if limit is None else Decimal(limit),
    )


def parent(order_id: str, coid: str, filled_at: datetime, *, quantity: int = 10) -> BrokerOrder:
    return order(
        order_id,
        OrderSide.BUY,
        quantity,
        filled_at,
        quantity=quantity,
        coid=coid,
        order_type=OrderType.MARKET,
    )


def execution(
    exec_id: str,
    side: OrderSide,
    quantity: int,
    at: datetime,
    *,
    coid: str | None = None,
    price: str = "100",
    order_id: str | None = None,
    conid: Conid = AAPL,
) -> Execution:
    return Execution(
        account_id=ACCOUNT,
        broker_exec_id=BrokerExecId(exec_id),
        conid=conid,
        side=side,
        quantity=Decimal(quantity),
        price=Decimal(price),
        commission=Decimal("1"),
        executed_at=at,
        broker_order_id=None if order_id is None else BrokerOrderId(order_id),
        client_order_id=None if coid is None else ClientOrderId(coid),
    )


def owners(executions: list[Execution], orders: list[BrokerOrder]) -> dict[str, str | None]:
    return {e.broker_exec_id: e.broker_order_id for e in attribute(executions, orders)}


BUY, SELL = OrderSide.BUY, OrderSide.SELL


# (a) a repeat stop-out ---------------------------------------------------------------------------------


def test_yesterdays_stop_out_does_not_use_up_todays_stop_and_todays_fill_gets_its_order() -> None:
    entered, stopped = TODAY, TODAY + timedelta(hours=2)
    orders = [parent("2001", "entry-2", entered), order("2002", SELL, 10, stopped, parent="2001")]
    executions = [
        execution("yesterday", SELL, 10, TODAY - timedelta(days=1)),  # yesterday's stop (no longer listed)
        execution("entry", BUY, 10, entered, coid="entry-2"),
        execution("today", SELL, 10, stopped),
    ]

    assert owners(executions, orders) == {"yesterday": None, "entry": "2001", "today": "2002"}


def test_a_repeat_stop_out_of_a_bracket_whose_parent_is_no_longer_listed_takes_the_latest_fill() -> None:
    # A GTC bracket entered on an earlier day: only its stop is listed, so it has no lower bound;
    # it still takes its own (latest) fill and leaves the older one alone.
    stopped = TODAY + timedelta(hours=2)
    orders = [order("2002", SELL, 10, stopped, parent="2001")]
    executions = [
        execution("yesterday", SELL, 10, TODAY - timedelta(days=1)),
        execution("today", SELL, 10, stopped),
    ]

    assert owners(executions, orders) == {"yesterday": None, "today": "2002"}


# (b) an external sale of the same contract days ago ----------------------------------------------------


def test_an_external_sale_days_ago_is_not_booked_as_our_stops_fill_whatever_the_days_read() -> None:
    entered, stopped = TODAY, TODAY + timedelta(hours=1)
    orders = [parent("2001", "entry-2", entered), order("2002", SELL, 10, stopped, parent="2001")]
    external = execution("outside", SELL, 10, TODAY - timedelta(days=5))  # sold in TWS, not listed
    ours = [execution("entry", BUY, 10, entered, coid="entry-2"), execution("stop", SELL, 10, stopped)]

    tracking = owners(ours, orders)  # three days: the external sale is not read
    reconcile = owners([external, *ours], orders)  # seven days: it is

    assert tracking == {"entry": "2001", "stop": "2002"}
    assert reconcile == {"outside": None, "entry": "2001", "stop": "2002"}
    # the trading core books each execution once: across both reads the stop is given 10, not 20
    sizes = {e.broker_exec_id: e.quantity for e in [external, *ours]}
    booked = {e for read in (tracking, reconcile) for e, owner in read.items() if owner == "2002"}
    assert sum(sizes[e] for e in booked) == Decimal(10)


# (c) two strategies on one contract --------------------------------------------------------------------


def test_two_strategies_stops_on_one_contract_each_get_their_own_fills() -> None:
    t = TODAY
    orders = [
        parent("100", "a-entry", t),
        order("101", SELL, 10, t + 20 * SECOND, parent="100"),  # A's stop: 5 then 5
        parent("200", "b-entry", t + 5 * SECOND),
        order("201", SELL, 10, t + 60 * SECOND, parent="200"),  # B's stop, after
    ]
    executions = [
        execution("a-in", BUY, 10, t, coid="a-entry"),
        execution("b-in", BUY, 10, t + 5 * SECOND, coid="b-entry"),
        execution("a1", SELL, 5, t + 10 * SECOND),
        execution("a2", SELL, 5, t + 20 * SECOND),
        execution("b1", SELL, 10, t + 60 * SECOND),
    ]

    assert owners(executions, orders) == {
        "a-in": "100",
        "b-in": "200",
        "a1": "101",
        "a2": "101",
        "b1": "201",
    }


def test_fills_two_stops_could_each_have_made_are_given_to_neither() -> None:
    # Both stops last updated at the same second: which 10 was whose cannot be told.
    t = TODAY
    orders = [
        parent("100", "a-entry", t),
        order("101", SELL, 10, t + 60 * SECOND, parent="100"),
        parent("200", "b-entry", t),
        order("201", SELL, 10, t + 60 * SECOND, parent="200"),
    ]
    executions = [
        execution("a-in", BUY, 10, t, coid="a-entry"),
        execution("b-in", BUY, 10, t, coid="b-entry"),
        execution("x", SELL, 10, t + 60 * SECOND),
        execution("y", SELL, 10, t + 60 * SECOND),
    ]

    found = owners(executions, orders)

    assert (found["x"], found["y"]) == (None, None)


# one child, in parts -----------------------------------------------------------------------------------


def test_a_child_filling_in_parts_gets_each_part_as_it_is_listed() -> None:
    t = TODAY
    entry = execution("in", BUY, 10, t, coid="entry")
    first = execution("p1", SELL, 4, t + 30 * SECOND)
    second = execution("p2", SELL, 6, t + 90 * SECOND)

    working = [parent("100", "entry", t), order("101", SELL, 4, t + 30 * SECOND, parent="100")]
    done = [parent("100", "entry", t), order("101", SELL, 10, t + 90 * SECOND, parent="100")]

    assert owners([entry, first], working) == {"in": "100", "p1": "101"}
    assert owners([entry, first, second], done) == {"in": "100", "p1": "101", "p2": "101"}
    # a part newer than the live orders read (cached) waits for the next read
    assert owners([entry, first, second], working)["p2"] is None


def test_an_executions_time_may_pass_the_orders_last_update_by_the_tolerance_only() -> None:
    t = TODAY
    orders = [parent("100", "entry", t), order("101", SELL, 10, t + 30 * SECOND, parent="100")]
    entry = execution("in", BUY, 10, t, coid="entry")

    assert owners([entry, execution("s", SELL, 10, t + 31 * SECOND)], orders)["s"] == "101"
    assert owners([entry, execution("s", SELL, 10, t + 32 * SECOND)], orders)["s"] is None


def test_a_child_of_a_listed_parent_whose_fills_are_not_read_yet_gets_nothing_this_time() -> None:
    t = TODAY
    orders = [parent("100", "entry", t), order("101", SELL, 10, t + 30 * SECOND, parent="100")]
    stop = execution("s", SELL, 10, t + 30 * SECOND)

    assert owners([stop], orders) == {"s": None}
    assert owners([execution("in", BUY, 10, t, coid="entry"), stop], orders)["s"] == "101"


def test_a_known_parent_not_listed_bounds_its_childs_executions_by_its_first_fill() -> None:
    t = TODAY
    orders = [order("101", SELL, 10, t + 30 * SECOND, parent="100")]
    executions = [
        execution("before", SELL, 10, t - SECOND),
        execution("in", BUY, 10, t, coid="entry"),
        execution("s", SELL, 5, t + 30 * SECOND),
    ]

    known = {BrokerOrderId("100"): ClientOrderId("entry")}
    result = attribute(executions, orders, parent_client_ids=known)

    assert {e.broker_exec_id: e.broker_order_id for e in result} == {"before": None, "in": None, "s": "101"}


def test_a_stop_and_a_target_of_one_bracket_filling_in_parts_are_told_apart_by_the_targets_limit() -> None:
    # The target sold 5 at its limit, then the stop the other 5; the target was then cancelled (its last
    # update is the cancel, at the stop's fill).
    t = TODAY
    stopped = t + 60 * SECOND
    orders = [
        parent("100", "entry", t),
        order("101", SELL, 5, stopped, parent="100"),
        order("102", SELL, 5, stopped, parent="100", order_type=OrderType.LIMIT, limit="110"),
    ]
    executions = [
        execution("in", BUY, 10, t, coid="entry"),
        execution("target", SELL, 5, t + 30 * SECOND, price="110.02"),
        execution("stop", SELL, 5, stopped, price="95"),
    ]

    assert owners(executions, orders) == {"in": "100", "target": "102", "stop": "101"}


# a child and an order placed outside ibflow -----------------------------------------------------------


def test_a_child_and_an_external_order_without_a_client_id_each_get_their_own_fill() -> None:
    t = TODAY
    for sold_outside in (t - timedelta(hours=1), t + 20 * SECOND):  # before our entry, and after it
        orders = [
            parent("100", "entry", t),
            order("101", SELL, 10, t + 60 * SECOND, parent="100"),
            order("900", SELL, 5, sold_outside, quantity=5, order_type=OrderType.MARKET),
        ]
        executions = [
            execution("in", BUY, 10, t, coid="entry"),
            execution("outside", SELL, 5, sold_outside),
            execution("stop", SELL, 10, t + 60 * SECOND),
        ]

        assert owners(executions, orders) == {"in": "100", "outside": "900", "stop": "101"}, sold_outside


def test_an_external_fill_between_a_childs_parts_leaves_the_uncertain_parts_unattributed() -> None:
    t = TODAY
    orders = [
        parent("100", "entry", t),
        order("101", SELL, 10, t + 60 * SECOND, parent="100"),
        order("900", SELL, 5, t + 30 * SECOND, quantity=5, order_type=OrderType.MARKET),
    ]
    executions = [
        execution("in", BUY, 10, t, coid="entry"),
        execution("p1", SELL, 5, t + 10 * SECOND),
        execution("outside", SELL, 5, t + 30 * SECOND),
        execution("p2", SELL, 5, t + 60 * SECOND),
    ]

    found = owners(executions, orders)

    assert found["p2"] == "101"
    assert found["outside"] == "900"  # at the external order's last update, so its own
    assert found["p1"] is None  # the stop's walk went through the external fill: not a guess


# executions with a client order id --------------------------------------------------------------------


def test_executions_with_a_client_id_or_an_order_id_keep_their_meaning() -> None:
    t = TODAY
    orders = [
        order("100", BUY, 10, t, coid="entry", order_type=OrderType.MARKET),
        order("300", SELL, 10, t, order_type=OrderType.MARKET),
    ]
    executions = [
        execution("listed", BUY, 10, t, coid="entry"),
        execution("unlisted", BUY, 10, t, coid="elsewhere"),
        execution("named", SELL, 3, t, order_id="777"),
        execution("anonymous", SELL, 10, t),
    ]

    result = attribute(executions, orders)

    assert {e.broker_exec_id: e.broker_order_id for e in result} == {
        "listed": "100",
        "unlisted": None,
        "named": "777",
        "anonymous": "300",
    }
    assert [e.broker_exec_id for e in result] == sorted(e.broker_exec_id for e in executions)  # all at t
    assert {(e.broker_exec_id, e.client_order_id) for e in result} == {
        (e.broker_exec_id, e.client_order_id) for e in executions
    }


def test_an_order_with_a_client_id_never_takes_an_anonymous_execution() -> None:
    orders = [order("100", SELL, 10, TODAY, coid="ours", order_type=OrderType.MARKET)]

    assert owners([execution("x", SELL, 10, TODAY)], orders) == {"x": None}


# never more than an order filled ----------------------------------------------------------------------

_times = st.integers(min_value=0, max_value=40).map(lambda s: TODAY + s * SECOND)
_sides = st.sampled_from([BUY, SELL])
_conids = st.sampled_from([AAPL, SPY])


@st.composite
def _books(draw: st.DrawFn) -> tuple[list[Execution], list[BrokerOrder]]:
    orders: list[BrokerOrder] = []
    for n in range(draw(st.integers(min_value=1, max_value=5))):
        quantity = draw(st.integers(min_value=1, max_value=10))
        has_parent = draw(st.booleans())
        if has_parent:
            orders.append(parent(f"p{n}", f"c{n}", draw(_times)))
        orders.append(
            order(
                f"o{n}",
                draw(_sides),
                draw(st.integers(min_value=0, max_value=quantity)),
                draw(_times),
                quantity=quantity,
                parent=f"p{n}" if has_parent else None,
                conid=draw(_conids),
            )
        )
    executions = [
        execution(
            f"e{n}",
            draw(_sides),
            draw(st.integers(min_value=1, max_value=6)),
            draw(_times),
            coid=draw(st.sampled_from([None, None, "c0", "c1"])),
            conid=draw(_conids),
        )
        for n in range(draw(st.integers(min_value=0, max_value=12)))
    ]
    return executions, orders


@settings(max_examples=300, deadline=None)
@given(_books())
def test_no_order_is_ever_given_more_than_it_filled_nor_an_execution_of_another_contract_or_side(
    books: tuple[list[Execution], list[BrokerOrder]],
) -> None:
    executions, orders = books
    result = attribute(executions, orders)
    by_id = {o.broker_order_id: o for o in orders}

    assert sorted(e.broker_exec_id for e in result) == sorted(e.broker_exec_id for e in executions)
    given_to: dict[str, Decimal] = defaultdict(Decimal)
    for e in result:
        if e.client_order_id is None and e.broker_order_id is not None:
            owner = by_id[e.broker_order_id]
            assert (owner.conid, owner.side, owner.client_order_id) == (e.conid, e.side, None)
            assert e.executed_at <= owner.updated_at + SECOND
            given_to[e.broker_order_id] += e.quantity
    for order_id, quantity in given_to.items():
        assert quantity <= by_id[BrokerOrderId(order_id)].filled_quantity
    assert result == attribute(list(reversed(executions)), orders)  # deterministic, whatever the order
