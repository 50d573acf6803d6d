"""Halted from the state bar, a strategy whose analyst is scripted to BUY: its entry is blocked, and why."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.browser.conftest import Site, login
from tests.browser.scripted import llm_server, script_a_buy, scripted_site
from tests.llm_servers import LlmServer

__all__ = ["llm_server"]  # the fixture, used by name


@pytest.fixture(scope="module")
def llm_site(tmp_path_factory: pytest.TempPathFactory, llm_server: LlmServer) -> Iterator[Site]:
    with scripted_site(tmp_path_factory.mktemp("llm-site"), llm_server) as site:
        yield site


def test_a_halted_entry_is_blocked_and_the_dashboard_says_why(
    page: Any, llm_site: Site, llm_server: LlmServer
) -> None:
    script_a_buy(llm_site, llm_server)
    login(page, llm_site, "trader")
    page.click("#state-bar button:has-text('Halt')")
    page.fill("#halt-reason", "browser test: no new entries")
    page.click("#halt-dialog button[type=submit]")
    page.wait_for_selector("#state-bar [data-trading-state=HALTED]")
    page.goto(f"{llm_site.url}/strategies")
    page.locator('tr[data-strategy="scripted-buy"] button', has_text="Run now").click()
    result = page.locator('tr[data-strategy="scripted-buy"] .last-result .badge')
    result.wait_for(timeout=60_000)
    page.goto(f"{llm_site.url}/")
    signal = page.locator("section[aria-labelledby=signals-title] tbody tr", has_text="scripted-buy").first
    text = signal.inner_text()
    assert "BUY" in text, text
    assert "halt" in text.lower(), text
    outcome = page.locator('tr[data-strategy="scripted-buy"] .last-result').inner_text()
    assert "blocked" in outcome.lower(), outcome
