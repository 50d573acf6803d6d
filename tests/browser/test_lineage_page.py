"""The lineage viewer in Chromium: run a strategy from the list, follow "View lineage", read its 11 steps,
the charts (loaded), the signal and the risk decision; then a run whose chart step fails, highlighted.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.browser.conftest import DESKTOP, Site, check_accessibility, each_size, login, shoot
from tests.browser.scripted import llm_server, script_a_buy, scripted_site
from tests.llm_servers import LlmServer

__all__ = ["llm_server"]  # the fixture, used by name

ROW = 'tr[data-strategy="scripted-buy"]'
FINISHED = ["failed", "ordered", "blocked", "no_order", "skipped", "interrupted"]
"""What a run's last-result badge says once it ended (``queued`` and ``running`` before)."""


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lineage-site")


@pytest.fixture(scope="module")
def llm_site(folder: Path, llm_server: LlmServer) -> Iterator[Site]:
    with scripted_site(folder, llm_server) as site:
        yield site


def _run_now_and_follow_the_lineage(page: Any, site: Site) -> None:
    """From the strategies list: run scripted-buy now, wait for its result, follow "View lineage"."""
    page.goto(f"{site.url}/strategies")
    link = page.locator(f"{ROW} a.lineage")
    before = link.get_attribute("href") if link.count() else None
    page.locator(f"{ROW} button", has_text="Run now").click()
    page.wait_for_function(
        """([row, before, finished]) => {
            const link = document.querySelector(row + ' a.lineage');
            const badge = document.querySelector(row + ' .last-result .badge');
            return link && link.getAttribute('href') !== before && badge
                && finished.includes(badge.textContent.trim().toLowerCase());
        }""",
        arg=[ROW, before, FINISHED],
        timeout=90_000,
    )
    page.locator(f"{ROW} a.lineage").click()
    page.wait_for_url("**/lineage?execution=*")


def test_run_now_then_view_lineage_shows_11_timed_steps_a_loaded_chart_and_the_signal(
    page: Any, llm_site: Site, llm_server: LlmServer
) -> None:
    script_a_buy(llm_site, llm_server)
    login(page, llm_site, "trader")
    _run_now_and_follow_the_lineage(page, llm_site)
    steps = page.locator("ol.steps > li.step")
    assert steps.count() == 11
    for index in range(11):
        step = steps.nth(index)
        assert step.locator(".step-number").inner_text() == str(index + 1)
        assert step.locator(".step-duration").inner_text().endswith("s"), step.inner_text()[:200]
    assert page.locator(".timeline svg.timeline-bar").count() == 11

    image = page.locator('li[data-step="render_charts"] .chart img').first
    image.scroll_into_view_if_needed()
    page.wait_for_function(
        "(img) => img.complete && img.naturalWidth > 0", arg=image.element_handle(), timeout=15_000
    )
    with page.context.expect_page() as opened:
        image.click()
    full = opened.value
    full.wait_for_load_state()
    assert full.url.endswith(".png")
    full.close()

    signal = page.locator("li[data-step=decide_signal] [data-signal]")
    text = signal.inner_text()
    assert "BUY" in text, text
    assert "Reward:risk" in text, text
    assert "3.00" in text, text  # +12% target over a -4% stop
    risk = page.locator("li[data-step=size_and_check_risk]")
    assert "allowed" in risk.locator("[data-risk-verdict]").inner_text()
    risk.locator("details.checks summary").click()
    assert risk.locator("tr[data-check=TRADING_HALTED]").inner_text().endswith("passed")
    orders = page.locator("li[data-step=place_orders] .order")
    assert orders.count() >= 1
    assert "AAPL" in orders.first.inner_text()
    raw = page.locator("li[data-step=analyze] [data-raw-text]").inner_text()
    assert "scripted by the browser test" in raw
    each_size(page, page.url, "lineage")
    page.emulate_media(color_scheme="dark")  # the dark theme's colours pass axe's contrast check too
    page.set_viewport_size(DESKTOP)
    page.reload()
    check_accessibility(page)
    shoot(page, "lineage-dark")


def test_a_run_whose_chart_step_fails_shows_that_step_highlighted_with_its_error(
    page: Any, llm_site: Site, folder: Path
) -> None:
    login(page, llm_site, "trader")
    charts = folder / "charts"
    saved = folder / "charts.saved"
    shutil.move(charts, saved)
    charts.write_text("a file where the chart folder should be: the chart store is broken")
    try:
        _run_now_and_follow_the_lineage(page, llm_site)
    finally:
        charts.unlink()
        shutil.move(saved, charts)
    failed = page.locator("li.step.failed")
    assert failed.count() == 1
    assert failed.get_attribute("data-step") == "render_charts"
    assert "Not a directory" in failed.locator(".step-error").inner_text()
    note = page.locator(".step-failed-note").inner_text()
    assert note.startswith("Failed at step 6, Render charts:"), note
    skipped = page.locator("li.step[data-status=skipped]")
    assert skipped.count() == 5
    stats = page.locator("tr[data-step-stats=render_charts]").inner_text()
    assert "50%" in stats, stats
    each_size(page, page.url, "lineage-failed")
