"""The simulator answers in IBKR's shapes: for every recorded real body, the same keys and JSON value types.

The recorded bodies (tests/data/ibkr-responses, from IBind's test suite) are compared with what the simulator
answers over HTTP. Where a file holds several samples, a key every sample has is required and a key some have
is allowed; a value recorded as ``null`` may be of any type (it says nothing about the type).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.integration.brokers.ibkr.conftest import AAPL, Gateway, order

pytestmark = pytest.mark.integration

RECORDED = Path(__file__).parents[3] / "data" / "ibkr-responses"


def recorded(name: str) -> Any:
    return json.loads((RECORDED / f"{name}.json").read_text(encoding="utf-8"))


def kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"  # JSON has one number type: 1.0 and 1 are the same
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def differences(samples: list[Any], ours: Any, where: str = "$") -> list[str]:
    """Say where ``ours`` does not match the shape of the recorded ``samples``; empty when it does."""
    typed = [s for s in samples if s is not None]
    if not typed:
        return []
    kinds = {kind(s) for s in typed}
    if kind(ours) not in kinds:
        return [f"{where}: recorded {sorted(kinds)}, simulator {kind(ours)}"]
    if isinstance(ours, dict):
        objects = [s for s in typed if isinstance(s, dict)]
        required = set.intersection(*(set(s) for s in objects))
        allowed = set.union(*(set(s) for s in objects))
        found = [f"{where}: missing {sorted(required - set(ours))}"] if required - set(ours) else []
        if set(ours) - allowed:
            found.append(f"{where}: not in the recorded bodies {sorted(set(ours) - allowed)}")
        for key in sorted(set(ours) & allowed):
            found += differences([s[key] for s in objects if key in s], ours[key], f"{where}.{key}")
        return found
    if isinstance(ours, list) and ours:
        items = [item for s in typed if isinstance(s, list) for item in s]
        return [line for item in ours for line in differences(items, item, f"{where}[]")]
    return []


def assert_shape(samples: list[Any], ours: Any, *, null_allowed: tuple[str, ...] = ()) -> None:
    """``null_allowed``: paths where the simulator answers ``null`` as IBKR does for what it lacks."""
    problems = [
        p for p in differences(samples, ours) if not (p.startswith(null_allowed) and p.endswith("null"))
    ]
    assert not problems, "\n".join(problems)


@pytest.fixture
def gw(gateway: Callable[..., Gateway]) -> Gateway:
    gw = gateway()
    gw.prime()
    assert gw.api.get("/portfolio/accounts").status_code == 200
    return gw


def test_session_bodies(gw: Gateway) -> None:
    assert_shape([recorded("tickle")], gw.api.post("/tickle").json())
    assert_shape([recorded("auth_status")], gw.api.post("/iserver/auth/status").json())


def test_account_bodies(gw: Gateway) -> None:
    assert_shape([recorded("accounts")], gw.api.get("/portfolio/accounts").json())
    assert_shape([recorded("ledger")], gw.api.get(f"/portfolio/{gw.account}/ledger").json())


def test_positions_body(gw: Gateway) -> None:
    assert gw.place(order(orderType="MKT", price=None, cOID="shape-1")).status_code == 200
    gw.advance(60)
    answer = gw.api.get(f"/portfolio/{gw.account}/positions/0").json()
    assert [row["conid"] for row in answer] == [AAPL]
    assert_shape([recorded("positions")], answer)


def test_contract_bodies(gw: Gateway) -> None:
    stocks = recorded("stocks")
    ours = gw.api.get("/trsrv/stocks", params={"symbols": "AAPL,MSFT,META"}).json()
    assert set(ours) == {"AAPL", "MSFT", "META"}
    for symbol, instruments in ours.items():
        assert_shape(list(stocks.values()), instruments)
        # conids.json resolves a symbol to its US listing: the simulator's universe agrees
        us = [c["conid"] for item in instruments for c in item["contracts"] if c["isUS"]]
        assert us == [recorded("conids")[symbol]]


def test_history_body(gw: Gateway) -> None:
    ours = gw.api.get(
        "/iserver/marketdata/history", params={"conid": AAPL, "bar": "1d", "period": "30d"}
    ).json()
    assert len(ours["data"]) == 30
    assert_shape(list(recorded("history").values()), ours)


def test_order_bodies(gw: Gateway) -> None:
    placed = gw.place(order(cOID="shape-2"))
    assert placed.status_code == 200, placed.text
    order_id = int(placed.json()[0]["order_id"])
    live = gw.live_orders()
    assert [item["orderId"] for item in live] == [order_id]
    assert_shape([recorded("live_orders")], live)
    status = gw.api.get(f"/iserver/account/order/status/{order_id}").json()
    assert status["order_status"] == "Submitted"
    assert_shape(list(recorded("order_status").values()), status)


def example(name: str, account: str = "U1234567") -> Any:
    """One of the reference's examples (placing, replies, trades and the rest without a recorded body).

    Keys that are an account id (``acctProps``, ``aliases``) are the simulator's account.
    """
    text = json.dumps(recorded("reference_examples")[name])
    return json.loads(text.replace('"U1234567"', json.dumps(account)))


def test_reference_examples_of_session_accounts_and_contracts(gw: Gateway) -> None:
    assert_shape([example("sso_validate")], gw.api.get("/sso/validate").json())
    assert_shape([example("iserver_accounts", gw.account)], gw.api.get("/iserver/accounts").json())
    search = gw.api.get("/iserver/secdef/search", params={"symbol": "AAPL"}).json()
    # opt lists option expiries: the simulated market has no options, so null as for a stock without them
    assert_shape([example("secdef_search")], search, null_allowed=("$[].opt:",))
    assert_shape([example("contract_info")], gw.api.get(f"/iserver/contract/{AAPL}/info").json())
    params = {"conids": AAPL, "fields": "31,84,85,86,88,7059,6509"}
    assert gw.api.get("/iserver/marketdata/snapshot", params=params).json() == [
        {"conid": AAPL, "conidEx": str(AAPL)}
    ]
    assert_shape([example("snapshot_warm")], gw.api.get("/iserver/marketdata/snapshot", params=params).json())


def test_reference_examples_of_placing_replies_cancel_and_trades(gw: Gateway) -> None:
    gw.control("questions", chain=["o163"])
    question = gw.place(order(cOID="shape-3")).json()
    assert_shape([example("place_question")], question)
    accepted = gw.api.post(f"/iserver/reply/{question[0]['id']}", json={"confirmed": True}).json()
    assert_shape([example("place_accepted")], accepted)
    ack = gw.api.delete(f"/iserver/account/{gw.account}/order/{accepted[0]['order_id']}").json()
    assert_shape([example("cancel_ack")], ack)

    gw.control("questions", chain=[])
    gw.place(order(orderType="MKT", price=None, cOID="shape-4"))
    gw.advance(60)
    trades = gw.api.get("/iserver/account/trades").json()
    assert [t["order_ref"] for t in trades] == ["shape-4"]
    assert_shape([example("trades")], trades)
