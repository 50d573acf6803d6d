"""Copy a strategy into a backtest's database, and keep a finished backtest's results in the main one."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from ibflow.core.clock import Clock
from ibflow.core.errors import Conflict
from ibflow.core.ids import Conid, StrategyId
from ibflow.db.models.backtests import Backtest
from ibflow.marketdata.contracts import ContractService
from ibflow.workflow.backtest.results import Results
from ibflow.workflow.strategies.files import write_strategy
from ibflow.workflow.strategies.lookup import find_strategy
from ibflow.workflow.strategies.service import apply_strategy_file
from ibflow.workflow.strategies.stored import file_of

ACTOR = "backtest"


@dataclass(frozen=True)
class StrategyCopy:
    """A strategy of the main database, as the file that recreates it in a backtest's database."""

    strategy_id: StrategyId
    name: str
    conid: Conid
    symbol: str
    text: str


def copy_of(session: Session, reference: str) -> StrategyCopy:
    """Return the strategy ``reference`` names (id or name) as a file, in paper mode (a backtest never
    reaches a live broker); ``NotFound`` when there is none."""
    strategy = find_strategy(session, reference)
    document = replace(file_of(session, strategy), mode="paper")
    return StrategyCopy(
        StrategyId(strategy.id),
        strategy.name,
        Conid(strategy.conid),
        strategy.symbol,
        write_strategy(document, "yaml"),
    )


def install(session: Session, copy: StrategyCopy, *, contracts: ContractService, clock: Clock) -> StrategyId:
    """Create the copied strategy in the backtest's database ``session``; return its id there."""
    applied = apply_strategy_file(
        session, text=copy.text, fmt="yaml", contracts=contracts, clock=clock, actor=ACTOR
    )
    return StrategyId(applied.strategy.id)


def refuse_taken_name(session: Session, name: str) -> None:
    """Raise ``Conflict`` when a backtest called ``name`` exists already."""
    if session.scalars(select(Backtest.id).where(Backtest.name == name)).first() is not None:
        raise Conflict(f"a backtest called {name!r} exists already; choose another --name")


@dataclass(frozen=True)
class BacktestRecord:
    """What identifies a backtest besides its results."""

    name: str
    copy: StrategyCopy
    first_day: date
    last_day: date
    starting_cash: Decimal
    data_source: str
    database_path: Path
    started_at: datetime


def save_backtest(
    session: Session, record: BacktestRecord, results: Results, *, stopped: bool, finished_at: datetime
) -> Backtest:
    """Add the backtest's row (summary, equity curve, trades) to the main database ``session``."""
    row = Backtest(
        name=record.name,
        strategy_id=record.copy.strategy_id,
        strategy_name=record.copy.name,
        conid=record.copy.conid,
        symbol=record.copy.symbol,
        first_day=record.first_day,
        last_day=record.last_day,
        starting_cash=record.starting_cash,
        status="stopped" if stopped else "completed",
        executions=int(results.summary["executions"]),
        data_source=record.data_source,
        database_path=str(record.database_path),
        started_at=record.started_at,
        finished_at=finished_at,
        summary=results.summary,
        equity_curve=results.equity_curve,
        trades=results.trades,
    )
    session.add(row)
    session.flush()
    return row


def free_name(session: Session, base: str) -> str:
    """Return ``base``, or ``base-2``, ``base-3``... the first name no saved backtest has."""
    taken = set(session.scalars(select(Backtest.name).where(Backtest.name.startswith(base))))
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}-{n}"
    return name


def folder_name(name: str) -> str:
    """The folder of a backtest named ``name``: its name with anything but ``A-Za-z0-9._-`` made ``-``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "backtest"
