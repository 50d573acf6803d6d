"""Market data and order routes: snapshot, history, place, reply, modify, cancel, live orders, trades."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body

from ibflow.brokers.ibkr.simulator.desk import OrderDesk
from ibflow.brokers.ibkr.simulator.gateway import GatewaySimulator
from ibflow.brokers.ibkr.simulator.market import MarketDesk

BODY = Body(None)


def router(sim: GatewaySimulator) -> APIRouter:
    """Return the market data and order routes of ``sim``."""
    routes = APIRouter()
    desk, market = OrderDesk(sim), MarketDesk(sim)

    @routes.get("/iserver/marketdata/snapshot")
    def snapshot(conids: str | None = None, fields: str | None = None) -> list[dict[str, object]]:
        return market.snapshot(conids, fields)

    @routes.get("/iserver/marketdata/history")
    def history(
        conid: str | None = None, bar: str | None = None, period: str | None = None
    ) -> dict[str, object]:
        return market.history(conid, bar, period)

    @routes.post("/iserver/marketdata/unsubscribe")
    def unsubscribe(body: Any = BODY) -> dict[str, object]:
        conid = body.get("conid") if isinstance(body, dict) else None
        removed = sim.brokerage.snapshot_fields.pop(int(conid), None) if isinstance(conid, int) else None
        return {"success": True} if removed is not None else {"error": "unknown"}

    @routes.get("/iserver/marketdata/unsubscribeall")
    def unsubscribe_all() -> dict[str, object]:
        sim.brokerage.snapshot_fields.clear()
        return {"unsubscribed": True}

    @routes.post("/iserver/account/{account_id}/orders")
    def place(account_id: str, body: Any = BODY) -> object:
        return desk.place(account_id, body)

    @routes.post("/iserver/reply/{reply_id}")
    def reply(reply_id: str, body: Any = BODY) -> object:
        return desk.reply(reply_id, body)

    @routes.post("/iserver/questions/suppress")
    def suppress(body: Any = BODY) -> dict[str, object]:
        return desk.suppress(body)

    @routes.post("/iserver/questions/suppress/reset")
    def reset_suppressed() -> dict[str, object]:
        return desk.reset_suppressed()

    @routes.post("/iserver/account/{account_id}/order/{order_id}")
    def modify(account_id: str, order_id: int, body: Any = BODY) -> object:
        return desk.modify(account_id, order_id, body)

    @routes.delete("/iserver/account/{account_id}/order/{order_id}")
    def cancel(account_id: str, order_id: int) -> dict[str, object]:
        return desk.cancel(account_id, order_id)

    @routes.get("/iserver/account/orders")
    def live_orders(force: bool = False, filters: str | None = None) -> dict[str, object]:
        return desk.live_orders(force=force, filters=filters)

    @routes.get("/iserver/account/order/status/{order_id}")
    def status(order_id: int) -> dict[str, object]:
        return desk.status(order_id)

    @routes.get("/iserver/account/trades")
    def trades(days: int = 1) -> list[dict[str, object]]:
        return desk.trades(days)

    return routes
