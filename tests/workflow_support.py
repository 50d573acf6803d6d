"""Build an executor on the paper broker, a manual clock and a chart folder, for workflow tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from ibflow.brokers.paper.broker import PaperBroker
from ibflow.brokers.paper.market.prices import SimulatedMarket
from ibflow.charts.local_store import LocalChartStore
from ibflow.core.clock import ManualClock
from ibflow.core.ids import AccountId
from ibflow.core.settings import BrokerSettings, ChartSettings, RiskSettings
from ibflow.db.engine import SessionFactory
from ibflow.db.locks import NamedLocks
from ibflow.db.states import StrategyMode
from ibflow.llm.analyst import Analyst, AnalystInput, AnalystOutput, AnalystUsage
from ibflow.llm.providers.rules import RulesAnalyst
from ibflow.llm.signals import parse_signal
from ibflow.marketdata.cache import InProcessTtlCache
from ibflow.marketdata.contracts import ContractService
from ibflow.workflow.deps import BrokerHandle, WorkflowDeps
from ibflow.workflow.executor import Executor
from ibflow.workflow.strategies.lookup import IndicatorInput, StrategyInput, create_strategy

ACCOUNT = AccountId("PAPER-T")
SEED = 20260101


class ScriptedAnalyst:
    """An analyst that answers a fixed text (a test double for the LLM; the executor is under test)."""

    name = "scripted"
    model = "script-v1"

    def __init__(self, reply: str) -> None:
        self.reply = reply
        self.seen: list[AnalystInput] = []

    def analyze(self, request: AnalystInput) -> AnalystOutput:
        """Return the scripted reply, parsed like any LLM reply."""
        self.seen.append(request)
        signal = parse_signal(self.reply, now=request.as_of)
        return AnalystOutput(self.name, self.model, self.reply, signal, AnalystUsage(input_tokens=10))


class MarketableBuy:
    """Buys a little above the last price (the entry fills on the broker's next look), stop 5 % under."""

    name = "marketable-buy"
    model = "scripted"

    def analyze(self, request: AnalystInput) -> AnalystOutput:
        """Return a BUY around the request's last price, parsed like any LLM reply."""
        entry = (request.last_price * Decimal("1.002")).quantize(Decimal("0.01"))
        stop = (entry * Decimal("0.95")).quantize(Decimal("0.01"))
        target = (entry * Decimal("1.10")).quantize(Decimal("0.01"))
        reply = (
            f'{{"action": "BUY", "confidence": 0.9, "entry": {entry}, "stop_loss": {stop},'
            f' "take_profit": {target}, "valid_for_minutes": 60}}'
        )
        return AnalystOutput(
            self.name, self.model, reply, parse_signal(reply, now=request.as_of), AnalystUsage()
        )


@dataclass
class Rig:
    """Everything a workflow test touches."""

    sessions: SessionFactory
    clock: ManualClock
    broker: PaperBroker
    deps: WorkflowDeps
    executor: Executor
    analysts: dict[str, Analyst]


def make_rig(sessions: SessionFactory, clock: ManualClock, charts: Path, engine_locks: NamedLocks) -> Rig:
    """Wire an executor like bootstrap does, on the paper broker and a manual clock."""
    market = SimulatedMarket(seed=SEED)
    broker = PaperBroker(sessions, clock, market, starting_cash=Decimal(100_000))
    handle = BrokerHandle(broker, ACCOUNT)
    analysts: dict[str, Analyst] = {"rules": RulesAnalyst()}
    deps = WorkflowDeps(
        sessions=sessions,
        clock=clock,
        locks=engine_locks,
        broker_for=lambda _mode: handle,
        analyst_for=lambda name: analysts[name],
        chart_store=LocalChartStore(charts),
        cache=InProcessTtlCache(),
        risk_settings=RiskSettings(),
        broker_settings=BrokerSettings(),
        chart_settings=ChartSettings(),
    )
    return Rig(sessions, clock, broker, deps, Executor(deps), analysts)


def add_strategy(rig: Rig, name: str = "aapl", symbol: str = "AAPL", **overrides: object) -> int:
    """Create a paper strategy with a few indicators through the strategy service."""
    data = StrategyInput(
        name=name,
        symbol=symbol,
        indicators=(IndicatorInput("sma", {"period": 20}), IndicatorInput("rsi"), IndicatorInput("macd")),
        cron="*/5 * * * *",
        timezone="America/New_York",
        mode=StrategyMode.PAPER.value,
        **overrides,  # type: ignore[arg-type]
    )
    with rig.sessions() as session:
        contracts = ContractService(rig.broker, InProcessTtlCache(), rig.clock)
        strategy = create_strategy(session, data=data, contracts=contracts, clock=rig.clock)
        session.commit()
        return strategy.id


def buy_reply(
    entry: Decimal, *, stop_pct: str = "0.03", target_pct: str = "0.06", confidence: str = "0.8"
) -> str:
    """A BUY reply with levels around ``entry``."""
    stop = (entry * (1 - Decimal(stop_pct))).quantize(Decimal("0.01"))
    target = (entry * (1 + Decimal(target_pct))).quantize(Decimal("0.01"))
    return (
        f'{{"action": "BUY", "confidence": {confidence}, "entry": {entry}, "stop_loss": {stop},'
        f' "take_profit": {target}, "reasoning": "scripted", "valid_for_minutes": 120}}'
    )


def at(text: str) -> datetime:
    """Parse an ISO time with its offset."""
    return datetime.fromisoformat(text)
