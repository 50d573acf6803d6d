"""Saved backtests: list them, find one by name or id, compare two, and write or render one's report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ibflow.core.errors import NotFound
from ibflow.db.engine import make_engine, read_session_factory
from ibflow.db.models.backtests import Backtest
from ibflow.db.models.strategies import Strategy
from ibflow.workflow.backtest.report import ReportInput, measure, render_report

REPORT_FILE = "report.html"
COMPARED = (
    "executions",
    "final_equity",
    "return",
    "cagr",
    "max_drawdown",
    "sharpe",
    "sortino",
    "exposure",
    "trades",
    "win_rate",
    "profit_factor",
    "average_r",
    "net_pnl",
    "commissions",
    "llm.calls",
    "llm.cache_hits",
    "llm.input_tokens",
    "llm.output_tokens",
    "llm.cost_usd",
)
"""The summary measures a comparison lines up (then the signals by action and buy-and-hold's return)."""


def list_backtests(session: Session) -> list[Backtest]:
    """Every saved backtest, newest first."""
    return list(session.scalars(select(Backtest).order_by(Backtest.id.desc())))


def backtest_named(session: Session, reference: str) -> Backtest:
    """The backtest called ``reference`` (or with that id); ``NotFound`` in one line otherwise."""
    row = session.scalars(select(Backtest).where(Backtest.name == reference)).first()
    if row is None and reference.isdigit() and len(reference) < 19:
        row = session.get(Backtest, int(reference))
    if row is None:
        raise NotFound(f"no backtest called {reference!r}; `ibflow backtest list` shows them")
    return row


def overview(row: Backtest) -> dict[str, Any]:
    """What a list shows of one backtest."""
    return {
        "id": row.id,
        "name": row.name,
        "strategy": row.strategy_name,
        "symbol": row.symbol,
        "from": row.first_day.isoformat(),
        "to": row.last_day.isoformat(),
        "status": row.status,
        "executions": row.executions,
        "return": row.summary.get("return"),
        "max_drawdown": row.summary.get("max_drawdown"),
        "trades": row.summary.get("trades"),
        "finished_at": row.finished_at.isoformat(),
    }


def detail(row: Backtest) -> dict[str, Any]:
    """One backtest whole: what the list shows, its summary, equity curve and trades."""
    return {
        **overview(row),
        "starting_cash": str(row.starting_cash),
        "data_source": row.data_source,
        "database": row.database_path,
        "started_at": row.started_at.isoformat(),
        "summary": row.summary,
        "equity_curve": row.equity_curve,
        "trades": row.trades,
    }


def compare(a: Backtest, b: Backtest) -> dict[str, Any]:
    """Two backtests side by side: every measure of each, and ``b - a`` where both are numbers."""
    measures = [_line(key, measure(a.summary, key), measure(b.summary, key)) for key in COMPARED]
    for action in sorted(set(a.summary.get("signals", {})) | set(b.summary.get("signals", {}))):
        measures.append(
            _line(
                f"signals {action}", a.summary["signals"].get(action, 0), b.summary["signals"].get(action, 0)
            )
        )
    for key in ("return", "max_drawdown", "sharpe"):
        measures.append(
            _line(
                f"buy_and_hold {key}",
                a.summary.get("buy_and_hold", {}).get(key),
                b.summary.get("buy_and_hold", {}).get(key),
            )
        )
    return {"a": overview(a), "b": overview(b), "measures": measures}


def _line(measure: str, a: Any, b: Any) -> dict[str, Any]:
    return {"measure": measure, "a": a, "b": b, "difference": _difference(a, b)}


def _difference(a: Any, b: Any) -> Any:
    from decimal import Decimal, InvalidOperation

    if a is None or b is None or isinstance(a, bool) or isinstance(b, bool):
        return None
    if isinstance(a, str) or isinstance(b, str):
        try:
            return str(Decimal(str(b)) - Decimal(str(a)))
        except InvalidOperation:
            return None
    if isinstance(a, int) and isinstance(b, int):
        return b - a
    return round(float(b) - float(a), 4)


def report_html(row: Backtest) -> str:
    """Render ``row``'s report; the strategy's description and file come from the backtest's own database
    (the strategy as it ran), when that file is still there."""
    description, text = "", ""
    database = Path(row.database_path)
    if database.exists():
        engine = make_engine(f"sqlite:///{database.as_posix()}")
        try:
            with read_session_factory(engine)() as session:
                strategy = session.scalars(select(Strategy).order_by(Strategy.id)).first()
                if strategy is not None:
                    description = strategy.description
                    text = _strategy_text(session, strategy)
        finally:
            engine.dispose()
    return render_report(
        ReportInput(
            name=row.name,
            strategy=row.strategy_name,
            symbol=row.symbol,
            first_day=row.first_day.isoformat(),
            last_day=row.last_day.isoformat(),
            status=row.status,
            starting_cash=str(row.starting_cash),
            data_source=row.data_source,
            summary=row.summary,
            equity_curve=row.equity_curve,
            trades=row.trades,
            description=description,
            strategy_file=text,
        )
    )


def _strategy_text(session: Session, strategy: Strategy) -> str:
    from ibflow.workflow.strategies.files import write_strategy
    from ibflow.workflow.strategies.stored import file_of

    return write_strategy(file_of(session, strategy), "yaml")


def report_path(row: Backtest) -> Path:
    """Where the report of ``row`` is kept: next to its database."""
    return Path(row.database_path).parent / REPORT_FILE


def write_report(row: Backtest) -> Path:
    """Write ``row``'s report next to its database; return the file."""
    path = report_path(row)
    path.write_text(report_html(row), encoding="utf-8")
    return path
