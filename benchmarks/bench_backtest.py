"""A year of daily backtest executions with both charts, without and with the charts drawn ahead.

Issue 20: ``ibflow backtest`` of one strategy (rules analyst, SMA 20, SMA 50 and RSI 14, daily and weekly
charts) on the bundled real AAPL bars, 2017-01-01 to 2017-12-31 (251 sessions), each run a fresh
``ibflow`` process as a user starts it. Runs: drawn ahead, all drawn by the step (``--no-render-ahead``),
drawn ahead again (alternating, so drift in the machine's load hits both). Target: under 40 s with the
charts drawn ahead. Reported: wall seconds (process start to exit), ms per execution, the share of the
wall time the replay spent outside the ``render_charts`` and ``compute_indicators`` steps (from the
lineage's step durations), and determinism: the runs give identical trades, equity curve, summary,
lineage row count and chart sha256s.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

FIRST, LAST = "2017-01-01", "2017-12-31"
TARGET_S = 40.0
CHART_STEPS = ("render_charts", "compute_indicators")
STRATEGY = """\
name = "aapl-year"
symbol = "AAPL"
timeframes = ["1d", "1w"]

[schedule]
cron = "30 10 * * 1-5"
timezone = "America/New_York"

[analyst]
provider = "rules"

[risk]
risk_per_trade = 0.01
max_position_value = 50000
max_quantity = 1000
min_reward_risk = 1.5
min_confidence = 0.55

[[indicators]]
type = "sma"
params = { period = 20 }

[[indicators]]
type = "sma"
params = { period = 50 }

[[indicators]]
type = "rsi"
params = { period = 14 }
"""
RUNS = (("drawn ahead", True), ("drawn by the step", False), ("drawn ahead, again", True))


def _ibflow(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "IBFLOW_DATA_DIR": str(folder / "var"),
        "IBFLOW_DATABASE_URL": f"sqlite:///{folder / 'var' / 'ibflow.db'}",
        "COLUMNS": "200",
    }
    command = [sys.executable, "-c", "from ibflow.cli import main; main()", *args]
    done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"ibflow {' '.join(args)} failed: {done.stderr[-2000:]}")
    return done


def _query(database: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(database) as conn:
        return conn.execute(sql).fetchall()


def _run(folder: Path, name: str, ahead: bool) -> dict[str, Any]:
    flag = "--render-ahead" if ahead else "--no-render-ahead"
    started = time.perf_counter()
    done = _ibflow(
        folder, "backtest", "aapl-year", "--from", FIRST, "--to", LAST, "--json", "--name", name, flag
    )
    wall = time.perf_counter() - started
    result = json.loads(done.stdout)
    database = Path(result["database"])
    steps = dict(_query(database, "SELECT step_name, sum(duration_ms) FROM workflow_lineage GROUP BY 1"))
    in_charts = sum(steps.get(step, 0) for step in CHART_STEPS) / 1000
    executions = result["summary"]["executions"]
    drawn = re.search(
        r"charts: (\d+) of (\d+) drawn ahead by a second process \((\d+) drawn again", done.stderr
    )
    return {
        "wall_s": round(wall, 2),
        "ms_per_execution": round(wall * 1000 / executions, 1),
        "charts_and_indicators_s": round(in_charts, 2),
        "outside_charts_and_indicators": round(1 - in_charts / wall, 3),
        "steps_s": {step: round(ms / 1000, 2) for step, ms in steps.items()},
        "charts_drawn_ahead": f"{drawn[1]} of {drawn[2]} ({drawn[3]} drawn again with other levels)"
        if drawn
        else "none",
        "n": executions,
        "_result": result,
        "_lineage_rows": _query(database, "SELECT count(*) FROM workflow_lineage")[0][0],
        "_charts": _query(database, "SELECT timeframe, sha256 FROM charts ORDER BY id"),
    }


def run() -> dict[str, object]:
    """Run the year three times (ahead, by the step, ahead); report wall time, shares and determinism."""
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        (folder / "var").mkdir()
        (folder / "aapl.toml").write_text(STRATEGY, encoding="utf-8")
        _ibflow(folder, "migrate")
        _ibflow(folder, "strategy", "apply", "aapl.toml")
        cases = {label: _run(folder, f"run-{n}", ahead) for n, (label, ahead) in enumerate(RUNS)}
    first, here, again = (cases[label] for label, _ in RUNS)

    def same(a: dict[str, Any], b: dict[str, Any]) -> bool:
        keys = ("trades", "equity_curve", "summary")
        return (
            all(a["_result"][k] == b["_result"][k] for k in keys) and a["_lineage_rows"] == b["_lineage_rows"]
        )

    deterministic = same(first, again)
    unchanged = same(first, here) and first["_charts"] == here["_charts"] == again["_charts"]
    ahead_wall = max(first["wall_s"], again["wall_s"])
    trades = len(first["_result"]["trades"])
    public = {
        label: {k: v for k, v in case.items() if not k.startswith("_")} for label, case in cases.items()
    }
    return {
        "name": "backtest",
        "title": "A year of daily backtest executions with both charts, drawn ahead or by the step",
        "setup": (
            f"ibflow backtest of AAPL (bundled real bars) {FIRST} .. {LAST}, {first['n']} daily executions, "
            "rules analyst, SMA 20, SMA 50 and RSI 14, daily and weekly charts 1200x800, each run a fresh "
            "process (wall time from its start to its exit), runs in the order of the table"
        ),
        "cases": public,
        "ratio": {
            "drawn by the step / drawn ahead (wall, slower ahead run)": round(here["wall_s"] / ahead_wall, 2),
            "charts drawn ahead": first["charts_drawn_ahead"],
            "two runs drawn ahead: identical trades, equity curve, summary and lineage rows": deterministic,
            "drawn by the step: identical results and chart sha256s": unchanged,
            "trades, lineage rows": f"{trades}, {first['_lineage_rows']}",
        },
        "target": f"both runs drawn ahead under {TARGET_S:.0f} s, and identical results",
        "passed": ahead_wall < TARGET_S and deterministic and unchanged,
    }
