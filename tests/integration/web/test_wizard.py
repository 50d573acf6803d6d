"""The strategy wizard and the strategy page over HTTP: each step's check, the schedule preview, creating,
editing, and who sees which control."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from tests.factories import strategy_document
from tests.integration.api.conftest import field_errors
from tests.integration.web.conftest import Api

from ibflow.db.models import Strategy

pytestmark = pytest.mark.integration

HOSTILE = '<script>alert("owned")</script>'


def _login(site: Api, username: str) -> TestClient:
    client = site.login(username)
    client.follow_redirects = False
    return client


def _strategy_id(site: Api, name: str) -> int:
    with site.container.sessions() as session:
        found = session.scalars(select(Strategy.id).where(Strategy.name == name)).first()
    assert found is not None
    return int(found)


def test_the_wizard_shows_six_steps_with_the_first_current_and_the_ranges_of_each_risk_limit(
    site: Api,
) -> None:
    page = _login(site, "trader").get("/strategies/new")
    assert page.status_code == 200
    html = page.text
    for label in ("Symbol", "Indicators", "Prompt and analyst", "Schedule", "Risk", "Review and create"):
        assert label in html
    assert html.count('aria-current="step"') == 1
    assert 'data-step-label="1" aria-current="step"' in html
    assert "Allowed: 0.0001 to 0.05 (fraction of equity risked per trade)" in html
    assert "an integer between" in html  # an indicator parameter's allowed values
    assert 'src="/static/wizard.js?v=2"' in html
    assert "<script>" not in html.replace('<script src="', "")  # no inline script under the CSP


def test_creating_with_the_wizards_document_makes_the_strategy_and_its_page_shows_it(site: Api) -> None:
    trader = _login(site, "trader")
    created = trader.post("/api/v1/strategies", json=strategy_document(description=HOSTILE))
    assert created.status_code == 201, created.text
    strategy_id = created.json()["id"]
    page = trader.get(f"/strategies/{strategy_id}")
    assert page.status_code == 200
    html = page.text
    assert "wizard-made" in html
    assert "At 10:00 AM, Monday through Friday" in html
    assert html.count('<li><time datetime="') == 5  # the next five runs
    assert "&lt;script&gt;" in html
    assert HOSTILE not in html
    for action in ("run", "pause", "archive"):
        assert f'data-post="/api/v1/strategies/{strategy_id}/{action}"' in html
    assert f'href="/strategies/{strategy_id}/edit"' in html
    assert '<td class="num">20,000.00</td>' in html  # the default largest entry value, as money
    assert f'href="/strategies/{strategy_id}"' in trader.get("/strategies").text


def test_a_paused_strategy_offers_resume_and_no_next_run(site: Api) -> None:
    trader = _login(site, "trader")
    strategy_id = _strategy_id(site, "demo-msft-trend")
    assert trader.post(f"/api/v1/strategies/{strategy_id}/pause").status_code == 200
    live = trader.get(f"/fragments/strategy/{strategy_id}").text
    assert f'data-post="/api/v1/strategies/{strategy_id}/resume"' in live
    assert "/pause" not in live
    assert "Run now" not in live
    assert 'data-strategy-state="paused"' in live


def test_edit_opens_the_wizard_filled_in_to_save_with_put(site: Api) -> None:
    trader = _login(site, "trader")
    strategy_id = _strategy_id(site, "demo-spy-bands")
    html = trader.get(f"/strategies/{strategy_id}/edit").text
    assert f'data-submit="/api/v1/strategies/{strategy_id}"' in html
    assert 'data-method="PUT"' in html
    assert 'value="demo-spy-bands"' in html
    assert 'value="*/5 * * * *"' in html
    assert html.count("data-indicator-row>") == 4 + 1  # the four indicators, and the new-row template
    assert "Save changes" in html


def test_a_viewer_sees_the_strategy_page_without_a_write_control_and_no_wizard(site: Api) -> None:
    viewer = _login(site, "viewer")
    strategy_id = _strategy_id(site, "demo-aapl-trend")
    page = viewer.get(f"/strategies/{strategy_id}").text
    assert "demo-aapl-trend" in page
    writes = [line for line in page.splitlines() if "data-post=" in line or "data-action=" in line]
    assert all("/api/v1/auth/logout" in line for line in writes), writes
    assert "/edit" not in page
    assert "New strategy" not in viewer.get("/").text
    wizard = viewer.get("/strategies/new").text
    assert "needs the trader role" in wizard
    assert 'id="wizard"' not in wizard


def test_the_dashboard_offers_a_trader_a_new_strategy(site: Api) -> None:
    page = _login(site, "trader").get("/").text
    assert 'href="/strategies/new"' in page


def test_an_unknown_strategy_is_a_404(site: Api) -> None:
    trader = _login(site, "trader")
    assert trader.get("/strategies/987654").status_code == 404
    assert trader.get("/strategies/987654/edit").status_code == 404


def test_an_archived_strategy_shows_no_action(site: Api) -> None:
    strategy_id = _strategy_id(site, "demo-jpm-bands")
    with site.container.sessions() as session:
        session.execute(update(Strategy).where(Strategy.id == strategy_id).values(state="archived"))
        session.commit()
    live = _login(site, "trader").get(f"/fragments/strategy/{strategy_id}").text
    assert "data-post=" not in live
    assert 'data-strategy-state="archived"' in live


def test_the_wizard_offers_the_analysis_templates_and_the_saved_indicator_configs(site: Api) -> None:
    trader = _login(site, "trader")
    saved = trader.post(
        "/api/v1/indicators/configs", json={"name": "fast-rsi", "type": "rsi", "params": {"period": 7}}
    )
    assert saved.status_code == 201, saved.text
    html = trader.get("/strategies/new").text
    assert '<option value="default-analysis-en">default-analysis-en (newest: version 1)</option>' in html
    assert "default-consolidation-en" not in html  # a strategy names an analysis template only
    assert '<option value="config:fast-rsi">fast-rsi (rsi)</option>' in html
    document = strategy_document(
        indicators=[{"config": "fast-rsi", "params": {}}],
        analyst={"provider": "rules", "prompt_template": "default-analysis-en", "prompt_version": 1},
    )
    for step in ("indicators", "analyst"):
        answer = trader.post("/api/v1/strategies/check", json={"step": step, "document": document})
        assert answer.status_code == 200, (step, answer.text)
    missing = field_errors(
        trader.post(
            "/api/v1/strategies/check",
            json={
                "step": "analyst",
                "document": strategy_document(analyst={"provider": "rules", "prompt_version": 9}),
            },
        )
    )
    assert "name the template too" in missing["analyst.prompt_version"]
    created = trader.post("/api/v1/strategies", json=document)
    assert created.status_code == 201, created.text
    page = trader.get(f"/strategies/{created.json()['id']}").text
    assert "default-analysis-en version 1" in page
    assert "period 7" in page  # the saved config's parameters, copied
