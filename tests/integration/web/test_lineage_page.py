"""The lineage viewer as a browser gets it: the 11 steps in order, a failure shown where it happened, the
selectors and deep links, the step statistics, a 404 page, and LLM text and errors rendered as text."""

from __future__ import annotations

import re
import shutil
from datetime import timedelta
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.factories import make_execution
from tests.integration.web.conftest import Api, run_strategy
from tests.llm_servers import LlmServer, good, text

from ibflow.db.models import Strategy
from ibflow.db.models.executions import WorkflowLineage
from ibflow.db.states import ExecutionStatus, StepStatus
from ibflow.trading.risk.checks import RiskReason
from ibflow.workflow.lineage import STEP_NAMES

pytestmark = pytest.mark.integration

HOSTILE = '<script>alert("owned")</script><b>bold</b>'
CENT = Decimal("0.01")
ESCAPED = "&lt;script&gt;alert(&#34;owned&#34;)&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt;"


def _login(site: Api, username: str = "trader") -> TestClient:
    client = site.login(username)
    client.follow_redirects = False
    return client


def _steps(page: str) -> list[tuple[str, str]]:
    return re.findall(r'data-step="([a-z_]+)" data-status="([a-z]+)"', page)


def _card(page: str, step: str) -> str:
    start = page.rindex("<li", 0, page.index(f'data-step="{step}"'))
    following = page.find('<li id="step-', start + 1)
    return page[
        start : following
        if following > 0
        else page.index('<section class="card" aria-labelledby="stats', start)
    ]


def test_an_execution_shows_its_11_steps_in_order_with_timeline_charts_and_signal(site: Api) -> None:
    execution_id = run_strategy(site, "demo-aapl-trend")
    client = _login(site, "viewer")
    answer = client.get(f"/lineage?execution={execution_id}")
    assert answer.status_code == 200
    page = answer.text
    assert [name for name, _ in _steps(page)] == list(STEP_NAMES)
    assert f"Execution #{execution_id} of demo-aapl-trend" in page
    for index, name in enumerate(STEP_NAMES, start=1):
        card = _card(page, name)
        assert f'<span class="step-number">{index}</span>' in card
        assert re.search(r'class="step-duration">[\d,.]+ m?s<', card), card[:400]
        if index < 9:  # the HOLD ends the run after decide_signal: the rest say why they were skipped
            assert "In:</span>" in card
            assert "Out:</span>" in card
        else:
            assert "skipped: signal is HOLD" in card
    assert "1100 daily and" in _card(page, "fetch_market_data")  # the one-line summary, not raw JSON
    bars = re.findall(r'<rect class="step-bar (\w+)" x="(\d+)" y="0" width="(\d+)"', page)
    assert len(bars) == 11
    assert all(int(x) >= 0 and int(x) + int(w) <= 1000 and int(w) >= 3 for _, x, w in bars)
    assert " style=" not in page  # the CSP refuses inline styles: widths are SVG attributes
    charts = re.findall(r'<img src="(/api/v1/charts/\d+\.png)"', _card(page, "render_charts"))
    assert len(charts) == 2
    assert f'href="{charts[0]}" target="_blank"' in page
    image = client.get(charts[0])
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/png"
    signal = _card(page, "decide_signal")
    assert "<dt>Action</dt>" in signal
    assert "HOLD" in signal
    assert "<dt>Reward:risk</dt>" in signal
    analyze = _card(page, "analyze")
    assert "Raw LLM text" in analyze
    assert "&#34;action&#34;: &#34;HOLD&#34;" in analyze
    assert re.findall(r'data-post="([^"]+)"', page) == ["/api/v1/auth/logout"]  # read only, even for traders
    assert "<details" in _card(page, "load_strategy")
    assert "demo-aapl-trend" in _card(page, "load_strategy")


