"""The IBKR translation layer: recorded real bodies, the simulator's bodies read back, and what we send."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ibflow.brokers.base import (
    AccountSummary,
    BracketRequest,
    BracketRole,
    BrokerOrder,
    BrokerOrderStatus,
    BrokerPosition,
    Execution,
    OrderChange,
    OrderRequest,
    OrderSide,
    OrderType,
    QuoteFlag,
    TimeInForce,
)
from ibflow.brokers.ibkr import bodies, parse
from ibflow.brokers.ibkr.simulator import market as sim_market
from ibflow.brokers.ibkr.simulator.desk import OrderDesk
from ibflow.brokers.ibkr.simulator.wire import account as sim_account
from ibflow.brokers.ibkr.simulator.wire import orders as sim_orders
from ibflow.brokers.ibkr.tables import NoMarketData, UnknownBrokerValue, lookup, order_status_of
from ibflow.brokers.paper.market.universe import default_universe
from ibflow.core.errors import BrokerError, ValidationError
from ibflow.core.ids import AccountId, BrokerExecId, BrokerOrderId, ClientOrderId, Conid

DATA = Path(__file__).parents[3] / "data" / "ibkr-responses"
RECORDED = AccountId("DUMMY_ACCOUNT_ID123")
ACCOUNT = AccountId("DU1234567")
NOW = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)
AAPL = default_universe().instrument(265598)
SPY = default_universe().instrument(756733)


def recorded(name: str) -> Any:
    return json.loads((DATA / name).read_text())


def reference(name: str) -> Any:
    return recorded("reference_examples.json")[name]


def at_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


# session and accounts ------------------------------------------------------------------------------------


def test_the_recorded_auth_status_and_tickle_are_a_healthy_session() -> None:
    assert parse.session_from_auth_status(recorded("auth_status.json")).healthy
    assert parse.session_from_tickle(recorded("tickle.json")).healthy


def test_a_logged_out_auth_status_and_a_failure_text() -> None:
    status = parse.session_from_auth_status(
        {"authenticated": False, "competing": False, "connected": False, "MAC": "x"}
    )
    assert (status.authenticated, status.connected, status.healthy) == (False, False, False)
    failed = parse.session_from_auth_status(
        {"authenticated": False, "connected": True, "competing": False, "fail": "Force compete capability"}
    )
    assert failed.connected
    assert not failed.authenticated
    assert failed.message == "Force compete capability"


def test_a_tickle_collission_is_a_competing_session() -> None:
    body = recorded("tickle.json") | {"collission": True}
    assert parse.session_from_tickle(body).competing


@pytest.mark.parametrize(
    ("authenticated", "competing", "connected"),
    [(True, False, True), (False, False, True), (True, True, True), (False, False, False)],
)
def test_the_simulators_session_bodies_read_back(
    authenticated: bool, competing: bool, connected: bool
) -> None:
    body = sim_account.auth_status(authenticated=authenticated, competing=competing, connected=connected)
    tickle = sim_account.tickle(session="s", sso_expires_ms=1000, user_id=1, status=body)
    for status in (parse.session_from_auth_status(body), parse.session_from_tickle(tickle)):
        assert (status.authenticated, status.competing, status.connected) == (
            authenticated,
            competing,
            connected,
        )


def test_a_session_body_without_its_flags_raises() -> None:
    with pytest.raises(UnknownBrokerValue, match="authenticated"):
        parse.session_from_auth_status({"connected": True})
    with pytest.raises(UnknownBrokerValue, match="tickle iserver"):
        parse.session_from_tickle({"session": "x"})


def test_iserver_accounts_reference_and_simulator() -> None:
    assert parse.accounts_info(reference("iserver_accounts")) == parse.AccountsInfo(
        (AccountId("U1234567"),), AccountId("U1234567"), is_paper=False
    )
    simulated = parse.accounts_info(sim_account.iserver_accounts(ACCOUNT, "sess"))
    assert simulated == parse.AccountsInfo((ACCOUNT,), ACCOUNT, is_paper=True)


def test_account_summary_round_trip() -> None:
    account = AccountSummary(ACCOUNT, "USD", Decimal("98765.43"), Decimal("123456.78"), Decimal("246913.56"))
    body = sim_account.summary(account, Decimal("24691.35"), NOW)
    assert parse.account_summary(body, ACCOUNT) == account


def test_an_account_summary_of_another_account_or_without_numbers_raises() -> None:
    account = AccountSummary(ACCOUNT, "USD", Decimal(1), Decimal(2), Decimal(3))
    body = sim_account.summary(account, Decimal(0), NOW)
    with pytest.raises(UnknownBrokerValue, match="DU1234567"):
        parse.account_summary(body, AccountId("DU7654321"))
    with pytest.raises(UnknownBrokerValue, match="buyingpower"):
        parse.account_summary({k: v for k, v in body.items() if k != "buyingpower"}, ACCOUNT)
    null = body | {"netliquidation": {**body["netliquidation"], "isNull": True}}  # type: ignore[dict-item]
    with pytest.raises(UnknownBrokerValue, match="netliquidation"):
        parse.account_summary(null, ACCOUNT)


def test_recorded_positions() -> None:
    (position,) = parse.positions_from(recorded("positions.json"), RECORDED)
    assert position == BrokerPosition(
        account_id=RECORDED,
        conid=Conid(756733),
        quantity=Decimal(100),
        avg_cost=Decimal("437.43"),
        market_price=Decimal("454.44000245"),
        market_value=Decimal("45444.0"),
        unrealized_pnl=Decimal("1701.0"),
        realized_pnl=Decimal(0),
    )
    assert parse.positions_from([], RECORDED) == []
    with pytest.raises(UnknownBrokerValue, match="DUMMY_ACCOUNT_ID123"):
        parse.positions_from(recorded("positions.json"), ACCOUNT)


def test_positions_round_trip() -> None:
    held = BrokerPosition(
        ACCOUNT,
        AAPL.conid,
        Decimal(30),
        Decimal("187.25"),
        Decimal("190.5"),
        Decimal("5715"),
        Decimal("97.5"),
    )
    assert parse.positions_from([sim_account.position(held, AAPL)], ACCOUNT) == [held]


# contracts and market data -------------------------------------------------------------------------------


def test_contract_info_reference_and_simulator() -> None:
    contract = parse.contract_from_info(reference("contract_info"))
    assert (contract.conid, contract.symbol, contract.name, contract.sec_type) == (
        265598,
        "AAPL",
        "APPLE INC",
        "STK",
    )
    assert (contract.exchange, contract.currency, contract.min_tick) == ("SMART", "USD", Decimal("0.01"))
    simulated = parse.contract_from_info(sim_account.contract_info(SPY))
    assert (simulated.conid, simulated.symbol, simulated.currency) == (756733, "SPY", "USD")


def test_contract_rules_increment_is_the_tick() -> None:
    body = reference("contract_info") | {"rules": {"increment": 0.05, "orderTypes": ["limit"]}}
    assert parse.contract_from_info(body).min_tick == Decimal("0.05")


def test_search_rows_reference_and_simulator() -> None:
    assert parse.search_rows(reference("secdef_search")) == [
        parse.SearchRow(Conid(265598), "AAPL", "APPLE INC", "NASDAQ", is_stock=True)
    ]
    assert parse.search_rows([sim_account.search_result(SPY)]) == [
        parse.SearchRow(Conid(756733), "SPY", "SPDR S&P 500 ETF TRUST", "ARCA", is_stock=True)
    ]
    index = {"conid": "416904", "symbol": "SPX", "description": "CBOE", "sections": [{"secType": "IND"}]}
    assert not parse.search_rows([index])[0].is_stock


def test_the_warm_reference_snapshot() -> None:
    quote = parse.quote_from_snapshot(reference("snapshot_warm")[0], now=NOW)
    assert quote is not None
    assert (quote.conid, quote.last, quote.bid, quote.ask) == (
        265598,
        Decimal("168.42"),
        Decimal("168.41"),
        Decimal("168.42"),
    )
    assert quote.flag is QuoteFlag.LIVE
    assert quote.ts == at_ms(1712596911593)


def test_a_preflight_snapshot_is_no_quote_yet() -> None:
    assert parse.quote_from_snapshot({"conid": 265598, "conidEx": "265598"}, now=NOW) is None


@pytest.mark.parametrize("flag", list(QuoteFlag))
def test_every_flag_the_simulator_shows_reads_back(flag: QuoteFlag) -> None:
    item = {
        "conid": 265598,
        "conidEx": "265598",
        "31": f"{sim_market.LAST_PREFIX[flag]}190.25",
        "84": "190.24",
        "86": "190.26",
        "6509": sim_market.AVAILABILITY[flag],
    }
    quote = parse.quote_from_snapshot(item, now=NOW)
    assert quote is not None
    assert (quote.flag, quote.last, quote.ts) == (flag, Decimal("190.25"), NOW)


@pytest.mark.parametrize(("letter", "flag"), [("Y", QuoteFlag.FROZEN), ("Dp", QuoteFlag.DELAYED)])
def test_frozen_delayed_and_delayed_availability(letter: str, flag: QuoteFlag) -> None:
    quote = parse.quote_from_snapshot({"conid": 1, "31": "10", "6509": letter}, now=NOW)
    assert quote is not None
    assert quote.flag is flag


@pytest.mark.parametrize("letter", ["N", "O"])
def test_no_market_data_subscription_is_refused(letter: str) -> None:
    with pytest.raises(NoMarketData, match="conid 1"):
        parse.quote_from_snapshot({"conid": 1, "31": "10", "6509": letter}, now=NOW)


def test_an_unknown_or_missing_availability_raises() -> None:
    with pytest.raises(UnknownBrokerValue, match="6509") as caught:
        parse.quote_from_snapshot({"conid": 1, "31": "10", "6509": "Xp"}, now=NOW)
    assert caught.value.value == "X"
    with pytest.raises(UnknownBrokerValue, match="6509"):
        parse.quote_from_snapshot({"conid": 1, "31": "10"}, now=NOW)


def test_every_recorded_history_reads_one_bar() -> None:
    for symbol, body in recorded("history.json").items():
        (bar,) = parse.bars_from_history(body)
        point = body["data"][0]
        assert bar.ts == datetime(2023, 11, 1, tzinfo=UTC), symbol
        assert (bar.open, bar.high, bar.low, bar.close) == tuple(
            Decimal(str(point[k])) for k in ("o", "h", "l", "c")
        )
        assert bar.volume == Decimal(str(point["v"]))
        assert not bar.partial
    aapl = parse.bars_from_history(recorded("history.json")["AAPL"])[0]
    assert aapl.close == Decimal("189.37")


def test_history_bars_come_oldest_first_and_the_forming_one_is_partial() -> None:
    day = 86_400_000
    start = 1_772_409_600_000  # 2026-03-02 00:00 UTC
    body = {
        "barLength": 86400,
        "data": [
            {"o": 2, "h": 3, "l": 1, "c": 2.5, "v": 10, "t": start},
            {"o": 1, "h": 2, "l": 0.5, "c": 1.5, "v": 20.5, "t": start - day},
        ],
    }
    bars = parse.bars_from_history(body, now=NOW)
    assert [b.ts for b in bars] == [at_ms(start - day), at_ms(start)]
    assert [b.partial for b in bars] == [False, True]
    assert bars[0].volume == Decimal("20.5")


# orders in -----------------------------------------------------------------------------------------------


def test_recorded_live_orders() -> None:
    items = recorded("live_orders.json")
    orders = parse.orders_from_live({"orders": items, "snapshot": True}, RECORDED, now=NOW)
    assert [o.broker_order_id for o in orders] == [str(i["orderId"]) for i in items]
    first = orders[0]
    assert first == parse.order_from_live(items[0], RECORDED, now=NOW)
    assert first.client_order_id == "240103-SPY-1-BUY-L@457-bxv8"
    assert (first.conid, first.side, first.order_type, first.tif) == (
        756733,
        OrderSide.BUY,
        OrderType.LIMIT,
        TimeInForce.GTC,
    )
    assert (first.quantity, first.filled_quantity, first.limit_price, first.stop_price) == (
        Decimal(1),
        Decimal(0),
        Decimal("457.00"),
        None,
    )
    assert first.status is BrokerOrderStatus.SUBMITTED  # a held GTC limit is working
    assert first.updated_at == at_ms(1704312641000)
    assert first.parent_broker_order_id is None
    assert first.role is None


def test_recorded_order_statuses() -> None:
    for order_id, body in recorded("order_status.json").items():
        order = parse.order_from_status(body, RECORDED, now=NOW)
        assert order.broker_order_id == order_id
        assert (order.side, order.order_type, order.tif) == (OrderSide.BUY, OrderType.LIMIT, TimeInForce.GTC)
        assert (order.quantity, order.filled_quantity) == (Decimal(1), Decimal(0))
        assert order.limit_price == Decimal(body["limit_price"])
        assert order.updated_at == NOW
        assert order.client_order_id is None  # the status body does not echo the cOID
    statuses = {
        i: parse.order_from_status(b, RECORDED, now=NOW).status
        for i, b in recorded("order_status.json").items()
    }
    assert statuses["1210386714"] is BrokerOrderStatus.SUBMITTED


def test_the_reference_trade() -> None:
    (execution,) = parse.executions_from_trades(reference("trades"), AccountId("U1234567"))
    assert execution == Execution(
        account_id=AccountId("U1234567"),
        broker_exec_id=BrokerExecId("0000e0d5.6576fd38.01.01"),
        conid=Conid(265598),
        side=OrderSide.SELL,
        quantity=Decimal(5),
        price=Decimal("192.26"),
        commission=Decimal("1.01"),
        executed_at=at_ms(1702317649000),
        broker_order_id=None,
        client_order_id=ClientOrderId("Order123"),
    )
    assert parse.executions_from_trades(reference("trades"), ACCOUNT) == []  # another account's fills


def order(**overrides: Any) -> BrokerOrder:
    fields: dict[str, Any] = {
        "account_id": ACCOUNT,
        "broker_order_id": BrokerOrderId("41"),
        "conid": AAPL.conid,
        "side": OrderSide.BUY,
        "order_type": OrderType.LIMIT,
        "tif": TimeInForce.DAY,
        "quantity": Decimal(10),
        "filled_quantity": Decimal(0),
        "status": BrokerOrderStatus.SUBMITTED,
        "updated_at": datetime(2026, 3, 2, 14, 31, 5, tzinfo=UTC),
        "client_order_id": ClientOrderId("ibf-abc-1"),
        "limit_price": Decimal("190.25"),
    }
    return BrokerOrder(**(fields | overrides))


def as_ibkr(expected: BrokerOrder) -> BrokerOrder:
    """Return ``expected`` with IBKR's order ids, as the simulator shows them."""
    parent = expected.parent_broker_order_id
    return replace(
        expected,
        broker_order_id=BrokerOrderId(str(sim_orders.ibkr_order_id(expected.broker_order_id))),
        parent_broker_order_id=None
        if parent is None
        else BrokerOrderId(str(sim_orders.ibkr_order_id(parent))),
    )


