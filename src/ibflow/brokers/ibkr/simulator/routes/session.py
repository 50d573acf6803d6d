"""Session routes: ``/tickle``, ``/iserver/auth/*``, ``reauthenticate``, ``/logout``, ``/sso/validate``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Body, Request

from ibflow.brokers.ibkr.simulator.gateway import GatewayError, GatewaySimulator
from ibflow.brokers.ibkr.simulator.wire import account as wire


def router(sim: GatewaySimulator) -> APIRouter:
    """Return the session routes of ``sim``."""
    routes = APIRouter()

    def status() -> dict[str, object]:
        flags = sim.auth_flags()
        return wire.auth_status(
            authenticated=flags["authenticated"], competing=flags["competing"], connected=flags["connected"]
        )

    def tickle() -> dict[str, object]:
        sim.session.refresh_sso()
        remaining = int(sim.session.sso_remaining().total_seconds() * 1000)
        return wire.tickle(
            session=sim.session.token, sso_expires_ms=remaining, user_id=sim.config.user_id, status=status()
        )

    routes.add_api_route("/tickle", tickle, methods=["GET", "POST"])
    routes.add_api_route("/iserver/auth/status", status, methods=["GET", "POST"])

    @routes.post("/iserver/auth/ssodh/init")
    def ssodh_init(body: Any = Body(None)) -> dict[str, object]:  # noqa: B008 - FastAPI's idiom
        options = body if isinstance(body, Mapping) else {}
        if options.get("publish") is not True:
            raise GatewayError(500, {"error": "publish must be true", "statusCode": 500})
        sim.session.init_brokerage(compete=options.get("compete") is True)
        return status()

    def reauthenticate() -> dict[str, object]:
        sim.session.init_brokerage(compete=False)
        return {"message": "triggered"}

    routes.add_api_route("/iserver/reauthenticate", reauthenticate, methods=["GET", "POST"])

    @routes.post("/logout")
    def logout() -> dict[str, object]:
        sim.session.logout()
        return {"status": True}

    @routes.get("/sso/validate")
    def sso_validate(request: Request) -> dict[str, object]:
        del request
        sim.session.refresh_sso()
        return wire.sso_validate(
            user_id=sim.config.user_id,
            user_name=sim.config.user_name,
            auth_time=sim.session.logged_in_at,
            now=sim.clock.now(),
            expires_ms=int(sim.session.sso_remaining().total_seconds() * 1000),
        )

    return routes
