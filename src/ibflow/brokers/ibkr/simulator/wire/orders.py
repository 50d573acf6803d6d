"""Orders and executions in IBKR's wire format, with explicit tables for every translated value.

Types follow the recorded bodies: live orders carry ``orderId`` as an int, quantities as floats and prices
as strings; the single-order status is snake_case with quantities as strings and side ``B``/``S``;
placement answers ``order_id`` as a string; executions carry ``order_ref`` but no order id.
IBKR's order ids are the paper broker's ids plus ``ORDER_ID_OFFSET`` (so they look like IBKR's).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from ibflow.brokers.base import BrokerOrder, BrokerOrderStatus, Execution
from ibflow.brokers.paper.market.universe import Instrument
from ibflow.core.ids import BrokerOrderId
from ibflow.db.states import OrderSide, OrderType, TimeInForce

ORDER_ID_OFFSET = 1_000_000_000
GENERATED_COID_PREFIX = "simgen-"
"""Orders sent without a ``cOID`` get one of these inside; it is never shown."""

STATUS: dict[BrokerOrderStatus, str] = {
    BrokerOrderStatus.PENDING_SUBMIT: "PendingSubmit",
    BrokerOrderStatus.INACTIVE: "PreSubmitted",
    BrokerOrderStatus.SUBMITTED: "Submitted",
    BrokerOrderStatus.FILLED: "Filled",
    BrokerOrderStatus.PENDING_CANCEL: "PendingCancel",
    BrokerOrderStatus.CANCELLED: "Cancelled",
    BrokerOrderStatus.EXPIRED: "Cancelled",
    BrokerOrderStatus.REJECTED: "Inactive",
}
"""A bracket child waiting for its parent is held at IBKR: ``PreSubmitted`` (docs/gateway-simulator.md)."""

CCP_STATUS: dict[str, str] = {
    "PendingSubmit": "0",
    "PreSubmitted": "0",
    "Submitted": "1",
    "Filled": "2",
    "PendingCancel": "1",
    "Cancelled": "3",
    "Inactive": "4",
}
STATUS_DESCRIPTION: dict[str, str] = {
    "PendingSubmit": "Order Submitted",
    "PreSubmitted": "Order Submitted",
    "Submitted": "Order Submitted",
    "Filled": "Order Filled",
    "PendingCancel": "Cancel Pending",
    "Cancelled": "Order Cancelled",
    "Inactive": "Order Inactive",
}
ORDER_TYPE_IN: dict[str, OrderType] = {
    "MKT": OrderType.MARKET,
    "LMT": OrderType.LIMIT,
    "STP": OrderType.STOP,
    "STOP_LIMIT": OrderType.STOP_LIMIT,
    "STP_LMT": OrderType.STOP_LIMIT,
}
ORDER_TYPE_SHOWN: dict[OrderType, tuple[str, str, str]] = {
    OrderType.MARKET: ("Market", "MARKET", "Market"),
    OrderType.LIMIT: ("Limit", "LIMIT", "Limit"),
    OrderType.STOP: ("Stop", "STOP", "Stop"),
    OrderType.STOP_LIMIT: ("Stop Limit", "STOP_LIMIT", "Stop Limit"),
}
"""(live orders ``orderType``, ``origOrderType`` / status ``order_type``, words in descriptions)."""
SIDE_IN: dict[str, OrderSide] = {"BUY": OrderSide.BUY, "SELL": OrderSide.SELL}
SIDE_LETTER: dict[OrderSide, str] = {OrderSide.BUY: "B", OrderSide.SELL: "S"}
SIDE_WORDS: dict[OrderSide, tuple[str, str]] = {
    OrderSide.BUY: ("Buy", "Bought"),
    OrderSide.SELL: ("Sell", "Sold"),
}
TIF_IN: dict[str, TimeInForce] = {"DAY": TimeInForce.DAY, "GTC": TimeInForce.GTC}
TIF_SHOWN: dict[TimeInForce, str] = {TimeInForce.DAY: "Day", TimeInForce.GTC: "GTC"}


def ibkr_order_id(broker_order_id: str) -> int:
    """Return IBKR's order id of a paper order."""
    return ORDER_ID_OFFSET + int(broker_order_id)


def paper_order_id(order_id: int) -> BrokerOrderId | None:
    """Return the paper order id of IBKR's ``order_id``; ``None`` when it cannot be one."""
    return BrokerOrderId(str(order_id - ORDER_ID_OFFSET)) if order_id > ORDER_ID_OFFSET else None