SINGLE_ORDERS = [
    order(),
    order(order_type=OrderType.MARKET, limit_price=None, tif=TimeInForce.GTC, side=OrderSide.SELL),
    order(order_type=OrderType.STOP, limit_price=None, stop_price=Decimal("180.5")),
    order(order_type=OrderType.STOP_LIMIT, limit_price=Decimal("180.25"), stop_price=Decimal("180.5")),
    order(filled_quantity=Decimal(4), avg_fill_price=Decimal("190.2")),
    order(filled_quantity=Decimal(10), avg_fill_price=Decimal("190.21"), status=BrokerOrderStatus.FILLED),
    order(status=BrokerOrderStatus.CANCELLED),
    order(status=BrokerOrderStatus.PENDING_SUBMIT),
    order(status=BrokerOrderStatus.REJECTED),
    order(quantity=Decimal("2.5")),
]


@pytest.mark.parametrize("expected", SINGLE_ORDERS, ids=lambda o: f"{o.order_type}-{o.status}")
def test_single_orders_read_back_from_the_simulators_bodies(expected: BrokerOrder) -> None:
    status = sim_orders.shown_status(expected, cancel_pending=False)
    live = sim_orders.live_order(expected, AAPL, status=status)
    assert parse.order_from_live(live, ACCOUNT, now=NOW) == as_ibkr(expected)
    body = sim_orders.order_status(expected, AAPL, status=status, placed_at=expected.updated_at)
    from_status = parse.order_from_status(body, ACCOUNT, now=NOW, client_order_id=expected.client_order_id)
    # IBKR's only words on a refused order are its status description
    reason = "Order Inactive" if expected.status is BrokerOrderStatus.REJECTED else ""
    assert from_status == replace(as_ibkr(expected), updated_at=NOW, reason=reason)


