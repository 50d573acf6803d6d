"""Symbols and indicators in Chromium: search as you type, details, a config's bad value then fixed, the
preview's values and chart, both pages at both sizes."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import Site, each_size, login

CHART_LOADED = """() => {
    const img = document.querySelector('img[data-preview-chart]');
    return img !== null && img.complete && img.naturalWidth > 0;
}"""


def test_typing_a_partial_symbol_lists_matches_without_submitting_and_opens_the_details(
    page: Any, site: Site
) -> None:
    login(page, site, "trader", next_path="/symbols")
    page.evaluate("() => { window.__notReloaded = true; }")
    page.locator("#symbol-query").press_sequentially("aap", delay=40)
    apple = page.locator("#symbol-results a", has_text="AAPL")
    apple.wait_for()
    assert page.url.endswith("/symbols")  # not submitted: the same page, updated in place
    assert page.evaluate("() => window.__notReloaded === true")
    apple.click()
    page.wait_for_url("**/symbols/*")
    facts = page.inner_text("dl.figures")
    conid = page.url.rsplit("/", 1)[1]
    for fact in ("AAPL", conid, "USD", "0.01"):
        assert fact in facts, fact
    page.goto(f"{site.url}/symbols")
    recent = page.locator("[data-recent-symbols] a")
    assert recent.first.inner_text() == "AAPL"  # kept in this browser
    assert recent.first.get_attribute("href") == f"/symbols/{conid}"
    page.locator("#symbol-query").fill("ZZZZQX")
    page.locator("#symbol-query").press("Enter")  # the form submits too
    page.wait_for_selector("[data-no-match]")
    assert "No contract matches" in page.inner_text("#symbol-results")


def test_a_bad_config_value_is_explained_next_to_its_field_and_the_fixed_one_is_listed(
    page: Any, site: Site, page_problems: Any
) -> None:
    page_problems.allow("/api/v1/indicators/configs")  # the bad value's 422, shown on the form
    login(page, site, "trader", next_path="/indicators")
    rsi = page.locator("#indicator-rsi")
    rsi.locator("summary").click()
    page.fill("#new-rsi-name", "rsi-browser")
    page.fill("#new-rsi-period", "1")
    rsi.locator("button[type=submit]").click()
    error = rsi.locator('[data-error-for="params.period"]')
    error.wait_for()
    assert "between 2 and 200" in error.inner_text()
    assert page.get_attribute("#new-rsi-period", "aria-invalid") == "true"
    # next to the field: the message follows the period input (and its hint) in the same form
    assert page.evaluate(
        """() => {
            const input = document.getElementById('new-rsi-period');
            const error = input.form.querySelector('[data-error-for="params.period"]');
            return input.compareDocumentPosition(error) & Node.DOCUMENT_POSITION_FOLLOWING
                && error.previousElementSibling.previousElementSibling === input;
        }"""
    )
    assert "see the fields" in page.inner_text("#flash")
    assert page.locator('#indicator-configs tr[data-config="rsi-browser"]').count() == 0
    page.fill("#new-rsi-period", "7")
    rsi.locator("button[type=submit]").click()
    row = page.locator('#indicator-configs tr[data-config="rsi-browser"]')
    row.wait_for()
    assert "period=7" in row.inner_text()
    assert error.inner_text() == ""
    assert "saved" in page.inner_text("#flash")


def test_a_config_is_edited_and_deleted_from_the_list(page: Any, site: Site) -> None:
    login(page, site, "trader")
    api = site.api("trader")
    try:
        made = api.post(
            "/api/v1/indicators/configs", json={"name": "sma-edit", "type": "sma", "params": {"period": 10}}
        )
    finally:
        api.close()
    assert made.status_code == 201, made.text
    page.goto(f"{site.url}/indicators")
    row = page.locator('tr[data-config="sma-edit"]')
    row.locator("summary").click()
    row.locator('input[name="params.period"]').fill("30")
    page.evaluate("() => htmx.trigger(document.body, 'ibflow:refresh')")  # as an event from the stream
    page.wait_for_timeout(500)
    assert row.locator('input[name="params.period"]').input_value() == "30"  # not reloaded under the user
    row.locator("button[type=submit]").click()
    page.wait_for_selector('tr[data-config="sma-edit"]:has-text("period=30")')
    assert page.locator('tr[data-config="sma-edit"] details[open]').count() == 0  # closed once saved
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator('tr[data-config="sma-edit"] button', has_text="Delete").click()
    page.wait_for_selector('tr[data-config="sma-edit"]', state="detached")
    assert "deleted" in page.inner_text("#flash")


def test_the_preview_shows_the_last_values_and_the_chart_loads(page: Any, site: Site) -> None:
    login(page, site, "viewer", next_path="/indicators")
    page.evaluate("() => { window.__notReloaded = true; }")
    page.fill("#preview-symbol", "AAPL")
    page.select_option("#preview-indicator", "rsi")
    page.fill("#preview-points", "5")
    page.click("#preview-form button[type=submit]")
    rows = page.locator("table[data-preview-values] tbody tr")
    rows.first.wait_for()
    assert rows.count() == 5
    assert all(cell.strip() not in {"", "-"} for cell in rows.first.locator("td").all_inner_texts())
    page.wait_for_function(CHART_LOADED)
    assert page.evaluate("() => window.__notReloaded === true")


def test_a_preview_of_an_unknown_symbol_says_why(page: Any, site: Site, page_problems: Any) -> None:
    page_problems.allow("/indicators/preview")  # its 404, explained in the preview area
    login(page, site, "viewer", next_path="/indicators")
    page.fill("#preview-symbol", "ZZZZQ")
    page.click("#preview-form button[type=submit]")
    page.wait_for_selector("[data-preview-problem]")
    assert "no contract with the symbol 'ZZZZQ'" in page.inner_text("#preview")


def test_both_pages_pass_at_both_sizes_and_a_viewer_gets_no_write_control(page: Any, site: Site) -> None:
    login(page, site, "viewer")
    api = site.api("viewer")
    try:
        conid = api.get("/api/v1/symbols", params={"q": "AAPL"}).json()[0]["conid"]
    finally:
        api.close()
    for path, name in (
        ("/symbols?q=A", "symbols"),
        (f"/symbols/{conid}", "symbol-details"),
        ("/indicators?symbol=AAPL&indicator=macd&points=10", "indicators"),
    ):
        each_size(page, f"{site.url}{path}", name)
        posts = page.locator("[data-post], form[data-action]")
        targets = {posts.nth(i).get_attribute("data-post") for i in range(posts.count())}
        assert targets <= {"/api/v1/auth/logout"}, (path, targets)
    page.wait_for_function(CHART_LOADED)
    page.context.clear_cookies()
    login(page, site, "trader")
    each_size(page, f"{site.url}/indicators", "indicators-trader")
