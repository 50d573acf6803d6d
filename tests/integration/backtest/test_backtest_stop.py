"""Ctrl-C during ``ibflow backtest`` stops after the running execution and keeps what ran."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ibflow.db import migrate

pytestmark = pytest.mark.integration

STRATEGY = """\
name = "aapl-rules"
symbol = "AAPL"
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


def _executions(database: Path) -> int:
    if not database.exists():
        return 0
    try:
        with sqlite3.connect(database) as conn:
            return int(conn.execute("SELECT count(*) FROM strategy_executions").fetchone()[0])
    except sqlite3.OperationalError:  # not migrated yet
        return 0


def test_ctrl_c_stops_between_executions_and_keeps_what_ran(tmp_path: Path) -> None:
    main_db = tmp_path / "var" / "ibflow.db"
    env = {
        **os.environ,
        "IBFLOW_DATA_DIR": str(tmp_path / "var"),
        "IBFLOW_DATABASE_URL": f"sqlite:///{main_db}",
    }
    migrate.upgrade(f"sqlite:///{main_db}")
    (tmp_path / "aapl.toml").write_text(STRATEGY, encoding="utf-8")
    command = [sys.executable, "-c", "from ibflow.cli import main; main()"]
    applied = subprocess.run(
        [*command, "strategy", "apply", "aapl.toml"], cwd=tmp_path, env=env, capture_output=True, check=False
    )
    assert applied.returncode == 0, applied.stderr
    args = ["backtest", "aapl-rules", "--from", "2016-01-01", "--to", "2016-12-31", "--name", "cut", "--json"]
    process = subprocess.Popen(
        [*command, *args], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    database = tmp_path / "var" / "backtests" / "cut" / "backtest.db"
    deadline = time.monotonic() + 120
    while _executions(database) < 3 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    assert "daily bars: 252 decisions" in stderr
    assert "stopping after the running execution" in stderr
    result = json.loads(stdout)
    ran = result["summary"]["executions"]
    assert result["status"] == "stopped"
    assert 3 <= ran < 252
    with sqlite3.connect(database) as conn:
        statuses = conn.execute("SELECT status, count(*) FROM strategy_executions GROUP BY status").fetchall()
        lineage = conn.execute("SELECT count(*) FROM workflow_lineage").fetchone()[0]
    assert statuses == [("succeeded", ran)]  # none left running or queued
    assert lineage == 11 * ran
    with sqlite3.connect(main_db) as conn:
        kept = conn.execute("SELECT status, executions FROM backtests").fetchall()
    assert kept == [("stopped", ran)]
