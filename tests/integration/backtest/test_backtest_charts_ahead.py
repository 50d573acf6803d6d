"""``ibflow backtest`` with both charts drawn ahead in a second process (the default) on real AAPL bars.

The charts a backtest stores are byte for byte those it stores without drawing ahead
(``--no-render-ahead``: every chart drawn by the step itself), the daily ones with their position's levels
included; and three months run twice with drawing ahead give identical trades, equity curve, summary and
lineage row count (the year runs in ``benchmarks/bench_backtest.py``).
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.integration.backtest.support import RULES_STRATEGY, main_installation
from typer.testing import CliRunner

from ibflow.cli import app

pytestmark = pytest.mark.integration

FIRST, LAST, SHORT = "2017-01-01", "2017-03-31", "2017-02-15"

STRATEGY = RULES_STRATEGY.format(name="aapl-charts", timeframes='["1d", "1w"]')


@dataclass
class Run:
    result: dict[str, Any]
    stderr: str

    @property
    def database(self) -> Path:
        return Path(self.result["database"])


def _backtest(name: str, *args: str) -> Run:
    outcome = CliRunner().invoke(app, ["backtest", "aapl-charts", "--json", "--name", name, *args])
    assert outcome.exit_code == 0, outcome.output
    return Run(json.loads(outcome.stdout), outcome.stderr)


def _query(database: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(database) as conn:
        return conn.execute(sql).fetchall()


def _charts(run: Run) -> list[tuple[Any, ...]]:
    """Each execution's charts in order: its scheduled time, timeframe, sha256, size and bar range."""
    return _query(
        run.database,
        "SELECT e.scheduled_for, c.timeframe, c.sha256, c.size_bytes, c.bar_from, c.bar_to FROM charts c "
        "JOIN strategy_executions e ON e.id = c.execution_id ORDER BY e.scheduled_for, c.timeframe",
    )


def _stored(run: Run, key: str) -> bytes:
    return (run.database.parent / "charts" / key).read_bytes()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Run]]:
    root = tmp_path_factory.mktemp("charts-ahead")
    with pytest.MonkeyPatch.context() as patch:
        main_installation(patch, root)
        (root / "aapl.toml").write_text(STRATEGY, encoding="utf-8")
        applied = CliRunner().invoke(app, ["strategy", "apply", str(root / "aapl.toml")])
        assert applied.exit_code == 0, applied.output
        yield {
            "first": _backtest("first", "--from", FIRST, "--to", LAST),
            "second": _backtest("second", "--from", FIRST, "--to", LAST),
            "here": _backtest("here", "--from", FIRST, "--to", SHORT, "--no-render-ahead"),
        }


def test_charts_drawn_ahead_are_byte_for_byte_those_drawn_by_the_step(runs: dict[str, Run]) -> None:
    ahead, here = runs["first"], runs["here"]
    drawn = re.search(r"charts: (\d+) of (\d+) drawn ahead", ahead.stderr)
    assert drawn is not None, ahead.stderr
    assert int(drawn[2]) == 2 * 62
    assert int(drawn[1]) > 0
    assert "drawn ahead" not in here.stderr
    without = _charts(here)
    assert len(without) == 2 * here.result["summary"]["executions"] > 50
    assert _charts(ahead)[: len(without)] == without
    keys = _query(here.database, "SELECT DISTINCT store_key FROM charts")
    for (key,) in keys:
        assert _stored(ahead, key) == _stored(here, key)
    # a position was open in the window: daily charts showing its entry, stop and target were compared too
    opened = f"SELECT count(*) FROM positions WHERE opened_at <= '{SHORT}'"
    assert _query(here.database, opened)[0][0] > 0
    executions = here.result["summary"]["executions"]
    lineage = "SELECT output FROM workflow_lineage WHERE step_name = 'render_charts' ORDER BY execution_id"
    assert _query(ahead.database, lineage)[:executions] == _query(here.database, lineage)


def test_three_months_run_twice_with_charts_drawn_ahead_give_identical_results(
    runs: dict[str, Run],
) -> None:
    first, second = runs["first"].result, runs["second"].result
    assert first["summary"]["executions"] == 62
    assert first["trades"] == second["trades"]
    assert len(first["trades"]) > 0
    assert first["equity_curve"] == second["equity_curve"]
    assert first["summary"] == second["summary"]
    count = "SELECT count(*) FROM workflow_lineage"
    assert _query(runs["first"].database, count) == _query(runs["second"].database, count) == [(11 * 62,)]
    assert _charts(runs["first"]) == _charts(runs["second"])
