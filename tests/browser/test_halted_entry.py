"""Halted from the state bar, a strategy whose analyst is scripted to BUY: its entry is blocked, and why."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from tests.browser.conftest import Site, login, serving
from tests.llm_servers import LlmServer, good

BUY = {
    "action": "BUY",
    "confidence": 0.9,
    "timeframe": "1d",
    "reasoning": "scripted by the browser test: buy",
    "key_factors": ["scripted"],
    "valid_for_minutes": 60,
}
STRATEGY = """
name = "scripted-buy"
description = "The LLM test server answers BUY"
symbol = "AAPL"
mode = "paper"

[schedule]
cron = "0 0 1 1 *"
timezone = "UTC"
market_hours_only = false

[analyst]
provider = "openai"
model = "gpt-test"
"""


@pytest.fixture(scope="module")
def llm_server() -> Iterator[LlmServer]:
    server = LlmServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def llm_site(tmp_path_factory: pytest.TempPathFactory, llm_server: LlmServer) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("llm-site")
    with serving(
        folder, IBFLOW_OPENAI_BASE_URL=llm_server.openai_url, IBFLOW_OPENAI_API_KEY="sk-browser-test"
    ) as site:
        strategy = folder / "scripted-buy.toml"
        strategy.write_text(STRATEGY)
        site.cli("strategy", "apply", str(strategy))
        yield site


def _script_a_buy(site: Site, server: LlmServer) -> None:
    """Answer BUY near AAPL's last close, with a stop and a target of sound reward:risk."""
    client = site.api("viewer")
    try:
        preview = client.post(
            "/api/v1/indicators/preview",
            json={"symbol": "AAPL", "type": "sma", "params": {"period": 5}, "points": 1},
        )
    finally:
        client.close()
    close = Decimal(preview.json()["series"][-1]["close"])
    server.default = good(
        {
            **BUY,
            "entry": float(close),
            "stop_loss": float((close * Decimal("0.96")).quantize(Decimal("0.01"))),
            "take_profit": float((close * Decimal("1.12")).quantize(Decimal("0.01"))),
        }
    )


def test_a_halted_entry_is_blocked_and_the_dashboard_says_why(
    page: Any, llm_site: Site, llm_server: LlmServer
) -> None:
    _script_a_buy(llm_site, llm_server)
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
