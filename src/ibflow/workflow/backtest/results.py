"""A backtest's statistics, equity curve and trades, read from its own database.

The return statistics (return, CAGR, max drawdown, Sharpe, Sortino) are empyrical-reloaded's, on the returns
of the equity at each decision (one a session), annualised with 252 sessions a year and no risk-free rate.
Exposure and the trade statistics (win rate, profit factor, average R) are counted here: no library in the
stack takes a list of closed trades or a held-or-not flag. The buy-and-hold benchmark puts the starting cash
into the symbol at the first decision's close, without commission, and holds it to the end. Money stays
Decimal; ratios are floats rounded for reading.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from ibflow.brokers.base import BarData
from ibflow.core.ids import ExecutionId
from ibflow.db.models.executions import TradingSignal
from ibflow.db.models.positions import PortfolioSnapshot, Trade

SESSIONS_PER_YEAR = 252
MIN_RETURNS_FOR_RATIOS = 20
"""Fewer returns than this give no Sharpe or Sortino ratio (None): over a few sessions of nearly equal
returns the ratio is noise (a 3-session run once showed a Sharpe of -1,122,485)."""
NEW_YORK = ZoneInfo("America/New_York")


@dataclass(frozen=True)
class Results:
    """What a backtest produced: its statistics, its equity curve against buy-and-hold, and its trades."""

    summary: dict[str, Any]
    equity_curve: list[dict[str, Any]]
    trades: list[dict[str, Any]]


def backtest_results(
    session: Session,
    *,
    account_id: str,
    executions: Sequence[ExecutionId],
    starting_cash: Decimal,
    bars: Sequence[BarData],
) -> Results:
    """Compute the results of the executions in the backtest database ``session`` reads.

    The equity curve is the last portfolio snapshot taken at each decision time (fills of the session just
    ended included); ``bars`` are the symbol's daily bars over the window, for buy-and-hold.
    """
    snapshots = session.scalars(
        select(PortfolioSnapshot)
        .where(PortfolioSnapshot.account_id == account_id)
        .order_by(PortfolioSnapshot.taken_at, PortfolioSnapshot.id)
    ).all()
    latest = {s.taken_at: s for s in snapshots}  # the job's and the run's own snapshot share a time: keep one
    points = [(s.taken_at, s.equity, s.positions_value) for s in latest.values()]
    curve = _curve(points, starting_cash, bars)
    trades = session.scalars(
        select(Trade).where(Trade.account_id == account_id).order_by(Trade.closed_at, Trade.id)
    ).all()
    actions = Counter(
        signal.action.value
        for signal in session.scalars(select(TradingSignal).where(TradingSignal.execution_id.in_(executions)))
    )
    equity = [float(point["equity"]) for point in curve]
    benchmark = [float(point["buy_and_hold"]) for point in curve]
    summary = {
        "executions": len(executions),
        "starting_cash": str(starting_cash),
        "final_equity": str(points[-1][1] if points else starting_cash),
        **_performance(equity),
        "exposure": _round(sum(1 for _, _, held in points if held > 0) / len(points)) if points else 0.0,
        **_trade_stats(trades),
        "signals": dict(sorted(actions.items())),
        "buy_and_hold": _performance(benchmark),
    }
    return Results(summary, curve, [_trade_row(trade) for trade in trades])


def _curve(
    points: list[tuple[datetime, Decimal, Decimal]], cash: Decimal, bars: Sequence[BarData]
) -> list[dict[str, Any]]:
    closes = {_day(bar.ts): bar.close for bar in bars if not bar.partial}
    base = closes.get(_day(points[0][0])) if points else None
    result = []
    for at, equity, _ in points:
        close = closes.get(_day(at))  # the close of the session the decision follows
        held = cash if base is None or close is None else (cash * close / base).quantize(Decimal("0.01"))
        result.append({"at": at.isoformat(), "equity": str(equity), "buy_and_hold": str(held)})
    return result


def _day(at: datetime) -> date:
    return at.astimezone(NEW_YORK).date()


def _performance(equity: list[float]) -> dict[str, Any]:
    """Return, CAGR, max drawdown, Sharpe and Sortino of an equity series, one value a session."""
    if len(equity) < 2 or equity[0] <= 0:
        return {"return": 0.0, "cagr": 0.0, "max_drawdown": 0.0, "sharpe": None, "sortino": None}
    import empyrical  # lazily: it imports scipy, a second of CPU that only a backtest's end needs

    returns = np.array([b / a - 1 for a, b in itertools.pairwise(equity) if a > 0])
    total = float(empyrical.cum_returns_final(returns))
    cagr = empyrical.annual_return(returns, annualization=SESSIONS_PER_YEAR) if total > -1 else -1.0
    figures: dict[str, Any] = {
        "return": _round(total),
        "cagr": _round(float(cagr)),
        "max_drawdown": _round(float(empyrical.max_drawdown(returns))),
        "sharpe": None,
        "sortino": None,
    }
    if len(returns) >= MIN_RETURNS_FOR_RATIOS:
        sharpe = empyrical.sharpe_ratio(returns, risk_free=0.0, annualization=SESSIONS_PER_YEAR)
        sortino = empyrical.sortino_ratio(returns, required_return=0.0, annualization=SESSIONS_PER_YEAR)
        figures |= {"sharpe": _ratio(sharpe), "sortino": _ratio(sortino)}
    return figures


def _ratio(value: float) -> float | None:
    """A ratio rounded for reading; ``None`` where it is undefined (no spread, or no downside)."""
    return _round(float(value)) if math.isfinite(value) else None


def _trade_stats(trades: Sequence[Trade]) -> dict[str, Any]:
    wins = [t.net_pnl for t in trades if t.net_pnl > 0]
    losses = [t.net_pnl for t in trades if t.net_pnl <= 0]
    multiples = [float(t.r_multiple) for t in trades if t.r_multiple is not None]
    lost = -sum(losses, Decimal(0))
    return {
        "trades": len(trades),
        "win_rate": _round(len(wins) / len(trades)) if trades else None,
        "profit_factor": _round(float(sum(wins, Decimal(0)) / lost)) if lost > 0 else None,
        "average_r": _round(sum(multiples) / len(multiples)) if multiples else None,
        "net_pnl": str(sum((t.net_pnl for t in trades), Decimal(0))),
        "commissions": str(sum((t.commissions for t in trades), Decimal(0))),
    }


def _trade_row(trade: Trade) -> dict[str, Any]:
    return {
        "opened_at": trade.opened_at.isoformat(),
        "closed_at": trade.closed_at.isoformat(),
        "quantity": str(trade.quantity.normalize()),
        "entry_price": str(trade.entry_price),
        "exit_price": str(trade.exit_price),
        "net_pnl": str(trade.net_pnl),
        "commissions": str(trade.commissions),
        "r_multiple": None if trade.r_multiple is None else str(trade.r_multiple),
        "exit_reason": trade.exit_reason,
    }


def _round(value: float) -> float:
    return round(value, 4)
