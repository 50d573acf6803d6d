"""The strategy wizard and the strategy page in Chromium: create through six steps (a bad cron and a risk
value out of range explained next to their fields), run it now and see the result live, pause, resume,
archive, and a viewer's page without a write control."""

from __future__ import annotations

import re
from typing import Any

from tests.browser.conftest import (
    PHONE,
    Site,
    check_accessibility,
    each_size,
    login,
    no_horizontal_scroll,
    shoot,
)

NAME = "browser-wizard"
YEARLY = "0 3 1 1 *"
"""The created strategy's schedule: no scheduled run comes during the test to collide with Run now."""
FINISHED = ".badge.succeeded, .badge.failed, .badge.skipped, .badge.interrupted"


def _next(page: Any, step: int) -> None:
    page.click("[data-wizard-next]")
    page.wait_for_selector(f'[data-step-label="{step}"][aria-current="step"]')


def test_a_trader_creates_a_strategy_through_the_wizard_and_runs_it_from_its_page(
    page: Any, site: Site, page_problems: Any
) -> None:
    # The wizard's checks answer 422 for the bad values this test types: shown next to the fields.
    page_problems.allow("/api/v1/strategies/check")
    page_problems.allow("/api/v1/schedule/preview")
    login(page, site, "trader")
    page.click("a:has-text('New strategy')")
    page.wait_for_url("**/strategies/new")
    assert page.locator('.steps li[aria-current="step"]').inner_text().strip().endswith("Symbol")

    # 1 Symbol: search, choose a contract.
    page.fill("#f-name", NAME)
    page.fill("#f-symbol", "MSFT")
    page.click("[data-symbol-search]")
    page.locator("[data-choose]").first.click()
    assert "MSFT on" in page.inner_text("[data-symbol-chosen]")
    _next(page, 2)

    # 2 Indicators: a bad parameter is refused with its allowed range, then corrected.
    page.click("[data-add-indicator]")
    row = page.locator("[data-indicator-row]").first
    row.locator("select").select_option("rsi")
    row.locator('[data-param="period"]').fill("1")
    page.click("[data-wizard-next]")
    error = row.locator(".field-error")
    error.wait_for()
    assert "between" in error.inner_text()
    row.locator('[data-param="period"]').fill("14")
    _next(page, 3)

    # 3 Prompt and analyst: the rules analyst, the default prompt.
    page.select_option("#f-provider", "rules")
    _next(page, 4)

    # 4 Schedule: a bad cron is explained next to the field and the step stays; a good one shows the
    # schedule in words and its next five runs.
    page.fill("#f-cron", "61 * * * *")
    cron_error = page.locator('[data-error-for="schedule.cron"]')
    page.wait_for_function("() => document.querySelector('[data-error-for=\"schedule.cron\"]').textContent")
    page.click("[data-wizard-next]")
    page.wait_for_selector("#flash .flash-error")
    assert "'61 * * * *'" in cron_error.inner_text()
    assert re.search(r"minute|0-59|range|61", cron_error.inner_text())
    assert page.locator('[data-step-label="4"][aria-current="step"]').count() == 1
    page.fill("#f-cron", YEARLY)
    page.wait_for_function("() => document.querySelectorAll('[data-schedule-runs] li').length === 5")
    assert "At 03:00 AM" in page.inner_text("[data-schedule-text]")
    assert cron_error.inner_text() == ""
    _next(page, 5)

    # 5 Risk: each limit shows its allowed range; a value out of it is refused with that range.
    risk = page.locator("#f-risk-risk_per_trade")
    assert "Allowed: 0.0001 to 0.05" in page.inner_text("#f-risk-risk_per_trade-allowed")
    risk.fill("0.5")
    page.click("[data-wizard-next]")
    risk_error = page.locator('[data-error-for="risk.risk_per_trade"]')
    risk_error.wait_for()
    assert "between 0.0001 and 0.05" in risk_error.inner_text()
    assert risk.get_attribute("aria-invalid") == "true"
    risk.fill("0.01")
    page.fill("#f-risk-max_entries_per_day", "10")
    _next(page, 6)

    # 6 Review and create.
    review = page.inner_text("[data-review]")
    assert NAME in review
    assert "MSFT" in review
    assert YEARLY in review
    page.click("[data-wizard-create]")
    page.wait_for_url(re.compile(r".*/strategies/\d+$"))
    assert page.locator("h1").inner_text() == NAME
    assert page.locator("#strategy-live .runs li").count() == 5
    strategy_url = page.url

    # Run now: the result arrives on the page without a reload.
    page.evaluate("() => { window.__notReloaded = true; }")
    page.click("#strategy-live button:has-text('Run now')")
    page.wait_for_selector("#flash .flash-ok")
    result = page.locator("#strategy-live .last-result").locator(FINISHED)
    result.wait_for(timeout=60_000)  # queued, running, then its outcome: all without a reload
    assert result.inner_text().strip()
    assert page.evaluate("() => window.__notReloaded === true")

    # And on the dashboard, live too (another run).
    page.goto(f"{site.url}/")
    row_on_dashboard = page.locator(f'tr[data-strategy="{NAME}"]')
    assert row_on_dashboard.locator(".last-result .badge").count() == 1
    page.evaluate("() => { window.__notReloaded = true; }")
    before = row_on_dashboard.locator(".last-result time").get_attribute("datetime")
    assert before is not None
    row_on_dashboard.locator("button", has_text="Run now").click()
    page.wait_for_selector("#flash .flash-ok")
    page.wait_for_function(
        """([name, before]) => {
            const time = document.querySelector(`tr[data-strategy="${name}"] .last-result time`);
            return time && time.getAttribute("datetime") !== before;
        }""",
        arg=[NAME, before],
        timeout=60_000,
    )
    row_on_dashboard.locator(".last-result").locator(FINISHED).wait_for(timeout=60_000)
    assert page.evaluate("() => window.__notReloaded === true")

    # Pause, resume, archive, each seen on the page without a reload.
    page.goto(strategy_url)
    page.evaluate("() => { window.__notReloaded = true; }")
    page.click("#strategy-live button:has-text('Pause')")
    page.wait_for_selector('[data-strategy-state="paused"]')
    assert page.locator("#strategy-live button:has-text('Run now')").count() == 0
    page.click("#strategy-live button:has-text('Resume')")
    page.wait_for_selector('[data-strategy-state="active"]')
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#strategy-live button:has-text('Archive')")
    page.wait_for_selector('[data-strategy-state="archived"]')
    assert page.locator("#strategy-live [data-post]").count() == 0
    assert page.evaluate("() => window.__notReloaded === true")


