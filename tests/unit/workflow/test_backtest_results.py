"""A backtest's statistics from its snapshots and trades: return, drawdown, ratios, trades, benchmark."""

from __future__ import annotations

import itertools
import math
import statistics
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from ibflow.brokers.base import BarData
from ibflow.db.engine import SessionFactory
from ibflow.db.models import PortfolioSnapshot, Trade
from ibflow.workflow.backtest.results import (
    MIN_RETURNS_FOR_RATIOS,
    SESSIONS_PER_YEAR,
    _performance,
    backtest_results,
)

NEW_YORK = ZoneInfo("America/New_York")
ACCOUNT = "PAPER-1"
D = Decimal
DAYS = (3, 4, 5, 6)
EQUITY = (D(100_000), D(110_000), D(99_000), D(104_500))
HELD = (D(0), D(5000), D(5000), D(0))
CLOSES = (D(50), D(55), D(45), D(60))


def at(day: int, hour: int, minute: int) -> datetime:
    return datetime(2017, 1, day, hour, minute, tzinfo=NEW_YORK).astimezone(UTC)


def trade(net: str, r: str, day: int) -> Trade:
    return Trade(
        account_id=ACCOUNT,
        conid=265598,
        symbol="AAPL",
        quantity=D(10),
        entry_price=D(100),
        exit_price=D(100) + D(net) / 10,
        gross_pnl=D(net) + 2,
        commissions=D(2),
        net_pnl=D(net),
        initial_risk=D(200),
        r_multiple=D(r),
        exit_reason="target" if D(net) > 0 else "stop",
        opened_at=at(day - 1, 9, 30),
        closed_at=at(day, 12, 0),
    )


def test_the_statistics_of_a_known_equity_curve_and_trade_list(sessions: SessionFactory) -> None:
    with sessions() as session:
        for day, equity, held in zip(DAYS, EQUITY, HELD, strict=True):
            for _ in range(2):  # the job's snapshot and the execution's own, at the same decision time
                session.add(
                    PortfolioSnapshot(
                        account_id=ACCOUNT,
                        taken_at=at(day, 16, 5),
                        cash=equity - held,
                        equity=equity,
                        positions_value=held,
                        realized_pnl=D(0),
                        unrealized_pnl=D(0),
                    )
                )
        session.add_all([trade("300", "1.5", 4), trade("-100", "-0.5", 5), trade("200", "1.0", 6)])
        session.commit()
        bars = [BarData(at(day, 9, 30), c, c, c, c, D(1)) for day, c in zip(DAYS, CLOSES, strict=True)]
        results = backtest_results(
            session, account_id=ACCOUNT, executions=[], starting_cash=D(100_000), bars=bars
        )
    summary = results.summary
    returns = [b / a - 1 for a, b in zip(map(float, EQUITY), map(float, EQUITY[1:]), strict=False)]
    assert len(results.equity_curve) == 4
    assert [p["buy_and_hold"] for p in results.equity_curve] == [
        "100000.00",
        "110000.00",
        "90000.00",
        "120000.00",
    ]
    assert D(summary["final_equity"]) == 104_500
    assert summary["return"] == 0.045
    assert summary["max_drawdown"] == -0.1
    assert len(returns) < MIN_RETURNS_FOR_RATIOS
    assert summary["sharpe"] is None  # three returns say nothing about risk-adjusted return
    assert summary["sortino"] is None
    assert summary["exposure"] == 0.5
    assert (summary["trades"], summary["win_rate"], summary["profit_factor"]) == (3, 0.6667, 5.0)
    assert summary["average_r"] == 0.6667
    assert (D(summary["net_pnl"]), D(summary["commissions"])) == (400, 6)
    assert summary["buy_and_hold"]["return"] == 0.2
    assert summary["buy_and_hold"]["max_drawdown"] == round(90 / 110 - 1, 4)
    assert [t["exit_reason"] for t in results.trades] == ["target", "stop", "target"]


def independent_figures(equity: list[float]) -> dict[str, float]:
    """The five return figures written out from their definitions, without the library results.py uses."""
    returns = [b / a - 1 for a, b in itertools.pairwise(equity)]
    growth = equity[-1] / equity[0]
    peaks = itertools.accumulate(equity, max)
    downside = math.sqrt(sum(min(r, 0.0) ** 2 for r in returns) / len(returns))
    scale = math.sqrt(SESSIONS_PER_YEAR)
    return {
        "return": growth - 1,
        "cagr": growth ** (SESSIONS_PER_YEAR / len(returns)) - 1,
        "max_drawdown": min(value / peak - 1 for value, peak in zip(equity, peaks, strict=True)),
        "sharpe": statistics.mean(returns) / statistics.stdev(returns) * scale,
        "sortino": statistics.mean(returns) / downside * scale,
    }


def test_the_return_figures_of_enough_sessions_match_their_definitions() -> None:
    equity = [100_000.0 * (1 + 0.01 * ((n % 3) - 0.8)) ** n for n in range(MIN_RETURNS_FOR_RATIOS + 1)]
    equity[7] *= 0.8  # one deep fall and its recovery, so the drawdown is not just a session's dip

    figures = _performance(equity)

    expected = independent_figures(equity)
    assert figures == {key: round(value, 4) for key, value in expected.items()}
    assert figures["max_drawdown"] < -0.2


def test_a_fall_at_the_first_session_counts_in_the_drawdown() -> None:
    equity = [100.0, 70.0, *([95.0, 99.0, 80.0, 85.0] * 5)]

    figures = _performance(equity)

    assert figures["max_drawdown"] == -0.3  # from the starting equity, not from the first return's value
    assert figures["return"] == -0.15
    assert figures["sharpe"] == round(independent_figures(equity)["sharpe"], 4)


def test_undefined_ratios_are_none_and_few_sessions_give_none() -> None:
    rising = [100.0 * 1.25**n for n in range(MIN_RETURNS_FOR_RATIOS + 1)]  # exact in binary: each return 0.25
    flat = [100.0] * (MIN_RETURNS_FOR_RATIOS + 1)
    few = [100.0, 90.0, 120.0, 80.0, 130.0]

    no_loss, no_move, short = _performance(rising), _performance(flat), _performance(few)

    assert no_loss["sharpe"] is None  # the same return every session: no spread
    assert no_loss["sortino"] is None  # no session lost: no downside
    assert no_loss["return"] == round(1.25**MIN_RETURNS_FOR_RATIOS - 1, 4)
    assert (no_move["return"], no_move["max_drawdown"], no_move["sharpe"]) == (0.0, 0.0, None)
    assert (short["sharpe"], short["sortino"]) == (None, None)
    assert short["max_drawdown"] == round(80 / 120 - 1, 4)
