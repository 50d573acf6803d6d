"""The shell in Chromium: log in, every page at both sizes, run now and halt seen live, a viewer's page."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import Site, each_size, login


def test_login_returns_to_the_page_asked_for_and_every_page_passes_at_both_sizes(
    page: Any, site: Site, page_problems: Any
) -> None:
    page_problems.allow("/api/v1/auth/login")  # the wrong password's 401, shown on the form
    page.goto(f"{site.url}/strategies")
    page.wait_for_url("**/login?next=/strategies")
    page.fill("input[name=username]", "trader")
    page.fill("input[name=password]", "wrong password")
    page.click("button[type=submit]")
    page.wait_for_selector(".flash-error")
    assert "wrong password" in page.inner_text("#flash")
    login(page, site, "trader", next_path="/strategies")
    assert page.url.endswith("/strategies")
    for path, name in (
        ("/", "dashboard"),
        ("/strategies", "strategies"),
        ("/account", "account"),
        ("/lineage", "lineage-newest"),
        ("/portfolio", "portfolio-empty"),
    ):
        each_size(page, f"{site.url}{path}", name)
    page.context.clear_cookies()
    each_size(page, f"{site.url}/login", "login")


def test_run_now_shows_its_result_on_the_dashboard_without_a_reload(page: Any, site: Site) -> None:
    login(page, site, "trader")
    row = page.locator("tr[data-strategy]").first
    name = row.get_attribute("data-strategy")
    page.evaluate("() => { window.__notReloaded = true; }")
    page.locator(f'tr[data-strategy="{name}"] button', has_text="Run now").click()
    page.wait_for_selector("#flash .flash-ok")
    result = page.locator(f'tr[data-strategy="{name}"] .last-result .badge')
    result.wait_for(timeout=60_000)
    assert result.inner_text().strip()
    assert page.evaluate("() => window.__notReloaded === true")  # the same document: updated live


def test_halt_from_the_state_bar_is_seen_on_the_page_without_a_reload(page: Any, site: Site) -> None:
    login(page, site, "trader")
    page.evaluate("() => { window.__notReloaded = true; }")
    page.click("#state-bar button:has-text('Halt')")
    page.fill("#halt-reason", "browser test: lunch")
    page.click("#halt-dialog button[type=submit]")
    page.wait_for_selector("#state-bar [data-trading-state=HALTED]")
    assert "Trading HALTED" in page.inner_text("#state-bar")
    assert page.locator("#state-bar button:has-text('Halt')").count() == 0
    assert page.evaluate("() => window.__notReloaded === true")
    site.cli("trading", "resume", "--reason", "browser test over", "--actor", "admin")


def test_a_viewer_sees_no_write_control_and_a_direct_write_is_refused(
    page: Any, site: Site, page_problems: Any
) -> None:
    login(page, site, "viewer")
    for path in ("/", "/strategies"):
        page.goto(f"{site.url}{path}")
        assert page.locator("[data-open-dialog], #halt-dialog").count() == 0, path
        posts = page.locator("[data-post], form[data-action]")
        targets = {posts.nth(i).get_attribute("data-post") for i in range(posts.count())}
        assert targets <= {"/api/v1/auth/logout"}, (path, targets)
    page_problems.allow("/api/v1/trading/halt")
    answer = page.evaluate(
        """async () => {
            const csrf = document.querySelector('meta[name="csrf-token"]').content;
            const r = await fetch('/api/v1/trading/halt', {method: 'POST', headers: {
                'Content-Type': 'application/json', 'X-CSRF-Token': csrf},
                body: JSON.stringify({reason: 'x'})});
            return [r.status, (await r.json()).detail];
        }"""
    )
    assert answer[0] == 403
    assert "needs trader" in answer[1]
