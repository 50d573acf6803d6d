"""How the backtests pages write a summary measure: percents, counts, money, signs, and nothing known."""

from __future__ import annotations

from typing import Any

import pytest

from ibflow.web.pages.backtests import measure_text


@pytest.mark.parametrize(
    ("key", "value", "signed", "shown"),
    [
        ("return", 0.0123, False, "+1.23 %"),
        ("return", -0.5, False, "-50.00 %"),
        ("max_drawdown", -0.1, False, "-10.00 %"),
        ("buy_and_hold return", 0.02, False, "+2.00 %"),
        ("win_rate", None, False, "-"),
        ("trades", 3, False, "3"),
        ("executions", 5, True, "+5"),
        ("executions", -5, True, "-5"),
        ("sharpe", 1.234, False, "1.23"),
        ("net_pnl", "-12345.5", False, "-12,345.50"),
        ("final_equity", "4.00", True, "+4.00"),
        ("signals", {"BUY": 2}, False, "-"),
    ],
)
def test_a_measure_reads_as_a_trader_reads_it(key: str, value: Any, signed: bool, shown: str) -> None:
    assert measure_text(key, value, signed) == shown