def test_a_failed_step_is_highlighted_with_its_error_and_the_rest_skipped(site: Api) -> None:
    run_strategy(site, "demo-spy-bands")
    charts = site.container.settings.charts.folder
    shutil.move(charts, charts.with_name("charts.saved"))
    charts.write_text("not a folder: the chart store is broken")
    try:
        failed = run_strategy(site, "demo-spy-bands")
    finally:
        charts.unlink()
        shutil.move(charts.with_name("charts.saved"), charts)
    page = _login(site).get(f"/lineage?execution={failed}").text
    statuses = dict(_steps(page))
    assert statuses["render_charts"] == "failed"
    assert all(statuses[name] == "skipped" for name in STEP_NAMES[6:])
    card = _card(page, "render_charts")
    assert 'class="card step failed"' in card
    assert "<strong>Error</strong>" in card
    assert "Not a directory" in card.split("<pre", 1)[1]
    assert '<p class="step-failed-note" role="alert">Failed at step 6,' in page
    assert 'href="#step-6"' in page
    stats = page[page.index('data-step-stats="render_charts"') :]
    stats = stats[: stats.index("</tr>")]
    assert "50%" in stats
    assert "1×" in stats


def test_the_selectors_and_deep_links_pick_the_strategy_and_execution(site: Api) -> None:
    aapl = [run_strategy(site, "demo-aapl-trend") for _ in range(2)]
    site.clock.advance(timedelta(minutes=5))
    spy = run_strategy(site, "demo-spy-bands")
    with site.container.read_sessions() as session:
        aapl_id = session.scalars(select(Strategy.id).where(Strategy.name == "demo-aapl-trend")).one()
    client = _login(site)
    newest = client.get("/lineage").text
    assert f"Execution #{spy} of demo-spy-bands" in newest
    chosen = client.get(f"/lineage?strategy={aapl_id}").text
    assert f"Execution #{aapl[1]} of demo-aapl-trend" in chosen  # the strategy's newest by default
    assert f'<option value="{aapl_id}" selected>demo-aapl-trend</option>' in chosen
    options = re.findall(r'<option value="(\d+)"( selected)?>#', chosen)
    assert [int(i) for i, _ in options] == [aapl[1], aapl[0]]
    older = client.get(f"/lineage?strategy={aapl_id}&execution={aapl[0]}").text
    assert f"Execution #{aapl[0]} of demo-aapl-trend" in older
    assert f'<option value="{aapl[0]}" selected>#' in older
    strategies_page = client.get("/strategies").text
    assert f'href="/lineage?execution={aapl[1]}"' in strategies_page
    assert f'href="/lineage?execution={spy}"' in client.get("/").text
    assert '<a href="/lineage" aria-current="page">Lineage</a>' in chosen


def test_an_unknown_execution_or_strategy_is_a_404_page_and_a_bad_id_a_400(site: Api) -> None:
    client = _login(site)
    missing = client.get("/lineage?execution=987654")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    assert "There is no execution 987654." in missing.text
    assert client.get("/lineage?strategy=987654").status_code == 404
    for bad_id in ("1;drop", "²", "0", "9" * 40):
        bad = client.get("/lineage", params={"execution": bad_id})
        assert bad.status_code == 400, bad_id
        assert "whole number" in bad.text
    empty = client.get("/lineage")
    assert empty.status_code == 200
    assert "No execution yet." in empty.text


