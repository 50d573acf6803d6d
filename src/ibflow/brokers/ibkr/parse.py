"""Pure translation between the Client Portal Web API's JSON bodies and ibflow's broker types.

No I/O here: each function takes a decoded body (``object``, as ``json.loads`` gives it) and returns broker
types (the bodies ibflow sends are built in ``bodies.py``). Numbers become ``Decimal`` through ``str`` (IBKR
sends floats and numeric strings alike), times aware UTC. A body of an unexpected shape, a missing field or a
value the tables do not know raises ``UnknownBrokerValue`` naming it. HTTP statuses (401, 503, ...) are the
caller's; so is choosing which endpoint to call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

from ibflow.brokers.base import (
    AccountSummary,
    BarData,
    BracketRole,
    BrokerOrder,
    BrokerOrderStatus,
    BrokerPosition,
    Contract,
    Execution,
    OrderType,
    Quote,
    SessionStatus,
)
from ibflow.brokers.ibkr.tables import (
    AVAILABILITY_IN,
    LAST_PREFIX_IN,
    ORDER_TYPE_IN,
    SIDE_IN,
    TIF_IN,
    NoMarketData,
    UnknownBrokerValue,
    lookup,
    order_status_of,
)
from ibflow.core.ids import AccountId, BrokerExecId, BrokerOrderId, ClientOrderId, Conid

Body = Mapping[str, object]
DEFAULT_MIN_TICK = Decimal("0.01")
"""``/contract/{conid}/info`` carries no tick; US stocks trade in cents (Reg NMS rule 612) unless ``rules``
(``info-and-rules``) gives an ``increment``."""
_MISSING = "<missing>"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class AccountsInfo:
    """``/iserver/accounts``: the brokerage accounts, the selected one, and whether it is a paper login."""

    accounts: tuple[AccountId, ...]
    selected: AccountId
    is_paper: bool


@dataclass(frozen=True)
class SearchRow:
    """One row of ``/iserver/secdef/search``; ``exchange`` is the row's ``description`` (primary listing)."""

    conid: Conid
    symbol: str
    name: str
    exchange: str
    is_stock: bool


@dataclass(frozen=True)
class Questions:
    """A placement (or modification) IBKR asks about: reply ``reply_id`` to go on."""

    reply_id: str
    message_ids: tuple[str, ...]
    texts: tuple[str, ...]


@dataclass(frozen=True)
class Accepted:
    """IBKR accepted the order(s): one (order id, status) per order, brackets in the order sent."""

    items: tuple[tuple[BrokerOrderId, BrokerOrderStatus], ...]


@dataclass(frozen=True)
class Rejected:
    """IBKR refused (HTTP 200 with ``error``); ``duplicate`` when the ``cOID`` is already known."""

    text: str
    duplicate: bool


# session and accounts ------------------------------------------------------------------------------------


def session_from_auth_status(body: object) -> SessionStatus:
    """Return the session of ``/iserver/auth/status`` (also ``ssodh/init``)."""
    status = _mapping(body, "auth status body")
    text = " ".join(str(status.get(key) or "") for key in ("message", "fail")).strip()
    return SessionStatus(
        authenticated=_bool(status, "authenticated", "auth status"),
        connected=_bool(status, "connected", "auth status"),
        competing=_bool(status, "competing", "auth status", default=False),
        message=text,
    )


def session_from_tickle(body: object) -> SessionStatus:
    """Return the session of ``/tickle``: its nested auth status, competing also on ``collission``."""
    tickle = _mapping(body, "tickle body")
    iserver = _mapping(tickle.get("iserver"), "tickle iserver")
    status = session_from_auth_status(iserver.get("authStatus"))
    if tickle.get("collission") is True and not status.competing:  # IBKR's spelling
        return replace(status, competing=True)
    return status


def accounts_info(body: object) -> AccountsInfo:
    """Return ``/iserver/accounts``."""
    info = _mapping(body, "accounts body")
    accounts = _list(info.get("accounts"), "accounts list")
    return AccountsInfo(
        accounts=tuple(AccountId(_text(a, "account id")) for a in accounts),
        selected=AccountId(_text(info.get("selectedAccount"), "selectedAccount")),
        is_paper=_bool(info, "isPaper", "accounts"),
    )


