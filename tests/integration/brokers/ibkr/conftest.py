"""A gateway simulator served over real HTTP (uvicorn on a free loopback port) on a migrated SQLite copy.

``gateway(...)`` starts one with the given ``SimulatorConfig`` fields; its clock starts at a fixed Tuesday
15:00 UTC and stands still (``time_scale=0``) unless a test says otherwise, so a test moves it with
``/sim/clock`` exactly as it means to, and rate limits are off unless a test switches them on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx2
import pytest

from ibflow.brokers.ibkr.simulator.config import SimulatorConfig
from ibflow.brokers.ibkr.simulator.gateway import GatewaySimulator
from ibflow.brokers.ibkr.simulator.server import Running
from ibflow.db.engine import make_engine, session_factory

START = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)
AAPL = 265598


@dataclass
class Gateway:
    """A running simulator and an HTTP client on its ``/v1/api``."""

    sim: GatewaySimulator
    api: httpx2.Client
    controls: httpx2.Client

    @property
    def account(self) -> str:
        return self.sim.account_id

    def control(self, path: str, **body: Any) -> dict[str, Any]:
        """POST a ``/sim`` control and return the simulator's state."""
        answer = self.controls.post(f"/sim/{path}", json=body)
        assert answer.status_code == 200, answer.text
        state: dict[str, Any] = answer.json()
        return state

    def advance(self, seconds: float) -> None:
        self.control("clock", advance_seconds=seconds)

    def prime(self) -> None:
        """What a client does first in a brokerage session: ``/iserver/accounts``."""
        assert self.api.get("/iserver/accounts").status_code == 200

    def place(self, *orders: dict[str, Any]) -> httpx2.Response:
        return self.api.post(f"/iserver/account/{self.account}/orders", json={"orders": list(orders)})

    def live_orders(self) -> list[dict[str, Any]]:
        """Both calls IBKR needs (the first answers an empty list), 5 simulated seconds apart."""
        first = self.api.get("/iserver/account/orders", params={"force": "true"})
        assert first.json() == {"orders": [], "snapshot": False}
        self.advance(5)
        answer = self.api.get("/iserver/account/orders")
        assert answer.status_code == 200, answer.text
        self.advance(5)
        orders: list[dict[str, Any]] = answer.json()["orders"]
        return orders


@pytest.fixture
def gateway(migrated_sqlite_url: str) -> Iterator[Callable[..., Gateway]]:
    running: list[tuple[Running, httpx2.Client, httpx2.Client]] = []
    engines = []

    def start(**options: Any) -> Gateway:
        config = SimulatorConfig(**{"start": START, "time_scale": 0.0, "rate_limits": False, **options})
        engine = make_engine(migrated_sqlite_url)
        engines.append(engine)
        server = Running(GatewaySimulator(config, session_factory(engine))).start()
        api = httpx2.Client(base_url=server.base_url, timeout=10)
        controls = httpx2.Client(base_url=server.root_url, timeout=10)
        running.append((server, api, controls))
        return Gateway(server.sim, api, controls)

    yield start
    for server, api, controls in running:
        api.close()
        controls.close()
        server.stop()
    for engine in engines:
        engine.dispose()


def order(**fields: Any) -> dict[str, Any]:
    """An order body with IBKR's keys: a DAY limit buy of 5 AAPL unless ``fields`` say otherwise."""
    return {
        "conid": AAPL,
        "orderType": "LMT",
        "side": "BUY",
        "quantity": 5,
        "tif": "DAY",
        "price": 150,
        **fields,
    }
