"""The order desk: IBKR order bodies in, the paper broker's books moved, IBKR's answers out.

Placement and modification go through the reply loop (``questions``) when questions are configured and not
suppressed; a placement answers one item per order (brackets: per leg). Live orders need two calls in a
brokerage session (the first, and any ``force=true``, answers an empty list) and show the orders ended in
this session only; the status of an order the session has not seen answers 503; a cancel is acknowledged
and shows ``PendingCancel`` for ``cancel_delay`` before ``Cancelled``.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from ibflow.brokers.base import (
    BracketRequest,
    BrokerOrder,
    BrokerOrderStatus,
    OrderChange,
    OrderRequest,
    PlacedOrder,
)
from ibflow.brokers.ibkr.simulator.gateway import GatewayError, GatewaySimulator, OrderMeta
from ibflow.brokers.ibkr.simulator.wire import orders as wire
from ibflow.core.errors import DuplicateClientOrderId, NotFound, OrderRejected
from ibflow.core.ids import ClientOrderId, Conid
from ibflow.db.states import OrderType

ENDED = ("Filled", "Cancelled", "Inactive")
Body = dict[str, object]


@dataclass(frozen=True)
class _Leg:
    """One order of a placement body, checked."""

    request: OrderRequest
    coid: str | None
    parent_coid: str | None


class OrderDesk:
    """The order endpoints of one simulated gateway."""

    def __init__(self, sim: GatewaySimulator) -> None:
        self.sim = sim

    # placing -------------------------------------------------------------------------------------------

    def place(self, account_id: str, body: object) -> object:
        """``POST /iserver/account/{acct}/orders``: a question, the accepted legs, or ``{"error": ...}``."""
        sim = self.sim
        sim.require_account(account_id)
        sim.replies.invalidate()
        legs = [self._leg(item) for item in _orders_of(body)]
        rejection = sim.faults.take_rejection()
        if rejection is not None:
            return {"error": rejection}
        describe = _describe(legs[0].request, sim)
        return self._ask_or_act(describe, lambda: self._submit(account_id, legs))

    def reply(self, reply_id: str, body: object) -> object:
        """``POST /iserver/reply/{id}``: the next question, the action's answer, or 503 for a stale id."""
        pending = self.sim.replies.reply(reply_id)
        if pending is None:
            raise GatewayError(503, {"error": "Service Unavailable", "statusCode": 503})
        confirmed = isinstance(body, Mapping) and body.get("confirmed") is True
        if not confirmed:
            return {"error": "Order was not confirmed and has been discarded"}
        question = self.sim.replies.follow_up(pending)
        return question if question is not None else pending.act()

    def suppress(self, body: object) -> Body:
        """``POST /iserver/questions/suppress``: skip these questions for the brokerage session."""
        ids = body.get("messageIds") if isinstance(body, Mapping) else None
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids) or len(ids) > 51:
            raise GatewayError(400, {"error": "messageIds must be a list of up to 51 message ids"})
        self.sim.brokerage.suppressed = set(ids)
        return {"status": "submitted"}

    def reset_suppressed(self) -> Body:
        """``POST /iserver/questions/suppress/reset``."""
        self.sim.brokerage.suppressed = set()
        return {"status": "submitted"}

    def _ask_or_act(self, describe: str, act: Any) -> object:
        suppressed = self.sim.brokerage.suppressed
        chain = [q for q in self.sim.replies.chain if q not in suppressed]
        question = self.sim.replies.ask(chain, describe, act)
        return question if question is not None else act()

    def _submit(self, account_id: str, legs: list[_Leg]) -> object:
        sim = self.sim
        try:
            placed = self._to_broker(account_id, legs)
        except DuplicateClientOrderId:
            coid = legs[0].coid or ""
            return {"error": f"Order couldn't be submitted: Local order ID={coid} is already registered."}
        except OrderRejected as exc:
            return {"error": str(exc)}
        now = sim.clock.now()
        answer: list[Body] = []
        with sim.lock:
            for item in placed:
                order_id = wire.ibkr_order_id(item.broker_order_id)
                sim.orders[item.broker_order_id] = OrderMeta(placed_at=now)
                sim.brokerage.seen_orders.add(order_id)
                status = "PreSubmitted" if item.status is BrokerOrderStatus.INACTIVE else "Submitted"
                answer.append({"order_id": str(order_id), "order_status": status, "encrypt_message": "1"})
        if sim.faults.take_drop():
            raise ConnectionDropped
        return answer

    def _to_broker(self, account_id: str, legs: list[_Leg]) -> list[PlacedOrder]:
        broker, account = self.sim.broker, self.sim.account_id
        if len(legs) == 1 and legs[0].parent_coid is None:
            return [broker.place_order(account, legs[0].request)]
        parents = [leg for leg in legs if leg.parent_coid is None]
        children = [leg for leg in legs if leg.parent_coid is not None]
        if len(parents) != 1 or len(children) != 2 or parents[0].coid is None:
            raise GatewayError(
                400,
                {"error": "a bracket is one parent with a cOID and two children naming it in parentId"},
            )
        parent = parents[0]
        if any(child.parent_coid != parent.coid for child in children):
            raise GatewayError(400, {"error": f"parentId must be the parent's cOID {parent.coid!r}"})
        stops = [c for c in children if c.request.order_type in (OrderType.STOP, OrderType.STOP_LIMIT)]
        targets = [c for c in children if c.request.order_type is OrderType.LIMIT]
        if len(stops) != 1 or len(targets) != 1:
            raise GatewayError(400, {"error": "a bracket's children are one STP and one LMT order"})
        bracket = BracketRequest(parent.request, stops[0].request, targets[0].request)
        placed = broker.place_bracket(account, bracket)
        by_leg = {id(parent): placed[0], id(stops[0]): placed[1], id(targets[0]): placed[2]}
        return [by_leg[id(leg)] for leg in legs]

    def _leg(self, item: object) -> _Leg:
        if not isinstance(item, Mapping):
            raise GatewayError(400, {"error": "each order must be a JSON object"})
        problems: list[str] = []
        conid = _conid(item.get("conid", item.get("conidex")), problems)
        order_type = wire.ORDER_TYPE_IN.get(str(item.get("orderType", "")).upper())
        if order_type is None:
            known = ", ".join(wire.ORDER_TYPE_IN)
            problems.append(f"orderType {item.get('orderType')!r} is not one of {known}")
        side = wire.SIDE_IN.get(str(item.get("side", "")).upper())
        if side is None:
            problems.append(f"side {item.get('side')!r} is not BUY or SELL")
        tif = wire.TIF_IN.get(str(item.get("tif", "")).upper())
        if tif is None:
            problems.append(f"tif {item.get('tif')!r} is not one of {', '.join(wire.TIF_IN)}")
        quantity = _number(item.get("quantity"), "quantity", problems)
        price = _number(item.get("price"), "price", problems, optional=True)
        aux = _number(item.get("auxPrice"), "auxPrice", problems, optional=True)
        if problems or order_type is None or side is None or tif is None or quantity is None:
            raise GatewayError(400, {"error": "; ".join(problems), "statusCode": 400})
        limit, stop = _prices(order_type, price, aux)
        coid = item.get("cOID")
        parent = item.get("parentId")
        client = str(coid) if coid else f"{wire.GENERATED_COID_PREFIX}{secrets.token_hex(8)}"
        request = OrderRequest(
            client_order_id=ClientOrderId(client),
            conid=Conid(conid),
            side=side,
            order_type=order_type,
            quantity=quantity,
            tif=tif,
            limit_price=limit,
            stop_price=stop,
        )
        return _Leg(request, str(coid) if coid else None, str(parent) if parent else None)

    # changing ------------------------------------------------------------------------------------------

    def modify(self, account_id: str, order_id: int, body: object) -> object:
        """``POST /iserver/account/{acct}/order/{id}``: the whole order again with the changed values."""
        sim = self.sim
        sim.require_account(account_id)
        sim.require_accounts()
        sim.replies.invalidate()
        current = self._order(order_id)
        if not isinstance(body, Mapping):
            raise GatewayError(400, {"error": "the body must be the order as one JSON object"})
        problems: list[str] = []
        quantity = _number(body.get("quantity"), "quantity", problems, optional=True)
        price = _number(body.get("price"), "price", problems, optional=True)
        aux = _number(body.get("auxPrice"), "auxPrice", problems, optional=True)
        if problems:
            raise GatewayError(400, {"error": "; ".join(problems), "statusCode": 400})
        limit, stop = _prices(current.order_type, price, aux)
        change = OrderChange(
            quantity=quantity if quantity is not None and quantity != current.quantity else None,
            limit_price=limit if limit is not None and limit != current.limit_price else None,
            stop_price=stop if stop is not None and stop != current.stop_price else None,
        )
        rejection = sim.faults.take_rejection()
        if rejection is not None:
            return {"error": rejection}

        def act() -> object:
            try:
                changed = sim.broker.modify_order(sim.account_id, current.broker_order_id, change)
            except OrderRejected as exc:
                return {"error": str(exc)}
            status = self._status_of(changed)
            return [{"order_id": str(order_id), "order_status": status, "encrypt_message": "1"}]

        return self._ask_or_act(_describe_order(current, sim), act)

    def cancel(self, account_id: str, order_id: int) -> Body:
        """``DELETE /iserver/account/{acct}/order/{id}``: an acknowledgement, not a cancellation."""
        sim = self.sim
        sim.require_account(account_id)
        sim.replies.invalidate()
        paper_id = wire.paper_order_id(order_id)
        try:
            if paper_id is None:
                raise NotFound(str(order_id))
            order = sim.broker.order_status(sim.account_id, paper_id)
        except NotFound:
            return {"error": f"OrderID {order_id} doesn't exist"}
        sim.broker.cancel_order(sim.account_id, order.broker_order_id)
        with sim.lock:
            meta = sim.orders.setdefault(order.broker_order_id, OrderMeta(placed_at=order.updated_at))
            if meta.cancel_requested_at is None:
                meta.cancel_requested_at = sim.clock.now()
        return {
            "msg": "Request was submitted",
            "order_id": order_id,
            "conid": order.conid,
            "account": sim.account_id,
        }

    # reading -------------------------------------------------------------------------------------------

    def live_orders(self, *, force: bool, filters: str | None) -> Body:
        """``GET /iserver/account/orders``: empty on the session's first call and with ``force=true``."""
        sim = self.sim
        sim.require_accounts()
        brokerage = sim.brokerage
        if force or not brokerage.orders_primed:
            brokerage.orders_primed = True
            return {"orders": [], "snapshot": False}
        wanted = {f.strip().lower() for f in filters.split(",")} if filters else None
        shown: list[Body] = []
        for order in sim.broker.live_orders(sim.account_id):
            status = self._status_of(order)
            if status in ENDED and order.updated_at < brokerage.started_at:
                continue  # ended before this brokerage session: gone from the list
            if wanted is not None and status.lower() not in wanted:
                continue
            instrument = sim.market.instrument(order.conid)
            item = wire.live_order(order, instrument, status=status)
            brokerage.seen_orders.add(int(str(item["orderId"])))
            shown.append(item)
        return {"orders": shown, "snapshot": True}

    def status(self, order_id: int) -> Body:
        """``GET /iserver/account/order/status/{id}``: 503 for an order this session never saw."""
        sim = self.sim
        if order_id not in sim.brokerage.seen_orders:
            raise GatewayError(503, {"error": "Service Unavailable", "statusCode": 503})
        order = self._order(order_id)
        meta = sim.orders.get(order.broker_order_id)
        placed_at = meta.placed_at if meta is not None else order.updated_at
        instrument = sim.market.instrument(order.conid)
        return wire.order_status(order, instrument, status=self._status_of(order), placed_at=placed_at)

    def trades(self, days: int) -> list[Body]:
        """``GET /iserver/account/trades?days=N``: fills since the start of the day N-1 days ago (UTC)."""
        sim = self.sim
        sim.require_accounts()
        if not 1 <= days <= 7:
            raise GatewayError(400, {"error": "days must be between 1 and 7", "statusCode": 400})
        now = sim.clock.now()
        midnight = datetime.combine(now.date(), datetime.min.time(), tzinfo=now.tzinfo)
        since = midnight - timedelta(days=days - 1)
        answer: list[Body] = []
        for execution in sim.broker.executions(sim.account_id, since):
            ref = execution.client_order_id
            shown_ref = None if ref is None or ref.startswith(wire.GENERATED_COID_PREFIX) else str(ref)
            instrument = sim.market.instrument(execution.conid)
            answer.append(
                wire.trade(execution, instrument, user_name=sim.config.user_name, order_ref=shown_ref)
            )
        return answer

    def _order(self, order_id: int) -> BrokerOrder:
        paper_id = wire.paper_order_id(order_id)
        try:
            if paper_id is None:
                raise NotFound(str(order_id))
            return self.sim.broker.order_status(self.sim.account_id, paper_id)
        except NotFound as exc:
            raise GatewayError(
                503, {"error": f"OrderID {order_id} doesn't exist", "statusCode": 503}
            ) from exc

    def _status_of(self, order: BrokerOrder) -> str:
        sim = self.sim
        meta = sim.orders.get(order.broker_order_id)
        pending = (
            meta is not None
            and meta.cancel_requested_at is not None
            and sim.clock.now() - meta.cancel_requested_at < sim.config.cancel_delay
        )
        return wire.shown_status(order, cancel_pending=pending)