def account_summary(summary_body: object, account_id: AccountId) -> AccountSummary:
    """Return ``/portfolio/{acct}/summary``: cash, net liquidation and buying power with their currency."""
    summary = _mapping(summary_body, "account summary body")
    code = summary.get("accountcode")
    if isinstance(code, Mapping) and code.get("value") not in (None, account_id):
        raise UnknownBrokerValue(f"account of the summary of {account_id}", code.get("value"))
    metrics = {
        name: _mapping(summary.get(name), f"summary {name}")
        for name in ("totalcashvalue", "netliquidation", "buyingpower")
    }
    for name, metric in metrics.items():
        if metric.get("isNull") is True:
            raise UnknownBrokerValue(f"summary {name}", "isNull")
    currencies = [m.get("currency") for m in metrics.values() if isinstance(m.get("currency"), str)]
    if not currencies:
        raise UnknownBrokerValue("summary currency", None)
    return AccountSummary(
        account_id=account_id,
        currency=str(currencies[0]),
        cash=_decimal(metrics["totalcashvalue"].get("amount"), "summary totalcashvalue"),
        net_liquidation=_decimal(metrics["netliquidation"].get("amount"), "summary netliquidation"),
        buying_power=_decimal(metrics["buyingpower"].get("amount"), "summary buyingpower"),
    )


def positions_from(body: object, account_id: AccountId) -> list[BrokerPosition]:
    """Return one page of ``/portfolio/{acct}/positions/{page}`` (rows of zero, closed today, included).

    ``avg_cost`` is ``avgPrice`` (per share; ``avgCost`` includes the multiplier, the same for stocks).
    """
    positions: list[BrokerPosition] = []
    for row in _list(body, "positions body"):
        item = _mapping(row, "position")
        _same_account(item.get("acctId"), account_id, "position")
        average = item.get("avgPrice", item.get("avgCost"))
        positions.append(
            BrokerPosition(
                account_id=account_id,
                conid=Conid(_int(item.get("conid"), "position conid")),
                quantity=_decimal(item.get("position"), "position quantity"),
                avg_cost=_decimal(average, "position avgPrice"),
                market_price=_decimal(item.get("mktPrice"), "position mktPrice"),
                market_value=_decimal(item.get("mktValue"), "position mktValue"),
                unrealized_pnl=_decimal(item.get("unrealizedPnl"), "position unrealizedPnl"),
                realized_pnl=_decimal(item.get("realizedPnl", 0), "position realizedPnl"),
            )
        )
    return positions


# contracts and market data -------------------------------------------------------------------------------


def contract_from_info(body: object) -> Contract:
    """Return ``/iserver/contract/{conid}/info`` (``info-and-rules``: ``rules.increment`` is the tick)."""
    info = _mapping(body, "contract info body")
    rules = info.get("rules")
    increment = rules.get("increment") if isinstance(rules, Mapping) else None
    return Contract(
        conid=Conid(_int(info.get("con_id"), "contract con_id")),
        symbol=_text(info.get("symbol"), "contract symbol"),
        name=str(info.get("company_name") or ""),
        sec_type=_text(info.get("instrument_type"), "contract instrument_type"),
        exchange=_text(info.get("exchange"), "contract exchange"),
        currency=_text(info.get("currency"), "contract currency"),
        min_tick=DEFAULT_MIN_TICK if increment is None else _decimal(increment, "contract rules.increment"),
    )


def search_rows(body: object) -> list[SearchRow]:
    """Return the rows of ``/iserver/secdef/search`` in IBKR's order (``conid`` comes as a string)."""
    rows: list[SearchRow] = []
    for raw in _list(body, "search body"):
        row = _mapping(raw, "search row")
        sections = row.get("sections")
        types = (
            [s.get("secType") for s in sections if isinstance(s, Mapping)]
            if isinstance(sections, list)
            else []
        )
        rows.append(
            SearchRow(
                conid=Conid(_int(row.get("conid"), "search conid")),
                symbol=_text(row.get("symbol"), "search symbol"),
                name=str(row.get("companyName") or row.get("companyHeader") or ""),
                exchange=str(row.get("description") or ""),
                is_stock="STK" in types,
            )
        )
    return rows


