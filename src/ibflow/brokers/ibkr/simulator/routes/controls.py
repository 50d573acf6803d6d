"""The simulator's own controls under ``/sim`` (the real gateway has no such path).

A test, or a user trying ibflow's recovery, uses them to log in "at the gateway's page", end or steal the
session, move the clock, switch faults on, configure order questions and limits, and cancel an order from
outside. Each answers the simulator's state after the change.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Body

from ibflow.brokers.ibkr.simulator.gateway import GatewayError, GatewaySimulator
from ibflow.brokers.ibkr.simulator.questions import MESSAGES
from ibflow.brokers.ibkr.simulator.wire.orders import paper_order_id
from ibflow.core.errors import NotFound

BODY = Body(None)


def state(sim: GatewaySimulator) -> dict[str, object]:
    """Return what ``GET /sim/state`` shows."""
    return {
        "account_id": sim.account_id,
        "session": sim.session.state.value,
        "clock": sim.clock.now().isoformat(),
        "time_scale": sim.clock.scale,
        "sso_remaining_seconds": sim.session.sso_remaining().total_seconds(),
        "questions": list(sim.replies.chain),
        "faults": sim.faults.describe(),
        "rate_limits": sim.limiter.enabled,
    }


def router(sim: GatewaySimulator) -> APIRouter:  # noqa: PLR0915 - one closure per control
    """Return the ``/sim`` control routes of ``sim``."""
    routes = APIRouter(prefix="/sim")

    @routes.get("/state")
    def show() -> dict[str, object]:
        return state(sim)

    @routes.post("/login")
    def login() -> dict[str, object]:
        sim.session.login()
        return state(sim)

    @routes.post("/logout")
    def logout() -> dict[str, object]:
        sim.session.logout()
        return state(sim)

    @routes.post("/compete")
    def compete() -> dict[str, object]:
        sim.session.compete()
        return state(sim)

    @routes.post("/expire-brokerage")
    def expire() -> dict[str, object]:
        sim.session.drop_brokerage()
        return state(sim)

    @routes.post("/clock")
    def clock(body: Any = BODY) -> dict[str, object]:
        options = _mapping(body)
        try:
            if "set" in options:
                sim.clock.set(datetime.fromisoformat(str(options["set"])))
            if "advance_seconds" in options:
                sim.clock.advance(timedelta(seconds=float(options["advance_seconds"])))
            if "scale" in options:
                sim.clock.set_scale(float(options["scale"]))
        except (TypeError, ValueError) as exc:
            raise GatewayError(400, {"error": str(exc)}) from exc
        return state(sim)

    @routes.post("/faults")
    def faults(body: Any = BODY) -> dict[str, object]:
        options = _mapping(body)
        controls = sim.market.controls
        try:
            if "errors" in options:
                sim.faults.fail_calls(int(options["errors"]), int(options.get("status", 500)))
            if "delay_seconds" in options:
                sim.faults.delay_seconds = max(float(options["delay_seconds"]), 0.0)
            if "drop_after_orders" in options:
                sim.faults.drop_after_orders(int(options["drop_after_orders"]))
            if "reject_orders" in options:
                message = options.get("message")
                if message:
                    sim.faults.reject_orders(int(options["reject_orders"]), str(message))
                else:
                    sim.faults.reject_orders(int(options["reject_orders"]))
            if "executions_lag_seconds" in options:
                controls.lag_executions(timedelta(seconds=float(options["executions_lag_seconds"])))
            if "ended_orders_listed_for_seconds" in options:
                seconds = options["ended_orders_listed_for_seconds"]
                controls.forget_ended_orders(None if seconds is None else timedelta(seconds=float(seconds)))
        except (TypeError, ValueError) as exc:
            raise GatewayError(400, {"error": str(exc)}) from exc
        return state(sim)

    @routes.post("/questions")
    def questions(body: Any = BODY) -> dict[str, object]:
        chain = _mapping(body).get("chain")
        if not isinstance(chain, list) or not all(isinstance(q, str) for q in chain):
            raise GatewayError(400, {"error": f"chain: a list of message ids such as {sorted(MESSAGES)}"})
        sim.replies.chain = list(chain)
        return state(sim)

    @routes.post("/limits")
    def limits(body: Any = BODY) -> dict[str, object]:
        options = _mapping(body)
        try:
            box = options.get("penalty_box_seconds")
            per_second = options.get("global_per_second")
            sim.limiter.configure(
                enabled=bool(options["enabled"]) if "enabled" in options else None,
                global_per_second=int(per_second) if per_second is not None else None,
                penalty_box=timedelta(seconds=float(box)) if box is not None else None,
            )
        except (TypeError, ValueError) as exc:
            raise GatewayError(400, {"error": str(exc)}) from exc
        return state(sim)

    @routes.post("/orders/{order_id}/cancel")
    def cancel_from_outside(order_id: int) -> dict[str, object]:
        paper_id = paper_order_id(order_id)
        try:
            if paper_id is None:
                raise NotFound(str(order_id))
            sim.broker.cancel_from_outside(sim.account_id, paper_id)
        except NotFound as exc:
            raise GatewayError(404, {"error": f"OrderID {order_id} doesn't exist"}) from exc
        return state(sim)

    return routes


def _mapping(body: object) -> Mapping[str, Any]:
    if body is None:
        return {}
    if not isinstance(body, Mapping):
        raise GatewayError(400, {"error": "the body must be a JSON object"})
    return body
