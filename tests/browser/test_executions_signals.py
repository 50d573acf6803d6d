"""The executions and signals pages in Chromium: a run appears on /executions without a reload and its
"View lineage" opens it; a new signal appears on /signals, the action filter narrows the list; both pages
at both sizes."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import DESKTOP, Site, check_accessibility, each_size, login, shoot

FINISHED = ["failed", "ordered", "blocked", "no_order"]


def _open_live(page: Any, site: Site, path: str) -> None:
    """Log in to ``path`` and wait until its event stream is open (so a run now is heard)."""
    with page.expect_response(lambda answer: "/api/v1/events" in answer.url):
        login(page, site, "trader", next_path=path)
    page.evaluate("() => { window.__notReloaded = true; }")


def test_a_run_appears_on_the_executions_page_without_a_reload_and_links_its_lineage(
    page: Any, site: Site
) -> None:
    _open_live(page, site, "/executions")
    row = page.locator('tr[data-strategy="demo-aapl-trend"]')
    assert row.count() == 0
    site.cli("run", "demo-aapl-trend")
    page.wait_for_function(
        """(finished) => {
            const badge = document.querySelector('tr[data-strategy="demo-aapl-trend"] .badge.outcome');
            return badge && finished.includes(badge.textContent.trim());
        }""",
        arg=FINISHED,
        timeout=60_000,
    )
    assert page.evaluate("() => window.__notReloaded === true")  # the same document: updated live
    text = row.first.inner_text()
    assert "manual" in text, text
    assert "succeeded" in text, text
    execution_id = row.first.get_attribute("data-execution")
    page.locator("#filter-status").select_option("succeeded")
    page.locator("form.filters button[type=submit]").click()
    page.wait_for_url("**/executions?*status=succeeded*")
    page.wait_for_selector("#filter-status option[value=succeeded][selected]", state="attached")
    assert page.locator(f'tr[data-execution="{execution_id}"]').count() == 1
    assert page.evaluate("() => window.__notReloaded === true")  # htmx swapped the list in
    page.go_back()
    page.wait_for_selector("#filter-status option[value=''][selected]", state="attached")  # Back: no filter
    assert not page.url.endswith("succeeded")
    each_size(page, page.url, "executions")
    page.locator(f'tr[data-execution="{execution_id}"] a.lineage').click()
    page.wait_for_url(f"**/lineage?execution={execution_id}")
    assert f"Execution #{execution_id}" in page.inner_text("main")


def test_a_new_signal_appears_live_and_the_action_filter_narrows_the_list(page: Any, site: Site) -> None:
    _open_live(page, site, "/signals")
    before = page.locator("tr[data-signal]").count()
    site.cli("run", "demo-spy-bands")
    page.wait_for_function(
        "(before) => document.querySelectorAll('tr[data-signal]').length > before", arg=before, timeout=60_000
    )
    assert page.evaluate("() => window.__notReloaded === true")
    newest = page.locator("tr[data-signal]").first
    action = newest.get_attribute("data-action")
    assert action in ("BUY", "SELL", "HOLD", "NO_SIGNAL")
    assert "demo-spy-bands" in newest.inner_text()

    page.locator("#filter-action").select_option(action)
    page.locator("form.filters button[type=submit]").click()
    page.wait_for_url(f"**/signals?action={action}*")
    page.wait_for_selector(f"#filter-action option[value={action}][selected]", state="attached")
    assert page.evaluate("() => window.__notReloaded === true")
    actions = page.locator("tr[data-signal]").evaluate_all("(rows) => rows.map((r) => r.dataset.action)")
    assert actions, "the signal just made matches its own action"
    assert set(actions) == {action}
    other = "SELL" if action != "SELL" else "BUY"
    page.locator("#filter-action").select_option(other)
    page.locator("form.filters button[type=submit]").click()
    page.wait_for_url(f"**/signals?action={other}*")
    page.wait_for_selector(f"#filter-action option[value={other}][selected]", state="attached")
    shown = page.locator("tr[data-signal]").evaluate_all("(rows) => rows.map((r) => r.dataset.action)")
    assert set(shown) <= {other}
    if not shown:
        assert "No signal matches these filters." in page.inner_text("main")

    each_size(page, f"{site.url}/signals", "signals")
    page.emulate_media(color_scheme="dark")  # the badges' colours pass axe's contrast check in the dark too
    page.set_viewport_size(DESKTOP)
    page.reload()
    check_accessibility(page)
    shoot(page, "signals-dark")
    page.emulate_media(color_scheme="light")
    page.locator("tr[data-signal] a.lineage").first.click()
    page.wait_for_url("**/lineage?execution=*")
    assert page.locator("li[data-step=decide_signal]").count() == 1


def test_a_bad_filter_in_the_address_is_said_on_the_page(page: Any, site: Site, page_problems: Any) -> None:
    page_problems.allow("/executions?from=")  # the page's own 400, which explains itself
    login(page, site, "viewer")
    page.goto(f"{site.url}/executions?from=2026-13-01")
    problem = page.locator("[data-filter-problem]")
    assert "is not a day" in problem.inner_text()
    assert page.locator("#filter-from").get_attribute("aria-invalid") == "true"
    assert "is not a day" in page.inner_text("#from-error")
