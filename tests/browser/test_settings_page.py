"""The settings page in Chromium: a trader flattens a real paper position and sees it go to zero live, halts
from the page, an admin resumes; a setting beyond its limit, a token shown once; both sizes per role."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from tests.browser.conftest import Site, check_accessibility, each_size, login, shoot
from tests.browser.scripted import llm_server, script_a_buy, scripted_site
from tests.llm_servers import LlmServer

__all__ = ["llm_server"]  # the fixture, used by name

FILL_TIMEOUT_S = 90


@pytest.fixture(scope="module")
def llm_site(tmp_path_factory: pytest.TempPathFactory, llm_server: LlmServer) -> Iterator[Site]:
    with scripted_site(tmp_path_factory.mktemp("settings-site"), llm_server) as site:
        yield site


def _wait_for_a_position(page: Any, site: Site) -> None:
    deadline = time.monotonic() + FILL_TIMEOUT_S
    while time.monotonic() < deadline:
        page.goto(f"{site.url}/settings")
        if page.get_attribute("[data-open-positions]", "data-open-positions") != "0":
            return
        time.sleep(2)
    raise AssertionError("the paper entry never filled:\n" + site.cli("orders"))


def test_flatten_from_the_settings_page_as_a_trader_and_see_positions_go_to_zero(
    page: Any, llm_site: Site, llm_server: LlmServer
) -> None:
    # a little above the last close: the paper broker fills that limit at once
    script_a_buy(llm_site, llm_server, entry="1.02", stop="0.95", target="1.20")
    llm_site.cli("run", "scripted-buy")
    login(page, llm_site, "trader", next_path="/settings")
    _wait_for_a_position(page, llm_site)
    assert page.locator("#settings-trading button", has_text="Resume").count() == 0  # only an admin resumes
    page.evaluate("() => { window.__notReloaded = true; }")
    page.locator("#settings-trading button", has_text="Flatten everything").click()
    dialog = page.locator("#flatten-dialog")
    assert dialog.is_visible()
    assert "closes every ibflow position" in dialog.inner_text()
    page.fill("#flatten-dialog-reason", "browser test: end of day")
    dialog.locator("button[type=submit]").click()
    result = page.locator("#flatten-result")
    result.wait_for(state="visible")
    assert not dialog.is_visible()
    exits = result.inner_text()
    assert "position" in exits, exits
    assert "sent" in exits, exits
    page.wait_for_selector('[data-open-positions="0"]', timeout=FILL_TIMEOUT_S * 1000)
    page.wait_for_selector('[data-kill-switch="HALTED"]')
    assert "flatten: browser test: end of day" in page.inner_text("[data-kill-reason]")
    assert page.evaluate("() => window.__notReloaded === true")  # the same document: updated live
    shoot(page, "settings-flattened")
    page.goto(f"{llm_site.url}/")
    assert "0 open position(s)" in page.inner_text("#main")
    llm_site.cli("trading", "resume", "--reason", "browser test: flatten over", "--actor", "admin")


def test_a_trader_halts_from_the_page_and_an_admin_resumes(page: Any, llm_site: Site) -> None:
    login(page, llm_site, "trader", next_path="/settings")
    page.locator("#settings-trading button", has_text="Halt").click()
    page.fill("#halt-reason", "browser test: <b>lunch</b>")
    page.click("#halt-dialog button[type=submit]")
    page.wait_for_selector('[data-kill-switch="HALTED"]')
    assert page.inner_text("[data-kill-reason]") == "browser test: <b>lunch</b>"  # text, not markup
    assert page.locator("#settings-trading button", has_text="Resume").count() == 0
    page.context.clear_cookies()
    login(page, llm_site, "admin", next_path="/settings")
    page.locator("#settings-trading button", has_text="Resume").click()
    page.fill("#resume-dialog-reason", "browser test: back from lunch")
    page.click("#resume-dialog button[type=submit]")
    page.wait_for_selector('[data-kill-switch="ACTIVE"]')
    assert page.locator("#settings-trading button", has_text="Resume").count() == 0


def test_a_setting_beyond_its_limit_is_explained_next_to_it(
    page: Any, llm_site: Site, page_problems: Any
) -> None:
    page_problems.allow("/api/v1/settings/max_open_positions")  # the expected 422
    login(page, llm_site, "admin", next_path="/settings")
    field = page.locator("#setting-max_open_positions")
    field.fill("100000")
    page.locator('li[data-setting="max_open_positions"] button[type=submit]').click()
    error = page.locator('[data-error-for="max_open_positions"]')
    error.wait_for(state="visible")
    assert "from 0 to" in error.inner_text()
    field.fill("3")
    page.locator('li[data-setting="max_open_positions"] button[type=submit]').click()
    page.wait_for_function("() => document.querySelector('#setting-max_open_positions').value === '3'")
    page.wait_for_load_state("load")
    assert page.locator("#setting-max_open_positions").input_value() == "3"
    changed = page.locator('li[data-setting="max_open_positions"] [data-setting-changed]')
    assert "environment default 5" in changed.inner_text()
    page.once("dialog", lambda dialog: dialog.accept())
    changed.locator("button", has_text="Reset to default").click()
    page.wait_for_function("() => document.querySelector('#setting-max_open_positions').value === '5'")
    assert page.locator('li[data-setting="max_open_positions"] [data-setting-changed]').count() == 0


def test_a_new_token_is_shown_once(page: Any, llm_site: Site) -> None:
    login(page, llm_site, "admin", next_path="/settings/users")
    page.fill("#token-name", "browser-script")
    page.click("#tokens form button[type=submit]")
    page.locator("#token-created").wait_for(state="visible")
    secret = page.input_value("#token-secret")
    assert len(secret) > 16
    page.goto(f"{llm_site.url}/settings/users")
    assert page.locator('tr[data-token] td[data-label="Name"]', has_text="browser-script").count() == 1
    assert secret not in page.content()
    assert page.locator("#token-created").is_hidden()
    assert secret not in llm_site.log.read_text()  # nor in the server's log


def test_the_settings_pages_at_both_sizes_for_an_admin_and_a_viewer(page: Any, llm_site: Site) -> None:
    login(page, llm_site, "admin", next_path="/settings")
    for path, name in (
        ("/settings", "settings-admin"),
        ("/settings/users", "settings-users"),
        ("/settings/audit", "settings-audit"),
    ):
        each_size(page, f"{llm_site.url}{path}", name)
    page.evaluate("() => window.localStorage.setItem('ibflow-theme', 'dark')")
    for path in ("/settings", "/settings/users"):
        page.goto(f"{llm_site.url}{path}")
        assert page.evaluate("() => document.documentElement.dataset.theme") == "dark"
        check_accessibility(page)  # the dark theme's contrast too
    shoot(page, "settings-users-dark")
    page.context.clear_cookies()
    login(page, llm_site, "viewer", next_path="/settings")
    each_size(page, f"{llm_site.url}/settings", "settings-viewer")
    assert page.locator("#settings-trading button").count() == 0
