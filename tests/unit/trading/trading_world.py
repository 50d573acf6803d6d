"""Support for the order-lifecycle tests (no tests here): a paper-broker world with a manual clock.

``World`` wires the real services to a ``PaperBroker`` (wrapped in ``FaultyBroker`` to inject submit faults
and count calls) on a migrated SQLite file, and gives the tests short verbs: enter, sync, exit, expire,
watch, reconcile. ``plan`` reads the simulated market's future path, so a test can start the clock at a
moment where the target (or the stop) is reached first, and knows when.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import Engine, select
from tests.factories import make_execution, make_strategy
from tests.unit.trading.risk_cases import broker_env, risk_env

from ibflow.brokers.paper.broker import PaperBroker
from ibflow.brokers.paper.faults import FaultyBroker
from ibflow.brokers.paper.market.prices import SimulatedMarket
from ibflow.core import errors
from ibflow.core.clock import ManualClock
from ibflow.core.ids import AccountId, Conid, ExecutionId, SignalId, StrategyId
from ibflow.core.settings import BrokerSettings, RiskSettings
from ibflow.db.engine import SessionFactory
from ibflow.db.locks import NamedLocks
from ibflow.db.models import Event, Fill, Order, OrderEvent, Position, Strategy, Trade, TradingSignal
from ibflow.db.states import OrderRole, SignalAction, StrategyMode
from ibflow.trading.intents import EntryIntent, IntentAction, StrategyLimits
from ibflow.trading.lifecycle.cancels import Waiting
from ibflow.trading.lifecycle.submission import SubmitResult, submit_entry
from ibflow.trading.lifecycle.tracking import SyncReport, sync_orders
from ibflow.trading.positions.exits import ExitResult, exit_position, flatten_all
from ibflow.trading.positions.expiry import expire_entries
from ibflow.trading.positions.protection import WatchReport, track_orders, watch_protection
from ibflow.trading.reconciliation.reconcile import ReconcileReport, reconcile
from ibflow.trading.risk.checks import MarketSnapshot
from ibflow.trading.risk.runtime_settings import set_setting

ACCOUNT = AccountId("PAPER-1")
AAPL = Conid(265598)
MSFT = Conid(272093)
SEED = 20260101
_MINUTE = timedelta(minutes=1)


@dataclass(frozen=True)
class Plan:
    """Levels for a bracket entered at ``start``, and when the path reaches the side asked for."""

    start: datetime
    entry: Decimal
    stop: Decimal
    target: Decimal
    hit_at: datetime
    touched_at: datetime


@dataclass
class World:
    """The services under test, wired to a paper broker on a migrated SQLite database."""

    engine: Engine
    sessions: SessionFactory
    clock: ManualClock
    market: SimulatedMarket
    paper: PaperBroker
    broker: FaultyBroker
    locks: NamedLocks
    risk_env: RiskSettings = field(default_factory=risk_env)
    broker_env: BrokerSettings = field(default_factory=broker_env)

    def set_protection_action(self, action: str) -> None:
        """Set the run-time ``protection_action`` (``replace`` or ``close``), as an admin would."""
        with self.sessions() as session:
            set_setting(
                session,
                key="protection_action",
                value=action,
                actor="admin-1",
                at=self.clock.now(),
                env=self.risk_env,
                broker_env=self.broker_env,
            )
            session.commit()

    # --- the market -------------------------------------------------------------------------------
    def price(self, conid: int = AAPL, at: datetime | None = None) -> Decimal:
        """Return the path price (on the tick) at ``at``, now by default."""
        return self.market.price(conid, at or self.clock.now())

    def plan(
        self,
        first: Literal["target", "stop"],
        *,
        conid: int = AAPL,
        near: Decimal = Decimal("0.004"),
        far: Decimal = Decimal("0.05"),
        quiet: timedelta = _MINUTE,
        horizon: timedelta = timedelta(hours=8),
    ) -> Plan:
        """Find a start (now or later) where the ``first`` side, ``near`` away, is reached before the other.

        The entry is a marketable limit a little above the price at the start, so it fills on the next look;
        the side asked for sits ``near`` (a fraction of the price) away, the other ``far`` away, and neither
        is reached for ``quiet`` after the start.
        """
        start = self.clock.now()
        for _ in range(300):
            plan = self._try(start, first, conid=conid, near=near, far=far, window=(quiet, horizon))
            if plan is not None:
                return plan
            start += timedelta(minutes=37)
        raise AssertionError("no start found where the path reaches that side first")

    def _try(
        self,
        start: datetime,
        first: str,
        *,
        conid: int,
        near: Decimal,
        far: Decimal,
        window: tuple[timedelta, timedelta],
    ) -> Plan | None:
        price = self.price(conid, start)
        up, down = (near, far) if first == "target" else (far, near)
        entry, target, stop = (
            self._tick(price * Decimal("1.002")),
            self._tick(price * (1 + up)),
            self._tick(price * (1 - down)),
        )
        at, touched = start + _MINUTE, None
        while at <= start + window[1]:
            now = self.market.path_price(conid, at)
            side = "target" if now >= float(target) else "stop" if now <= float(stop) else None
            if side is not None:
                # Well past the level, so a fill is certain; never within the quiet time.
                clear = now >= float(target) + 0.02 or now <= float(stop) - 0.02
                if side != first or at < start + window[0]:
                    return None
                touched = touched or at - _MINUTE
                if clear:
                    return Plan(start, entry, stop, target, at, touched)
            at += _MINUTE
        return None

    @staticmethod
    def _tick(value: Decimal) -> Decimal:
        return value.quantize(Decimal("0.01"))

    # --- rows --------------------------------------------------------------------------------------
    def strategy(self, *, conid: int = AAPL, symbol: str = "AAPL", name: str | None = None) -> int:
        """Add a paper strategy trading ``conid`` whose row holds ``limits()``; return its id."""
        with self.sessions() as session:
            extra: dict[str, Any] = {"name": name} if name else {}
            extra |= {k: v for k, v in dataclasses.asdict(self.limits()).items() if k != "mode"}
            strategy = make_strategy(session, now=self.clock.now(), conid=conid, symbol=symbol, **extra)
            session.commit()
            return strategy.id

    def limits(self, **overrides: Any) -> StrategyLimits:
        """Generous limits: levels close to the price are fine, size is set by risk or ``max_quantity``."""
        values: dict[str, Any] = {
            "mode": StrategyMode.PAPER,
            "risk_per_trade": Decimal("0.01"),
            "max_position_value": Decimal(40_000),
            "max_quantity": Decimal(100),
            "max_entries_per_day": 5,
            "min_reward_risk": Decimal("0.01"),
            "min_confidence": Decimal("0.5"),
            "max_entry_deviation": Decimal("0.02"),
        }
        return StrategyLimits(**(values | overrides))

    def snapshot(self, conid: int = AAPL) -> MarketSnapshot:
        """Ask the broker for what risk needs (counted as broker reads, never as orders)."""
        return MarketSnapshot(
            account=self.broker.account_summary(ACCOUNT),
            quote=self.broker.quote(Conid(conid)),
            min_tick=self.broker.contract_details(Conid(conid)).min_tick,
        )

    def intent(
        self,
        strategy_id: int,
        *,
        entry: Decimal,
        stop: Decimal,
        target: Decimal,
        conid: int = AAPL,
        symbol: str = "AAPL",
        expires_in: timedelta | None = None,
        action: IntentAction = IntentAction.BUY,
    ) -> EntryIntent:
        """Add an execution and its signal, and return the intent built from them."""
        now = self.clock.now()
        with self.sessions() as session:
            strategy = session.get_one(Strategy, strategy_id)
            execution = make_execution(session, strategy, now=now)
            signal = TradingSignal(
                execution_id=execution.id,
                strategy_id=strategy_id,
                action=SignalAction(action.value),
                confidence=Decimal("0.8"),
                entry=entry,
                stop_loss=stop,
                take_profit=target,
                expires_at=now + expires_in if expires_in else None,
                created_at=now,
            )
            session.add(signal)
            session.commit()
            execution_id, signal_id = execution.id, signal.id
        return EntryIntent(
            strategy_id=StrategyId(strategy_id),
            account_id=ACCOUNT,
            conid=Conid(conid),
            symbol=symbol,
            action=action,
            created_at=now,
            signal_id=SignalId(signal_id),
            execution_id=ExecutionId(execution_id),
            entry=entry,
            stop=stop,
            target=target,
            confidence=Decimal("0.8"),
            expires_at=now + expires_in if expires_in else None,
        )

    # --- verbs -------------------------------------------------------------------------------------
    def submit(
        self,
        intent: EntryIntent,
        limits: StrategyLimits | None = None,
        *,
        snapshot: MarketSnapshot | None = None,
    ) -> SubmitResult:
        """Submit an entry through the service, as the executor does (with a snapshot read now by default)."""
        return submit_entry(
            self.sessions,
            broker=self.broker,
            locks=self.locks,
            intent=intent,
            limits=limits or self.limits(),
            snapshot=snapshot or self.snapshot(intent.conid),
            clock=self.clock,
            risk_env=self.risk_env,
            broker_env=self.broker_env,
        )

    def enter(self, strategy_id: int, plan: Plan, **limits: Any) -> tuple[SubmitResult, EntryIntent]:
        """Enter with a plan's levels at the plan's start (the clock moves there first)."""
        if self.clock.now() < plan.start:
            self.clock.set(plan.start)
        intent = self.intent(strategy_id, entry=plan.entry, stop=plan.stop, target=plan.target)
        return self.submit(intent, self.limits(**limits)), intent

    def _common(self) -> dict[str, Any]:
        return {
            "broker": self.broker,
            "locks": self.locks,
            "account_id": ACCOUNT,
            "clock": self.clock,
            "risk_env": self.risk_env,
            "broker_env": self.broker_env,
        }

    def sync(self) -> SyncReport:
        """Run a tracking sync."""
        return sync_orders(self.sessions, **self._common())

    def track(self) -> list[int]:
        """Run the periodic tracking job (sync, then children cover what is held)."""
        return track_orders(self.sessions, **self._common())

    def expire(self) -> list[int]:
        """Run the entry-expiry job."""
        return expire_entries(self.sessions, waiting=_NO_WAIT, **self._common())

    def watch(self) -> WatchReport:
        """Run the protection watchdog."""
        return watch_protection(self.sessions, waiting=_NO_WAIT, **self._common())

    def reconcile(self) -> ReconcileReport:
        """Run a reconciliation."""
        return reconcile(self.sessions, **self._common())

    def exit(self, strategy_id: int, reason: str = "signal", conid: int = AAPL) -> ExitResult:
        """Exit a strategy's position on ``conid``."""
        return exit_position(
            self.sessions,
            reason=reason,
            strategy_id=strategy_id,
            conid=conid,
            waiting=_NO_WAIT,
            **self._common(),
        )

    def flatten(self, *, actor: str = "trader-1", reason: str = "flatten in a test") -> Any:
        """Flatten the account."""
        return flatten_all(self.sessions, actor=actor, reason=reason, waiting=_NO_WAIT, **self._common())

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward."""
        self.clock.advance(delta)

    # --- reading our books ---------------------------------------------------------------------------
    def orders(self, role: OrderRole | None = None) -> list[Order]:
        """Return our order rows, oldest first."""
        with self.sessions() as session:
            query = select(Order).order_by(Order.id)
            if role is not None:
                query = query.where(Order.role == role)
            return list(session.scalars(query))

    def order(self, order_id: int) -> Order:
        """Return one order row."""
        with self.sessions() as session:
            return session.get_one(Order, order_id)

    def position(self, strategy_id: int, conid: int = AAPL) -> Position | None:
        """Return a strategy's position row on ``conid``."""
        with self.sessions() as session:
            return session.scalars(
                select(Position).where(Position.strategy_id == strategy_id, Position.conid == conid)
            ).first()

    def held(self, strategy_id: int, conid: int = AAPL) -> Decimal:
        """Return what a strategy holds of ``conid`` in our books."""
        position = self.position(strategy_id, conid)
        return position.quantity if position is not None else Decimal(0)

    def broker_held(self, conid: int = AAPL) -> Decimal:
        """Return what the paper broker holds of ``conid``."""
        return sum((p.quantity for p in self.paper.positions(ACCOUNT) if p.conid == conid), Decimal(0))

    def broker_order(self, broker_order_id: str | None) -> Any:
        """Return the paper broker's view of one order."""
        return next(o for o in self.paper.live_orders(ACCOUNT) if o.broker_order_id == broker_order_id)

    def trades(self) -> list[Trade]:
        """Return the closed round trips."""
        with self.sessions() as session:
            return list(session.scalars(select(Trade).order_by(Trade.id)))

    def signal(self, signal_id: int | None) -> TradingSignal:
        """Return a signal row."""
        with self.sessions() as session:
            return session.get_one(TradingSignal, signal_id)

    def events(self, kind: str) -> list[Event]:
        """Return the outbox events of ``kind``."""
        with self.sessions() as session:
            return list(session.scalars(select(Event).where(Event.kind == kind).order_by(Event.id)))

    def order_events(self, order_id: int) -> list[OrderEvent]:
        """Return the state changes of one order, oldest first."""
        with self.sessions() as session:
            return list(
                session.scalars(
                    select(OrderEvent).where(OrderEvent.order_id == order_id).order_by(OrderEvent.id)
                )
            )

    def fills(self) -> list[Fill]:
        """Return our fill rows."""
        with self.sessions() as session:
            return list(session.scalars(select(Fill).order_by(Fill.id)))