def test_a_cancel_in_flight_and_an_expiry_read_as_pending_cancel_and_cancelled() -> None:
    cancelled = order(status=BrokerOrderStatus.CANCELLED)
    live = sim_orders.live_order(
        cancelled, AAPL, status=sim_orders.shown_status(cancelled, cancel_pending=True)
    )
    assert parse.order_from_live(live, ACCOUNT, now=NOW).status is BrokerOrderStatus.PENDING_CANCEL
    expired = order(status=BrokerOrderStatus.EXPIRED)
    live = sim_orders.live_order(expired, AAPL, status=sim_orders.shown_status(expired, cancel_pending=False))
    assert parse.order_from_live(live, ACCOUNT, now=NOW).status is BrokerOrderStatus.CANCELLED


def bracket_orders(*, parent_filled: Decimal) -> list[BrokerOrder]:
    waiting = parent_filled == 0
    child = BrokerOrderStatus.INACTIVE if waiting else BrokerOrderStatus.SUBMITTED
    parent = order(
        broker_order_id=BrokerOrderId("50"),
        filled_quantity=parent_filled,
        avg_fill_price=None if waiting else Decimal("190.2"),
        status=BrokerOrderStatus.SUBMITTED if parent_filled < 10 else BrokerOrderStatus.FILLED,
        role=BracketRole.PARENT,
    )
    common = {
        "side": OrderSide.SELL,
        "tif": TimeInForce.GTC,
        "client_order_id": None,
        "parent_broker_order_id": BrokerOrderId("50"),
        "status": child,
        "quantity": Decimal(10) if waiting else parent_filled,
    }
    stop = order(
        broker_order_id=BrokerOrderId("51"),
        order_type=OrderType.STOP,
        limit_price=None,
        stop_price=Decimal("180.5"),
        role=BracketRole.STOP,
        **common,
    )
    target = order(
        broker_order_id=BrokerOrderId("52"), limit_price=Decimal("210"), role=BracketRole.TARGET, **common
    )
    return [parent, stop, target]


