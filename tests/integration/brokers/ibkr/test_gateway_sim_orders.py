"""Placing, confirming, changing and cancelling orders on the simulator as a client of IBKR's gateway sees it.

The reply ("question") loop: a placement answers questions until each is confirmed through
``/iserver/reply/{id}``; a refused, stale or reused reply places nothing; suppressed questions are skipped.
Also a duplicate ``cOID``, a bracket's legs and its one-cancels-other children, a cancel acknowledged as
``PendingCancel`` before ``Cancelled``, a modified price, and the live orders' empty first answer.
AAPL trades near 200 at the start of the simulated day, so a buy limit at 150 keeps working.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx2
import pytest
from tests.integration.brokers.ibkr.conftest import AAPL, Gateway, order

pytestmark = pytest.mark.integration

STALE = {"error": "Service Unavailable", "statusCode": 503}


def reply(gw: Gateway, reply_id: str, *, confirmed: bool = True) -> httpx2.Response:
    return gw.api.post(f"/iserver/reply/{reply_id}", json={"confirmed": confirmed})


def status(gw: Gateway, order_id: str | int) -> dict[str, Any]:
    answer = gw.api.get(f"/iserver/account/order/status/{order_id}")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def question_of(answer: httpx2.Response) -> dict[str, Any]:
    """The one question a placement or reply answered (its id, message list and message ids)."""
    assert answer.status_code == 200, answer.text
    [question] = answer.json()
    assert set(question) >= {"id", "message", "messageIds"}, question
    assert isinstance(question["message"], list)
    assert question["message"]
    return dict(question)


def test_each_question_of_the_chain_is_confirmed_before_the_order_works(
    gateway: Callable[..., Gateway],
) -> None:
    gw = gateway(questions=("o163", "o451"))
    gw.prime()
    first = question_of(gw.place(order(cOID="asked-1")))
    assert first["messageIds"] == ["o163"]
    assert "BUY 5 AAPL @ 150" in first["message"][0]
    assert gw.live_orders() == []

    second = question_of(reply(gw, first["id"]))
    assert second["messageIds"] == ["o451"]
    assert second["id"] != first["id"]
    assert gw.live_orders() == []  # one question still unanswered: nothing placed yet

    accepted = reply(gw, second["id"])
    assert accepted.status_code == 200, accepted.text
    [placed] = accepted.json()
    assert isinstance(placed["order_id"], str)
    assert placed["order_id"].isdigit()
    assert placed["order_status"] == "Submitted"
    assert [(o["orderId"], o["order_ref"]) for o in gw.live_orders()] == [
        (int(placed["order_id"]), "asked-1")
    ]


def test_a_reply_not_confirmed_discards_the_order(gateway: Callable[..., Gateway]) -> None:
    gw = gateway()
    gw.prime()
    gw.control("questions", chain=["o163"])
    question = question_of(gw.place(order(cOID="refused-1")))
    refused = reply(gw, question["id"], confirmed=False)
    assert "error" in refused.json()
    assert "order_id" not in refused.text
    assert gw.live_orders() == []
    # nothing was registered under the cOID: the same order can be placed again and confirmed
    again = question_of(gw.place(order(cOID="refused-1")))
    [placed] = reply(gw, again["id"]).json()
    assert [o["orderId"] for o in gw.live_orders()] == [int(placed["order_id"])]


def test_unknown_reused_superseded_and_expired_reply_ids_answer_503_and_place_nothing(
    gateway: Callable[..., Gateway],
) -> None:
    gw = gateway(questions=("o163",))
    gw.prime()
    unknown = reply(gw, "7b5e3c1a-0000-4000-8000-000000000000")
    assert (unknown.status_code, unknown.json()) == (503, STALE)

    used = question_of(gw.place(order(cOID="used-1")))
    assert reply(gw, used["id"]).status_code == 200
    twice = reply(gw, used["id"])
    assert (twice.status_code, twice.json()) == (503, STALE)
    assert [o["order_ref"] for o in gw.live_orders()] == ["used-1"]  # placed once, not twice

    older = question_of(gw.place(order(cOID="older-1")))
    newer = question_of(gw.place(order(cOID="newer-1")))  # IBKR waits for the latest question only
    assert reply(gw, older["id"]).status_code == 503
    assert reply(gw, newer["id"]).status_code == 200

    late = question_of(gw.place(order(cOID="late-1")))
    gw.advance(61)  # past the 60 s reply timeout
    assert reply(gw, late["id"]).status_code == 503
    assert sorted(o["order_ref"] for o in gw.live_orders()) == ["newer-1", "used-1"]


def test_suppressed_questions_are_skipped_until_reset(gateway: Callable[..., Gateway]) -> None:
    gw = gateway(questions=("o163", "o451"))
    gw.prime()
    suppressed = gw.api.post("/iserver/questions/suppress", json={"messageIds": ["o163"]})
    assert suppressed.json() == {"status": "submitted"}
    assert question_of(gw.place(order(cOID="supp-1")))["messageIds"] == ["o451"]

    gw.api.post("/iserver/questions/suppress", json={"messageIds": ["o163", "o451"]})
    [placed] = gw.place(order(cOID="supp-2")).json()  # nothing left to ask: placed at once
    assert placed["order_status"] == "Submitted"
    assert [o["order_ref"] for o in gw.live_orders()] == ["supp-2"]

    assert gw.api.post("/iserver/questions/suppress/reset").json() == {"status": "submitted"}
    assert question_of(gw.place(order(cOID="supp-3")))["messageIds"] == ["o163"]


def test_a_duplicate_coid_is_refused_and_only_the_first_order_exists(gateway: Callable[..., Gateway]) -> None:
    gw = gateway()
    gw.prime()
    [first] = gw.place(order(cOID="dup-1")).json()
    again = gw.place(order(cOID="dup-1", price=151))
    assert again.json() == {
        "error": "Order couldn't be submitted: Local order ID=dup-1 is already registered."
    }
    listed = gw.live_orders()
    assert [(o["orderId"], o["order_ref"], o["price"]) for o in listed] == [
        (int(first["order_id"]), "dup-1", "150.00")
    ]


def bracket() -> list[dict[str, Any]]:
    """A buy limit at 180 (below the market: it waits), a stop-loss at 120 and a take-profit at 300."""
    child = {"parentId": "br-1", "isSingleGroup": True, "side": "SELL"}
    return [
        order(cOID="br-1", price=180, isSingleGroup=True),
        order(**child, orderType="STP", price=120),
        order(**child, orderType="LMT", price=300),
    ]


def test_bracket_children_wait_for_the_parent_then_one_filling_cancels_the_other(
    gateway: Callable[..., Gateway],
) -> None:
    gw = gateway()
    gw.prime()
    placed = gw.place(*bracket())
    assert placed.status_code == 200, placed.text
    parent, stop, target = (int(leg["order_id"]) for leg in placed.json())
    assert [leg["order_status"] for leg in placed.json()] == ["Submitted", "PreSubmitted", "PreSubmitted"]
    gw.advance(120)
    assert [status(gw, i)["order_status"] for i in (parent, stop, target)] == [
        "Submitted",
        "PreSubmitted",
        "PreSubmitted",
    ]
    listed = {o["orderId"]: o for o in gw.live_orders()}
    assert listed[stop]["parentId"] == listed[target]["parentId"] == parent

    # the parent made marketable fills; the take-profit starts working (the stop stays held at IBKR)
    entered = gw.api.post(f"/iserver/account/{gw.account}/order/{parent}", json=order(price=220))
    assert entered.status_code == 200, entered.text
    gw.advance(60)
    assert status(gw, parent)["order_status"] == "Filled"
    assert status(gw, target)["order_status"] == "Submitted"
    assert status(gw, stop)["order_status"] == "PreSubmitted"

    # the take-profit made marketable fills, and its sibling stop is cancelled (one-cancels-other)
    moved = gw.api.post(f"/iserver/account/{gw.account}/order/{target}", json=order(side="SELL", price=180))
    assert moved.status_code == 200, moved.text
    gw.advance(60)
    assert [status(gw, i)["order_status"] for i in (parent, stop, target)] == [
        "Filled",
        "Cancelled",
        "Filled",
    ]


def test_a_cancel_is_acknowledged_then_pending_then_cancelled(gateway: Callable[..., Gateway]) -> None:
    gw = gateway()
    gw.prime()
    [placed] = gw.place(order(cOID="cxl-1")).json()
    order_id = int(placed["order_id"])
    ack = gw.api.delete(f"/iserver/account/{gw.account}/order/{order_id}").json()
    assert ack == {"msg": "Request was submitted", "order_id": order_id, "conid": AAPL, "account": gw.account}
    assert status(gw, order_id)["order_status"] == "PendingCancel"
    gw.advance(1)  # within the 2 s the cancel takes
    assert status(gw, order_id)["order_status"] == "PendingCancel"
    gw.advance(2)
    ended = status(gw, order_id)
    assert (ended["order_status"], ended["order_status_description"]) == ("Cancelled", "Order Cancelled")
    assert [(o["orderId"], o["status"]) for o in gw.live_orders()] == [(order_id, "Cancelled")]


def test_modifying_the_price_changes_the_working_order(gateway: Callable[..., Gateway]) -> None:
    gw = gateway()
    gw.prime()
    [placed] = gw.place(order(cOID="mod-1")).json()
    order_id = placed["order_id"]
    changed = gw.api.post(f"/iserver/account/{gw.account}/order/{order_id}", json=order(price=151.5))
    assert changed.json() == [{"order_id": order_id, "order_status": "Submitted", "encrypt_message": "1"}]
    shown = status(gw, order_id)
    assert (shown["limit_price"], shown["order_status"]) == ("151.50", "Submitted")
    assert "151.50" in shown["order_description"]
    assert [(o["order_ref"], o["price"]) for o in gw.live_orders()] == [("mod-1", "151.50")]


def test_live_orders_answer_empty_first_in_a_session_and_with_force(gateway: Callable[..., Gateway]) -> None:
    gw = gateway()
    gw.prime()
    [placed] = gw.place(order(cOID="live-1")).json()
    listing = "/iserver/account/orders"
    assert gw.api.get(listing).json() == {"orders": [], "snapshot": False}  # first call, even without force
    assert [o["orderId"] for o in gw.api.get(listing).json()["orders"]] == [int(placed["order_id"])]
    assert gw.api.get(listing, params={"force": "true"}).json() == {"orders": [], "snapshot": False}
    assert len(gw.api.get(listing).json()["orders"]) == 1
