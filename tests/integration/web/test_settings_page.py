"""The settings pages through Starlette's test client: what each role sees, the API refusing writes outside
a role (403), a setting beyond its limit named next to its field (422), a token's secret shown once only,
and hostile text in the audit log kept as text."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from tests.integration.api.conftest import field_errors
from tests.integration.web.conftest import Api

from ibflow.web.layout import NAVIGATION

pytestmark = pytest.mark.integration
HOSTILE = "<script>alert(1)</script> lunch"
ADMIN_SECTIONS = ('id="runtime"', 'id="allow-list"', 'href="/settings/users"', 'href="/settings/audit"')


def _login(site: Api, username: str) -> TestClient:
    client = site.login(username)
    client.follow_redirects = False
    return client


def _buttons(page: str) -> set[str]:
    part = page.split('id="settings-trading"', 1)[1].split("</section>", 1)[0]
    return set(re.findall(r'data-open-dialog="([a-z-]+)"', part))


def test_settings_is_the_last_page_of_the_sidebar() -> None:
    assert NAVIGATION[-1] == ("/settings", "Settings")


def test_a_viewer_sees_the_sessions_and_the_kill_switch_and_nothing_to_change(site: Api) -> None:
    page = _login(site, "viewer").get("/settings")
    assert page.status_code == 200
    assert '<a href="/settings" aria-current="page">Settings</a>' in page.text
    assert 'data-account="PAPER-1"' in page.text  # the broker session of each account
    assert 'data-kill-switch="ACTIVE"' in page.text
    assert _buttons(page.text) == set()
    for section in ADMIN_SECTIONS:
        assert section not in page.text
    assert "flatten-dialog" not in page.text


def test_a_trader_may_halt_reduce_and_flatten_but_not_resume(site: Api) -> None:
    trader = _login(site, "trader")
    page = trader.get("/settings").text
    assert _buttons(page) == {"halt-dialog", "reduce-dialog", "flatten-dialog"}
    assert "resume-dialog" not in page
    for section in ADMIN_SECTIONS:
        assert section not in page
    assert trader.post("/api/v1/trading/halt", json={"reason": "test"}).status_code == 200
    halted = trader.get("/fragments/settings-trading").text
    assert 'data-kill-switch="HALTED"' in halted
    assert "resume-dialog" not in halted
    assert 'data-open-dialog="reduce-dialog"' not in halted  # loosening HALTED needs an admin
    assert trader.post("/api/v1/trading/resume", json={"reason": "try"}).status_code == 403
    assert trader.post("/api/v1/trading/reduce", json={"reason": "try"}).status_code == 403
    flattened = trader.post("/api/v1/trading/flatten", json={"reason": "end of test"})
    assert flattened.status_code == 200
    assert flattened.json()["exits"] == []  # the demo holds no position: nothing to exit
    assert flattened.json()["accounts"] == [{"account_id": "PAPER-1", "error": None, "done": True}]


def test_an_admin_sees_every_section_and_may_resume(site: Api) -> None:
    admin = _login(site, "owner")
    assert admin.post("/api/v1/trading/halt", json={"reason": "test"}).status_code == 200
    page = admin.get("/settings").text
    assert _buttons(page) == {"reduce-dialog", "resume-dialog", "flatten-dialog"}
    for section in ADMIN_SECTIONS:
        assert section in page
    assert 'data-setting="max_open_positions"' in page
    assert "an integer from 0 to" in page  # each setting with its limits
    assert admin.post("/api/v1/trading/resume", json={"reason": "back"}).status_code == 200
    assert 'data-kill-switch="ACTIVE"' in admin.get("/fragments/settings-trading").text


@pytest.mark.parametrize("username", ["viewer", "trader"])
def test_the_admin_pages_and_writes_are_refused_outside_the_role(site: Api, username: str) -> None:
    client = _login(site, username)
    for path in ("/settings/users", "/settings/audit"):
        page = client.get(path)
        assert page.status_code == 403
        assert "Only an admin" in page.text
    writes = [
        ("PUT", "/api/v1/settings/max_open_positions", {"value": 1}),
        ("PUT", "/api/v1/settings/ibkr_question_allow_list", {"value": "o163"}),
        ("POST", "/api/v1/users", {"username": "mallory", "password": "a long password 1", "role": "admin"}),
        ("PATCH", "/api/v1/users/viewer", {"role": "admin"}),
        ("POST", "/api/v1/tokens", {"username": "owner", "name": "stolen"}),
        ("DELETE", "/api/v1/tokens/1", None),
        ("POST", "/api/v1/trading/resume", {"reason": "mine"}),
    ]
    for method, path, body in writes:
        answer = client.request(method, path, json=body)
        assert answer.status_code == 403, (method, path, answer.text)
    assert client.get("/api/v1/audit").status_code == 403
    if username == "viewer":
        for path in ("/api/v1/trading/halt", "/api/v1/trading/reduce", "/api/v1/trading/flatten"):
            assert client.post(path, json={"reason": "no"}).status_code == 403


def test_a_setting_beyond_its_limit_is_a_422_naming_the_field_the_page_shows_it_next_to(site: Api) -> None:
    admin = _login(site, "owner")
    page = admin.get("/settings").text
    form = re.search(r'<li data-setting="max_open_positions">(.*?)</li>', page, re.S)
    assert form is not None
    assert 'data-action="/api/v1/settings/max_open_positions" data-method="PUT"' in form.group(1)
    assert 'data-error-for="max_open_positions"' in form.group(1)
    answer = admin.put("/api/v1/settings/max_open_positions", json={"value": "100000"})
    errors = field_errors(answer)
    assert "from 0 to" in errors["max_open_positions"]
    allow = admin.put("/api/v1/settings/ibkr_question_allow_list", json={"value": "o163, nope"})
    assert "nope" in field_errors(allow)["ibkr_question_allow_list"]
    assert 'data-error-for="ibkr_question_allow_list"' in page
    saved = admin.put("/api/v1/settings/ibkr_question_allow_list", json={"value": "p12, o163"})
    assert saved.status_code == 200
    page = admin.get("/settings").text
    assert 'value="o163,p12"' in page
    allow = page.split('id="allow-list"', 1)[1].split("</section>", 1)[0]
    assert 'data-post="/api/v1/settings/ibkr_question_allow_list" data-method="DELETE"' in allow
    assert admin.delete("/api/v1/settings/ibkr_question_allow_list").status_code == 200
    assert "data-setting-changed" not in admin.get("/settings").text.split('id="allow-list"', 1)[1]


def test_users_and_tokens_for_an_admin_and_a_tokens_secret_shown_once(site: Api) -> None:
    admin = _login(site, "owner")
    created = admin.post("/api/v1/tokens", json={"username": "trader", "name": "nightly-script"})
    assert created.status_code == 201
    secret = created.json()["token"]
    assert len(secret) > 16
    page = admin.get("/settings/users")
    assert page.status_code == 200
    for name in ("owner", "trader", "viewer"):
        assert f'data-user="{name}"' in page.text
    assert "nightly-script" in page.text
    assert secret not in page.text  # the list never shows it again
    assert secret not in admin.get("/api/v1/tokens").text
    for path in ("/settings", "/settings/audit", "/", "/fragments/settings-trading"):
        assert secret not in admin.get(path).text
    assert 'data-result="token-created"' in page.text  # the creation's answer is shown, once, by the browser
    token_id = created.json()["id"]
    assert f'data-post="/api/v1/tokens/{token_id}" data-method="DELETE"' in page.text
    assert admin.delete(f"/api/v1/tokens/{token_id}").status_code == 200
    assert "revoked" in admin.get("/settings/users").text
    changed = admin.patch("/api/v1/users/viewer", json={"is_active": "false"})
    assert changed.status_code == 200
    assert changed.json()["is_active"] is False


def test_the_audit_log_filters_pages_and_keeps_a_hostile_reason_as_text(site: Api) -> None:
    admin = _login(site, "owner")
    assert admin.post("/api/v1/trading/halt", json={"reason": HOSTILE}).status_code == 200
    for value in range(3):
        assert admin.put("/api/v1/settings/max_open_positions", json={"value": value}).status_code == 200
    page = admin.get("/settings/audit").text
    assert HOSTILE not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; lunch" in page
    assert "<script>alert" not in page
    only = admin.get("/settings/audit", params={"action": "setting.changed"}).text
    assert only.count("<tr data-audit=") == 3
    assert "lunch" not in only.split('<table class="cards audit">', 1)[1]
    bad = admin.get("/settings/audit", params={"since": "yesterday"})
    assert bad.status_code == 200
    assert "not a date and time: &#39;yesterday&#39;" in bad.text
    later = admin.get("/settings/audit", params={"since": "2099-01-01T00:00"}).text
    assert "Nothing recorded that matches" in later
    nobody = admin.get("/settings/audit", params={"actor": "nobody"}).text
    assert "Nothing recorded that matches" in nobody
    first = re.findall(r'<tr data-audit="(\d+)"', page)
    assert first == sorted(first, key=int, reverse=True)
    older = admin.get("/settings/audit", params={"before": first[0]}).text
    assert f'<tr data-audit="{first[0]}"' not in older
    assert f'<tr data-audit="{first[1]}"' in older