@pytest.mark.parametrize("parent_filled", [Decimal(0), Decimal(4), Decimal(10)])
def test_a_bracket_reads_back_from_the_live_orders(parent_filled: Decimal) -> None:
    legs = bracket_orders(parent_filled=parent_filled)
    items = [
        sim_orders.live_order(leg, AAPL, status=sim_orders.shown_status(leg, cancel_pending=False))
        for leg in legs
    ]
    assert items[1]["status"] == "PreSubmitted"  # waiting or not, an untriggered stop is held
    assert "cOID" not in items[1]
    assert "order_ref" not in items[1]
    assert parse.orders_from_live({"orders": items}, ACCOUNT, now=NOW) == [as_ibkr(leg) for leg in legs]


def test_a_presubmitted_child_needs_to_know_whether_its_parent_filled() -> None:
    stop = bracket_orders(parent_filled=Decimal(0))[1]
    item = sim_orders.live_order(stop, AAPL, status="PreSubmitted")
    with pytest.raises(UnknownBrokerValue, match="bracket child") as caught:
        parse.order_from_live(item, ACCOUNT, now=NOW)
    assert caught.value.value == "PreSubmitted"
    waiting = parse.order_from_live(item, ACCOUNT, now=NOW, parent_filled=False)
    working = parse.order_from_live(item, ACCOUNT, now=NOW, parent_filled=True)
    assert (waiting.status, working.status) == (BrokerOrderStatus.INACTIVE, BrokerOrderStatus.SUBMITTED)
    assert waiting.role is BracketRole.STOP


