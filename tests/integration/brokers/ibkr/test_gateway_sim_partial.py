"""A large order fills in parts (a share of each simulated minute's volume), seen as IBKR shows it."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from tests.integration.brokers.ibkr.conftest import Gateway

pytestmark = pytest.mark.integration


def test_partial_fills_move_filled_remaining_size_and_fills_and_the_average(
    gateway: Callable[..., Gateway],
) -> None:
    gw = gateway()
    gw.prime()
    conid = gw.sim.market.universe.by_symbol("INTU").conid  # the thinnest stock of the universe
    placed = gw.place(
        {"conid": conid, "orderType": "MKT", "side": "BUY", "quantity": 20000, "tif": "DAY", "cOID": "big"}
    )
    order_id = placed.json()[0]["order_id"]
    seen = []
    for _ in range(3):
        gw.advance(60)
        status = gw.api.get(f"/iserver/account/order/status/{order_id}").json()
        filled, left = Decimal(status["cum_fill"]), Decimal(status["size"])
        assert filled + left == 20000
        assert status["size_and_fills"] == f"{filled.normalize():f}/20000"
        seen.append((status["order_status"], filled))
    assert [state for state, _ in seen] == ["Submitted"] * 3
    fills = [filled for _, filled in seen]
    assert 0 < fills[0] < fills[1] < fills[2] < 20000  # in parts, minute by minute

    listed = gw.live_orders()[0]
    assert listed["filledQuantity"] + listed["remainingQuantity"] == 20000.0
    assert listed["filledQuantity"] >= float(fills[2])
    trades = gw.api.get("/iserver/account/trades").json()
    assert len(trades) >= 3
    assert sum(t["size"] for t in trades) == listed["filledQuantity"]
    average = sum(Decimal(t["price"]) * Decimal(str(t["size"])) for t in trades) / Decimal(
        str(sum(t["size"] for t in trades))
    )
    assert abs(average - Decimal(listed["avgPrice"])) <= Decimal("0.01")