def quote_from_snapshot(item: object, *, now: datetime) -> Quote | None:
    """Return one item of ``/iserver/marketdata/snapshot``; ``None`` while it has no last price yet.

    The pre-flight answer holds only ``conid``/``conidEx``; a slow field may come a poll later. The flag:
    field 31's prefix ``H`` (halted) or ``C`` (prior close: stale), else field 6509's first letter; N or O
    there raise ``NoMarketData``. A last price without field 6509 raises: ask for 6509 with 31.
    """
    snap = _mapping(item, "snapshot item")
    conid = Conid(_int(snap.get("conid"), "snapshot conid"))
    last_text = snap.get("31")
    if last_text is None or last_text == "":
        return None
    text = _text(last_text, "snapshot field 31").strip()
    flag = LAST_PREFIX_IN.get(text[:1].casefold())
    price = text[1:] if flag is not None else text
    availability = snap.get("6509")
    if not isinstance(availability, str) or not availability:
        raise UnknownBrokerValue("market data availability (field 6509)", availability or _MISSING)
    available = lookup(AVAILABILITY_IN, availability[:1], "market data availability (field 6509)")
    if available is None:
        raise NoMarketData(f"IBKR sends no market data for conid {conid} (field 6509 {availability!r})")
    updated = snap.get("_updated")
    return Quote(
        conid=conid,
        last=_decimal(price.replace(",", ""), "snapshot field 31"),
        ts=now if updated is None else _from_ms(updated, "snapshot _updated"),
        flag=flag or available,
        bid=_snapshot_price(snap.get("84"), "snapshot field 84"),
        ask=_snapshot_price(snap.get("86"), "snapshot field 86"),
    )


def bars_from_history(body: object, *, now: datetime | None = None) -> list[BarData]:
    """Return ``/iserver/marketdata/history``'s bars, oldest first (``t`` is the start in epoch ms).

    With ``now``, a bar whose ``barLength`` seconds reach past ``now`` is ``partial``; without, none is.
    """
    history = _mapping(body, "history body")
    length = history.get("barLength")
    span = timedelta(seconds=_int(length, "history barLength")) if now is not None else None
    bars: list[BarData] = []
    for raw in _list(history.get("data"), "history data"):
        point = _mapping(raw, "history bar")
        start = _from_ms(point.get("t"), "history bar t")
        bars.append(
            BarData(
                ts=start,
                open=_decimal(point.get("o"), "history bar o"),
                high=_decimal(point.get("h"), "history bar h"),
                low=_decimal(point.get("l"), "history bar l"),
                close=_decimal(point.get("c"), "history bar c"),
                volume=_decimal(point.get("v"), "history bar v"),
                partial=span is not None and now is not None and start + span > now,
            )
        )
    return sorted(bars, key=lambda bar: bar.ts)


# orders in -----------------------------------------------------------------------------------------------