def test_a_child_whose_parent_left_the_list_is_working() -> None:
    stop = bracket_orders(parent_filled=Decimal(10))[1]
    item = sim_orders.live_order(stop, AAPL, status="PreSubmitted")
    (read,) = parse.orders_from_live([item], ACCOUNT, now=NOW)
    assert read.status is BrokerOrderStatus.SUBMITTED


def test_a_bracket_child_from_order_status_with_what_the_caller_knows() -> None:
    target = bracket_orders(parent_filled=Decimal(0))[2]
    body = sim_orders.order_status(target, AAPL, status="PreSubmitted", placed_at=NOW)
    parent = BrokerOrderId(str(sim_orders.ibkr_order_id("50")))
    read = parse.order_from_status(body, ACCOUNT, now=NOW, parent_broker_order_id=parent, parent_filled=False)
    assert read == replace(as_ibkr(target), updated_at=NOW)


def test_live_orders_of_another_account_are_left_out_or_refused() -> None:
    item = sim_orders.live_order(order(), AAPL, status="Submitted")
    assert parse.orders_from_live({"orders": [item]}, AccountId("DU7654321"), now=NOW) == []
    with pytest.raises(UnknownBrokerValue, match="account"):
        parse.order_from_live(item, AccountId("DU7654321"), now=NOW)


