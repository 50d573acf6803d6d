"""The bodies ibflow sends to the Client Portal Web API: placements, brackets and modifications.

Pure, like ``parse.py``: broker types in, a JSON-ready ``dict`` out. IBKR's conventions: ``price`` is a LMT's
and a STOP_LIMIT's limit and a STP's stop, ``auxPrice`` a STOP_LIMIT's stop; the bracket parent carries our
``cOID`` and the children name it in ``parentId`` (they carry none); a modification repeats the whole order.
"""

from __future__ import annotations

from decimal import Decimal

from ibflow.brokers.base import BracketRequest, BrokerOrder, OrderChange, OrderRequest, OrderType
from ibflow.brokers.ibkr.tables import ORDER_TYPE_OUT, SIDE_OUT, TIF_OUT, lookup
from ibflow.core.errors import ValidationError
from ibflow.core.ids import AccountId, Conid


def order_body(
    order: OrderRequest, account_id: AccountId, *, parent_coid: str | None = None
) -> dict[str, object]:
    """Return one order of a placement body; a bracket child names ``parent_coid`` and carries no ``cOID``."""
    body = _order_fields(
        account_id,
        conid=order.conid,
        order_type=order.order_type,
        side=order.side,
        tif=order.tif,
        quantity=order.quantity,
        limit=order.limit_price,
        stop=order.stop_price,
        what=f"order {order.client_order_id}",
    )
    if parent_coid is None:
        body["cOID"] = str(order.client_order_id)
    else:
        body["parentId"] = parent_coid
    return body


def orders_body(order: OrderRequest, account_id: AccountId) -> dict[str, object]:
    """Return the placement body of one order: ``{"orders": [order]}``."""
    return {"orders": [order_body(order, account_id)]}


def bracket_body(bracket: BracketRequest, account_id: AccountId) -> dict[str, object]:
    """Return the placement body of a bracket: parent (with ``cOID``), stop, target (``parentId``)."""
    parent = str(bracket.parent.client_order_id)
    return {
        "orders": [
            order_body(bracket.parent, account_id),
            order_body(bracket.stop_loss, account_id, parent_coid=parent),
            order_body(bracket.take_profit, account_id, parent_coid=parent),
        ]
    }


def modify_body(current: BrokerOrder, change: OrderChange, account_id: AccountId) -> dict[str, object]:
    """Return the body of a modification: the whole order again (IBKR requires it) with ``change`` applied."""
    carries_limit = current.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT)
    carries_stop = current.order_type in (OrderType.STOP, OrderType.STOP_LIMIT)
    problems: dict[str, str] = {}
    if change.limit_price is not None and not carries_limit:
        problems["limit_price"] = f"a {current.order_type.value} order has no limit price"
    if change.stop_price is not None and not carries_stop:
        problems["stop_price"] = f"a {current.order_type.value} order has no stop price"
    if problems:
        raise ValidationError(f"cannot modify order {current.broker_order_id}", problems)
    return _order_fields(
        account_id,
        conid=current.conid,
        order_type=current.order_type,
        side=current.side,
        tif=current.tif,
        quantity=change.quantity if change.quantity is not None else current.quantity,
        limit=change.limit_price if change.limit_price is not None else current.limit_price,
        stop=change.stop_price if change.stop_price is not None else current.stop_price,
        what=f"order {current.broker_order_id}",
    )


def _order_fields(
    account_id: AccountId,
    *,
    conid: Conid,
    order_type: OrderType,
    side: object,
    tif: object,
    quantity: Decimal,
    limit: Decimal | None,
    stop: Decimal | None,
    what: str,
) -> dict[str, object]:
    # IBKR: ``price`` is a LMT's and a STOP_LIMIT's limit and a STP's stop; ``auxPrice`` a STOP_LIMIT's stop.
    needs_limit = order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT)
    needs_stop = order_type in (OrderType.STOP, OrderType.STOP_LIMIT)
    problems: dict[str, str] = {}
    if needs_limit and limit is None:
        problems["limit_price"] = f"a {order_type.value} order needs a limit price"
    if needs_stop and stop is None:
        problems["stop_price"] = f"a {order_type.value} order needs a stop price"
    if problems:
        raise ValidationError(f"cannot send {what}", problems)
    body: dict[str, object] = {
        "acctId": str(account_id),
        "conid": int(conid),
        "orderType": ORDER_TYPE_OUT[order_type],
        "side": lookup(SIDE_OUT, side, "order side"),
        "quantity": _json_number(quantity),
        "tif": lookup(TIF_OUT, tif, "time in force"),
    }
    if order_type is OrderType.STOP and stop is not None:
        body["price"] = _json_number(stop)
    elif needs_limit and limit is not None:
        body["price"] = _json_number(limit)
    if order_type is OrderType.STOP_LIMIT and stop is not None:
        body["auxPrice"] = _json_number(stop)
    return body


def _json_number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)
