"""``create_app``: the simulator's ASGI app under ``/v1/api`` (and ``/v1/portal``), plus ``/sim`` controls.

One middleware applies, in order, what stands between a client and an answer at IBKR: the configured
delay, the rate limits and penalty box (429), forced errors (5xx), and the session (401 without a session,
``/iserver`` refused without a brokerage session). A placement with the ``drop_after_order`` fault is
carried out and then its connection is cut half-way through the answer.
"""

from __future__ import annotations

import json
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ibflow.brokers.ibkr.simulator.desk import ConnectionDropped
from ibflow.brokers.ibkr.simulator.gateway import GatewayError, GatewaySimulator
from ibflow.brokers.ibkr.simulator.routes import controls, portfolio, session, trading

PREFIXES = ("/v1/api", "/v1/portal")


def create_app(sim: GatewaySimulator) -> FastAPI:
    """Return the ASGI app serving ``sim``."""
    app = FastAPI(title="ibflow IBKR Client Portal gateway simulator", openapi_url=None, docs_url=None)
    for prefix in PREFIXES:
        for area in (session, portfolio, trading):
            app.include_router(area.router(sim), prefix=prefix)
    app.include_router(controls.router(sim))

    @app.exception_handler(GatewayError)
    def gateway_error(request: Request, exc: GatewayError) -> JSONResponse:
        del request
        return JSONResponse(exc.body, status_code=exc.status)

    app.add_middleware(_Gateway, sim=sim)
    return app


class _Gateway:
    """Delay, limits, forced errors and the session, before any route; the connection drop after one."""

    def __init__(self, app: ASGIApp, sim: GatewaySimulator) -> None:
        self.app = app
        self.sim = sim

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        prefix = next((p for p in PREFIXES if path.startswith(p)), None)
        if prefix is None:
            await self.app(scope, receive, send)
            return
        refusal = self._refusal(scope, path[len(prefix) :] or "/")
        if refusal is not None:
            await JSONResponse(refusal.body, status_code=refusal.status)(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        except ConnectionDropped:
            await _cut(send)
            raise

    def _refusal(self, scope: Scope, path: str) -> GatewayError | None:
        sim = self.sim
        if sim.faults.delay_seconds > 0:
            time.sleep(sim.faults.delay_seconds)  # the wall clock: a client's timeout is on it too
        client = scope.get("client")
        limited = sim.limiter.check(client[0] if client else "?", path)
        if limited is not None:
            return GatewayError(429, {"error": "Too Many Requests", "statusCode": 429, "limit": limited})
        forced = sim.faults.next_error()
        if forced is not None:
            return GatewayError(forced.status, forced.body)
        return sim.gate(path)


async def _cut(send: Send) -> None:
    """Start an answer that promises more than it sends; the server then drops the connection."""
    start: Message = {
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")],
    }
    await send(start)
    await send({"type": "http.response.body", "body": b'[{"order_id": ', "more_body": True})


def dump(body: Any) -> str:
    """Return ``body`` as the gateway's JSON text (for logs and tests)."""
    return json.dumps(body, separators=(",", ":"))
