"""Account, portfolio and contract routes: ``/iserver/accounts``, ``/portfolio``, ``/trsrv``, secdef."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Body

from ibflow.brokers.ibkr.simulator.gateway import GatewayError, GatewaySimulator
from ibflow.brokers.ibkr.simulator.wire import account as wire

PAGE_SIZE = 100


def router(sim: GatewaySimulator) -> APIRouter:  # noqa: PLR0915 - one closure per route
    """Return the account, portfolio and contract routes of ``sim``."""
    routes = APIRouter()

    @routes.get("/iserver/accounts")
    def iserver_accounts() -> dict[str, object]:
        sim.brokerage.accounts_queried = True
        return wire.iserver_accounts(sim.account_id, sim.session_id())

    @routes.post("/iserver/account")
    def switch_account(body: Any = Body(None)) -> dict[str, object]:  # noqa: B008 - FastAPI's idiom
        wanted = body.get("acctId") if isinstance(body, Mapping) else None
        sim.require_account(str(wanted))
        return {"set": True, "acctId": wanted}

    def portfolio_accounts() -> list[dict[str, object]]:
        sim.brokerage.portfolio_queried = True
        return [wire.portfolio_account(sim.account_id, sim.opened_at)]

    routes.add_api_route("/portfolio/accounts", portfolio_accounts, methods=["GET"])
    routes.add_api_route("/portfolio/subaccounts", portfolio_accounts, methods=["GET"])

    def checked(account_id: str) -> None:
        sim.require_portfolio()
        sim.require_account(account_id)

    @routes.get("/portfolio/{account_id}/summary")
    def summary(account_id: str) -> dict[str, object]:
        checked(account_id)
        account = sim.broker.account_summary(sim.account_id)
        held = sim.broker.positions(sim.account_id)
        stock = sum((p.market_value for p in held), Decimal(0))
        return wire.summary(account, stock, sim.clock.now())

    @routes.get("/portfolio/{account_id}/ledger")
    def ledger(account_id: str) -> dict[str, object]:
        checked(account_id)
        account = sim.broker.account_summary(sim.account_id)
        return wire.ledger(account, sim.broker.positions(sim.account_id), sim.clock.now())

    def cached_positions() -> list[dict[str, object]]:
        now = sim.clock.now()
        with sim.lock:
            cache = sim.positions_cache
            if cache is not None and now - cache[0] < sim.config.positions_cache:
                return cache[1]
        rows = [
            wire.position(held, sim.market.instrument(held.conid))
            for held in sim.broker.positions(sim.account_id)
        ]
        with sim.lock:
            sim.positions_cache = (now, rows)
        return rows

    @routes.get("/portfolio/{account_id}/positions/{page}")
    def positions(account_id: str, page: int) -> list[dict[str, object]]:
        checked(account_id)
        if page < 0:
            raise GatewayError(400, {"error": "pageId must be 0 or more", "statusCode": 400})
        return cached_positions()[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]

    @routes.get("/portfolio/{account_id}/position/{conid}")
    def position(account_id: str, conid: int) -> list[dict[str, object]]:
        checked(account_id)
        return [row for row in cached_positions() if row["conid"] == conid]

    @routes.post("/portfolio/{account_id}/positions/invalidate")
    def invalidate(account_id: str) -> dict[str, object]:
        checked(account_id)
        with sim.lock:
            sim.positions_cache = None
        return {"message": "success"}

    @routes.get("/trsrv/stocks")
    def stocks(symbols: str = "") -> dict[str, object]:
        answer: dict[str, object] = {}
        for symbol in (s.strip().upper() for s in symbols.split(",") if s.strip()):
            found = [i for i in sim.market.universe if i.symbol == symbol]
            answer[symbol] = [wire.stocks_entry(item) for item in found]
        return answer

    @routes.get("/trsrv/secdef")
    def secdef(conids: str = "") -> dict[str, object]:
        ids = [c.strip() for c in conids.split(",") if c.strip()]
        if len(ids) > 200 or not all(c.isdigit() for c in ids):
            raise GatewayError(400, {"error": "conids: up to 200 comma-separated ids", "statusCode": 400})
        found = [sim.instrument(int(c)) for c in ids]
        return {"secdef": [wire.secdef(item) for item in found if item is not None]}

    def search(symbol: str | None) -> list[dict[str, object]]:
        if not symbol:
            raise GatewayError(400, {"error": "symbol is required", "statusCode": 400})
        contracts = sim.market.universe.search(symbol)
        return [wire.search_result(sim.market.instrument(c.conid)) for c in contracts]

    @routes.get("/iserver/secdef/search")
    def search_get(symbol: str | None = None) -> list[dict[str, object]]:
        return search(symbol)

    @routes.post("/iserver/secdef/search")
    def search_post(body: Any = Body(None)) -> list[dict[str, object]]:  # noqa: B008 - FastAPI's idiom
        return search(str(body.get("symbol")) if isinstance(body, Mapping) and body.get("symbol") else None)

    @routes.get("/iserver/contract/{conid}/info")
    def info(conid: int) -> dict[str, object]:
        instrument = sim.instrument(conid)
        if instrument is None:
            raise GatewayError(500, {"error": f"Invalid contract id {conid}", "statusCode": 500})
        return wire.contract_info(instrument)

    return routes