def price_text(value: Decimal | None) -> str:
    """Return a price as IBKR writes it in strings (``"457.00"``)."""
    return "" if value is None else f"{value:.2f}"


def quantity_text(value: Decimal) -> str:
    """Return a quantity as the status endpoint writes it (``"5.0"``)."""
    return str(float(value))


def whole(value: Decimal) -> str:
    """Return a quantity without trailing zeros (``"5"``)."""
    return f"{value.normalize():f}"


def short_time(at: datetime) -> str:
    """Return IBKR's ``YYMMDDhhmmss`` (UTC)."""
    return at.strftime("%y%m%d%H%M%S")


def epoch_ms(at: datetime) -> int:
    """Return epoch milliseconds."""
    return int(at.timestamp() * 1000)


def client_ref(order: BrokerOrder) -> str | None:
    """Return the ``cOID`` a client sent for this order, if it sent one."""
    coid = order.client_order_id
    return None if coid is None or coid.startswith(GENERATED_COID_PREFIX) else str(coid)


def shown_status(order: BrokerOrder, *, cancel_pending: bool) -> str:
    """Return IBKR's status of ``order``; a cancel still in flight shows ``PendingCancel``."""
    status = STATUS[order.status]
    if cancel_pending and status == "Cancelled":
        return "PendingCancel"
    if status == "Submitted" and order.order_type in (OrderType.STOP, OrderType.STOP_LIMIT):
        return "PreSubmitted"  # IBKR holds an untriggered stop on its own servers
    return status


def description(order: BrokerOrder) -> str:
    """Return ``orderDesc``: ``Buy 1 Limit 457.00, GTC``."""
    verb = SIDE_WORDS[order.side][0]
    words = ORDER_TYPE_SHOWN[order.order_type][2]
    prices = " ".join(price_text(p) for p in (order.stop_price, order.limit_price) if p is not None)
    middle = f"{words} {prices}" if prices else words
    return f"{verb} {whole(order.quantity)} {middle}, {TIF_SHOWN[order.tif]}"


def live_order(order: BrokerOrder, instrument: Instrument, *, status: str) -> dict[str, object]:
    """Return one item of ``/iserver/account/orders``."""
    shown, original, _ = ORDER_TYPE_SHOWN[order.order_type]
    item: dict[str, object] = {
        "acct": order.account_id,
        "account": order.account_id,
        "orderId": ibkr_order_id(order.broker_order_id),
        "conid": order.conid,
        "conidex": str(order.conid),
        "ticker": instrument.symbol,
        "description1": instrument.symbol,
        "companyName": instrument.contract.name.upper(),
        "secType": instrument.contract.sec_type,
        "listingExchange": instrument.contract.exchange,
        "side": order.side.value,
        "orderType": shown,
        "origOrderType": original,
        "timeInForce": order.tif.value,
        "status": status,
        "order_ccp_status": "Submitted" if status in ("PreSubmitted", "Submitted") else status,
        "totalSize": float(order.quantity),
        "filledQuantity": float(order.filled_quantity),
        "remainingQuantity": float(order.remaining_quantity),
        "sizeAndFills": f"{whole(order.filled_quantity)}/{whole(order.quantity)}",
        "orderDesc": description(order),
        "cashCcy": instrument.contract.currency,
        "outsideRTH": False,
        "lastExecutionTime": short_time(order.updated_at),
        "lastExecutionTime_r": epoch_ms(order.updated_at),
        "supportsTaxOpt": "1",
        "bgColor": "#FFFFFF",
        "fgColor": "#0000CC",
    }
    if order.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT):
        item["price"] = price_text(order.limit_price)
    if order.order_type is OrderType.STOP:
        item["price"] = price_text(order.stop_price)
    if order.order_type is OrderType.STOP_LIMIT:
        item["auxPrice"] = price_text(order.stop_price)
    if order.avg_fill_price is not None:
        item["avgPrice"] = price_text(order.avg_fill_price)
    ref = client_ref(order)
    if ref is not None:
        item["order_ref"] = ref
    if order.parent_broker_order_id is not None:
        item["parentId"] = ibkr_order_id(order.parent_broker_order_id)
    return item