def order_from_live(
    item: object, account_id: AccountId, *, now: datetime, parent_filled: bool | None = None
) -> BrokerOrder:
    """Return one item of ``/iserver/account/orders``.

    A bracket child (``parentId``) is the stop when it is a STP or STOP_LIMIT and the target when a LMT.
    A child ``PreSubmitted`` is INACTIVE while its parent has no fill and SUBMITTED after (a held stop):
    ``parent_filled`` says which, and a PreSubmitted child without it raises (``orders_from_live`` knows).
    """
    order = _mapping(item, "live order")
    order_id = BrokerOrderId(str(_int(order.get("orderId"), "live order orderId")))
    _same_account(order.get("acct", order.get("account")), account_id, f"live order {order_id}")
    order_type = lookup(ORDER_TYPE_IN, order.get("origOrderType", order.get("orderType")), "order type")
    parent_raw = order.get("parentId")
    parent = None if parent_raw in (None, "", 0) else BrokerOrderId(str(_int(parent_raw, "parentId")))
    filled = _decimal(order.get("filledQuantity"), "live order filledQuantity")
    total = order.get("totalSize")
    if total is None:
        total = _decimal(order.get("remainingQuantity"), "live order remainingQuantity") + filled
    price = _optional_decimal(order.get("price"), "live order price")
    aux = _optional_decimal(order.get("auxPrice"), "live order auxPrice")
    if order_type is OrderType.STOP and price is None:
        price = aux  # the stop travels in ``price``; accept ``auxPrice`` when that is where it is shown
    limit, stop = _prices(order_type, price, aux)
    executed = order.get("lastExecutionTime_r")
    ref = order.get("order_ref")
    return BrokerOrder(
        account_id=account_id,
        broker_order_id=order_id,
        conid=Conid(_int(order.get("conid"), "live order conid")),
        side=lookup(SIDE_IN, order.get("side"), "order side"),
        order_type=order_type,
        tif=lookup(TIF_IN, order.get("timeInForce"), "time in force"),
        quantity=_decimal(total, "live order totalSize"),
        filled_quantity=filled,
        status=_child_aware_status(order.get("status"), order_id, parent, parent_filled, filled),
        updated_at=now if executed is None else _from_ms(executed, "live order lastExecutionTime_r"),
        client_order_id=ClientOrderId(str(ref)) if ref else None,
        parent_broker_order_id=parent,
        role=None if parent is None else _child_role(order_type, order_id),
        limit_price=limit,
        stop_price=stop,
        avg_fill_price=_optional_decimal(order.get("avgPrice"), "live order avgPrice"),
    )


def orders_from_live(body: object, account_id: AccountId, *, now: datetime) -> list[BrokerOrder]:
    """Return ``/iserver/account/orders`` (``{"orders": [...]}`` or the bare list) for ``account_id``.

    Other accounts' orders are left out. Parents named by a child get the role PARENT; a child's parent
    counts as filled when it has a fill, or when it is not listed: the list keeps ended orders for the
    session only, and a parent that ended without a fill would have taken its children with it.
    """
    items = body.get("orders") if isinstance(body, Mapping) else body
    mine = [
        _mapping(item, "live order")
        for item in _list(items, "live orders")
        if not isinstance(item, Mapping) or item.get("acct", item.get("account", account_id)) == account_id
    ]
    fills = {
        str(item.get("orderId")): _decimal(item.get("filledQuantity"), "live order filledQuantity")
        for item in mine
    }
    parents = {str(item.get("parentId")) for item in mine if item.get("parentId") not in (None, "", 0)}
    orders: list[BrokerOrder] = []
    for item in mine:
        parent = item.get("parentId")
        listed = str(parent)
        parent_filled = None if parent in (None, "", 0) else listed not in fills or fills[listed] > 0
        order = order_from_live(item, account_id, now=now, parent_filled=parent_filled)
        orders.append(replace(order, role=BracketRole.PARENT) if order.broker_order_id in parents else order)
    return orders