def test_fills_read_back_from_the_simulators_trades() -> None:
    fill = Execution(
        ACCOUNT,
        BrokerExecId("41.2"),
        AAPL.conid,
        OrderSide.BUY,
        Decimal(4),
        Decimal("190.2"),
        Decimal("1.25"),
        datetime(2026, 3, 2, 14, 32, tzinfo=UTC),
        broker_order_id=BrokerOrderId("41"),
        client_order_id=ClientOrderId("ibf-abc-1"),
    )
    body = [
        sim_orders.trade(fill, AAPL, user_name="u", order_ref="ibf-abc-1"),
        sim_orders.trade(replace(fill, side=OrderSide.SELL), AAPL, user_name="u", order_ref=None),
    ]
    first, second = parse.executions_from_trades(body, ACCOUNT)
    assert first == replace(
        fill, broker_exec_id=BrokerExecId(sim_orders.execution_id("41.2")), broker_order_id=None
    )
    assert (second.side, second.client_order_id) == (OrderSide.SELL, None)


@pytest.mark.parametrize(
    ("field", "value", "what"),
    [
        ("status", "ApiPending", "order status"),
        ("origOrderType", "TRAIL", "order type"),
        ("side", "SSHORT", "order side"),
        ("timeInForce", "IOC", "time in force"),
    ],
)
def test_an_unknown_value_in_a_live_order_raises_naming_it(field: str, value: str, what: str) -> None:
    item = sim_orders.live_order(order(), AAPL, status="Submitted") | {field: value}
    with pytest.raises(UnknownBrokerValue, match=what) as caught:
        parse.order_from_live(item, ACCOUNT, now=NOW)
    assert caught.value.value == value
    assert value in str(caught.value)
    assert isinstance(caught.value, BrokerError)


@pytest.mark.parametrize(("field", "value"), [("side", "X"), ("order_status", "Gone"), ("tif", "OPG")])
def test_an_unknown_value_in_an_order_status_raises(field: str, value: str) -> None:
    body = sim_orders.order_status(order(), AAPL, status="Submitted", placed_at=NOW) | {field: value}
    with pytest.raises(UnknownBrokerValue, match=value):
        parse.order_from_status(body, ACCOUNT, now=NOW)


def test_an_unknown_side_in_a_trade_raises() -> None:
    trade = reference("trades")[0] | {"side": "SS"}
    with pytest.raises(UnknownBrokerValue, match="order side"):
        parse.executions_from_trades([trade], AccountId("U1234567"))


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("Inactive", BrokerOrderStatus.REJECTED),
        ("PendingSubmit", BrokerOrderStatus.PENDING_SUBMIT),
        ("PreSubmitted", BrokerOrderStatus.SUBMITTED),
        ("submitted", BrokerOrderStatus.SUBMITTED),
        ("FILLED", BrokerOrderStatus.FILLED),
        ("pending_cancel", None),
        ("PendingCancel", BrokerOrderStatus.PENDING_CANCEL),
        ("Cancelled", BrokerOrderStatus.CANCELLED),
        ("WarnState", BrokerOrderStatus.SUBMITTED),
    ],
)
def test_the_order_status_table(raw: str, status: BrokerOrderStatus | None) -> None:
    if status is None:
        with pytest.raises(UnknownBrokerValue, match="pending_cancel"):
            order_status_of(raw, waiting_for_parent=False)
    else:
        assert order_status_of(raw, waiting_for_parent=False) is status
    assert order_status_of("PreSubmitted", waiting_for_parent=True) is BrokerOrderStatus.INACTIVE
    assert order_status_of("Submitted", waiting_for_parent=True) is BrokerOrderStatus.SUBMITTED


def test_lookup_names_what_and_the_value() -> None:
    with pytest.raises(UnknownBrokerValue, match=r"unknown IBKR widget: 'Blue'"):
        lookup({"red": 1}, "Blue", "widget")
    with pytest.raises(UnknownBrokerValue, match="widget"):
        lookup({"red": 1}, ["red"], "widget")
    assert lookup({"stop limit": 2}, " Stop Limit ", "widget") == 2


# placement answers -------------------------------------------------------------------------------------


def test_a_question() -> None:
    answer = parse.placement_answer(reference("place_question"))
    assert isinstance(answer, parse.Questions)
    assert answer.reply_id == "07a13a5a-4a48-44a5-bb25-5ab37b79186c"
    assert answer.message_ids == ("o163",)
    assert "Percentage constraint of 3%" in answer.texts[0]


