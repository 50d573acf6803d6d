"""Rate limits, switched-on faults and session faults of the gateway simulator, as a client over HTTP sees.

Pacing is on the simulator's clock (moved with ``/sim/clock``, never slept on): the global limit, one call
per 5 s to live orders and trades, the penalty box. Faults come from ``/sim/faults`` (forced 5xx, a delay, a
cut connection after a placement, rejections, late executions, ended orders forgotten), ``/sim/orders/{id}
/cancel``, ``/sim/logout`` and ``/sim/compete``. A bad control body answers 400 and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx2
import pytest
from tests.integration.brokers.ibkr.conftest import Gateway, order

pytestmark = pytest.mark.integration

TOO_MANY = {"error": "Too Many Requests", "statusCode": 429}


def refused_by(answer: httpx2.Response) -> str:
    """Return which limit refused ``answer`` (it must be a 429 with IBKR's body)."""
    assert answer.status_code == 429, answer.text
    body: dict[str, Any] = answer.json()
    assert {key: body[key] for key in TOO_MANY} == TOO_MANY
    return str(body["limit"])


def market(**fields: Any) -> dict[str, Any]:
    """A market buy of 5 AAPL: it fills when placed."""
    return order(orderType="MKT", price=None, **fields)


def placed_id(answer: httpx2.Response) -> str:
    assert answer.status_code == 200, answer.text
    return str(answer.json()[0]["order_id"])


def status_of(gw: Gateway, order_id: str) -> str:
    answer = gw.api.get(f"/iserver/account/order/status/{order_id}")
    assert answer.status_code == 200, answer.text
    return str(answer.json()["order_status"])


def test_the_global_limit_refuses_calls_beyond_n_a_second_until_the_clock_moves(
    gateway: Callable[..., Gateway],
) -> None:
    gw = gateway()
    gw.control("limits", enabled=True, global_per_second=3)
    for _ in range(3):
        assert gw.api.get("/iserver/auth/status").status_code == 200
    assert refused_by(gw.api.get("/iserver/auth/status")) == "global"
    assert refused_by(gw.api.get("/portfolio/accounts")) == "global"  # every endpoint counts
    gw.advance(0.5)
    assert refused_by(gw.api.get("/iserver/auth/status")) == "global"
    gw.advance(0.5)
    answers = [gw.api.get("/iserver/auth/status").status_code for _ in range(4)]
    assert answers == [200, 200, 200, 429]  # the refused calls did not count


def test_live_orders_and_trades_are_paced_at_one_call_per_five_simulated_seconds(
    gateway: Callable[..., Gateway],
) -> None:
    gw = gateway(rate_limits=True)
    gw.prime()
    assert gw.api.get("/iserver/account/orders").status_code == 200
    assert gw.api.get("/iserver/account/trades").status_code == 200  # a window of its own
    assert refused_by(gw.api.get("/iserver/account/orders")) == "live orders"
    assert refused_by(gw.api.get("/iserver/account/trades")) == "trades"
    assert gw.api.get("/iserver/accounts").status_code == 200  # unpaced endpoints still answer
    gw.advance(4)
    assert refused_by(gw.api.get("/iserver/account/orders")) == "live orders"
    gw.advance(1)
    assert gw.api.get("/iserver/account/orders").json() == {"orders": [], "snapshot": True}
    assert gw.api.get("/iserver/account/trades").json() == []


def test_after_a_429_the_penalty_box_refuses_every_endpoint_until_its_time_passes(
    gateway: Callable[..., Gateway],
) -> None:
    gw = gateway()
    gw.control("limits", enabled=True, penalty_box_seconds=60)
    gw.prime()
    assert gw.api.get("/iserver/account/trades").status_code == 200
    assert refused_by(gw.api.get("/iserver/account/trades")) == "trades"
    gw.advance(59)
    for answer in (
        gw.api.post("/tickle"),
        gw.api.get("/iserver/accounts"),
        gw.api.get("/portfolio/accounts"),
        gw.api.get("/iserver/account/trades"),
        gw.place(order()),
    ):
        assert refused_by(answer) == "penalty box"
    gw.advance(1)
    assert gw.api.post("/tickle").status_code == 200
    assert gw.api.get("/iserver/account/trades").json() == []
    assert gw.live_orders() == []  # the placement refused in the box was never made


def test_forced_errors_answer_the_next_n_calls_with_that_status_then_normally(
    gateway: Callable[..., Gateway],
) -> None:
    gw = gateway()
    gw.control("faults", errors=2, status=503)
    first, second = gw.api.get("/iserver/accounts"), gw.api.post("/tickle")
    for answer in (first, second):
        assert answer.status_code == 503
        assert answer.json() == {"error": "Service Unavailable", "statusCode": 503}
    answer = gw.api.get("/iserver/accounts")
    assert answer.status_code == 200
    assert answer.json()["accounts"] == [gw.account]


def test_a_delayed_gateway_still_answers_correctly(gateway: Callable[..., Gateway]) -> None:
    # the delay is in wall seconds; only that the answers arrive intact is asserted, not how late
    gw = gateway()
    assert gw.control("faults", delay_seconds=0.2)["faults"]["delay_seconds"] == 0.2
    gw.prime()
    assert placed_id(gw.place(order(cOID="slow")))
    assert [item["order_ref"] for item in gw.live_orders()] == ["slow"]
    assert gw.control("faults", delay_seconds=-3)["faults"]["delay_seconds"] == 0.0


def test_a_connection_cut_after_a_placement_leaves_the_order_working(gateway: Callable[..., Gateway]) -> None:
    gw = gateway()
    gw.prime()
    gw.control("faults", drop_after_orders=1)
    with pytest.raises(httpx2.TransportError):
        gw.place(order(cOID="cut"))
    after = placed_id(gw.place(order(cOID="whole")))  # only one placement is cut
    listed = gw.live_orders()
    assert [(item["order_ref"], item["status"]) for item in listed] == [
        ("cut", "Submitted"),
        ("whole", "Submitted"),
    ]
    assert status_of(gw, str(listed[0]["orderId"])) == "Submitted"
    assert str(listed[1]["orderId"]) == after


def test_a_rejected_placement_answers_200_with_an_error_and_makes_no_order(
    gateway: Callable[..., Gateway],
) -> None:
    gw = gateway()
    gw.prime()
    gw.control("faults", reject_orders=1)
    rejected = gw.place(order(cOID="no"))
    assert rejected.status_code == 200
    assert list(rejected.json()) == ["error"]
    assert "limit price" in rejected.json()["error"]
    gw.control("faults", reject_orders=1, message="Insufficient buying power")
    assert gw.place(market(cOID="no either")).json() == {"error": "Insufficient buying power"}
    assert gw.live_orders() == []
    assert gw.api.get("/iserver/account/trades").json() == []
    assert placed_id(gw.place(order(cOID="yes")))  # the rejections are used up
    assert [item["order_ref"] for item in gw.live_orders()] == ["yes"]


def test_lagging_executions_show_a_fill_in_the_status_before_in_trades(
    gateway: Callable[..., Gateway],
) -> None:
    gw = gateway()
    gw.prime()
    gw.control("faults", executions_lag_seconds=60)
    order_id = placed_id(gw.place(market(cOID="lag")))
    assert status_of(gw, order_id) == "Filled"
    assert gw.api.get("/iserver/account/trades").json() == []
    gw.advance(59)
    assert status_of(gw, order_id) == "Filled"
    assert gw.api.get("/iserver/account/trades").json() == []
    gw.advance(1)
    trades = gw.api.get("/iserver/account/trades").json()
    assert [(t["order_ref"], t["side"], t["size"]) for t in trades] == [("lag", "B", 5.0)]


def test_ended_orders_drop_off_live_orders_after_the_listing_window(gateway: Callable[..., Gateway]) -> None:
    gw = gateway()
    gw.prime()
    gw.control("faults", ended_orders_listed_for_seconds=120)
    filled = placed_id(gw.place(market(cOID="filled")))
    working = placed_id(gw.place(order(cOID="working")))
    cancelled = placed_id(gw.place(order(cOID="cancelled", price=140)))
    assert {item["order_ref"]: item["status"] for item in gw.live_orders()} == {
        "filled": "Filled",
        "working": "Submitted",
        "cancelled": "Submitted",
    }  # the clock is 10 s on now
    gw.control(f"orders/{cancelled}/cancel")
    assert status_of(gw, cancelled) == "Cancelled"
    gw.advance(109)  # 119 s after the fill
    listed = gw.api.get("/iserver/account/orders").json()["orders"]
    assert {item["order_ref"] for item in listed} == {"filled", "working", "cancelled"}
    gw.advance(1)
    listed = gw.api.get("/iserver/account/orders").json()["orders"]
    assert {item["order_ref"] for item in listed} == {"working", "cancelled"}
    gw.advance(10)  # 120 s after the cancel
    listed = gw.api.get("/iserver/account/orders").json()["orders"]
    assert {item["order_ref"] for item in listed} == {"working"}
    assert (status_of(gw, filled), status_of(gw, cancelled), status_of(gw, working)) == (
        "Filled",
        "Cancelled",
        "Submitted",
    )


def test_an_order_cancelled_from_outside_turns_cancelled_without_the_client_asking(
    gateway: Callable[..., Gateway],
) -> None:
    gw = gateway()
    gw.prime()
    order_id = placed_id(gw.place(order(cOID="outside")))
    assert status_of(gw, order_id) == "Submitted"
    gw.control(f"orders/{order_id}/cancel")
    assert status_of(gw, order_id) == "Cancelled"
    assert [(item["order_ref"], item["status"]) for item in gw.live_orders()] == [("outside", "Cancelled")]
    unknown = gw.controls.post("/sim/orders/999/cancel")
    assert (unknown.status_code, unknown.json()) == (404, {"error": "OrderID 999 doesn't exist"})


def test_a_session_ended_at_the_gateway_refuses_every_call_until_a_new_login(
    gateway: Callable[..., Gateway],
) -> None:
    gw = gateway()
    gw.prime()
    assert gw.control("logout")["session"] == "no_session"
    for answer in (
        gw.api.post("/tickle"),
        gw.api.post("/iserver/auth/status"),
        gw.api.get("/portfolio/accounts"),
        gw.place(order(cOID="lost")),
    ):
        assert (answer.status_code, answer.json()) == (401, {"error": "no session", "statusCode": 401})
    gw.control("login")
    gw.prime()
    assert gw.live_orders() == []  # the placement during the outage was never made


def test_a_competing_session_refuses_trading_calls_and_keeps_the_portal(
    gateway: Callable[..., Gateway],
) -> None:
    gw = gateway()
    gw.prime()
    order_id = placed_id(gw.place(order(cOID="before")))
    gw.control("compete")
    status = gw.api.post("/iserver/auth/status").json()
    assert (status["authenticated"], status["competing"]) == (False, True)
    refused = {"error": "not authenticated", "statusCode": 401}
    for answer in (
        gw.place(order(cOID="during")),
        gw.api.get("/iserver/account/orders"),
        gw.api.get(f"/iserver/account/order/status/{order_id}"),
        gw.api.delete(f"/iserver/account/{gw.account}/order/{order_id}"),
    ):
        assert (answer.status_code, answer.json()) == (401, refused)
    assert gw.api.get("/portfolio/accounts").status_code == 200
    assert gw.api.post("/iserver/auth/ssodh/init", json={"publish": True, "compete": True}).status_code == 200
    gw.prime()
    assert [(item["order_ref"], item["status"]) for item in gw.live_orders()] == [("before", "Submitted")]


@pytest.mark.parametrize(
    ("path", "body", "words"),
    [
        ("faults", {"errors": "x"}, "invalid literal"),
        ("faults", {"errors": 1, "status": 404}, "status must be one of [500, 502, 503]"),
        ("faults", {"executions_lag_seconds": -5}, "cannot be negative"),
        ("faults", {"errors": 1, "delay_seconds": "soon"}, "could not convert"),
        ("limits", {"enabled": True, "global_per_second": "many"}, "invalid literal"),
        ("clock", {"advance_seconds": "later"}, "could not convert"),
        ("clock", {"set": "2026-03-03T16:00:00+00:00", "advance_seconds": -1}, "cannot go back"),
        ("faults", [1, 2], "the body must be a JSON object"),
    ],
)
def test_a_bad_control_body_answers_400_with_the_reason_and_changes_nothing(
    gateway: Callable[..., Gateway], path: str, body: object, words: str
) -> None:
    gw = gateway()
    before = gw.controls.get("/sim/state").json()
    answer = gw.controls.post(f"/sim/{path}", json=body)
    assert answer.status_code == 400
    assert words in answer.json()["error"]
    assert gw.controls.get("/sim/state").json() == before
    assert gw.api.get("/iserver/accounts").status_code == 200  # no forced error, no limit
