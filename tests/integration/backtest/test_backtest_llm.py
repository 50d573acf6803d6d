"""``ibflow backtest`` of an LLM strategy through the OpenAI-compatible test server and the real openai SDK.

Two prompt versions on the same month of real AAPL bars: the first run of each asks the server, the second
run of each asks nothing (counted at the server and in the results) and gets the same answers; the two
versions never share a cache entry. The estimate before the second run says every call is answered from
the cache and no new call is made, so it runs without --yes; a longer window counts only its new sessions'
calls. A paid run is not started without ``--yes`` off a terminal, asks on one
(a no keeps nothing), and ``--budget`` stops a run cleanly before the call that would pass it.
"""

from __future__ import annotations

import json
import os
import pty
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from tests.llm_servers import LlmServer, serving
from typer.testing import CliRunner, Result

from ibflow.cli import app
from ibflow.db import migrate

pytestmark = pytest.mark.integration

FIRST, LAST = "2017-02-01", "2017-02-28"
SESSIONS = 19  # of AAPL in February 2017, in the bundled sample file

STRATEGY = """\
name = "aapl-llm"
symbol = "AAPL"
timeframes = ["1d"]

[schedule]
cron = "30 10 * * 1-5"
timezone = "America/New_York"

[analyst]
provider = "openai"
prompt = \"\"\"
PROMPT
\"\"\"

[[indicators]]
type = "rsi"
params = { period = 14 }
"""
PROMPTS = {
    "v1": "Read the {{ symbol }} daily chart. The last price is {{ last_price }}. Buy only a pullback.",
    "v2": "Read the {{ symbol }} daily chart. The last price is {{ last_price }}. Buy only a breakout.",
    "never-run": "Read the {{ symbol }} daily chart at {{ last_price }}. A prompt no backtest answered yet.",
}
COMPARED = ("v1", "v2")


@dataclass
class Installation:
    root: Path
    main_db: Path
    server: LlmServer


