"""The pages as a browser gets them: login and the way back, who sees which controls, escaping, headers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from tests.factories import make_execution
from tests.integration.web.conftest import PASSWORD, Api

from ibflow.db.models import Strategy

pytestmark = pytest.mark.integration

HOSTILE = '<script>alert("owned")</script><b>bold</b>'


def _login(site: Api, username: str) -> TestClient:
    client = site.login(username)
    client.follow_redirects = False
    return client


def test_a_page_without_a_login_goes_to_the_login_and_names_the_way_back(site: Api) -> None:
    anonymous = site.fresh()
    anonymous.follow_redirects = False
    answer = anonymous.get("/strategies?state=active")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/strategies%3Fstate%3Dactive"
    login = anonymous.get("/login", params={"next": "/strategies?state=active"})
    assert login.status_code == 200
    assert 'data-then="/strategies?state=active"' in login.text
    assert 'name="username"' in login.text
    assert 'name="password"' in login.text


def test_the_login_page_never_sends_the_user_to_another_site(site: Api) -> None:
    anonymous = site.fresh()
    for hostile in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        page = anonymous.get("/login", params={"next": hostile})
        assert 'data-then="/"' in page.text, hostile


def test_a_fragment_of_an_ended_session_asks_htmx_to_go_to_the_login(site: Api) -> None:
    anonymous = site.fresh()
    answer = anonymous.get(
        "/fragments/dashboard",
        headers={"HX-Request": "true", "HX-Current-URL": "http://testserver/strategies"},
    )
    assert answer.status_code == 200
    assert answer.headers["HX-Redirect"] == "/login?next=/strategies"


def test_an_idle_session_expires_and_the_page_sends_back_to_login(site: Api) -> None:
    trader = _login(site, "trader")
    assert trader.get("/").status_code == 200
    site.clock.advance(timedelta(days=3))
    answer = trader.get("/")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login"


def test_a_logged_in_user_at_the_login_page_goes_straight_on(site: Api) -> None:
    trader = _login(site, "trader")
    answer = trader.get("/login", params={"next": "/strategies"})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/strategies"


def test_the_dashboard_shows_the_state_bar_the_portfolio_and_the_active_strategies(site: Api) -> None:
    trader = _login(site, "trader")
    page = trader.get("/").text
    assert "PAPER" in page
    assert "Trading ACTIVE" in page
    with site.container.sessions() as session:
        names = session.scalars(select(Strategy.name).where(Strategy.state == "active")).all()
    assert names
    for name in names:
        assert f'data-strategy="{name}"' in page
    assert "Portfolio" in page
    assert "Recent signals" in page
    assert "Recent orders" in page


def test_a_trader_gets_write_controls_and_a_viewer_none(site: Api) -> None:
    trader_page = _login(site, "trader").get("/").text
    assert 'data-open-dialog="halt-dialog"' in trader_page
    assert 'data-action="/api/v1/trading/halt"' in trader_page
    assert "/run" in trader_page
    assert "Run now" in trader_page
    viewer = _login(site, "viewer")
    for path in ("/", "/strategies"):
        page = viewer.get(path).text
        assert "halt-dialog" not in page, path
        assert "Run now" not in page, path
        assert "Pause" not in page, path
        assert "Resume" not in page, path
        writes = [line for line in page.splitlines() if "data-post=" in line or "data-action=" in line]
        assert all("/api/v1/auth/logout" in line for line in writes), writes


def test_a_viewers_direct_writes_are_refused(site: Api) -> None:
    viewer = _login(site, "viewer")
    with site.container.sessions() as session:
        strategy_id = session.scalars(select(Strategy.id)).first()
    for path, body in (
        ("/api/v1/trading/halt", {"reason": "viewer tries"}),
        (f"/api/v1/strategies/{strategy_id}/run", None),
        (f"/api/v1/strategies/{strategy_id}/pause", None),
    ):
        assert viewer.post(path, json=body).status_code == 403, path


def test_a_strategy_description_with_html_renders_as_text(site: Api) -> None:
    with site.container.sessions() as session:
        session.execute(update(Strategy).values(description=HOSTILE))
        session.commit()
    page = _login(site, "trader").get("/strategies").text
    assert "&lt;script&gt;alert(&#34;owned&#34;)&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt;" in page
    assert "<script>alert" not in page
    assert "<b>bold</b>" not in page


def test_pages_carry_a_strict_content_security_policy_and_the_api_keeps_its_own(site: Api) -> None:
    trader = _login(site, "trader")
    page = trader.get("/")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert page.headers["x-frame-options"] == "DENY"
    assert "content-security-policy" not in trader.get("/api/v1/auth/me").headers
    script = trader.get("/static/vendor/htmx.min.js")
    assert script.status_code == 200
    assert "content-security-policy" in script.headers


def test_an_unknown_fragment_is_a_404(site: Api) -> None:
    assert _login(site, "trader").get("/fragments/no-such-part").status_code == 404


def test_changing_the_password_needs_the_current_one_and_ends_the_sessions(site: Api) -> None:
    viewer = _login(site, "viewer")
    wrong = viewer.post("/api/v1/auth/password", json={"current": "not it", "new": "a brand new passphrase"})
    assert wrong.status_code == 422
    assert {"field": "current", "problem": "this is not your current password"} in wrong.json()["errors"]
    short = viewer.post("/api/v1/auth/password", json={"current": PASSWORD, "new": "short"})
    assert short.status_code == 422
    changed = viewer.post(
        "/api/v1/auth/password", json={"current": PASSWORD, "new": "a brand new passphrase"}
    )
    assert changed.status_code == 200, changed.text
    assert viewer.get("/").status_code == 303  # this session ended too
    site.login("viewer", "a brand new passphrase")


def test_a_strategy_that_ran_links_its_last_runs_lineage(site: Api) -> None:
    with site.container.sessions() as session:
        strategy = session.scalars(select(Strategy).order_by(Strategy.id)).first()
        assert strategy is not None
        execution = make_execution(session, strategy=strategy, now=site.clock.now())
        session.commit()
        execution_id, name = execution.id, strategy.name
    trader = _login(site, "trader")
    page = trader.get("/strategies").text
    link = f'href="/lineage?execution={execution_id}"'
    assert link in page
    assert f'View lineage<span class="visually-hidden"> of {name}\'s last run' in page
    assert trader.get(f"/lineage?execution={execution_id}").status_code == 200
