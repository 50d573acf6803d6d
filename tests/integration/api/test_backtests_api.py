"""``/api/v1/backtests``: start a short backtest, watch its progress to the end, read, report, compare,
cancel a longer one; 409 while one runs, 422 for bad input or a long run unconfirmed, 403 for a viewer;
an LLM strategy's start shows the estimate of its calls and needs confirm for paid new calls only."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from tests.integration.api.conftest import Api, problem, serve_app
from tests.llm_servers import LlmServer, serving

from ibflow.workflow.strategies.service import apply_strategy_file

pytestmark = pytest.mark.integration

STRATEGY = """\
name = "aapl-rules"
symbol = "AAPL"
description = "<script>alert(1)</script>"
timeframes = ["1d"]

[schedule]
cron = "30 10 * * 1-5"
timezone = "America/New_York"

[analyst]
provider = "rules"

[[indicators]]
type = "rsi"
params = { period = 14 }
"""


def _wait(api: Api, headers: dict[str, str]) -> list[dict[str, Any]]:
    """Poll the progress until the run ends; return every answer seen."""
    seen = []
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        answer = api.client.get("/api/v1/backtests/progress", headers=headers)
        assert answer.status_code == 200, answer.text
        seen.append(answer.json())
        if seen[-1]["status"] not in {"running", "stopping"}:
            return seen
        time.sleep(0.2)
    raise AssertionError(f"the backtest did not end: {seen[-1]}")


@pytest.fixture
def trader(api: Api) -> dict[str, str]:
    with api.container.sessions() as session:
        apply_strategy_file(
            session,
            text=STRATEGY,
            fmt="toml",
            contracts=api.container.contract_service(),
            clock=api.clock,
            actor="tests",
        )
        session.commit()
    return api.bearer("trader")


def test_start_watch_read_report_and_compare(api: Api, trader: dict[str, str]) -> None:
    viewer = api.bearer("viewer")
    body = {"strategy": "aapl-rules", "from": "2017-01-01", "to": "2017-01-31", "name": "jan"}
    assert api.client.post("/api/v1/backtests", json=body, headers=viewer).status_code == 403
    started = api.client.post("/api/v1/backtests", json=body, headers=trader)
    assert started.status_code == 202, started.text
    assert started.json()["total"] == 20
    again = api.client.post("/api/v1/backtests", json={**body, "name": "other"}, headers=trader)
    assert again.status_code == 409, again.text
    assert "is running" in problem(again)["detail"]
    seen = _wait(api, viewer)
    assert seen[-1]["status"] == "completed", seen[-1]
    assert seen[-1]["done"] == seen[-1]["total"] == 20
    assert any(s["status"] == "running" for s in seen)
    detail = api.client.get("/api/v1/backtests/jan", headers=viewer).json()
    assert detail["executions"] == 20
    assert len(detail["equity_curve"]) == 20
    assert {"summary", "trades"} <= detail.keys()
    listed = api.client.get("/api/v1/backtests", headers=viewer).json()
    assert [row["name"] for row in listed] == ["jan"]
    report = api.client.get("/api/v1/backtests/jan/report", headers=viewer)
    assert report.headers["content-type"].startswith("text/html")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in report.text
    assert "<script>" not in report.text
    feb = {"strategy": "aapl-rules", "from": "2017-02-01", "to": "2017-02-10", "name": "feb"}
    assert api.client.post("/api/v1/backtests", json=feb, headers=trader).status_code == 202
    ended = _wait(api, viewer)[-1]
    assert ended["status"] == "completed"
    time.sleep(0.3)
    later = api.client.get("/api/v1/backtests/progress", headers=viewer).json()
    assert later["elapsed_seconds"] == ended["elapsed_seconds"]  # the clock stopped at the end
    compared = api.client.get("/api/v1/backtests/compare?a=jan&b=feb", headers=viewer).json()
    lines = {line["measure"]: line for line in compared["measures"]}
    assert lines["executions"]["difference"] == 8 - 20
    unknown = api.client.get("/api/v1/backtests/compare?a=jan&b=nope", headers=viewer)
    assert unknown.status_code == 404
    assert "no backtest called 'nope'" in problem(unknown)["detail"]


def test_cancel_stops_after_the_running_execution_and_keeps_what_ran(
    api: Api, trader: dict[str, str]
) -> None:
    nothing = api.client.post("/api/v1/backtests/cancel", headers=trader)
    assert nothing.status_code == 409
    body = {"strategy": "aapl-rules", "from": "2016-01-01", "to": "2016-06-30", "name": "half"}
    assert api.client.post("/api/v1/backtests", json=body, headers=trader).status_code == 202
    deadline = time.monotonic() + 120
    while api.client.get("/api/v1/backtests/progress", headers=trader).json()["done"] < 2:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert api.client.post("/api/v1/backtests/cancel", headers=api.bearer("viewer")).status_code == 403
    cancelled = api.client.post("/api/v1/backtests/cancel", headers=trader)
    assert cancelled.status_code == 200, cancelled.text
    last = _wait(api, trader)[-1]
    assert last["status"] == "stopped"
    assert 2 <= last["done"] < last["total"]
    kept = api.client.get("/api/v1/backtests/half", headers=trader).json()
    assert kept["status"] == "stopped"
    assert kept["executions"] == last["done"]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"strategy": "aapl-rules", "from": "2017-02-01", "to": "2017-01-01"}, "after to"),
        ({"strategy": "aapl-rules", "from": "2017-13-01", "to": "2017-01-01"}, ""),
        ({"strategy": "aapl-rules", "from": "2017-01-01", "to": "2017-01-31", "cash": "-5"}, ""),
        (
            {"strategy": "aapl-rules", "from": "2030-01-01", "to": "2030-02-01"},
            "the data holds AAPL from 2004-08-19 to 2018-01-19; choose from and to inside that range",
        ),
        ({"strategy": "aapl-rules", "from": "2017-01-01", "to": "2017-01-31", "data": "files:/etc"}, ""),
        ({"strategy": "aapl-rules", "from": "2005-01-01", "to": "2017-12-31"}, "send confirm=true"),
    ],
)
def test_bad_input_is_422(api: Api, trader: dict[str, str], body: dict[str, Any], words: str) -> None:
    answer = api.client.post("/api/v1/backtests", json=body, headers=trader)
    assert answer.status_code == 422, answer.text
    assert words in problem(answer)["detail"]


@pytest.fixture
def llm_api(
    migrated_sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Api, LlmServer]]:
    """The app with its OpenAI analyst on the test server, priced (its calls are paid)."""
    for server in serving():
        monkeypatch.setenv("IBFLOW_OPENAI_BASE_URL", server.openai_url)
        monkeypatch.setenv("IBFLOW_OPENAI_API_KEY", "sk-test-api-backtest")
        monkeypatch.setenv("IBFLOW_OPENAI_MODEL", "gpt-test-vision")
        monkeypatch.setenv("IBFLOW_LLM_PRICES", '{"gpt-test-vision": {"input": "2.50", "output": "10"}}')
        monkeypatch.setenv("IBFLOW_LLM_MAX_RETRIES", "0")
        for api in serve_app(migrated_sqlite_url, tmp_path, monkeypatch):
            yield api, server


def test_an_llm_strategy_shows_its_estimate_and_needs_confirm_for_paid_calls_only(
    llm_api: tuple[Api, LlmServer],
) -> None:
    api, server = llm_api
    with api.container.sessions() as session:
        apply_strategy_file(
            session,
            text=STRATEGY.replace('"aapl-rules"', '"aapl-llm"').replace('"rules"', '"openai"'),
            fmt="toml",
            contracts=api.container.contract_service(),
            clock=api.clock,
            actor="tests",
        )
        session.commit()
    trader = api.bearer("trader")
    body = {"strategy": "aapl-llm", "from": "2017-02-01", "to": "2017-02-10", "name": "paid"}
    refused = api.client.post("/api/v1/backtests", json=body, headers=trader)
    assert refused.status_code == 422, refused.text
    detail = problem(refused)["detail"]
    assert detail.startswith(
        "LLM analyst openai (gpt-test-vision): at most 8 calls (8 executions), of which 0 answered from "
        "the cache; 8 new calls"
    ), detail
    assert detail.endswith("send confirm=true to make these paid calls")
    assert not server.requests
    assert not (api.container.settings.database.data_dir / "backtests" / "paid").exists()
    started = api.client.post(
        "/api/v1/backtests", json={**body, "confirm": True, "budget": "5"}, headers=trader
    )
    assert started.status_code == 202, started.text
    assert started.json()["llm_estimate"]["new_calls"] == 8
    assert _wait(api, trader)[-1]["status"] == "completed"
    assert len(server.requests) == 8
    kept = api.client.get("/api/v1/backtests/paid", headers=trader).json()
    assert kept["summary"]["llm"]["calls"] == 8
    again = api.client.post("/api/v1/backtests", json={**body, "name": "again"}, headers=trader)
    assert again.status_code == 202, again.text  # every answer is cached: nothing to confirm
    estimate = again.json()["llm_estimate"]
    assert (estimate["calls"], estimate["cached_calls"], estimate["new_calls"]) == (8, 8, 0)
    assert Decimal(estimate["cost_usd"]) == 0
    assert _wait(api, trader)[-1]["status"] == "completed"
    assert len(server.requests) == 8
    rerun = api.client.get("/api/v1/backtests/again", headers=trader).json()
    assert rerun["summary"]["llm"]["cache_hits"] == 8


def test_an_unknown_strategy_is_404(api: Api, trader: dict[str, str]) -> None:
    body = {"strategy": "nope", "from": "2017-01-01", "to": "2017-01-31"}
    assert api.client.post("/api/v1/backtests", json=body, headers=trader).status_code == 404