class Crash(BaseException):
    """Stands for SIGKILL at a crash point: what was committed stays, nothing after it runs."""


_NO_WAIT = Waiting(looks=3, pause_s=0.0, sleep=lambda _s: None)


def build_world(
    engine: Engine,
    sessions: SessionFactory,
    clock: ManualClock,
    *,
    participation: float = 0.1,
    **envs: Any,
) -> World:
    """Wire a world on an already migrated database."""
    market = SimulatedMarket(seed=SEED, participation=participation)
    paper = PaperBroker(sessions, clock, market)
    return World(
        engine=engine,
        sessions=sessions,
        clock=clock,
        market=market,
        paper=paper,
        broker=FaultyBroker(paper),
        locks=NamedLocks(engine),
        risk_env=risk_env(**envs.get("risk", {})),
        broker_env=broker_env(**envs.get("broker", {})),
    )


@contextmanager
def retries_on_the_clock(clock: ManualClock) -> Iterator[None]:
    """While inside, the waits between read retries pass on ``clock``, as time would, not on the wall's."""
    saved = errors.retry_reads.__defaults__
    attempts, base_delay_s = (saved or (3, 0.5))[:2]
    errors.retry_reads.__defaults__ = (attempts, base_delay_s, lambda s: clock.advance(timedelta(seconds=s)))
    try:
        yield
    finally:
        errors.retry_reads.__defaults__ = saved
