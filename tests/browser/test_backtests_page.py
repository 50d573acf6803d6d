"""The backtests page in Chromium: start a short backtest of a demo strategy, watch its progress bar move
without a reload, open its figures and its report; a bad window's message by its field; both pages at both
sizes; a viewer sees no start form. An LLM strategy's start (its analyst at the OpenAI-compatible test server)
shows the estimate of its calls and runs once confirmed, with a budget; its re-run needs no confirmation."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from tests.browser.conftest import (
    PHONE,
    Site,
    check_accessibility,
    each_size,
    login,
    no_horizontal_scroll,
    shoot,
)
from tests.browser.scripted import llm_server, scripted_site
from tests.llm_servers import LlmServer

__all__ = ["llm_server"]  # the fixture, used by name

STRATEGY = "demo-aapl-trend"
NAME = "browser-jan"
PROGRESS = "#backtest-progress"


def _fill(page: Any, first: str, last: str, name: str) -> None:
    page.select_option("#bt-strategy", STRATEGY)
    page.fill("#bt-from", first)
    page.fill("#bt-to", last)
    page.fill("#bt-name", name)


def _watch(page: Any, timeout_s: float = 90) -> list[int]:
    """Read the progress bar's aria-valuenow until the backtest ends; return the values seen, in order."""
    seen: list[int] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = page.get_attribute(PROGRESS, "data-status")
        bar = page.query_selector(f"{PROGRESS} progress")
        if bar is not None:
            value = int(bar.get_attribute("aria-valuenow"))
            if not seen or seen[-1] != value:
                seen.append(value)
        if status in {"completed", "stopped", "failed"}:
            return seen
        time.sleep(0.1)
    raise AssertionError(f"the backtest did not end; progress seen: {seen}")


def test_a_trader_starts_a_short_backtest_watches_it_and_opens_the_report(page: Any, site: Site) -> None:
    login(page, site, "trader", next_path="/backtests")
    assert page.get_attribute(PROGRESS, "data-status") == "none"
    page.evaluate("() => { window.__notReloaded = true; }")
    _fill(page, "2017-01-01", "2017-01-20", NAME)
    page.click("#start-backtest button[type=submit]")
    page.wait_for_selector("#flash .flash-ok")
    page.wait_for_selector(f"{PROGRESS} progress")
    total = int(page.get_attribute(f"{PROGRESS} progress", "aria-valuemax"))
    assert total == 13  # the New York sessions of 2017-01-03 to 2017-01-20
    seen = _watch(page)
    assert page.get_attribute(PROGRESS, "data-status") == "completed"
    assert seen[-1] == total
    assert len(seen) >= 2, seen  # it moved
    assert seen == sorted(seen), seen  # and only forward
    assert page.evaluate("() => window.__notReloaded === true")  # all of it without a reload
    row = page.locator(f'tr[data-backtest="{NAME}"]')
    row.wait_for()  # the list reloads when the backtest ends
    assert "2017-01-01 to 2017-01-20" in row.inner_text()
    with page.context.expect_page() as opened:
        page.click(f"{PROGRESS} [data-report-link]")
    report = opened.value
    report.wait_for_load_state("load")
    assert report.inner_text("h1") == f"Backtest {NAME}"
    assert report.locator('img[alt="equity curve against buy-and-hold"]').count() == 1
    report.close()
    row.locator(f'a[href="/backtests/{NAME}"]').click()
    page.wait_for_url(f"**/backtests/{NAME}")
    assert page.inner_text("h1") == f"Backtest {NAME}"
    figures = page.inner_text("[data-figures]")
    assert "Return" in figures
    assert "Max drawdown" in figures
    each_size(page, f"{site.url}/backtests", "backtests")
    each_size(page, f"{site.url}/backtests/{NAME}", "backtest")
    # on the phone (each_size ends there) each trade is a card: its figures sit under their names, as
    # its dates do, not pushed to the card's right edge
    aligned = page.evaluate(
        "() => [...document.querySelectorAll('[data-trades] td.num')]"
        ".map(td => getComputedStyle(td).textAlign)"
    )
    assert aligned, "no trade figures on the page"
    assert set(aligned) == {"left"}, aligned


def test_a_bad_window_gets_the_api_message_next_to_its_field(
    page: Any, site: Site, page_problems: Any
) -> None:
    page_problems.allow("/api/v1/backtests")  # the 422s, shown on the form
    login(page, site, "trader", next_path="/backtests")
    _fill(page, "2017-03-01", "2017-01-01", "bad-window")
    page.click("#start-backtest button[type=submit]")
    error = page.locator('[data-error-for="from"]')
    error.wait_for()
    assert "after to" in error.inner_text()
    assert page.get_attribute("#bt-from", "aria-invalid") == "true"
    _fill(page, "2005-01-01", "2017-12-31", "too-long")
    page.click("#start-backtest button[type=submit]")
    confirm = page.locator('[data-error-for="confirm"]')
    confirm.wait_for()
    assert "2000" in confirm.inner_text()
    assert "send confirm=true" in page.inner_text("#flash")


def test_a_viewer_sees_the_backtests_but_no_start_form(page: Any, site: Site) -> None:
    login(page, site, "viewer", next_path="/backtests")
    assert page.inner_text("h1") == "Backtests"
    assert page.locator("#start-backtest").count() == 0
    assert page.locator("#cancel-backtest").count() == 0
    page.click('#sidebar a[href="/backtests"]')
    assert page.get_attribute('#sidebar a[href="/backtests"]', "aria-current") == "page"