def order_from_status(
    body: object,
    account_id: AccountId,
    *,
    now: datetime,
    client_order_id: ClientOrderId | None = None,
    parent_broker_order_id: BrokerOrderId | None = None,
    parent_filled: bool | None = None,
) -> BrokerOrder:
    """Return ``/iserver/account/order/status/{id}`` (``size`` is what remains, ``total_size`` the order).

    The body names neither our ``cOID`` nor a parent: pass what the caller knows of them (a child's role
    follows from its type; a PreSubmitted child needs ``parent_filled``, as in ``order_from_live``).
    ``updated_at`` is ``now``, the body having no time of its last change.
    """
    status = _mapping(body, "order status body")
    order_id = BrokerOrderId(str(_int(status.get("order_id"), "order status order_id")))
    _same_account(status.get("account"), account_id, f"order {order_id}")
    order_type = lookup(ORDER_TYPE_IN, status.get("order_type"), "order type")
    filled = _decimal(status.get("cum_fill"), "order status cum_fill")
    total = status.get("total_size")
    quantity = (
        _decimal(status.get("size"), "order status size") + filled
        if total is None
        else _decimal(total, "order status total_size")
    )
    ref = status.get("order_ref")
    parent = parent_broker_order_id
    raw_status = status.get("order_status")
    return BrokerOrder(
        account_id=account_id,
        broker_order_id=order_id,
        conid=Conid(_int(status.get("conid"), "order status conid")),
        side=lookup(SIDE_IN, status.get("side"), "order side"),
        order_type=order_type,
        tif=lookup(TIF_IN, status.get("tif"), "time in force"),
        quantity=quantity,
        filled_quantity=filled,
        status=_child_aware_status(raw_status, order_id, parent, parent_filled, filled),
        updated_at=now,
        client_order_id=client_order_id or (ClientOrderId(str(ref)) if ref else None),
        parent_broker_order_id=parent,
        role=None if parent is None else _child_role(order_type, order_id),
        limit_price=_optional_decimal(status.get("limit_price"), "order status limit_price"),
        stop_price=_optional_decimal(status.get("stop_price"), "order status stop_price"),
        avg_fill_price=_optional_decimal(status.get("average_price"), "order status average_price"),
        reason=_inactive_reason(raw_status, status),
    )


def executions_from_trades(body: object, account_id: AccountId) -> list[Execution]:
    """Return ``/iserver/account/trades`` for ``account_id`` (others' fills are left out).

    IBKR names the ``cOID`` (``order_ref``; none on a bracket child's fills) but no order id, so
    ``broker_order_id`` is ``None`` unless the body has an ``order_id``. A commission not yet reported is 0.
    """
    executions: list[Execution] = []
    for raw in _list(body, "trades body"):
        trade = _mapping(raw, "trade")
        account = trade.get("account", trade.get("accountCode", account_id))
        if account != account_id:
            continue
        ref = trade.get("order_ref")
        order_id = trade.get("order_id")
        commission = trade.get("commission")
        executions.append(
            Execution(
                account_id=account_id,
                broker_exec_id=BrokerExecId(_text(trade.get("execution_id"), "trade execution_id")),
                conid=Conid(_int(trade.get("conid"), "trade conid")),
                side=lookup(SIDE_IN, trade.get("side"), "order side"),
                quantity=_decimal(trade.get("size"), "trade size"),
                price=_decimal(trade.get("price"), "trade price"),
                commission=Decimal(0) if commission in (None, "") else _decimal(commission, "commission"),
                executed_at=_from_ms(trade.get("trade_time_r"), "trade trade_time_r"),
                broker_order_id=None if order_id is None else BrokerOrderId(str(order_id)),
                client_order_id=ClientOrderId(str(ref)) if ref else None,
            )
        )
    return executions


def placement_answer(body: object, *, bracket: bool = False) -> Questions | Accepted | Rejected:
    """Return what a placement, a reply or a modification answered (all HTTP 200).

    With ``bracket``, the items after the first are the parent's children: PreSubmitted there is INACTIVE
    unless the parent's item says Filled.
    """
    if isinstance(body, Mapping) and "error" in body:
        text = str(body.get("error") or "")
        return Rejected(text=text, duplicate="Local order ID=" in text)
    items = _list(body, "placement answer")
    if not items or not all(isinstance(item, Mapping) for item in items):
        raise UnknownBrokerValue("placement answer", body)
    first = _mapping(items[0], "placement answer item")
    if "message" in first:
        messages = first.get("message")
        texts = messages if isinstance(messages, list) else [messages]
        ids = first.get("messageIds")
        return Questions(
            reply_id=_text(first.get("id"), "question id"),
            message_ids=tuple(str(i) for i in ids) if isinstance(ids, list) else (),
            texts=tuple(str(t) for t in texts),
        )
    answers = [_mapping(item, "placement answer item") for item in items]
    if not all("order_id" in item and "order_status" in item for item in answers):
        raise UnknownBrokerValue("placement answer", body)
    parent_filled = str(answers[0]["order_status"]).strip().casefold() == "filled"
    return Accepted(
        items=tuple(
            (
                BrokerOrderId(str(_int(item["order_id"], "placement order_id"))),
                order_status_of(
                    item["order_status"], waiting_for_parent=bracket and i > 0 and not parent_filled
                ),
            )
            for i, item in enumerate(answers)
        )
    )


