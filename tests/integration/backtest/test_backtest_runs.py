"""``ibflow backtest`` on real AAPL bars with the rules analyst, through the live executor.

Three months of daily decisions (the year runs in the benchmark): a second run gives identical results;
runs on data cut at two dates make every decision up to the cut exactly as the full run made it (no
look-ahead, as freqtrade's lookahead analysis proves it); the main database's orders, positions, settings
and paper books are untouched; bad input is refused in one line.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from tests.integration.backtest.support import RULES_STRATEGY, main_installation
from typer.testing import CliRunner, Result

from ibflow.cli import app

pytestmark = pytest.mark.integration

SAMPLES = Path(__file__).resolve().parents[3] / "src" / "ibflow" / "brokers" / "paper" / "market" / "samples"
AAPL_FILE = SAMPLES / "AAPL-20040819-20180120.csv"
FIRST, LAST = "2017-01-01", "2017-03-31"
CUTS = ("2017-01-31", "2017-02-28")

STRATEGY = RULES_STRATEGY.format(name="aapl-rules", timeframes='["1d"]')

MAIN_TABLES = (
    "orders",
    "order_events",
    "fills",
    "positions",
    "trades",
    "portfolio_snapshots",
    "app_settings",
    "trading_state",
    "strategy_executions",
    "workflow_lineage",
    "trading_signals",
    "paper_accounts",
    "paper_orders",
    "paper_fills",
    "paper_positions",
    "strategies",
    "events",
    "audit_log",
    "symbols",
    "bars",
    "charts",
    "llm_calls",
)


@dataclass
class Installation:
    root: Path
    main_db: Path
    before: dict[str, list[tuple[Any, ...]]]
    full: dict[str, Any]


def ibflow(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(app, list(args), input=stdin)


def backtest(*args: str) -> dict[str, Any]:
    result = ibflow("backtest", "aapl-rules", "--json", *args)
    assert result.exit_code == 0, result.output
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


def rows(database: Path, table: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(database) as conn:
        return conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()


def count(database: Path, table: str) -> int:
    return len(rows(database, table))


def decisions(database: Path, until: str) -> list[tuple[Any, ...]]:
    """What each execution up to ``until`` decided: its signal and the orders it placed (the children's
    quantities are left out: they follow later fills, which a cut of the data ends)."""
    query = """
        SELECT e.scheduled_for, s.action, s.confidence, s.entry, s.stop_loss, s.take_profit, s.is_valid,
               s.reason, group_concat(o.role || ' ' || o.side || ' ' ||
               CASE WHEN o.role = 'entry' THEN o.quantity ELSE '' END || ' ' ||
               coalesce(o.limit_price, '') || ' ' || coalesce(o.stop_price, ''), '; ')
        FROM strategy_executions e
        LEFT JOIN trading_signals s ON s.execution_id = e.id
        LEFT JOIN orders o ON o.execution_id = e.id
        WHERE e.scheduled_for < ?
        GROUP BY e.id ORDER BY e.scheduled_for
    """
    with sqlite3.connect(database) as conn:
        return conn.execute(query, (f"{until} 23:59",)).fetchall()


@pytest.fixture(scope="module")
def installation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    root = tmp_path_factory.mktemp("backtest")
    with pytest.MonkeyPatch.context() as patch:
        main_db = main_installation(patch, root)
        (root / "aapl.toml").write_text(STRATEGY, encoding="utf-8")
        applied = ibflow("strategy", "apply", str(root / "aapl.toml"))
        assert applied.exit_code == 0, applied.output
        llm = STRATEGY.replace('"aapl-rules"', '"aapl-llm"').replace('"rules"', '"openai"')
        (root / "llm.toml").write_text(llm, encoding="utf-8")
        assert ibflow("strategy", "apply", str(root / "llm.toml")).exit_code == 0
        before = {table: rows(main_db, table) for table in MAIN_TABLES}
        full = backtest("--from", FIRST, "--to", LAST, "--name", "full")
        yield Installation(root, main_db, before, full)


def test_a_backtest_runs_every_session_through_the_executor_and_keeps_its_results(
    installation: Installation,
) -> None:
    full = installation.full
    database = Path(full["database"])
    assert database.parent == installation.root / "var" / "backtests" / "full"
    executions = full["summary"]["executions"]
    assert executions == 62  # the sessions of 2017-01-03 .. 2017-03-31 in the file
    assert count(database, "strategy_executions") == executions
    assert count(database, "workflow_lineage") == 11 * executions
    assert full["summary"]["trades"] == len(full["trades"]) > 0
    assert sum(full["summary"]["signals"].values()) == executions
    assert len(full["equity_curve"]) == executions
    start = full["equity_curve"][0]
    assert Decimal(start["equity"]) == Decimal(start["buy_and_hold"]) == 100_000
    with sqlite3.connect(installation.main_db) as conn:
        kept = conn.execute("SELECT name, status, executions, summary, trades FROM backtests").fetchall()
    assert [(name, status, n) for name, status, n, _, _ in kept] == [("full", "completed", executions)]
    assert json.loads(kept[0][3]) == full["summary"]
    assert json.loads(kept[0][4]) == full["trades"]


def test_a_second_run_of_the_same_backtest_gives_identical_results(installation: Installation) -> None:
    printed = ibflow("backtest", "aapl-rules", "--from", FIRST, "--to", LAST, "--name", "again")
    assert printed.exit_code == 0, printed.output
    assert "62 decisions, one per session 5 minutes after the close (the strategy's cron" in printed.stderr
    for line in ("measure", "strategy", "buy and hold", "max drawdown", "profit factor", "average R"):
        assert line in printed.stdout
    with sqlite3.connect(installation.main_db) as conn:
        kept = conn.execute(
            "SELECT summary, equity_curve, trades, database_path FROM backtests WHERE name = 'again'"
        ).fetchone()
    full = installation.full
    assert json.loads(kept[0]) == full["summary"]
    assert json.loads(kept[1]) == full["equity_curve"]
    assert json.loads(kept[2]) == full["trades"]
    first_db, second_db = Path(full["database"]), Path(kept[3])
    assert count(second_db, "workflow_lineage") == count(first_db, "workflow_lineage")
    assert decisions(second_db, LAST) == decisions(first_db, LAST)


def test_decisions_before_a_cut_of_the_data_are_those_of_the_full_run(
    installation: Installation, tmp_path: Path
) -> None:
    full_db = Path(installation.full["database"])
    lines = AAPL_FILE.read_text(encoding="utf-8").splitlines()
    for cut in CUTS:
        folder = tmp_path / cut
        folder.mkdir()
        kept = [line for line in lines[1:] if line[:10] <= cut]
        (folder / "AAPL.csv").write_text("\n".join([lines[0], *kept]) + "\n", encoding="utf-8")
        result = backtest("--from", FIRST, "--to", cut, "--data", f"files:{folder}", "--name", f"cut-{cut}")
        made = decisions(Path(result["database"]), cut)
        assert len(made) == result["summary"]["executions"] > 15
        assert made == decisions(full_db, cut), f"a decision up to {cut} saw bars after it"


def test_a_backtest_leaves_the_main_database_untouched_but_for_its_row(installation: Installation) -> None:
    after = {table: rows(installation.main_db, table) for table in MAIN_TABLES}
    assert after == installation.before
    assert count(installation.main_db, "backtests") >= 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope", "--from", FIRST, "--to", LAST], "error: no strategy"),
        (["aapl-rules", "--from", "2017-13-01", "--to", LAST], "error: --from '2017-13-01' is not a date"),
        (["aapl-rules", "--from", LAST, "--to", FIRST], "error: --from 2017-03-31 is after --to 2017-01-01"),
        (
            ["aapl-rules", "--from", FIRST, "--to", LAST, "--cash", "-5"],
            "error: --cash -5 must be a positive",
        ),
        (
            ["aapl-rules", "--from", FIRST, "--to", LAST, "--data", "s3:x"],
            "error: --data 's3:x': give files:",
        ),
        (
            ["aapl-rules", "--from", FIRST, "--to", LAST, "--data", "files:/nowhere"],
            "error: /nowhere: no such",
        ),
        (
            ["aapl-rules", "--from", "2030-01-01", "--to", "2030-02-01"],
            "error: the data holds AAPL from 2004",
        ),
        (
            ["aapl-rules", "--from", "2017-01-07", "--to", "2017-01-08"],
            "error: the data has no session of AAPL",
        ),
        (["aapl-rules", "--from", FIRST, "--to", LAST, "--name", "full"], "error: a backtest called 'full'"),
        (
            ["aapl-llm", "--from", FIRST, "--to", LAST],
            "error: the openai analyst needs IBFLOW_OPENAI_API_KEY",
        ),
    ],
)
def test_bad_input_is_refused_in_one_line(installation: Installation, args: list[str], message: str) -> None:
    result = ibflow("backtest", *args)
    assert result.exit_code == 2
    assert result.output.startswith(message), result.output
    assert result.output.count("\n") == 1, result.output


def test_a_file_with_a_bad_row_is_refused_in_one_line_naming_it(
    installation: Installation, tmp_path: Path
) -> None:
    bad = tmp_path / "AAPL.csv"
    bad.write_text("Date,Open,High,Low,Close,Volume\n2017-01-03,1,2,1,x,7\n", encoding="utf-8")
    result = ibflow("backtest", "aapl-rules", "--from", FIRST, "--to", LAST, "--data", f"files:{bad}")
    assert result.exit_code == 2
    assert result.output == f"error: {bad} line 2: close 'x' is not a number\n"


def test_a_long_run_shows_its_count_and_runs_only_when_confirmed(installation: Installation) -> None:
    result = ibflow("backtest", "aapl-rules", "--from", "2005-01-01", "--to", "2017-12-31", stdin="n\n")
    assert result.exit_code == 1
    assert "this backtest makes 3272 executions; run it?" in result.output
    assert not (installation.root / "var" / "backtests" / "aapl-rules-2005-01-01-2017-12-31").exists()
    assert "aapl-rules-2005" not in str(rows(installation.main_db, "backtests"))
