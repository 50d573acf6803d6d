"""What the backtest tests share: a main installation to back-test from, and the rules strategy they run."""

from __future__ import annotations

from pathlib import Path

import pytest

from ibflow.db import migrate

RULES_STRATEGY = """\
name = "{name}"
symbol = "AAPL"
timeframes = {timeframes}

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
params = {{ period = 20 }}

[[indicators]]
type = "sma"
params = {{ period = 50 }}

[[indicators]]
type = "rsi"
params = {{ period = 14 }}
"""
"""The three-month tests' strategy: ``RULES_STRATEGY.format(name=..., timeframes='["1d"]')``."""


def main_installation(patch: pytest.MonkeyPatch, root: Path, **env: str) -> Path:
    """Point the environment at a migrated main database under ``root`` (the working folder); return it."""
    main_db = root / "var" / "ibflow.db"
    patch.setenv("IBFLOW_DATA_DIR", str(root / "var"))
    patch.setenv("IBFLOW_DATABASE_URL", f"sqlite:///{main_db}")
    patch.setenv("COLUMNS", "200")
    for name, value in env.items():
        patch.setenv(name, value)
    patch.chdir(root)
    migrate.upgrade(f"sqlite:///{main_db}")
    return main_db