def test_an_acceptance() -> None:
    assert parse.placement_answer(reference("place_accepted")) == parse.Accepted(
        ((BrokerOrderId("1234567890"), BrokerOrderStatus.SUBMITTED),)
    )
    stop = [{"order_id": "1234567891", "order_status": "PreSubmitted", "encrypt_message": "1"}]
    assert parse.placement_answer(stop) == parse.Accepted(
        ((BrokerOrderId("1234567891"), BrokerOrderStatus.SUBMITTED),)
    )


def test_a_bracket_acceptance_holds_the_children_inactive() -> None:
    body = [
        {"order_id": "1000000050", "order_status": "Submitted", "encrypt_message": "1"},
        {"order_id": "1000000051", "order_status": "PreSubmitted", "encrypt_message": "1"},
        {"order_id": "1000000052", "order_status": "PreSubmitted", "encrypt_message": "1"},
    ]
    answer = parse.placement_answer(body, bracket=True)
    assert isinstance(answer, parse.Accepted)
    assert [status for _, status in answer.items] == [
        BrokerOrderStatus.SUBMITTED,
        BrokerOrderStatus.INACTIVE,
        BrokerOrderStatus.INACTIVE,
    ]
    filled = [body[0] | {"order_status": "Filled"}, *body[1:]]
    answer = parse.placement_answer(filled, bracket=True)
    assert isinstance(answer, parse.Accepted)
    assert answer.items[1][1] is BrokerOrderStatus.SUBMITTED


def test_a_rejection_and_a_duplicate_client_order_id() -> None:
    text = "We cannot accept an order at the limit price you selected"
    assert parse.placement_answer({"error": text}) == parse.Rejected(text, duplicate=False)
    duplicate = "Order couldn't be submitted: Local order ID=ibf-abc-1 is already registered."
    assert parse.placement_answer({"error": duplicate}) == parse.Rejected(duplicate, duplicate=True)


@pytest.mark.parametrize(
    "body",
    [[], {"status": "ok"}, [{"order_id": "1"}], [{"x": 1}], "Submitted", None, [1]],
    ids=repr,
)
def test_any_other_placement_answer_raises(body: object) -> None:
    with pytest.raises(UnknownBrokerValue, match="placement answer"):
        parse.placement_answer(body)


def test_an_unknown_status_in_an_acceptance_raises() -> None:
    with pytest.raises(UnknownBrokerValue, match="Queued"):
        parse.placement_answer([{"order_id": "1", "order_status": "Queued"}])


# orders out ----------------------------------------------------------------------------------------------


def request(**overrides: Any) -> OrderRequest:
    fields: dict[str, Any] = {
        "client_order_id": ClientOrderId("ibf-abc-7"),
        "conid": AAPL.conid,
        "side": OrderSide.BUY,
        "order_type": OrderType.LIMIT,
        "quantity": Decimal(10),
        "tif": TimeInForce.DAY,
        "limit_price": Decimal("190.25"),
    }
    return OrderRequest(**(fields | overrides))


BASE_KEYS = {"acctId", "conid", "orderType", "side", "quantity", "tif"}


@pytest.mark.parametrize(
    ("sent", "keys", "prices"),
    [
        (request(), {"cOID", "price"}, {"price": 190.25}),
        (request(order_type=OrderType.MARKET, limit_price=None), {"cOID"}, {}),
        (
            request(order_type=OrderType.STOP, limit_price=None, stop_price=Decimal("180.5")),
            {"cOID", "price"},
            {"price": 180.5},
        ),
        (
            request(
                order_type=OrderType.STOP_LIMIT, limit_price=Decimal("180.25"), stop_price=Decimal("180.5")
            ),
            {"cOID", "price", "auxPrice"},
            {"price": 180.25, "auxPrice": 180.5},
        ),
    ],
    ids=["LMT", "MKT", "STP", "STOP_LIMIT"],
)
def test_order_bodies_carry_exactly_ibkrs_keys(
    sent: OrderRequest, keys: set[str], prices: dict[str, float]
) -> None:
    body = bodies.order_body(sent, ACCOUNT)
    assert set(body) == BASE_KEYS | keys
    assert body["conid"] == 265598
    assert type(body["conid"]) is int
    assert body["acctId"] == ACCOUNT
    assert body["quantity"] == 10
    assert body["cOID"] == "ibf-abc-7"
    assert (
        body["orderType"]
        == {"LMT": "LMT", "MKT": "MKT", "STP": "STP", "STP_LMT": "STOP_LIMIT"}[sent.order_type]
    )
    assert {k: body[k] for k in ("price", "auxPrice") if k in body} == prices
    json.dumps(body)  # sendable as it is
    # the simulator's placement reads it back as the same order
    leg = OrderDesk.__new__(OrderDesk)._leg(body)
    assert leg.request == sent
    assert leg.coid == "ibf-abc-7"
    assert leg.parent_coid is None


