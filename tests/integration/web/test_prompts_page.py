"""The prompts pages through Starlette's test client: the list with uses and performance, the editor a
trader gets and a viewer does not, the variables, the history with a diff, and hostile text kept as text."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from html import unescape

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.integration.web.conftest import Api

from ibflow.core.ids import StrategyId
from ibflow.db.models import PromptTemplate, PromptVersion, Strategy, Trade, TradingSignal
from ibflow.db.states import SignalAction
from ibflow.llm.prompts.defaults import DEFAULTS, default_name
from ibflow.llm.prompts.variables import ROLE_VARIABLES, VARIABLES
from ibflow.workflow.strategies.demo import DEMO_STRATEGIES

pytestmark = pytest.mark.integration
DEFAULT = "default-analysis-en"
VERSIONS = f"/api/v1/prompts/templates/{DEFAULT}/versions"
HOSTILE = "<script>alert(1)</script> <b>bold</b> for {{ symbol }}"


def _login(site: Api, username: str) -> TestClient:
    client = site.login(username)
    client.follow_redirects = False
    return client


def _strategy_id(site: Api, name: str) -> int:
    with site.container.read_sessions() as session:
        found: int = session.scalars(select(Strategy.id).where(Strategy.name == name)).one()
    return found


def _original(client: TestClient) -> str:
    body: str = client.get(f"{VERSIONS}/1").json()["body"]
    return body


def test_the_list_shows_every_template_its_newest_version_and_the_strategies_using_it(site: Api) -> None:
    page = _login(site, "viewer").get("/prompts")
    assert page.status_code == 200
    for role, language in DEFAULTS:
        assert f'data-template="{default_name(role, language)}"' in page.text
    row = re.search(rf'<tr data-template="{DEFAULT}">(.*?)</tr>', page.text, re.S)
    assert row is not None
    cells = unescape(re.sub(r"<[^>]+>", " ", row.group(1)))
    for name, _, _ in DEMO_STRATEGIES:
        assert f"{name} follows the newest" in " ".join(cells.split())
    assert '<a href="/prompts" aria-current="page">Prompts</a>' in page.text  # in the sidebar
    assert "No signal yet" in page.text


def test_the_list_shows_each_versions_performance_once_strategies_ran(site: Api) -> None:
    executor = site.container.executor()
    spy = StrategyId(_strategy_id(site, "demo-spy-bands"))
    for _ in range(2):
        executor.run(executor.create_manual(spy))
        site.clock.advance(timedelta(minutes=5))
    page = _login(site, "viewer").get("/prompts").text
    rows = re.findall(r'<tr data-performance="([^"]+)">(.*?)</tr>', page, re.S)
    assert rows, page
    signals = sum(int(re.findall(r'<td class="num">(\d+)</td>', cells)[0]) for _, cells in rows)
    assert signals == 2
    assert "Win rate" in page
    assert "Average R" in page


def test_win_rate_average_r_and_pnl_of_a_versions_trades_on_both_pages(site: Api) -> None:
    viewer = _login(site, "viewer")
    assert viewer.get("/prompts").status_code == 200  # seeds the default templates
    at = site.clock.now()
    with site.container.sessions() as session:
        strategy = session.scalars(select(Strategy).where(Strategy.name == "demo-spy-bands")).one()
        version = session.scalars(
            select(PromptVersion).join(PromptTemplate).where(PromptTemplate.name == DEFAULT)
        ).one()
        signals = [
            TradingSignal(strategy_id=strategy.id, action=action, created_at=at, prompt_version_id=version.id)
            for action in (SignalAction.BUY, SignalAction.BUY, SignalAction.HOLD)
        ]
        session.add_all(signals)
        session.flush()
        for signal, pnl, r_multiple in ((signals[0], "200", "2"), (signals[1], "-100", "-1")):
            session.add(
                Trade(
                    account_id="PAPER-1",
                    strategy_id=strategy.id,
                    signal_id=signal.id,
                    conid=strategy.conid,
                    symbol="SPY",
                    quantity=Decimal(10),
                    entry_price=Decimal(500),
                    exit_price=Decimal(500),
                    gross_pnl=Decimal(pnl),
                    commissions=Decimal(0),
                    net_pnl=Decimal(pnl),
                    r_multiple=Decimal(r_multiple),
                    opened_at=at,
                    closed_at=at,
                )
            )
        session.commit()
    listed = viewer.get("/prompts").text
    row = re.search(rf'<tr data-performance="{DEFAULT}@1">(.*?)</tr>', listed, re.S)
    assert row is not None, listed
    cells = [unescape(c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)]
    assert cells[1:] == ["3", "66.7 %", "2", "50.0 %", "+0.50 R", "100.00"]
    detail = unescape(viewer.get(f"/prompts/{DEFAULT}").text)
    for figure in ("<dt>Signals</dt><dd>3</dd>", "<dt>Win rate</dt><dd>50.0 %</dd>", "<dd>+0.50 R</dd>"):
        assert figure in detail


def test_a_trader_gets_the_editor_and_a_viewer_only_reads(site: Api) -> None:
    trader = _login(site, "trader").get(f"/prompts/{DEFAULT}").text
    assert f'data-action="{VERSIONS}"' in trader
    assert 'name="body"' in trader
    assert "Save as new version" in trader
    assert 'data-with="prompt-body"' in trader  # the preview renders the editor's text
    viewer_client = _login(site, "viewer")
    viewer = viewer_client.get(f"/prompts/{DEFAULT}").text
    assert "<textarea" not in viewer
    assert "Save as new version" not in viewer
    writes = re.findall(r'data-(?:action|post)="([^"]+)"', viewer)
    assert set(writes) <= {"/api/v1/auth/logout", "/api/v1/prompts/render"}, writes
    assert f'name="version" value="{DEFAULT}@1"' in viewer  # a viewer previews the saved text
    refused = viewer_client.post(VERSIONS, json={"body": "{{ symbol }}"})
    assert refused.status_code == 403
    for name, _, _ in DEMO_STRATEGIES:  # the preview offers every strategy
        assert f"{name} (" in viewer


def test_the_variables_of_the_templates_role_sit_beside_the_editor(site: Api) -> None:
    trader = _login(site, "trader")
    analysis = trader.get(f"/prompts/{DEFAULT}").text
    for name, meaning in VARIABLES.items():
        assert f"<dt><code>{name}</code></dt><dd>{meaning}</dd>" in unescape(analysis), name
    assert "weekly_analysis" not in analysis
    consolidation = trader.get(f"/prompts/{default_name('consolidation', 'en')}").text
    for name in ROLE_VARIABLES["consolidation"]:
        assert f"<dt><code>{name}</code></dt>" in consolidation


def test_the_preview_of_another_role_shows_that_roles_text_and_a_custom_one_has_none(site: Api) -> None:
    trader = _login(site, "trader")
    system = trader.get(f"/prompts/{default_name('system', 'en')}").text
    assert '<pre class="prompt-text" data-result-for="system"></pre>' in system
    assert 'data-with="prompt-body"' not in system  # the API renders drafts as the analysis only
    made = trader.post(
        "/api/v1/prompts/templates/terse-system/versions", json={"body": "Be terse.", "role": "system"}
    )
    assert made.status_code == 201, made.text
    custom = trader.get("/prompts/terse-system").text
    assert "has nothing to preview" in custom
    assert "/api/v1/prompts/render" not in custom


def test_a_saved_version_joins_the_history_and_two_versions_diff_line_by_line(site: Api) -> None:
    trader = _login(site, "trader")
    original = _original(trader)
    first_line = original.splitlines()[0]
    edited = original.replace(first_line, "Look at {{ symbol }} calmly.", 1) + "\nKeep it under 80 words.\n"
    saved = trader.post(VERSIONS, json={"body": edited})
    assert saved.status_code == 201, saved.text
    page = trader.get(f"/prompts/{DEFAULT}").text
    assert page.index('data-version="2"') < page.index('data-version="1"')  # newest first
    assert "Version 2" in page
    assert "Saved <time" in page
    assert " by trader" in page
    diff = trader.get(f"/prompts/{DEFAULT}", params={"old": 1, "new": 2})
    assert diff.status_code == 200
    added = [unescape(x) for x in re.findall(r'<span class="diff-added">(.*?)</span>', diff.text, re.S)]
    removed = [unescape(x) for x in re.findall(r'<span class="diff-removed">(.*?)</span>', diff.text, re.S)]
    assert "+Keep it under 80 words." in added
    assert "+Look at {{ symbol }} calmly." in added
    assert f"-{first_line}" in removed
    same = trader.get(f"/prompts/{DEFAULT}", params={"old": 2, "new": 2}).text
    assert "Versions 2 and 2 have the same text." in same
    missing = trader.get(f"/prompts/{DEFAULT}", params={"old": 1, "new": 9})
    assert missing.status_code == 200
    assert "has no version 9" in unescape(missing.text)


def test_a_template_with_a_space_in_its_name_is_listed_and_opens(site: Api) -> None:
    trader = _login(site, "trader")
    made = trader.post(
        "/api/v1/prompts/templates/my%20swing%20analysis/versions",
        json={"body": "Analyse {{ symbol }}.", "role": "analysis"},
    )
    assert made.status_code == 201, made.text
    assert 'href="/prompts/my%20swing%20analysis"' in trader.get("/prompts").text
    page = trader.get("/prompts/my%20swing%20analysis")
    assert page.status_code == 200
    assert 'data-action="/api/v1/prompts/templates/my%20swing%20analysis/versions"' in page.text
    assert trader.get("/prompts/no-such-template").status_code == 404


def test_html_in_a_prompt_renders_as_text_in_the_preview_the_editor_and_the_history(site: Api) -> None:
    trader = _login(site, "trader")
    saved = trader.post(VERSIONS, json={"body": HOSTILE})
    assert saved.status_code == 201, saved.text
    spy = _strategy_id(site, "demo-spy-bands")
    # The preview the page shows: the render API answers JSON, which app.js puts in the <pre> as text.
    for body in ({"strategy_id": spy, "body": HOSTILE}, {"strategy_id": spy, "version": f"{DEFAULT}@2"}):
        rendered = trader.post("/api/v1/prompts/render", json=body)
        assert rendered.status_code == 200, rendered.text
        assert rendered.headers["content-type"].startswith("application/json")
        assert rendered.json()["analysis"] == "<script>alert(1)</script> <b>bold</b> for SPY"
    page = trader.get(f"/prompts/{DEFAULT}", params={"old": 1, "new": 2}).text
    assert '<pre class="prompt-text" data-result-for="analysis"></pre>' in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &lt;b&gt;bold&lt;/b&gt;" in page  # editor and history
    assert '<span class="diff-added">+&lt;script&gt;alert(1)&lt;/script&gt;' in page
    assert "<script>alert" not in page
    assert "<b>bold</b>" not in page
    assert "textContent" in trader.get("/static/app.js").text
    viewer = _login(site, "viewer").get(f"/prompts/{DEFAULT}").text
    assert '<pre class="prompt-text">&lt;script&gt;alert(1)&lt;/script&gt;' in viewer
