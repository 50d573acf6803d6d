"""The IBKR client counts its requests and failures by kind: a 429 of the simulator's limit, a forced 5xx."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from tests.integration.brokers.ibkr.conftest import Gateway
from tests.metrics_support import total

from ibflow.brokers.ibkr.http import GatewayHttp, Retry
from ibflow.core import metrics
from ibflow.core.errors import RateLimited, TemporaryError

pytestmark = pytest.mark.integration


def _figures() -> str:
    return metrics.exposition(None).decode()


def test_a_429_and_a_5xx_from_the_gateway_are_counted_by_kind(gateway: Callable[..., Gateway]) -> None:
    metrics.configure(None)
    gw = gateway()
    gw.control("limits", enabled=True, global_per_second=2)
    client = GatewayHttp(str(gw.api.base_url), retry=Retry(attempts=1))
    before = _figures()

    for _ in range(2):
        client.read("GET", "/iserver/auth/status")
    with pytest.raises(RateLimited):
        client.read("GET", "/iserver/auth/status")
    gw.advance(1.0)
    gw.control("faults", errors=1, status=503)
    with pytest.raises(TemporaryError):
        client.read("GET", "/iserver/auth/status")
    client.close()
    after = _figures()

    def grew(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    assert grew("ibflow_broker_requests_total", broker="ibkr") == 4
    assert grew("ibflow_broker_errors_total", broker="ibkr", kind="http_429") == 1
    assert grew("ibflow_broker_errors_total", broker="ibkr", kind="http_5xx") == 1
    assert grew("ibflow_broker_errors_total") == 2