def _run_through_the_api(site: Site, name: str, first: str, last: str) -> None:
    client = site.api("trader")
    try:
        body = {"strategy": STRATEGY, "from": first, "to": last, "name": name}
        assert client.post("/api/v1/backtests", json=body).status_code == 202
        deadline = time.monotonic() + 90
        while client.get("/api/v1/backtests/progress").json()["status"] in {"running", "stopping"}:
            assert time.monotonic() < deadline, "the backtest did not end"
            time.sleep(0.3)
    finally:
        client.close()


def test_two_backtests_compare_side_by_side_on_a_phone(page: Any, site: Site) -> None:
    _run_through_the_api(site, "browser-feb", "2017-02-01", "2017-02-03")
    _run_through_the_api(site, "browser-feb-2", "2017-02-06", "2017-02-07")
    login(page, site, "viewer", next_path="/backtests/browser-feb")
    page.set_viewport_size(PHONE)
    page.select_option("#compare-with", "browser-feb-2")
    page.click("#compare button[type=submit]")
    page.wait_for_selector("table[data-compare]")
    measure = page.locator('td[data-label="Measure"]', has_text="executions")
    cells = page.locator("table[data-compare] tr", has=measure).first.locator("td.num").all_inner_texts()
    assert cells == ["3", "2", "-1"]  # this one, the other, the other minus this one
    no_horizontal_scroll(page)
    check_accessibility(page)
    shoot(page, "backtest-compare")


def test_cancel_from_the_keyboard_stops_the_run_and_keeps_what_ran_in_the_dark_theme(
    page: Any, site: Site
) -> None:
    login(page, site, "trader", next_path="/backtests")
    page.click("[data-toggle-theme]")  # auto -> light
    page.click("[data-toggle-theme]")  # light -> dark
    assert page.get_attribute("html", "data-theme") == "dark"
    _fill(page, "2016-01-01", "2016-06-30", "browser-cancelled")
    page.click("#start-backtest button[type=submit]")
    cancel = page.locator("#cancel-backtest")
    cancel.wait_for()
    check_accessibility(page)
    cancel.focus()
    page.wait_for_function(  # a session done, so what is kept is not empty
        "() => Number(document.querySelector('#backtest-progress progress').ariaValueNow) >= 1",
        timeout=60_000,
    )
    page.wait_for_timeout(1500)  # more reloads of the progress part: the focused button is kept across them
    assert page.evaluate("() => document.activeElement && document.activeElement.id") == "cancel-backtest"
    page.keyboard.press("Enter")
    page.wait_for_selector(f'{PROGRESS}[data-status="stopped"]', timeout=60_000)
    done = int(page.get_attribute(f"{PROGRESS} progress", "aria-valuenow"))
    total = int(page.get_attribute(f"{PROGRESS} progress", "aria-valuemax"))
    assert 0 < done < total
    page.locator('tr[data-backtest="browser-cancelled"]', has_text="stopped").wait_for()


@pytest.fixture(scope="module")
def llm_site(tmp_path_factory: pytest.TempPathFactory, llm_server: LlmServer) -> Iterator[Site]:
    with scripted_site(tmp_path_factory.mktemp("backtest-llm-site"), llm_server) as site:
        yield site


def test_an_llm_backtest_shows_its_estimate_runs_once_confirmed_and_its_rerun_asks_nothing(
    page: Any, llm_site: Site, llm_server: LlmServer, page_problems: Any
) -> None:
    page_problems.allow("/api/v1/backtests")  # the 422 that carries the estimate
    login(page, llm_site, "trader", next_path="/backtests")
    asked = len(llm_server.requests)
    page.select_option("#bt-strategy", "scripted-buy")
    page.fill("#bt-from", "2017-02-01")
    page.fill("#bt-to", "2017-02-03")
    page.fill("#bt-name", "browser-llm")
    page.click("#start-backtest button[type=submit]")
    estimate = page.locator('[data-error-for="confirm"]')
    estimate.wait_for()
    text = estimate.inner_text()
    assert "at most 3 calls (3 executions), of which 0 answered from the cache; 3 new calls" in text, text
    assert "USD" in text
    assert page.get_attribute("#bt-confirm", "aria-invalid") == "true"
    assert len(llm_server.requests) == asked  # nothing was asked before the confirmation
    check_accessibility(page)
    shoot(page, "backtests-llm-estimate")
    page.fill("#bt-budget", "1")
    page.check("#bt-confirm")
    page.click("#start-backtest button[type=submit]")
    page.wait_for_selector("#flash .flash-ok")
    assert "3 new calls" in page.inner_text(f"{PROGRESS} [data-llm-estimate]")
    _watch(page)
    assert page.get_attribute(PROGRESS, "data-status") == "completed"
    assert len(llm_server.requests) == asked + 3
    page.locator('tr[data-backtest="browser-llm"]').wait_for()
    page.fill("#bt-from", "2017-02-01")  # the form was reset: the same window again, unconfirmed
    page.fill("#bt-to", "2017-02-03")
    page.select_option("#bt-strategy", "scripted-buy")
    page.fill("#bt-name", "browser-llm-again")
    page.click("#start-backtest button[type=submit]")
    # every answer is in the cache: nothing to confirm, it starts
    page.locator(PROGRESS, has_text="browser-llm-again").wait_for(timeout=30_000)
    shown = page.inner_text(f"{PROGRESS} [data-llm-estimate]")
    assert "of which 3 answered from the cache; 0 new calls" in shown, shown
    _watch(page)
    assert page.get_attribute(PROGRESS, "data-status") == "completed"
    assert len(llm_server.requests) == asked + 3
