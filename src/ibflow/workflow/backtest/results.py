"""A backtest's statistics, equity curve and trades, read from its own database.

Statistics are written out here (no statistics library is in the pinned stack): returns are those of the
equity at each decision (one a session), annualised with 252 sessions a year and no risk-free rate. The
buy-and-hold benchmark puts the starting cash into the symbol at the first decision's close, without
commission, and holds it to the end. Money stays Decimal; ratios are floats rounded for reading.
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
        **_performance(equity, [t for t, _, _ in points]),
        "exposure": _round(sum(1 for _, _, held in points if held > 0) / len(points)) if points else 0.0,
        **_trade_stats(trades),
        "signals": dict(sorted(actions.items())),
        "buy_and_hold": _performance(benchmark, [t for t, _, _ in points]),
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


def _performance(equity: list[float], times: list[datetime]) -> dict[str, Any]:
    if len(equity) < 2 or equity[0] <= 0:
        return {"return": 0.0, "cagr": 0.0, "max_drawdown": 0.0, "sharpe": None, "sortino": None}
    returns = [b / a - 1 for a, b in itertools.pairwise(equity) if a > 0]
    years = max((times[-1] - times[0]).total_seconds() / (365.25 * 86400), 1 / 365.25)
    total = equity[-1] / equity[0] - 1
    peak, drawdown = equity[0], 0.0
    for value in equity:
        peak = max(peak, value)
        drawdown = min(drawdown, value / peak - 1)
    mean = sum(returns) / len(returns)
    spread = (
        math.sqrt(sum((r - mean) ** 2 for r in returns) / (len(returns) - 1)) if len(returns) > 1 else 0.0
    )
    downside = math.sqrt(sum(min(r, 0.0) ** 2 for r in returns) / len(returns))
    scale = math.sqrt(SESSIONS_PER_YEAR)
    enough = len(returns) >= MIN_RETURNS_FOR_RATIOS
    return {
        "return": _round(total),
        "cagr": _round((1 + total) ** (1 / years) - 1) if total > -1 else -1.0,
        "max_drawdown": _round(drawdown),
        "sharpe": _round(mean / spread * scale) if spread > 0 and enough else None,
        "sortino": _round(mean / downside * scale) if downside > 0 and enough else None,
    }


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