def ibflow(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def use_prompt(installation: Installation, version: str) -> None:
    """Apply the strategy with prompt ``version`` (each change of the text is a new prompt version)."""
    path = installation.root / "aapl-llm.toml"
    path.write_text(STRATEGY.replace("PROMPT", PROMPTS[version]), encoding="utf-8")
    applied = ibflow("strategy", "apply", str(path))
    assert applied.exit_code == 0, applied.output


def backtest(installation: Installation, name: str, *args: str) -> tuple[dict[str, Any], int, Result]:
    """Run a backtest; return its JSON, the requests the server got during it, and the CLI result."""
    asked = len(installation.server.requests)
    result = ibflow("backtest", "aapl-llm", "--from", FIRST, "--to", LAST, "--name", name, "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), len(installation.server.requests) - asked, result


def calls(database: str) -> list[tuple[str, int, str]]:
    """Each LLM call of a backtest: its cache key, whether it was cached, and the raw answer."""
    with sqlite3.connect(database) as conn:
        return conn.execute(
            "SELECT cache_key, cached, raw_response FROM llm_calls WHERE provider = 'openai' ORDER BY id"
        ).fetchall()


def signals(database: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(database) as conn:
        return conn.execute(
            "SELECT action, confidence, reason FROM trading_signals ORDER BY execution_id"
        ).fetchall()


@pytest.fixture(scope="module")
def installation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    root = tmp_path_factory.mktemp("backtest-llm")
    main_db = root / "var" / "ibflow.db"
    for server in serving():
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("IBFLOW_DATA_DIR", str(root / "var"))
            patch.setenv("IBFLOW_DATABASE_URL", f"sqlite:///{main_db}")
            patch.setenv("IBFLOW_OPENAI_BASE_URL", server.openai_url)
            patch.setenv("IBFLOW_OPENAI_API_KEY", "sk-test-backtest-3c9d")
            patch.setenv("IBFLOW_OPENAI_MODEL", "gpt-test-vision")
            patch.setenv("IBFLOW_LLM_PRICES", '{"gpt-test-vision": {"input": "2.50", "output": "10"}}')
            patch.setenv("IBFLOW_LLM_MAX_RETRIES", "0")
            patch.setenv("COLUMNS", "200")
            patch.chdir(root)
            migrate.upgrade(f"sqlite:///{main_db}")
            yield Installation(root, main_db, server)


def test_two_prompt_versions_ask_once_each_and_a_rerun_asks_nothing(installation: Installation) -> None:
    first: dict[str, dict[str, Any]] = {}
    for version in COMPARED:
        use_prompt(installation, version)
        result, asked, cli = backtest(installation, f"{version}-first", "--yes")
        assert (
            f"at most {SESSIONS} calls ({SESSIONS} executions), of which 0 answered from the cache; "
            f"{SESSIONS} new calls" in cli.stderr
        ), cli.stderr
        assert result["status"] == "completed"
        assert result["summary"]["executions"] == SESSIONS
        llm = result["summary"]["llm"]
        assert asked == llm["calls"] == SESSIONS > 0  # one call per execution in single mode
        assert llm["cache_hits"] == 0
        assert llm["input_tokens"] == 1200 * SESSIONS  # as the test server counts them
        assert llm["output_tokens"] == 80 * SESSIONS
        assert Decimal(llm["cost_usd"]) == Decimal("0.0038") * SESSIONS  # 1200 x 2.50 + 80 x 10 per million
        first[version] = result
    for version in COMPARED:
        use_prompt(installation, version)  # the same text again: the same requests
        again, asked, cli = backtest(installation, f"{version}-again")  # no new paid call: no --yes needed
        assert asked == 0
        assert (
            f"at most {SESSIONS} calls ({SESSIONS} executions), of which {SESSIONS} answered from the cache; "
            "0 new calls, about 0 input and at most 0 output tokens, at most USD 0" in cli.stderr
        ), cli.stderr
        assert again["summary"]["llm"] == {
            "calls": 0,
            "cache_hits": SESSIONS,
            "input_tokens": 0,
            "output_tokens": 0,
            "cost_usd": "0",
        }
        before, after = calls(first[version]["database"]), calls(again["database"])
        assert [(key, raw) for key, _, raw in after] == [(key, raw) for key, _, raw in before]
        assert {cached for _, cached, _ in after} == {1}
        assert signals(again["database"]) == signals(first[version]["database"])
        assert again["equity_curve"] == first[version]["equity_curve"]
    keys = {version: {key for key, _, _ in calls(first[version]["database"])} for version in COMPARED}
    assert len(keys["v1"]) == len(keys["v2"]) == SESSIONS
    assert not keys["v1"] & keys["v2"]  # the two versions never share an answer
    cache = installation.root / "var" / "backtests" / "cache.db"
    with sqlite3.connect(cache) as conn:
        stored = conn.execute("SELECT count(*), sum(hits) FROM llm_response_cache").fetchone()
    assert stored == (2 * SESSIONS, 2 * SESSIONS)
    with sqlite3.connect(installation.main_db) as conn:
        assert conn.execute("SELECT count(*) FROM llm_response_cache").fetchone()[0] == 0
        kept = conn.execute("SELECT name, summary FROM backtests WHERE name = 'v1-again'").fetchone()
    assert json.loads(kept[1])["llm"]["cache_hits"] == SESSIONS


def test_a_longer_window_counts_only_its_new_sessions_calls_as_new(installation: Installation) -> None:
    use_prompt(installation, "v1")  # February answered already (the first test)
    asked = len(installation.server.requests)
    longer = ("--from", FIRST, "--to", "2017-03-10", "--name", "longer", "--yes")
    result = ibflow("backtest", "aapl-llm", *longer)
    assert result.exit_code == 0, result.output
    march = 8  # AAPL sessions from 1 to 10 March 2017
    total = SESSIONS + march
    assert (
        f"at most {total} calls ({total} executions), of which {SESSIONS} answered from the cache; "
        f"{march} new calls" in result.stderr
    ), result.stderr
    assert len(installation.server.requests) - asked == march


def test_a_paid_run_needs_yes_off_a_terminal_and_shows_the_estimate(installation: Installation) -> None:
    use_prompt(installation, "never-run")
    asked = len(installation.server.requests)
    result = ibflow("backtest", "aapl-llm", "--from", FIRST, "--to", LAST, "--name", "unconfirmed")
    assert result.exit_code == 2
    assert result.output.startswith(
        f"error: LLM analyst openai (gpt-test-vision): at most {SESSIONS} calls ({SESSIONS} executions"
    ), result.output
    assert re.search(r"at most USD \d[\d,]*\.\d\d(?!\d)", result.output), (
        result.output
    )  # cents, not millionths
    assert result.output.endswith("run it again with --yes to make these paid calls\n")
    assert result.output.count("\n") == 1, result.output
    assert len(installation.server.requests) == asked
    assert not (installation.root / "var" / "backtests" / "unconfirmed").exists()
    with sqlite3.connect(installation.main_db) as conn:
        assert conn.execute("SELECT count(*) FROM backtests WHERE name = 'unconfirmed'").fetchone()[0] == 0


def test_the_budget_stops_the_run_before_the_call_that_would_pass_it(installation: Installation) -> None:
    path = installation.root / "aapl-llm.toml"
    path.write_text(
        STRATEGY.replace("PROMPT", "Budget run of {{ symbol }} at {{ last_price }}: a prompt no run used."),
        encoding="utf-8",
    )
    assert ibflow("strategy", "apply", str(path)).exit_code == 0
    # a call costs up to USD 0.0xx by the estimate (output at its 1500-token cap): 0.06 allows only a few
    result, asked, cli = backtest(installation, "capped", "--yes", "--budget", "0.06")
    assert result["status"] == "stopped"
    assert result["reason"].startswith("the backtest's LLM budget USD 0.06 would be exceeded")
    llm = result["summary"]["llm"]
    assert 0 < asked == llm["calls"] < SESSIONS
    assert Decimal(llm["cost_usd"]) <= Decimal("0.06")
    assert result["summary"]["executions"] == asked + 1  # the refused execution is kept, failed
    assert "the run stops before its LLM calls pass USD 0.06 (--budget)" in cli.stderr
    with sqlite3.connect(result["database"]) as conn:
        statuses = conn.execute(
            "SELECT status, count(*) FROM strategy_executions GROUP BY status ORDER BY status"
        ).fetchall()
    assert statuses == [("failed", 1), ("succeeded", asked)]
    with sqlite3.connect(installation.main_db) as conn:
        kept = conn.execute("SELECT status, summary FROM backtests WHERE name = 'capped'").fetchone()
    assert kept[0] == "stopped"
    assert json.loads(kept[1])["stop_reason"] == result["reason"]


def test_on_a_terminal_a_paid_run_asks_and_a_no_keeps_nothing(installation: Installation) -> None:
    use_prompt(installation, "never-run")
    asked = len(installation.server.requests)
    leader, follower = pty.openpty()
    args = ["backtest", "aapl-llm", "--from", FIRST, "--to", LAST, "--name", "declined"]
    try:
        process = subprocess.Popen(
            [sys.executable, "-c", "from ibflow.cli import main; main()", *args],
            cwd=installation.root,
            stdin=follower,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        os.write(leader, b"n\n")
        _, stderr = process.communicate(timeout=120)
    finally:
        os.close(leader)
        os.close(follower)
    assert process.returncode == 1, stderr
    assert "at most 19 calls" in stderr
    assert "run it with these LLM calls? [y/N]" in stderr
    assert len(installation.server.requests) == asked
    assert not (installation.root / "var" / "backtests" / "declined").exists()
