"""Entries racing each other — threads, and real processes — never exceed an account-wide limit.

Three races run side by side, each on a broker account of its own, two contenders each released by a
barrier at the same moment: the last free position slot (account A), the last room under max exposure
(account B), and two executions of one strategy on one contract (account C). Exactly one contender of each
race may get its bracket to the broker; the other is blocked with the limit's reason code.
"""

from __future__ import annotations

import multiprocessing
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from tests.factories import make_execution, make_strategy

from ibflow.brokers.paper.broker import PaperBroker
from ibflow.brokers.paper.market.prices import SimulatedMarket
from ibflow.core.clock import ManualClock
from ibflow.core.ids import AccountId, Conid, ExecutionId, SignalId, StrategyId
from ibflow.core.settings import BrokerSettings, RiskSettings
from ibflow.db.engine import make_engine, session_factory
from ibflow.db.locks import NamedLocks
from ibflow.db.models import Order, Position, TradingSignal
from ibflow.db.states import OrderRole, PositionStatus, SignalAction, StrategyMode
from ibflow.trading.intents import EntryIntent, IntentAction, StrategyLimits
from ibflow.trading.lifecycle.submission import submit_entry
from ibflow.trading.risk.checks import MarketSnapshot

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 4, 17, 0, tzinfo=UTC)
SEED = 20260101
CONTRACTS = {"AAPL": 265598, "MSFT": 272093, "AMZN": 3691937}


@dataclass(frozen=True)
class Contender:
    """One entry in a race (plain values, so it crosses a process boundary)."""

    race: str
    account_id: str
    strategy_id: int
    execution_id: int
    signal_id: int
    symbol: str
    conid: int
    entry: Decimal
    stop: Decimal
    target: Decimal
    max_quantity: Decimal


def _settings() -> tuple[RiskSettings, BrokerSettings]:
    risk = {name: spec.default for name, spec in RiskSettings.model_fields.items()}
    broker = {name: spec.default for name, spec in BrokerSettings.model_fields.items()}
    return RiskSettings(**risk), BrokerSettings(**broker)


def _prepare(url: str) -> list[Contender]:
    engine = make_engine(url)
    market = SimulatedMarket(seed=SEED)
    sessions = session_factory(engine)
    contenders: list[Contender] = []
    with sessions() as session:

        def contender(race: str, account: str, strategy: Any, symbol: str, value: Decimal) -> Contender:
            price = market.price(CONTRACTS[symbol], NOW)
            execution = make_execution(session, strategy, now=NOW)
            signal = TradingSignal(strategy_id=strategy.id, action=SignalAction.BUY, created_at=NOW)
            session.add(signal)
            session.flush()
            return Contender(
                race=race,
                account_id=account,
                strategy_id=strategy.id,
                execution_id=execution.id,
                signal_id=signal.id,
                symbol=symbol,
                conid=CONTRACTS[symbol],
                entry=(price * Decimal("1.002")).quantize(Decimal("0.01")),
                stop=(price * Decimal("0.99")).quantize(Decimal("0.01")),
                target=(price * Decimal("1.05")).quantize(Decimal("0.01")),
                max_quantity=Decimal(int(value / price)),
            )

        def strategy(symbol: str) -> Any:
            return make_strategy(session, now=NOW, conid=CONTRACTS[symbol], symbol=symbol)

        # A: four positions of five already open (tiny, so exposure never binds): one slot left.
        for n in range(4):
            session.add(_position("PAPER-A", strategy("AAPL").id, 900_000 + n))
        a1, a2 = strategy("AAPL"), strategy("MSFT")
        contenders += [contender("positions", "PAPER-A", s, s.symbol, Decimal(5_000)) for s in (a1, a2)]
        # B: each entry is 30 % of the 100,000 equity; the limit is 50 %.
        b1, b2 = strategy("AAPL"), strategy("MSFT")
        contenders += [contender("exposure", "PAPER-B", s, s.symbol, Decimal(30_000)) for s in (b1, b2)]
        # C: one strategy, two executions, one contract.
        c = strategy("AMZN")
        contenders += [contender("contract", "PAPER-C", c, "AMZN", Decimal(5_000)) for _ in range(2)]
        session.commit()
    engine.dispose()
    return contenders


