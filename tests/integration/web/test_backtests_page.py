"""The backtests pages: the list, the start form (traders only), the progress part, a backtest's figures,
trades and comparison, a 404 page for an unknown name, and a viewer's 403 on a direct start or cancel."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.integration.web.conftest import Api

pytestmark = pytest.mark.integration

STRATEGY = "demo-aapl-trend"


def _login(site: Api, username: str) -> TestClient:
    client = site.login(username)
    client.follow_redirects = False
    return client


def _run(client: TestClient, name: str, first: str, last: str) -> dict[str, Any]:
    """Start a backtest of the demo strategy through the API, wait for its end; return its last progress."""
    body = {"strategy": STRATEGY, "from": first, "to": last, "name": name}
    started = client.post("/api/v1/backtests", json=body)
    assert started.status_code == 202, started.text
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        seen: dict[str, Any] = client.get("/api/v1/backtests/progress").json()
        if seen["status"] not in {"running", "stopping"}:
            return seen
        time.sleep(0.2)
    raise AssertionError("the backtest did not end")


def test_an_empty_page_shows_the_start_form_to_a_trader_and_nothing_running(site: Api) -> None:
    trader = _login(site, "trader")
    page = trader.get("/backtests")
    assert page.status_code == 200
    text = page.text
    assert 'href="/backtests" aria-current="page"' in text
    assert 'data-action="/api/v1/backtests"' in text
    assert f'<option value="{STRATEGY}">' in text
    for field in ("strategy", "from", "to", "cash", "name", "confirm"):
        assert f'data-error-for="{field}"' in text, field
    assert "No backtest saved yet" in text
    assert 'data-status="none"' in text
    assert "every 1s" not in text  # nothing to poll
    assert '<link rel="stylesheet" href="/static/backtests.css' in text


def test_a_backtest_run_shows_its_progress_row_figures_trades_and_report_link(site: Api) -> None:
    trader = _login(site, "trader")
    last = _run(trader, "jan", "2017-01-01", "2017-01-13")
    assert last["status"] == "completed", last
    progress = trader.get("/fragments/backtests/progress", params={"was": "running"})
    assert progress.headers.get("HX-Trigger") == "backtest-ended"
    assert 'aria-valuenow="9"' in progress.text
    assert 'aria-valuemax="9"' in progress.text
    assert "every 1s" not in progress.text
    assert 'href="/api/v1/backtests/jan/report"' in progress.text
    assert "HX-Trigger" not in trader.get("/fragments/backtests/progress").headers  # only at the end it saw
    listed = trader.get("/fragments/backtests/list").text
    row = re.search(r'<tr data-backtest="jan">.*?</tr>', listed, re.S)
    assert row, listed
    assert 'href="/backtests/jan"' in row.group(0)
    assert "2017-01-01 to 2017-01-13" in row.group(0)
    assert STRATEGY in row.group(0)
    detail = trader.get("/backtests/jan")
    assert detail.status_code == 200
    for words in ("Backtest jan", "Max drawdown", "Return", "Trades (", "data-figures", 'target="_blank"'):
        assert words in detail.text, words
    assert 'href="/api/v1/backtests/jan/report"' in detail.text
    assert "No other backtest is saved" in detail.text
    report = trader.get("/api/v1/backtests/jan/report")
    assert report.status_code == 200
    assert "<h1>Backtest jan</h1>" in report.text


def test_two_backtests_compare_side_by_side_and_a_viewer_reads_them_without_controls(site: Api) -> None:
    trader = _login(site, "trader")
    assert _run(trader, "jan", "2017-01-01", "2017-01-13")["status"] == "completed"
    assert _run(trader, "feb", "2017-01-17", "2017-01-20")["status"] == "completed"
    page = trader.get("/backtests/jan", params={"compare": "feb"})
    assert page.status_code == 200
    table = re.search(r"<table class=\"bt-compared\" data-compare>.*?</table>", page.text, re.S)
    assert table, page.text
    executions = re.search(r"<td data-label=\"Measure\">executions</td>(.*?)</tr>", table.group(0), re.S)
    assert executions
    assert re.findall(r">([-+]?\d+)</td>", executions.group(1)) == ["9", "4", "-5"]
    missing = trader.get("/backtests/jan", params={"compare": "nope"})
    assert missing.status_code == 200
    assert "no backtest called &#39;nope&#39;" in missing.text
    viewer = _login(site, "viewer")
    for path in (
        "/backtests",
        "/backtests/jan",
        "/fragments/backtests/progress",
        "/fragments/backtests/list",
    ):
        text = viewer.get(path).text
        writes = [line for line in text.splitlines() if "data-post=" in line or "data-action=" in line]
        assert all("/api/v1/auth/logout" in line for line in writes), (path, writes)
        assert "Start backtest" not in text, path
    assert "jan" in viewer.get("/backtests").text
    body = {"strategy": STRATEGY, "from": "2017-01-01", "to": "2017-01-31", "name": "by-viewer"}
    assert viewer.post("/api/v1/backtests", json=body).status_code == 403
    assert viewer.post("/api/v1/backtests/cancel").status_code == 403


def test_bad_input_gets_the_api_message_a_page_shows_by_the_field(site: Api) -> None:
    trader = _login(site, "trader")
    after = trader.post(
        "/api/v1/backtests", json={"strategy": STRATEGY, "from": "2017-02-01", "to": "2017-01-01"}
    )
    assert after.status_code == 422
    assert {e["field"] for e in after.json()["errors"]} == {"from"}
    long = trader.post(
        "/api/v1/backtests", json={"strategy": STRATEGY, "from": "2005-01-01", "to": "2017-12-31"}
    )
    assert long.status_code == 422
    assert "send confirm=true" in long.json()["detail"]
    assert {e["field"] for e in long.json()["errors"]} == {"confirm"}


def test_an_unknown_backtest_is_a_404_page(site: Api) -> None:
    viewer = _login(site, "viewer")
    for name in ("nope", "12345", "<b>x"):
        answer = viewer.get(f"/backtests/{name}")
        assert answer.status_code == 404, name
        assert answer.headers["content-type"].startswith("text/html")
        assert "data-backtest-missing" in answer.text
        assert "<b>x" not in answer.text


def test_while_one_runs_the_part_polls_every_second_and_a_trader_can_cancel_it(site: Api) -> None:
    trader = _login(site, "trader")
    body = {"strategy": STRATEGY, "from": "2016-01-01", "to": "2016-06-30", "name": "half"}
    assert trader.post("/api/v1/backtests", json=body).status_code == 202
    running = trader.get("/fragments/backtests/progress").text
    assert 'hx-trigger="ibflow:refresh from:body, every 1s"' in running
    assert 'data-post="/api/v1/backtests/cancel"' in running
    assert "s so far" in running
    assert re.search(r'<progress class="bt-bar" max="(\d+)" value="\d+"', running)
    viewer_view = _login(site, "viewer").get("/fragments/backtests/progress").text
    assert "every 1s" in viewer_view
    assert "Cancel backtest" not in viewer_view
    assert trader.post("/api/v1/backtests/cancel").status_code == 200
    deadline = time.monotonic() + 60
    while trader.get("/api/v1/backtests/progress").json()["status"] in {"running", "stopping"}:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    ended = trader.get("/fragments/backtests/progress").text
    assert 'data-status="stopped"' in ended
    assert "s so far" not in ended  # the API's elapsed time of an ended run keeps growing: not shown
    assert "every 1s" not in ended
    assert 'href="/backtests/half"' in ended