def test_a_fractional_quantity_is_sent_as_a_number() -> None:
    body = bodies.order_body(request(quantity=Decimal("2.5"), tif=TimeInForce.GTC), ACCOUNT)
    assert (body["quantity"], body["tif"]) == (2.5, "GTC")


def test_an_order_without_its_price_is_not_built() -> None:
    with pytest.raises(ValidationError, match="ibf-abc-7") as caught:
        bodies.order_body(request(limit_price=None), ACCOUNT)
    assert set(caught.value.problems) == {"limit_price"}
    with pytest.raises(ValidationError):
        bodies.order_body(request(order_type=OrderType.STOP_LIMIT, stop_price=None), ACCOUNT)


def test_a_single_orders_placement_body() -> None:
    assert bodies.orders_body(request(), ACCOUNT) == {"orders": [bodies.order_body(request(), ACCOUNT)]}


def test_a_bracket_body_children_name_the_parents_coid_and_carry_none() -> None:
    bracket = BracketRequest(
        parent=request(),
        stop_loss=request(
            client_order_id=ClientOrderId("ibf-abc-7-stop"),
            side=OrderSide.SELL,
            order_type=OrderType.STOP,
            limit_price=None,
            stop_price=Decimal("180.5"),
            tif=TimeInForce.GTC,
        ),
        take_profit=request(
            client_order_id=ClientOrderId("ibf-abc-7-target"),
            side=OrderSide.SELL,
            limit_price=Decimal("210"),
            tif=TimeInForce.GTC,
        ),
    )
    body = bodies.bracket_body(bracket, ACCOUNT)
    assert set(body) == {"orders"}
    legs_sent: list[dict[str, Any]] = body["orders"]  # type: ignore[assignment]
    parent, stop, target = legs_sent
    assert set(parent) == BASE_KEYS | {"cOID", "price"}
    assert set(stop) == BASE_KEYS | {"parentId", "price"}
    assert set(target) == BASE_KEYS | {"parentId", "price"}
    assert parent["cOID"] == stop["parentId"] == target["parentId"] == "ibf-abc-7"
    assert (stop["orderType"], stop["price"], stop["side"]) == ("STP", 180.5, "SELL")
    assert (target["orderType"], target["price"]) == ("LMT", 210)
    desk = OrderDesk.__new__(OrderDesk)
    legs = [desk._leg(item) for item in (parent, stop, target)]
    assert [leg.parent_coid for leg in legs] == [None, "ibf-abc-7", "ibf-abc-7"]
    assert legs[1].request.stop_price == Decimal("180.5")


def test_a_modify_body_is_the_whole_order_with_the_change() -> None:
    current = order(filled_quantity=Decimal(2))
    body = bodies.modify_body(current, OrderChange(limit_price=Decimal("189.75")), ACCOUNT)
    assert body == {
        "acctId": ACCOUNT,
        "conid": 265598,
        "orderType": "LMT",
        "side": "BUY",
        "quantity": 10,
        "tif": "DAY",
        "price": 189.75,
    }
    stop_limit = order(
        order_type=OrderType.STOP_LIMIT, limit_price=Decimal("180.25"), stop_price=Decimal("180.5")
    )
    changed = bodies.modify_body(
        stop_limit, OrderChange(quantity=Decimal(6), stop_price=Decimal("181")), ACCOUNT
    )
    assert (changed["quantity"], changed["price"], changed["auxPrice"]) == (6, 180.25, 181)
    stop = order(order_type=OrderType.STOP, limit_price=None, stop_price=Decimal("180.5"))
    assert bodies.modify_body(stop, OrderChange(stop_price=Decimal("182.5")), ACCOUNT)["price"] == 182.5


def test_a_change_the_order_type_does_not_carry_is_refused() -> None:
    market = order(order_type=OrderType.MARKET, limit_price=None)
    with pytest.raises(ValidationError) as caught:
        bodies.modify_body(market, OrderChange(limit_price=Decimal(1), stop_price=Decimal(2)), ACCOUNT)
    assert set(caught.value.problems) == {"limit_price", "stop_price"}