# helpers -------------------------------------------------------------------------------------------------


def _child_aware_status(
    raw: object,
    order_id: BrokerOrderId,
    parent: BrokerOrderId | None,
    parent_filled: bool | None,
    filled: Decimal,
) -> BrokerOrderStatus:
    if parent is None or filled > 0 or str(raw).strip().casefold() != "presubmitted":
        return order_status_of(raw, waiting_for_parent=False)
    if parent_filled is None:
        raise UnknownBrokerValue(
            f"status of bracket child {order_id} (whether parent {parent} filled is not known)", raw
        )
    return order_status_of(raw, waiting_for_parent=not parent_filled)


def _child_role(order_type: OrderType, order_id: BrokerOrderId) -> BracketRole:
    if order_type in (OrderType.STOP, OrderType.STOP_LIMIT):
        return BracketRole.STOP
    if order_type is OrderType.LIMIT:
        return BracketRole.TARGET
    raise UnknownBrokerValue(f"order type of bracket child {order_id}", order_type.value)


def _prices(
    order_type: OrderType, price: Decimal | None, aux: Decimal | None
) -> tuple[Decimal | None, Decimal | None]:
    """Return (limit, stop) as the simulator and IBKR's docs place them in ``price`` / ``auxPrice``."""
    if order_type is OrderType.STOP:
        return None, price
    if order_type is OrderType.STOP_LIMIT:
        return price, aux
    if order_type is OrderType.LIMIT:
        return price, None
    return None, None


def _same_account(value: object, account_id: AccountId, what: str) -> None:
    if value is not None and value != account_id:
        raise UnknownBrokerValue(f"account of {what} (expected {account_id})", value)


def _mapping(value: object, what: str) -> Body:
    if not isinstance(value, Mapping):
        raise UnknownBrokerValue(what, value)
    return value


def _list(value: object, what: str) -> list[object]:
    if not isinstance(value, list):
        raise UnknownBrokerValue(what, value)
    return value


def _text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise UnknownBrokerValue(what, value)
    return value


def _bool(body: Body, key: str, what: str, *, default: bool | None = None) -> bool:
    value = body.get(key, default)
    if not isinstance(value, bool):
        raise UnknownBrokerValue(f"{what} {key}", body.get(key, _MISSING))
    return value


def _int(value: object, what: str) -> int:
    if isinstance(value, bool):
        raise UnknownBrokerValue(what, value)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise UnknownBrokerValue(what, value)


def _decimal(value: object, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise UnknownBrokerValue(what, value)
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise UnknownBrokerValue(what, value) from None
    if not number.is_finite():
        raise UnknownBrokerValue(what, value)
    return number


def _optional_decimal(value: object, what: str) -> Decimal | None:
    return None if value is None or value == "" else _decimal(value, what)


def _snapshot_price(value: object, what: str) -> Decimal | None:
    if value is None or value == "":
        return None
    return _decimal(str(value).replace(",", ""), what)


def _from_ms(value: object, what: str) -> datetime:
    return _EPOCH + timedelta(milliseconds=_int(value, what))


def _inactive_reason(raw_status: object, status: Body) -> str:
    # IBKR says why only in words; keep them for an order it refused
    if str(raw_status).strip().casefold() != "inactive":
        return ""
    return str(status.get("order_status_description") or "")


__all__ = [
    "DEFAULT_MIN_TICK",
    "Accepted",
    "AccountsInfo",
    "Questions",
    "Rejected",
    "SearchRow",
    "account_summary",
    "accounts_info",
    "bars_from_history",
    "contract_from_info",
    "executions_from_trades",
    "order_from_live",
    "order_from_status",
    "orders_from_live",
    "placement_answer",
    "positions_from",
    "quote_from_snapshot",
    "search_rows",
    "session_from_auth_status",
    "session_from_tickle",
]
