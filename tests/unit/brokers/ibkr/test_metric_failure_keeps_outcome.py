"""A failing metric never changes how a broker answer is classified on the order path (review 46).

A 429 to an order submit is "not sent" (safe to send again once the limiter allows) and tells the pacer to
back off. If counting it raised instead (the multiprocess metrics folder gone, say), the caller would get the
metric's exception, which ``trading.lifecycle.sending`` takes for an ambiguous send (``submit_unknown``), and
the pacer would never hear of the 429.
"""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from ibflow.brokers.ibkr import http
from ibflow.brokers.ibkr.http import GatewayHttp, NotSent, Retry
from ibflow.core.errors import RateLimited


class _BrokenInstruments:
    def __getattr__(self, name: str) -> Any:
        raise FileNotFoundError(f"metrics folder gone while counting {name}")


def _client(handler: Any) -> GatewayHttp:
    return GatewayHttp(
        "http://gateway.invalid/v1/api", transport=httpx2.MockTransport(handler), retry=Retry(attempts=1)
    )


def test_a_429_to_a_submit_stays_rate_limited_when_its_metric_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http, "instruments", _BrokenInstruments)
    client = _client(lambda request: httpx2.Response(429, json={"error": "too many"}))
    try:
        with pytest.raises(RateLimited):
            client.send("POST", "/iserver/account/U1/orders", json={"orders": []})
    finally:
        client.close()


def test_an_unreachable_gateway_stays_not_sent_when_its_metric_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http, "instruments", _BrokenInstruments)

    def refuse(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("connection refused", request=request)

    client = _client(refuse)
    try:
        with pytest.raises(NotSent):
            client.send("POST", "/iserver/account/U1/orders", json={"orders": []})
    finally:
        client.close()