def _position(account: str, strategy_id: int, conid: int) -> Position:
    return Position(
        account_id=account,
        strategy_id=strategy_id,
        conid=conid,
        symbol=f"X{conid}",
        status=PositionStatus.OPEN,
        quantity=Decimal(1),
        avg_cost=Decimal(1),
        realized_pnl=Decimal(0),
        opened_at=NOW,
        updated_at=NOW,
    )


def _enter(url: str, contender: Contender, barrier: Any) -> tuple[str, str, str | None]:
    engine = make_engine(url)
    sessions = session_factory(engine)
    clock = ManualClock(NOW)
    broker = PaperBroker(sessions, clock, SimulatedMarket(seed=SEED))
    risk_env, broker_env = _settings()
    account = AccountId(contender.account_id)
    snapshot = MarketSnapshot(
        account=broker.account_summary(account),
        quote=broker.quote(Conid(contender.conid)),
        min_tick=Decimal("0.01"),
    )
    intent = EntryIntent(
        strategy_id=StrategyId(contender.strategy_id),
        account_id=account,
        conid=Conid(contender.conid),
        symbol=contender.symbol,
        action=IntentAction.BUY,
        created_at=NOW,
        signal_id=SignalId(contender.signal_id),
        execution_id=ExecutionId(contender.execution_id),
        entry=contender.entry,
        stop=contender.stop,
        target=contender.target,
        confidence=Decimal("0.9"),
        expires_at=NOW + timedelta(hours=1),
    )
    limits = StrategyLimits(
        mode=StrategyMode.PAPER,
        risk_per_trade=Decimal("0.02"),
        max_position_value=Decimal(50_000),
        max_quantity=contender.max_quantity,
        max_entries_per_day=5,
        min_reward_risk=Decimal("1.5"),
        min_confidence=Decimal("0.5"),
        max_entry_deviation=Decimal("0.02"),
    )
    barrier.wait(30)
    result = submit_entry(
        sessions,
        broker=broker,
        locks=NamedLocks(engine),
        intent=intent,
        limits=limits,
        snapshot=snapshot,
        clock=clock,
        risk_env=risk_env,
        broker_env=broker_env,
    )
    engine.dispose()
    return contender.race, result.status.value, result.reason


def _run_in_process(url: str, contenders: list[Contender], barrier: Any, results: Any) -> None:
    for contender in contenders:
        results.put(_enter(url, contender, barrier))


def _race_in_threads(url: str, contenders: list[Contender]) -> list[tuple[str, str, str | None]]:
    results: list[tuple[str, str, str | None]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(2)

    def run(mine: list[Contender]) -> None:
        for contender in mine:
            outcome = _enter(url, contender, barrier)
            with lock:
                results.append(outcome)

    threads = [threading.Thread(target=run, args=(contenders[side::2],)) for side in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return results


def _race_in_processes(url: str, contenders: list[Contender]) -> list[tuple[str, str, str | None]]:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    queue = ctx.Queue()
    procs = [
        ctx.Process(target=_run_in_process, args=(url, contenders[side::2], barrier, queue))
        for side in (0, 1)
    ]
    for proc in procs:
        proc.start()
    results = [queue.get(timeout=120) for _ in contenders]
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    return results


EXPECTED_BLOCK = {
    "positions": "MAX_OPEN_POSITIONS",
    "exposure": "MAX_EXPOSURE",
    "contract": "OPEN_ENTRY_EXISTS",
}


@pytest.mark.parametrize("mode", ["threads", "processes"])
def test_racing_entries_never_exceed_an_account_wide_limit(any_migrated_db_url: str, mode: str) -> None:
    contenders = _prepare(any_migrated_db_url)

    race = _race_in_threads if mode == "threads" else _race_in_processes
    results = race(any_migrated_db_url, contenders)

    for name, reason in EXPECTED_BLOCK.items():
        outcomes = sorted((status, why) for race_name, status, why in results if race_name == name)
        assert outcomes == [("blocked", reason), ("placed", None)], name
    engine = make_engine(any_migrated_db_url)
    with session_factory(engine)() as session:
        entries = session.scalars(select(Order).where(Order.role == OrderRole.ENTRY)).all()
        assert sorted(order.account_id for order in entries) == ["PAPER-A", "PAPER-B", "PAPER-C"]
    broker = PaperBroker(session_factory(engine), ManualClock(NOW), SimulatedMarket(seed=SEED))
    for account in ("PAPER-A", "PAPER-B", "PAPER-C"):
        parents = [o for o in broker.live_orders(AccountId(account)) if o.client_order_id]
        assert len(parents) == 1, account
    engine.dispose()
