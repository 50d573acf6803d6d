"""Every API answer carries an X-Request-ID; the log records emitted while serving it carry the same."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from sqlalchemy import select
from tests.integration.api.conftest import Api
from tests.integration.api.test_resources import _as, _buying, _run

from ibflow.db.models import Order
from ibflow.db.states import OrderRole

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _asking_paper_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IBFLOW_PAPER_QUESTIONS", "o163")  # the bracket waits for a trader's answer


def _records(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_callers_request_id_is_echoed_and_a_bad_one_replaced(api: Api) -> None:
    given = api.client.get("/healthz", headers={"X-Request-ID": "lb-7f3a9c"})
    assert given.headers["X-Request-ID"] == "lb-7f3a9c"
    replaced = api.client.get("/healthz", headers={"X-Request-ID": "no spaces, please"})
    fresh = api.client.get("/api/v1/strategies")  # 401 without a login: problems carry it too
    assert fresh.status_code == 401
    ids = {replaced.headers["X-Request-ID"], fresh.headers["X-Request-ID"]}
    assert len(ids) == 2
    assert all(i.isalnum() for i in ids)


def test_records_emitted_while_serving_carry_the_request_id_and_the_orders_client_id(
    api: Api, json_log: io.StringIO
) -> None:
    spy = _buying(api)
    _run(api, spy)  # the bracket now waits for a trader
    with api.container.read_sessions() as session:
        entry = session.scalars(
            select(Order).where(Order.strategy_id == spy, Order.role == OrderRole.ENTRY)
        ).one()
    trader = _as(api, "trader")
    json_log.truncate(0)
    json_log.seek(0)

    answer = trader.post(
        f"/orders/{entry.id}/reject", json={"reason": "too far"}, headers={"X-Request-ID": "req-42"}
    )

    assert answer.status_code == 200, answer.text
    assert answer.headers["X-Request-ID"] == "req-42"
    records = _records(json_log)
    access = [r for r in records if r["logger"] == "ibflow.api.app"]
    assert len(access) == 1
    assert access[0]["message"].startswith(f"POST /api/v1/orders/{entry.id}/reject 200 in ")
    assert access[0]["request_id"] == "req-42"
    rejected = [r for r in records if r["logger"] == "ibflow.trading.lifecycle.orders"]
    assert rejected, "the reject logged no order transition"
    assert all(r["request_id"] == "req-42" for r in rejected)  # served on a worker thread: it followed
    assert entry.client_order_id in {r["client_order_id"] for r in rejected}