def test_llm_text_and_step_errors_with_html_render_as_text(llm_site: Api, llm_server: LlmServer) -> None:
    llm_server.default = text(HOSTILE)
    answered = run_strategy(llm_site, "scripted")
    client = _login(llm_site)
    page = client.get(f"/lineage?execution={answered}").text
    analyze = _card(page, "analyze")
    raw = analyze[analyze.index("data-raw-text>") :]
    assert raw.startswith(f"data-raw-text>{ESCAPED}"), raw[:200]
    assert "data-prompt>" in analyze  # the prompt as sent
    assert HOSTILE not in page
    assert "<b>bold" not in page

    with llm_site.container.sessions() as session:
        strategy = session.scalars(select(Strategy).where(Strategy.name == "scripted")).one()
        now = llm_site.clock.now()
        execution = make_execution(
            session, strategy, now=now, status=ExecutionStatus.FAILED, finished_at=now, error=HOSTILE
        )
        for index, name in enumerate(STEP_NAMES, start=1):
            status = (
                StepStatus.SUCCEEDED if index < 4 else StepStatus.FAILED if index == 4 else StepStatus.SKIPPED
            )
            session.add(
                WorkflowLineage(
                    execution_id=execution.id,
                    step_index=index,
                    step_name=name,
                    status=status,
                    input={"note": HOSTILE},
                    output=None,
                    error=HOSTILE if status is StepStatus.FAILED else None,
                    started_at=now + timedelta(milliseconds=index),
                    duration_ms=index,
                )
            )
        session.commit()
        failed = execution.id
    page = client.get(f"/lineage?execution={failed}").text
    assert HOSTILE not in page
    assert "<b>bold" not in page
    card = _card(page, "fetch_market_data")
    assert 'class="card step failed"' in card
    assert ESCAPED in card
    assert f'Failed at step 4, <a href="#step-4">Fetch market data</a>: {ESCAPED}' in page


def test_a_running_execution_reloads_its_steps_on_events_and_a_finished_one_does_not(site: Api) -> None:
    finished = run_strategy(site, "demo-aapl-trend")
    with site.container.sessions() as session:
        strategy = session.scalars(select(Strategy).where(Strategy.name == "demo-aapl-trend")).one()
        running = make_execution(session, strategy, now=site.clock.now()).id
        session.commit()
    client = _login(site)
    page = client.get(f"/lineage?execution={running}").text
    assert f'hx-get="/lineage?execution={running}" hx-trigger="ibflow:refresh from:body"' in page
    assert "Still running" in page
    assert "No step recorded yet." in page
    done = client.get(f"/lineage?execution={finished}").text
    assert 'id="lineage-body">' in done
    assert "data-still-running" not in done


def test_an_entry_shows_its_signal_levels_every_risk_check_the_sizing_and_its_orders(
    llm_site: Api, llm_server: LlmServer
) -> None:
    client = _login(llm_site)
    preview = client.post(
        "/api/v1/indicators/preview",
        json={"symbol": "AAPL", "type": "sma", "params": {"period": 5}, "points": 1},
    )
    close = Decimal(preview.json()["series"][-1]["close"])
    stop, target = (close * Decimal("0.96")).quantize(CENT), (close * Decimal("1.12")).quantize(CENT)
    llm_server.default = good(
        {
            "action": "BUY",
            "confidence": 0.9,
            "timeframe": "1d",
            "reasoning": "scripted: buy",
            "key_factors": ["scripted"],
            "valid_for_minutes": 60,
            "entry": float(close),
            "stop_loss": float(stop),
            "take_profit": float(target),
        }
    )
    execution_id = run_strategy(llm_site, "scripted")
    page = client.get(f"/lineage?execution={execution_id}").text
    assert [status for _, status in _steps(page)] == ["succeeded"] * 11
    signal = _card(page, "decide_signal")
    assert f"<dt>Stop</dt><dd>{stop}</dd>" in signal
    assert f"<dt>Target</dt><dd>{target}</dd>" in signal
    assert f"<dt>Reward:risk</dt><dd>{(target - close) / (close - stop):.2f}</dd>" in signal
    risk = _card(page, "size_and_check_risk")
    assert "✓ allowed" in risk
    checks = re.findall(r'<tr data-check="(\w+)"><td><code>\w+</code></td><td>✓ passed', risk)
    assert checks == [reason.value for reason in RiskReason]
    assert "<h4>Sizing</h4>" in risk
    assert "limited by" in risk
    orders = _card(page, "place_orders")
    assert orders.count('class="order"') == 3  # the bracket: entry, stop, target
    assert "BUY" in orders
    assert "→ working" in orders  # the entry's state changes, in order
