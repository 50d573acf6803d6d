"""A site whose strategies ask the OpenAI-compatible LLM test server, and answers scripted for them.

``llm_server`` (a module fixture: import it into the test module) runs the test server; ``scripted_site``
serves an installation pointed at it with the given strategies applied (``STRATEGY``: AAPL, paper, once a
year, the ``openai`` analyst); ``script_a_buy`` makes the server answer BUY at levels set as fractions of
AAPL's last close (a limit above the close is marketable: the paper broker fills it at once).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import pytest
from tests.browser.conftest import Site, serving
from tests.llm_servers import LlmServer, good

CENT = Decimal("0.01")
STRATEGY = """
name = "{name}"
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

[risk]
max_entry_deviation = "{deviation}"
"""


@pytest.fixture(scope="module")
def llm_server() -> Iterator[LlmServer]:
    """The OpenAI-compatible test server, for one test module."""
    server = LlmServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def scripted_site(
    folder: Path,
    server: LlmServer,
    names: Sequence[str] = ("scripted-buy",),
    *,
    deviation: str = "0.1",
    **extra_env: str,
) -> Iterator[Site]:
    """Serve ``folder`` with its OpenAI analyst at ``server`` and a ``STRATEGY`` of each name applied."""
    env = {"IBFLOW_OPENAI_BASE_URL": server.openai_url, "IBFLOW_OPENAI_API_KEY": "sk-browser-test"}
    with serving(folder, **env, **extra_env) as site:
        for name in names:
            strategy = folder / f"{name}.toml"
            strategy.write_text(STRATEGY.format(name=name, deviation=deviation))
            site.cli("strategy", "apply", str(strategy))
        yield site


def last_close(site: Site) -> Decimal:
    """AAPL's last close, as the indicator preview reads it."""
    client = site.api("viewer")
    try:
        preview = client.post(
            "/api/v1/indicators/preview",
            json={"symbol": "AAPL", "type": "sma", "params": {"period": 5}, "points": 1},
        )
    finally:
        client.close()
    return Decimal(preview.json()["series"][-1]["close"])


def script_a_buy(
    site: Site,
    server: LlmServer,
    *,
    entry: str = "1",
    stop: str = "0.96",
    target: str = "1.12",
    reasoning: str = "scripted by the browser test: buy",
) -> Decimal:
    """Make every answer a BUY at these fractions of AAPL's last close; return that close."""
    close = last_close(site)
    server.default = good(
        {
            "action": "BUY",
            "confidence": 0.9,
            "timeframe": "1d",
            "reasoning": reasoning,
            "key_factors": ["scripted"],
            "valid_for_minutes": 60,
            "entry": float((close * Decimal(entry)).quantize(CENT)),
            "stop_loss": float((close * Decimal(stop)).quantize(CENT)),
            "take_profit": float((close * Decimal(target)).quantize(CENT)),
        }
    )
    return close