def test_edit_opens_the_wizard_filled_in_and_saves_a_change(page: Any, site: Site) -> None:
    login(page, site, "trader")
    page.goto(f"{site.url}/strategies")
    page.click("a:has-text('demo-xom-trend')")
    page.wait_for_url(re.compile(r".*/strategies/\d+$"))
    page.click("a:has-text('Edit')")
    page.wait_for_url(re.compile(r".*/strategies/\d+/edit$"))
    assert page.input_value("#f-name") == "demo-xom-trend"
    assert page.locator("[data-indicator-row]").count() == 4
    for step in range(2, 7):
        _next(page, step)
    page.click("[data-wizard-create]")
    page.wait_for_url(re.compile(r".*/strategies/\d+$"))
    assert page.locator("h1").inner_text() == "demo-xom-trend"


def test_a_viewer_sees_no_write_control_on_a_strategy_page(page: Any, site: Site) -> None:
    login(page, site, "viewer")
    page.goto(f"{site.url}/strategies")
    assert page.locator("a:has-text('New strategy')").count() == 0
    page.click("a:has-text('demo-aapl-trend')")
    page.wait_for_url(re.compile(r".*/strategies/\d+$"))
    posts = page.locator("[data-post], form[data-action]")
    targets = {posts.nth(i).get_attribute("data-post") for i in range(posts.count())}
    assert targets <= {"/api/v1/auth/logout"}, targets
    assert page.locator("a:has-text('Edit')").count() == 0
    assert page.locator("#strategy-live .runs li").count() == 5


def test_the_wizard_and_the_strategy_page_pass_at_both_sizes(page: Any, site: Site) -> None:
    login(page, site, "trader")
    page.goto(f"{site.url}/strategies")
    page.click("a:has-text('demo-spy-bands')")
    page.wait_for_url(re.compile(r".*/strategies/\d+$"))
    strategy_path = page.url.removeprefix(site.url)
    for path, name in (
        ("/strategies/new", "wizard"),
        (strategy_path, "strategy"),
        (f"{strategy_path}/edit", "wizard-edit"),
    ):
        each_size(page, f"{site.url}{path}", name)


def test_every_step_fits_a_phone_passes_axe_and_works_from_the_keyboard_in_the_dark_theme(
    page: Any, site: Site, page_problems: Any
) -> None:
    page_problems.allow("/api/v1/strategies/check")
    login(page, site, "trader")
    page.goto(f"{site.url}/strategies/new")
    page.click("[data-toggle-theme]")
    page.click("[data-toggle-theme]")
    assert page.evaluate("() => document.documentElement.dataset.theme") == "dark"
    page.set_viewport_size(PHONE)
    page.fill("#f-name", "browser-phone")
    page.fill("#f-symbol", "AAPL")
    # From the keyboard: Enter in a field moves on as Next does, and focus lands on the new step's heading.
    page.focus("#f-symbol")
    page.keyboard.press("Enter")
    page.wait_for_selector('[data-step-label="2"][aria-current="step"]')
    assert page.evaluate("() => document.activeElement.textContent.trim()") == "2. Indicators"
    page.click("[data-add-indicator]")
    for step in range(2, 7):
        if step > 2:
            _next(page, step)
        if step == 4:
            page.wait_for_function("() => document.querySelectorAll('[data-schedule-runs] li').length === 5")
        no_horizontal_scroll(page)
        check_accessibility(page)
        shoot(page, f"wizard-step-{step}")
    # A refused step is explained at phone width too, and the bad field is tied to its message.
    page.click("button:has-text('Back')")
    page.fill("#f-risk-max_quantity", "0")
    page.click("[data-wizard-next]")
    message = page.locator('[data-error-for="risk.max_quantity"]')
    message.wait_for()
    field = page.locator("#f-risk-max_quantity")
    assert field.get_attribute("aria-invalid") == "true"
    assert (
        field.get_attribute("aria-describedby")
        == f"f-risk-max_quantity-allowed {message.get_attribute('id')}"
    )
    assert "between 1 and 1000000" in message.inner_text()
    no_horizontal_scroll(page)
    check_accessibility(page)
    shoot(page, "wizard-risk-refused")
