"""A database a trader has used for a day, made by ibflow itself on the paper broker.

Executions run through the real executor on the container ``bootstrap.build`` makes from the environment
(the same paper account, seed and chart folder the CLI uses), with a scripted analyst, and the service's
own periodic jobs (order tracking, session watch, reconciliation, snapshots) move the books. The clock is
a manual one that ends a minute before the wall clock, so a later command (on the system clock) carries on
from where the books were left.

What it leaves: a trade closed by its stop or target, two open positions with stop and target, a working
entry, signals BUY / SELL / HOLD / NO_SIGNAL, an execution blocked by risk, one failed on a lost broker
session (then restored), a reconciliation mismatch (shares bought outside ibflow), a portfolio snapshot,
and the kill switch set to REDUCING by a named person.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select
from tests.workflow_support import ScriptedAnalyst

from ibflow import bootstrap
from ibflow.brokers.base import OrderRequest, SessionStatus
from ibflow.brokers.paper.broker import PaperBroker
from ibflow.core.clock import ManualClock
from ibflow.core.ids import ClientOrderId, Conid, ExecutionId, StrategyId
from ibflow.db import migrate
from ibflow.db.models import Position, Strategy
from ibflow.db.states import (
    OrderSide,
    OrderType,
    PositionStatus,
    StrategyMode,
    TimeInForce,
    TradingStateValue,
)
from ibflow.marketdata.contracts import ContractService
from ibflow.trading.risk.kill_switch import set_state
from ibflow.workflow.runtime.jobs import periodic_jobs
from ibflow.workflow.strategies.lookup import IndicatorInput, StrategyInput, create_strategy

REASONING = (
    "Price reclaimed the 20-day average on rising volume while RSI turned up from 45; MACD crossed its "
    "signal line, so a pullback entry with the stop under the last swing low offers twice the risk."
)
KILL_SWITCH_REASON = "earnings season: only exits until the desk reviews the open risk"
KILL_SWITCH_ACTOR = "alice"
OUTSIDE_SHARES = 7
OUTSIDE_SYMBOL = "GOOGL"
OUTSIDE_CONID = 208813719
CENT = Decimal("0.01")


@dataclass
class Book:
    """The ids of what was made, for the tests to look up."""

    strategies: dict[str, int] = field(default_factory=dict)
    executions: dict[str, int] = field(default_factory=dict)
    positions: dict[str, int] = field(default_factory=dict)


def env_for(data_dir: Path) -> dict[str, str]:
    """The environment that points ibflow (and these helpers) at ``data_dir``."""
    return {
        "IBFLOW_DATA_DIR": str(data_dir),
        "IBFLOW_DATABASE_URL": f"sqlite:///{data_dir / 'ibflow.db'}",
    }


class _Day:
    def __init__(self, start: datetime) -> None:
        self.clock = ManualClock(start)
        migrate.upgrade(bootstrap.load_settings().database.url)
        self.container = bootstrap.build(clock=self.clock)
        self.handle = self.container.accounts()[0]
        self.jobs = {
            job.name.split("[")[0]: job.run
            for job in periodic_jobs(self.container.deps, self.container.accounts())
        }
        self.book = Book()

    @property
    def broker(self) -> PaperBroker:
        assert isinstance(self.handle.broker, PaperBroker)
        return self.handle.broker

    def last(self, conid: int) -> Decimal:
        return self.broker.quote(Conid(conid)).last

    def strategy(self, name: str, symbol: str) -> int:
        data = StrategyInput(
            name=name,
            symbol=symbol,
            indicators=(IndicatorInput("sma", {"period": 20}), IndicatorInput("rsi")),
            cron="*/5 * * * *",
            timezone="America/New_York",
            mode=StrategyMode.PAPER.value,
            risk={"max_position_value": "9000", "max_entries_per_day": 5},
        )
        with self.container.sessions() as session:
            contracts = ContractService(self.broker, self.container.cache, self.clock)
            strategy = create_strategy(session, data=data, contracts=contracts, clock=self.clock)
            strategy.analyst = "scripted"  # the analyst is scripted: the run is what is under test
            session.commit()
            self.book.strategies[name] = strategy.id
            return strategy.id

    def conid(self, name: str) -> int:
        with self.container.sessions() as session:
            return session.get_one(Strategy, self.book.strategies[name]).conid

    def run(self, name: str, reply: str, label: str) -> int:
        self.container.analysts["scripted"] = lambda: ScriptedAnalyst(reply)
        executor = self.container.executor()
        execution_id = executor.create_manual(StrategyId(self.book.strategies[name]))
        executor.run(ExecutionId(execution_id))
        self.book.executions[label] = execution_id
        return execution_id

    def buy(self, name: str, *, entry_move: str, stop: str, target: str, label: str) -> int:
        entry = (self.last(self.conid(name)) * Decimal(entry_move)).quantize(CENT)
        return self.buy_at(
            name,
            entry,
            (entry * Decimal(stop)).quantize(CENT),
            (entry * Decimal(target)).quantize(CENT),
            label,
        )

    def buy_at(self, name: str, entry: Decimal, stop: Decimal, target: Decimal, label: str) -> int:
        reply = (
            f'{{"action": "BUY", "confidence": 0.8, "entry": {entry}, "stop_loss": {stop}, '
            f'"take_profit": {target}, "reasoning": "{REASONING}", '
            '"key_factors": ["close above SMA 20", "RSI rising"], "valid_for_minutes": 600}'
        )
        return self.run(name, reply, label)

    def bracket_that_closes(self, name: str, within: timedelta) -> tuple[Decimal, Decimal, Decimal]:
        """Entry, stop and target (reward twice the risk) of which the market reaches one ``within``.

        The simulated path is a pure function of seed, symbol and time, so the level it reaches is known:
        the target 80 % of the way to the path's high, or the stop 80 % of the way to its low, whichever
        side moves more. Either filling closes the position.
        """
        conid = self.conid(name)
        entry = (self.last(conid) * Decimal("1.002")).quantize(CENT)  # marketable: fills at once
        now = self.clock.now()
        low, high = (Decimal(str(v)) for v in self.broker.market.path_range(conid, now, now + within))
        if high - entry >= entry - low:
            target = (entry + (high - entry) * Decimal("0.8")).quantize(CENT)
            stop = (entry - (target - entry) / 2).quantize(CENT)
        else:
            stop = (entry - (entry - low) * Decimal("0.8")).quantize(CENT)
            target = (entry + (entry - stop) * 2).quantize(CENT)
        return entry, stop, target

    def tick(self, minutes: int = 1) -> None:
        self.clock.advance(timedelta(minutes=minutes))
        self.jobs["track_orders"]()

    def position(self, name: str) -> Position | None:
        with self.container.sessions() as session:
            return session.scalars(
                select(Position).where(Position.strategy_id == self.book.strategies[name])
            ).first()


def populate(data_dir: Path) -> Book:
    """Fill the database ``IBFLOW_DATABASE_URL`` names (it points into ``data_dir``) with a trading day."""
    now = datetime.now(UTC).replace(microsecond=0)
    day = _Day(now - timedelta(hours=8))
    for name, symbol in (
        ("msft-swing", "MSFT"),
        ("aapl-swing", "AAPL"),
        ("amzn-trend", "AMZN"),
        ("nvda-dip", "NVDA"),
        ("tsla-breakout", "TSLA"),
        ("meta-watch", "META"),
    ):
        day.strategy(name, symbol)

    # A bracket on MSFT that the simulated market takes to its stop or its target within three hours.
    day.buy_at("msft-swing", *day.bracket_that_closes("msft-swing", timedelta(hours=3)), label="closed")
    for _ in range(3 * 60 + 10):
        day.tick()
        position = day.position("msft-swing")
        if position is not None and position.status is PositionStatus.CLOSED:
            break
    else:
        raise AssertionError("the MSFT bracket did not close in three hours of simulated market")

    day.clock.set(now - timedelta(minutes=20))
    day.run("meta-watch", '{"action": "HOLD", "confidence": 0.5, "reasoning": "inside the range"}', "hold")
    day.run("meta-watch", "I cannot read this chart", "no_signal")
    day.run("meta-watch", '{"action": "SELL", "confidence": 0.7, "reasoning": "lower highs"}', "sell")
    # Reward 1 for a risk of 3: risk refuses it, with the figures.
    day.buy("tsla-breakout", entry_move="1.000", stop="0.97", target="1.01", label="blocked")

    # The broker session drops: the watch records it, a run fails at check_broker, then it comes back.
    day.broker.market.controls.set_session(
        SessionStatus(authenticated=False, connected=True, message="competing session from another login")
    )
    day.jobs["watch_session"]()
    day.tick()
    day.run("meta-watch", '{"action": "HOLD"}', "failed")
    day.broker.market.controls.set_session(SessionStatus(authenticated=True, connected=True))
    day.tick()
    day.jobs["watch_session"]()

    # Two entries that fill at once (open positions with stop and target) and one below the market.
    day.clock.set(now - timedelta(minutes=10))
    day.buy("aapl-swing", entry_move="1.002", stop="0.95", target="1.10", label="aapl")
    day.buy("amzn-trend", entry_move="1.002", stop="0.95", target="1.10", label="amzn")
    day.buy("nvda-dip", entry_move="0.98", stop="0.96", target="1.10", label="working")
    for _ in range(3):
        day.tick()
    for name in ("aapl-swing", "amzn-trend"):
        position = day.position(name)
        assert position is not None, name
        assert position.status is PositionStatus.OPEN, name
        day.book.positions[name] = position.id

    # Someone buys shares in TWS: reconciliation finds the broker holds what ibflow does not.
    day.broker.place_order(
        day.handle.account_id,
        OrderRequest(
            client_order_id=ClientOrderId("tws-1"),
            conid=Conid(OUTSIDE_CONID),
            side=OrderSide.BUY,
            order_type=OrderType.MARKET,
            quantity=Decimal(OUTSIDE_SHARES),
            tif=TimeInForce.DAY,
        ),
    )
    day.tick()
    day.jobs["reconcile"]()
    day.jobs["snapshot_portfolio"]()

    day.clock.set(now - timedelta(minutes=1))
    with day.container.sessions() as session:
        set_state(
            session,
            value=TradingStateValue.REDUCING,
            actor=KILL_SWITCH_ACTOR,
            reason=KILL_SWITCH_REASON,
            at=day.clock.now(),
            actor_is_admin=True,
        )
        session.commit()
    day.container.engine.dispose()
    _checkpoint(data_dir / "ibflow.db")
    return day.book


def _checkpoint(path: Path) -> None:
    conn = sqlite3.connect(path)  # everything into the main file, so that copying the folder is enough
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
