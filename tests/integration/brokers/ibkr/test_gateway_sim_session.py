"""The gateway's session over real HTTP: login, idle expiry on a scaled clock, competing, SSO, nightly reset.

Also what a brokerage session must prime: ``/iserver/accounts``, ``/portfolio/accounts``, a first snapshot.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from tests.integration.brokers.ibkr.conftest import AAPL, Gateway

pytestmark = pytest.mark.integration


def flags(gw: Gateway) -> tuple[bool, bool, bool]:
    body = gw.api.post("/iserver/auth/status").json()
    return body["authenticated"], body["connected"], body["competing"]


def test_no_session_until_someone_logs_in_at_the_gateway(gateway: Callable[..., Gateway]) -> None:
    gw = gateway(logged_in=False)
    for answer in (
        gw.api.post("/tickle"),
        gw.api.get("/portfolio/accounts"),
        gw.api.get("/iserver/accounts"),
    ):
        assert answer.status_code == 401
    assert gw.api.post("/iserver/auth/ssodh/init", json={"publish": True, "compete": True}).status_code == 401
    assert gw.control("login")["session"] == "authenticated"
    assert flags(gw) == (True, True, False)
    assert gw.api.post("/logout").json() == {"status": True}
    assert gw.api.post("/tickle").status_code == 401


def test_an_idle_brokerage_session_drops_on_a_scaled_clock_and_ssodh_init_restores_it(
    gateway: Callable[..., Gateway],
) -> None:
    gw = gateway(time_scale=360.0, idle_timeout=timedelta(minutes=6), sso_lifetime=timedelta(hours=2))
    gw.prime()
    time.sleep(1.2)  # 1.2 wall seconds at 360x: 7.2 simulated minutes without a request
    assert flags(gw) == (False, True, False)
    assert gw.api.get("/iserver/accounts").json() == {"error": "not authenticated", "statusCode": 401}
    assert gw.api.get("/portfolio/accounts").status_code == 200  # the portal session still works
    assert gw.api.post("/iserver/auth/ssodh/init", json={"publish": False}).status_code == 500
    restored = gw.api.post("/iserver/auth/ssodh/init", json={"publish": True, "compete": True}).json()
    assert restored["authenticated"] is True
    # a new brokerage session forgets what the old one primed
    snapshot = gw.api.get("/iserver/marketdata/snapshot", params={"conids": AAPL, "fields": "31"})
    assert snapshot.json() == {"error": "Please query /accounts first"}


def test_tickle_keeps_the_session_and_counts_down_sso(gateway: Callable[..., Gateway]) -> None:
    gw = gateway(idle_timeout=timedelta(minutes=6), sso_lifetime=timedelta(minutes=10))
    first = gw.api.post("/tickle").json()
    assert first["ssoExpires"] == 600_000
    assert first["collission"] is False
    assert first["iserver"]["authStatus"]["authenticated"] is True
    for _ in range(3):  # a tickle a minute keeps the brokerage session past its idle timeout
        gw.advance(4 * 60)
        assert gw.api.post("/tickle").json()["iserver"]["authStatus"]["authenticated"] is True
    gw.advance(3 * 60)
    status = gw.api.get("/sso/validate").json()
    assert status["RESULT"] is True
    assert status["EXPIRES"] == 600_000  # validate refreshed it
    gw.advance(11 * 60)  # no request for longer than the SSO lifetime: the session is gone
    assert gw.api.post("/tickle").status_code == 401


def test_a_competing_session_blocks_trading_until_init_with_compete(gateway: Callable[..., Gateway]) -> None:
    gw = gateway()
    gw.control("compete")
    assert flags(gw) == (False, True, True)
    assert gw.api.post("/tickle").json()["collission"] is True
    assert gw.api.get("/iserver/accounts").status_code == 401
    kept = gw.api.post("/iserver/auth/ssodh/init", json={"publish": True, "compete": False}).json()
    assert kept["competing"] is True
    taken = gw.api.post("/iserver/auth/ssodh/init", json={"publish": True, "compete": True}).json()
    assert (taken["authenticated"], taken["competing"]) == (True, False)


def test_the_nightly_reset_ends_the_session(gateway: Callable[..., Gateway]) -> None:
    gw = gateway(sso_lifetime=timedelta(hours=24), idle_timeout=timedelta(hours=24))
    # the clock starts 10:00 New York; midnight New York is 14 hours later
    gw.advance(13 * 3600 + 59 * 60)
    assert gw.api.post("/tickle").status_code == 200
    gw.advance(2 * 60)
    assert gw.api.post("/tickle").status_code == 401
    assert gw.control("login")["session"] == "authenticated"


def test_priming_accounts_portfolio_and_the_empty_first_snapshot(gateway: Callable[..., Gateway]) -> None:
    gw = gateway()
    params = {"conids": f"{AAPL},272093", "fields": "31,84,86,6509"}
    assert gw.api.get("/iserver/marketdata/snapshot", params=params).status_code == 500
    assert gw.api.get(f"/portfolio/{gw.account}/summary").json() == {
        "error": "Please query /portfolio/accounts first"
    }
    gw.prime()
    first = gw.api.get("/iserver/marketdata/snapshot", params=params).json()
    assert first == [{"conid": AAPL, "conidEx": str(AAPL)}, {"conid": 272093, "conidEx": "272093"}]
    warm = gw.api.get("/iserver/marketdata/snapshot", params={"conids": AAPL}).json()[0]
    assert {"31", "84", "86", "6509"} <= set(warm)  # the fields asked before are remembered
    assert all(isinstance(warm[code], str) for code in ("31", "84", "86"))
    assert float(warm["84"]) < float(warm["86"])
    assert warm["6509"] == "RpB"
    assert gw.api.get("/portfolio/accounts").status_code == 200
    summary = gw.api.get(f"/portfolio/{gw.account}/summary").json()
    assert summary["accountcode"]["value"] == gw.account
    assert summary["netliquidation"]["amount"] == 1_000_000.0
    other = gw.api.get("/portfolio/DU7654321/summary")
    assert other.status_code == 400