def order_status(
    order: BrokerOrder, instrument: Instrument, *, status: str, placed_at: datetime
) -> dict[str, object]:
    """Return ``/iserver/account/order/status/{id}`` (snake_case, quantities as strings)."""
    _, original, _ = ORDER_TYPE_SHOWN[order.order_type]
    desc = description(order)
    ended = status in ("Filled", "Cancelled", "Inactive")
    shown_price = order.limit_price if order.limit_price is not None else order.stop_price
    item: dict[str, object] = {
        "account": order.account_id,
        "alert_active": 1,
        "allowed_duplicate_opposite": True,
        "available_chart_periods": "#R|1",
        "bg_color": "#0000CC",
        "cannot_cancel_order": ended,
        "child_order_type": "3" if order.role is None else "0",
        "company_name": instrument.contract.name.upper(),
        "conid": order.conid,
        "conidex": str(order.conid),
        "contract_description_1": instrument.symbol,
        "cum_fill": quantity_text(order.filled_quantity),
        "currency": instrument.contract.currency,
        "deactivate_order": False,
        "editable_fields": "\u001e",
        "exit_strategy_chart_description": desc,
        "exit_strategy_display_price": price_text(shown_price),
        "exit_strategy_tool_availability": "1",
        "fg_color": "#FFFFFF",
        "listing_exchange": instrument.contract.exchange,
        "option_acct": "c",
        "order_ccp_status": CCP_STATUS[status],
        "order_clearing_account": order.account_id,
        "order_description": desc,
        "order_description_with_contract": _with_symbol(desc, instrument.symbol),
        "order_id": ibkr_order_id(order.broker_order_id),
        "order_not_editable": ended,
        "order_status": status,
        "order_status_description": STATUS_DESCRIPTION[status],
        "order_time": short_time(placed_at),
        "order_type": original,
        "outside_rth": False,
        "request_id": str(int(order.broker_order_id) % 100_000),
        "sec_type": instrument.contract.sec_type,
        "server_id": "0",
        "side": SIDE_LETTER[order.side],
        "size": quantity_text(order.remaining_quantity),
        "size_and_fills": f"{whole(order.filled_quantity)}/{whole(order.quantity)}",
        "sub_type": None,
        "symbol": instrument.symbol,
        "tif": order.tif.value,
        "total_size": quantity_text(order.quantity),
        "use_price_mgmt_algo": False,
    }
    if order.limit_price is not None:
        item["limit_price"] = price_text(order.limit_price)
    if order.stop_price is not None:
        item["stop_price"] = price_text(order.stop_price)
    if order.avg_fill_price is not None:
        item["average_price"] = price_text(order.avg_fill_price)
    return item


def execution_id(broker_exec_id: str) -> str:
    """Return an IBKR-looking execution id (``0000e0d5.6576fd38.01.01``) for a paper fill id."""
    order, _, number = broker_exec_id.partition(".")
    return f"{ibkr_order_id(order):08x}.{int(number or 0):08x}.01.01"


def trade(
    execution: Execution, instrument: Instrument, *, user_name: str, order_ref: str | None
) -> dict[str, object]:
    """Return one item of ``/iserver/account/trades``."""
    past = SIDE_WORDS[execution.side][1]
    exchange = "ISLAND" if instrument.contract.exchange == "NASDAQ" else instrument.contract.exchange
    notional = execution.quantity * execution.price
    net = (
        notional + execution.commission
        if execution.side is OrderSide.BUY
        else notional - execution.commission
    )
    item: dict[str, object] = {
        "execution_id": execution_id(execution.broker_exec_id),
        "symbol": instrument.symbol,
        "side": SIDE_LETTER[execution.side],
        "size": float(execution.quantity),
        "price": price_text(execution.price),
        "order_description": (
            f"{past} {whole(execution.quantity)} @ {price_text(execution.price)} on {exchange}"
        ),
        "trade_time": execution.executed_at.strftime("%Y%m%d-%H:%M:%S"),
        "trade_time_r": epoch_ms(execution.executed_at),
        "exchange": exchange,
        "commission": price_text(execution.commission),
        "net_amount": float(net),
        "account": execution.account_id,
        "accountCode": execution.account_id,
        "conid": execution.conid,
        "conidEx": str(execution.conid),
        "sec_type": instrument.contract.sec_type,
        "company_name": instrument.contract.name.upper(),
        "listing_exchange": instrument.contract.exchange,
        "submitter": user_name,
        "clearing_id": "IB",
        "liquidation_trade": "0",
    }
    if order_ref is not None:
        item["order_ref"] = order_ref
    return item


def _with_symbol(desc: str, symbol: str) -> str:
    verb, quantity, rest = desc.split(" ", 2)
    return f"{verb} {quantity} {symbol} {rest}"
