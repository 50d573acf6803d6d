"""Saved backtests: ``ibflow backtest list | show | report | compare``, and the report written at save time.

Two one-month backtests of a strategy whose description carries markup: the report is one offline page (no
URL, plots inlined) in which that markup is text; a comparison lines up every measure with its difference.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from tests.integration.backtest.support import main_installation
from typer.testing import CliRunner, Result

from ibflow.cli import app

pytestmark = pytest.mark.integration

STRATEGY = """\
name = "aapl-rules"
symbol = "AAPL"
description = "<script>alert('x')</script> pullbacks & breakouts"
timeframes = ["1d"]

[schedule]
cron = "30 10 * * 1-5"
timezone = "America/New_York"

[analyst]
provider = "rules"

[[indicators]]
type = "rsi"
params = { period = 14 }
"""


def ibflow(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, Any]]]:
    root = tmp_path_factory.mktemp("library")
    with pytest.MonkeyPatch.context() as patch:
        main_installation(patch, root)
        (root / "aapl.toml").write_text(STRATEGY, encoding="utf-8")
        assert ibflow("strategy", "apply", str(root / "aapl.toml")).exit_code == 0
        runs = {}
        for name, first, last in (("jan", "2017-01-01", "2017-01-31"), ("feb", "2017-02-01", "2017-02-28")):
            result = ibflow("backtest", "aapl-rules", "--from", first, "--to", last, "--name", name, "--json")
            assert result.exit_code == 0, result.output
            runs[name] = json.loads(result.stdout)
        explicit = ibflow("backtest", "run", "aapl-rules", "--from", "2017-03-01", "--to", "2017-03-10")
        assert explicit.exit_code == 0, explicit.output
        yield runs


def test_the_report_is_written_next_to_the_database_and_opens_offline(saved: dict[str, Any]) -> None:
    report = Path(saved["jan"]["report"])
    assert report == Path(saved["jan"]["database"]).parent / "report.html"
    html = report.read_text(encoding="utf-8")
    for part in (
        "Equity against buy-and-hold",
        "Drawdown",
        "Signals by action",
        "Trades (",
        "Fill model",
        "the stop fills first",
        "once per session",
        "Sharpe",
        "LLM cost",
    ):
        assert part in html, part
    assert html.count('src="data:image/png;base64,') == 2
    assert not re.search(r"(src|href)=\"(https?:)?//", html), "the report must not load anything"


def test_markup_in_the_strategy_is_text_in_the_report(saved: dict[str, Any]) -> None:
    html = Path(saved["jan"]["report"]).read_text(encoding="utf-8")
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; pullbacks &amp; breakouts" in html


def test_report_prints_the_page_again_or_writes_it(saved: dict[str, Any], tmp_path: Path) -> None:
    printed = ibflow("backtest", "report", "jan")
    assert printed.exit_code == 0, printed.output
    assert printed.stdout.startswith("<!doctype html>")
    out = tmp_path / "jan.html"
    assert ibflow("backtest", "report", "jan", "--out", str(out)).exit_code == 0
    assert out.read_text(encoding="utf-8") == printed.stdout


def test_list_and_show_read_the_saved_backtests(saved: dict[str, Any]) -> None:
    listed = json.loads(ibflow("backtest", "list", "--json").stdout)
    assert [row["name"] for row in listed] == ["aapl-rules-2017-03-01-2017-03-10", "feb", "jan"]
    shown = json.loads(ibflow("backtest", "show", "feb", "--json").stdout)
    assert shown["summary"] == saved["feb"]["summary"]
    assert shown["equity_curve"] == saved["feb"]["equity_curve"]
    assert shown["summary"]["llm"]["calls"] == 0
    assert Decimal(shown["summary"]["llm"]["cost_usd"]) == 0
    table = ibflow("backtest", "show", "feb")
    assert "max_drawdown" in table.stdout
    assert "feb" in table.stdout


def test_compare_lines_up_every_measure_with_its_difference(saved: dict[str, Any]) -> None:
    compared = json.loads(ibflow("backtest", "compare", "jan", "feb", "--json").stdout)
    assert (compared["a"]["name"], compared["b"]["name"]) == ("jan", "feb")
    lines = {line["measure"]: line for line in compared["measures"]}
    jan, feb = saved["jan"]["summary"], saved["feb"]["summary"]
    assert lines["executions"] == {
        "measure": "executions",
        "a": jan["executions"],
        "b": feb["executions"],
        "difference": feb["executions"] - jan["executions"],
    }
    assert lines["return"]["difference"] == round(feb["return"] - jan["return"], 4)
    assert {
        "sharpe",
        "sortino",
        "win_rate",
        "profit_factor",
        "average_r",
        "exposure",
        "llm.cost_usd",
    } <= lines.keys()
    assert any(name.startswith("signals ") for name in lines)
    table = ibflow("backtest", "compare", "jan", "feb")
    assert table.exit_code == 0
    assert "B - A" in table.stdout


@pytest.mark.parametrize("args", [["compare", "jan", "nope"], ["show", "nope"], ["report", "nope"]])
def test_an_unknown_name_is_one_line(saved: dict[str, Any], args: list[str]) -> None:
    result = ibflow("backtest", *args)
    assert result.exit_code == 2
    assert result.output == "error: no backtest called 'nope'; `ibflow backtest list` shows them\n"
