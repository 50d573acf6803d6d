"""The simulator's own controls under ``/sim`` (the real gateway has no such path).

A test, or a user trying ibflow's recovery, uses them to log in "at the gateway's page", end or steal the
session, move the clock, switch faults on, configure order questions and limits, and cancel an order from
outside. Each answers the simulator's state after the change.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Body

from ibflow.brokers.ibkr.simulator.faults import DEFAULT_REJECTION, ERROR_BODIES
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
        try:  # read every option before changing anything: a 400 leaves the clock as it was
            when = datetime.fromisoformat(str(options["set"])) if "set" in options else None
            step = (
                timedelta(seconds=float(options["advance_seconds"])) if "advance_seconds" in options else None
            )
            scale = float(options["scale"]) if "scale" in options else None
            if step is not None and step < timedelta(0):
                raise ValueError(f"the simulator's clock cannot go back (advance by {step})")
            if scale is not None and scale < 0:
                raise ValueError(f"a time scale cannot be negative, got {scale}")
            if when is not None:
                sim.clock.set(when)
            if step is not None:
                sim.clock.advance(step)
            if scale is not None:
                sim.clock.set_scale(scale)
        except (TypeError, ValueError) as exc:
            raise GatewayError(400, {"error": str(exc)}) from exc
        return state(sim)

    @routes.post("/faults")
    def faults(body: Any = BODY) -> dict[str, object]:
        try:  # read every option before switching anything on: a 400 changes nothing
            changes = _fault_changes(sim, _mapping(body))
        except (TypeError, ValueError) as exc:
            raise GatewayError(400, {"error": str(exc)}) from exc
        for change in changes:
            change()
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


def _fault_changes(sim: GatewaySimulator, options: Mapping[str, Any]) -> list[Callable[[], None]]:
    """Check the options of ``/sim/faults``; return the changes they make (``ValueError`` when one is bad)."""
    faults, controls = sim.faults, sim.market.controls
    changes: list[Callable[[], None]] = []
    if "errors" in options:
        count, status = int(options["errors"]), int(options.get("status", 500))
        if status not in ERROR_BODIES:
            raise ValueError(f"status must be one of {sorted(ERROR_BODIES)}, got {status}")
        changes.append(lambda: faults.fail_calls(count, status))
    if "delay_seconds" in options:
        delay = max(float(options["delay_seconds"]), 0.0)
        changes.append(lambda: setattr(faults, "delay_seconds", delay))
    if "drop_after_orders" in options:
        drops = int(options["drop_after_orders"])
        changes.append(lambda: faults.drop_after_orders(drops))
    if "reject_orders" in options:
        rejections, message = int(options["reject_orders"]), options.get("message")
        text = str(message) if message else DEFAULT_REJECTION
        changes.append(lambda: faults.reject_orders(rejections, text))
    if "executions_lag_seconds" in options:
        lag = timedelta(seconds=float(options["executions_lag_seconds"]))
        if lag < timedelta(0):
            raise ValueError(f"an executions lag cannot be negative, got {lag}")
        changes.append(lambda: controls.lag_executions(lag))
    if "ended_orders_listed_for_seconds" in options:
        seconds = options["ended_orders_listed_for_seconds"]
        listed_for = None if seconds is None else timedelta(seconds=float(seconds))
        if listed_for is not None and listed_for < timedelta(0):
            raise ValueError(f"a listing window cannot be negative, got {listed_for}")
        changes.append(lambda: controls.forget_ended_orders(listed_for))
    return changes


def _mapping(body: object) -> Mapping[str, Any]:
    if body is None:
        return {}
    if not isinstance(body, Mapping):
        raise GatewayError(400, {"error": "the body must be a JSON object"})
    return body