class ConnectionDropped(Exception):
    """The fault ``drop_after_order``: the order was carried out, then the connection is to be cut."""


def _orders_of(body: object) -> list[object]:
    items = body.get("orders") if isinstance(body, Mapping) else body
    if not isinstance(items, list) or not items:
        raise GatewayError(400, {"error": 'the body must be {"orders": [...]} with at least one order'})
    if len(items) > 3:
        raise GatewayError(400, {"error": "one order per request, or the three legs of a bracket"})
    return items


def _conid(value: object, problems: list[str]) -> int:
    text = str(value).split("@", 1)[0] if value is not None else ""
    if not text.isdigit():
        problems.append(f"conid {value!r} is not a contract id")
        return 0
    return int(text)


def _number(value: object, name: str, problems: list[str], *, optional: bool = False) -> Decimal | None:
    if value is None:
        if not optional:
            problems.append(f"{name} is required")
        return None
    if isinstance(value, bool):
        problems.append(f"{name} must be a number, got {value!r}")
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        problems.append(f"{name} must be a number, got {value!r}")
        return None
    if not number.is_finite() or number <= 0:
        problems.append(f"{name} must be a positive number, got {value!r}")
        return None
    return number


def _prices(order_type: OrderType, price: Decimal | None, aux: Decimal | None) -> tuple[Decimal | None, ...]:
    """Return (limit, stop): ``price`` is a STP's stop and a LMT's limit; ``auxPrice`` a STOP_LIMIT's stop."""
    if order_type is OrderType.STOP:
        return None, price
    if order_type is OrderType.STOP_LIMIT:
        return price, aux
    if order_type is OrderType.LIMIT:
        return price, None
    return None, None


def _describe(request: OrderRequest, sim: GatewaySimulator) -> str:
    instrument = sim.market.universe.get(request.conid)
    symbol = instrument.symbol if instrument is not None else str(request.conid)
    price = request.limit_price or request.stop_price
    at = f" @ {price}" if price is not None else ""
    return f"{request.side.value} {wire.whole(request.quantity)} {symbol}{at}"


def _describe_order(order: BrokerOrder, sim: GatewaySimulator) -> str:
    symbol = sim.market.instrument(order.conid).symbol
    price = order.limit_price or order.stop_price
    at = f" @ {price}" if price is not None else ""
    return f"{order.side.value} {wire.whole(order.quantity)} {symbol}{at}"


__all__ = ["ConnectionDropped", "OrderDesk"]
