"""The simulation's venue over HTTP: ibflow's trading services on the ``ibkr`` broker, the gateway simulator.

``http_venue`` (a ``harness.VenueFactory``) builds, for one scenario:

- the gateway simulator (``GatewaySimulator`` on a copy of the migrated template of its own, clock stopped,
  rate limits off, the scenario's market participation) served over real HTTP on a loopback port
  (``Running``), as ``tests/integration/brokers/ibkr/conftest.py`` does;
- the ``ibkr`` broker, built as ``brokers/ibkr/factory.py`` builds it (``GatewayHttp(base_url)``, no pacing,
  the default question policy), on ibflow's manual clock; a restart after a crash builds a new one, as a new
  ``ibflow serve`` process would (what the old one remembered of the session and its orders is gone);
- ``HttpWorld``: the trading world trading the simulator's paper account (``DU...``), whose ``advance`` moves
  ibflow's clock and the simulator's (``POST /sim/clock``) together and then runs ibflow's session watch, as
  ``ibflow serve`` does every 30 s. Where a service waits for a cancel to be confirmed it waits as in
  production (``Waiting.suited_to``: IBKR looks 5.5 s apart), each pause moving both clocks: the harness's
  paper worlds look without waiting, which only a broker that cancels at once can answer (the simulator
  takes 2 s). The simulator's SSO and idle lifetimes are longer than any single advance (serve's watch
  tickles the gateway every 30 s; the harness moves in larger steps), so the session is lost only at the
  nightly reset: the watch sees it down, a user logs in at the gateway (``POST /sim/login``) and the watch
  runs again. ibflow's waits between retries (``GatewayHttp``'s and ``core.errors.retry_reads``'s backoff, a
  gateway answering 503 for an order older than its session) move both clocks too, instead of the wall's;
- ``SimVenue``: the truth is the simulator's inner paper broker (``sim.broker``), its order and execution ids
  shown as the gateway shows them (``wire.ibkr_order_id``, ``wire.execution_id``), so they compare with
  ibflow's rows. The scenario's switches go over HTTP: ``lag`` to ``/sim/faults`` ``executions_lag_seconds``,
  ``forget`` to ``ended_orders_listed_for_seconds``, ``outside`` to ``/sim/orders/{id}/cancel``. A broker that
  leaves bracket children at full size (``Setup.fix_children``) has no switch over HTTP: such a setup is
  refused (the generator no longer draws it).

Between two HTTP requests the server thread is idle, so the truth is read directly (under ``sim.lock``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx2
from sqlalchemy import Engine
from tests.simulation.harness import START, Built, PaperVenue, RecordingBroker, fresh_engine
from tests.simulation.scenario import Setup
from tests.unit.trading.risk_cases import broker_env
from tests.unit.trading.trading_world import World

from ibflow.brokers.base import BrokerOrder
from ibflow.brokers.ibkr.broker import IbkrBroker
from ibflow.brokers.ibkr.factory import question_ids
from ibflow.brokers.ibkr.http import GatewayHttp
from ibflow.brokers.ibkr.questions import QuestionPolicy
from ibflow.brokers.ibkr.simulator.config import DEFAULT_ACCOUNT_ID, SimulatorConfig
from ibflow.brokers.ibkr.simulator.gateway import GatewaySimulator
from ibflow.brokers.ibkr.simulator.server import Running
from ibflow.brokers.ibkr.simulator.wire.orders import execution_id, ibkr_order_id, paper_order_id
from ibflow.brokers.paper.faults import FaultyBroker
from ibflow.core.clock import ManualClock
from ibflow.core.errors import NotFound, retry_reads
from ibflow.core.ids import AccountId, BrokerOrderId, Conid
from ibflow.db.engine import SessionFactory, session_factory
from ibflow.db.locks import NamedLocks
from ibflow.trading.intents import EntryIntent
from ibflow.trading.lifecycle.cancels import Waiting
from ibflow.trading.positions.exits import ExitResult, exit_position, flatten_all
from ibflow.trading.positions.expiry import expire_entries
from ibflow.trading.positions.protection import WatchReport, track_orders, watch_protection
from ibflow.trading.reconciliation.session_watch import watch_session
from ibflow.trading.risk.checks import MarketSnapshot

SIM_ACCOUNT = AccountId(DEFAULT_ACCOUNT_ID)
SESSION_LIFETIME = timedelta(days=7)
"""Longer than any advance of a scenario (three days at most): serve's session watch keeps the session."""


class Gateway:
    """A running simulator and a client on its ``/sim`` controls."""

    def __init__(self, sim: GatewaySimulator) -> None:
        self.sim = sim
        self.running = Running(sim).start()
        self.controls = httpx2.Client(base_url=self.running.root_url, timeout=15)

    def control(self, path: str, **body: Any) -> dict[str, Any]:
        """POST a ``/sim`` control; return the simulator's state after it."""
        answer = self.controls.post(f"/sim/{path}", json=body)
        if answer.status_code != 200:
            raise AssertionError(f"/sim/{path} {body} answered {answer.status_code}: {answer.text}")
        state: dict[str, Any] = answer.json()
        return state

    def broker(self, clock: ManualClock, sleep: Callable[[float], None]) -> IbkrBroker:
        """A new ``ibkr`` broker on this gateway, as ``factory.ibkr_broker`` builds it (no pacing).

        Its reads' retry backoff calls ``sleep`` (the world's pause: both clocks move, the wall's does not).
        """
        settings = broker_env(ibkr_account_id=SIM_ACCOUNT, ibkr_base_url=self.running.base_url)
        http = GatewayHttp(settings.ibkr_base_url, timeout=settings.ibkr_timeout_seconds, sleep=sleep)
        return IbkrBroker(
            http,
            account_id=SIM_ACCOUNT,
            clock=clock,
            questions=QuestionPolicy(question_ids(settings.ibkr_question_allow_list)),
            take_over_competing=settings.ibkr_take_over_competing,
            live_account_allowed=settings.ibkr_live_account_allowed,
        )

    def close(self) -> None:
        """Stop serving."""
        self.controls.close()
        self.running.stop()


@dataclasses.dataclass
class HttpWorld(World):
    """The trading world on the simulator's account; its clock moves with the simulator's."""

    gateway: Gateway | None = None
    account_id: AccountId = SIM_ACCOUNT

    def _gateway(self) -> Gateway:
        assert self.gateway is not None
        return self.gateway

    def _common(self) -> dict[str, Any]:
        return super()._common() | {"account_id": self.account_id}

    def intent(self, strategy_id: int, **fields: Any) -> EntryIntent:
        """The intent of ``World.intent``, for the simulator's account."""
        return dataclasses.replace(super().intent(strategy_id, **fields), account_id=self.account_id)

    def snapshot(self, conid: int = 265598) -> MarketSnapshot:
        """What risk needs, asked of the ``ibkr`` broker."""
        return MarketSnapshot(
            account=self.broker.account_summary(self.account_id),
            quote=self.broker.quote(Conid(conid)),
            min_tick=self.broker.contract_details(Conid(conid)).min_tick,
        )

    def pause(self, seconds: float) -> None:
        """A wait of the trading services: time passes on both clocks."""
        super().advance(timedelta(seconds=seconds))
        self._gateway().control("clock", advance_seconds=seconds)

    def _waiting(self) -> Waiting:
        """As production waits for this broker (``Waiting.suited_to``: IBKR's looks 5.5 s apart)."""
        return dataclasses.replace(Waiting.suited_to(self.broker), sleep=self.pause)

    def track(self) -> list[int]:
        """Run the tracking job (waiting as in production when it carries on a flatten)."""
        return track_orders(self.sessions, waiting=self._waiting(), **self._common())

    def expire(self) -> list[int]:
        """Run the entry-expiry job (waiting as in production)."""
        return expire_entries(self.sessions, waiting=self._waiting(), **self._common())

    def watch(self) -> WatchReport:
        """Run the protection watchdog (waiting as in production)."""
        return watch_protection(self.sessions, waiting=self._waiting(), **self._common())

    def exit(self, strategy_id: int, reason: str = "signal", conid: int = 265598) -> ExitResult:
        """Exit a strategy's position on ``conid`` (waiting as in production)."""
        return exit_position(
            self.sessions,
            reason=reason,
            strategy_id=strategy_id,
            conid=conid,
            waiting=self._waiting(),
            **self._common(),
        )

    def flatten(self, *, actor: str = "trader-1", reason: str = "flatten in a test") -> Any:
        """Flatten the account (waiting as in production)."""
        return flatten_all(
            self.sessions, actor=actor, reason=reason, waiting=self._waiting(), **self._common()
        )

    def advance(self, delta: timedelta) -> None:
        """Move both clocks by ``delta``; then ibflow's session watch runs (a user logs in after a reset)."""
        super().advance(delta)
        gateway = self._gateway()
        state = gateway.control("clock", advance_seconds=delta.total_seconds())
        if state["clock"] != self.clock.now().isoformat():
            raise AssertionError(f"the clocks parted: ibflow {self.clock.now()}, simulator {state['clock']}")
        self.watch_session()
        if state["session"] == "no_session":  # the nightly reset ended it: someone logs in again
            gateway.control("login")
            self.watch_session()

    def watch_session(self) -> bool:
        """Run ibflow's session watch (``session_status``: tickle, ``ssodh/init`` when needed)."""
        return watch_session(self.sessions, broker=self.broker, account_id=self.account_id, clock=self.clock)


class SimVenue(PaperVenue):
    """The simulator's inner paper broker as the truth, its ids shown as the gateway shows them."""

    def __init__(self, gateway: Gateway, engine: Engine, world: HttpWorld, brokers: list[IbkrBroker]) -> None:
        sim = gateway.sim
        super().__init__(
            truth=sim.broker,
            truth_sessions=session_factory(engine),
            controls=sim.market.controls,
            account_id=sim.account_id,
        )
        self.gateway = gateway
        self.sim = sim
        self._engine = engine
        self._world = world
        self._brokers = brokers
        self._retry_defaults = retry_reads.__defaults__
        # ibflow's read retries bind ``time.sleep`` as a default: while this world plays, they pause it.
        retry_reads.__defaults__ = (*(self._retry_defaults or (3, 0.5))[:2], world.pause)

    def live_orders(self) -> list[BrokerOrder]:
        """Return the truth's orders of the day, with the gateway's ids."""
        with self.sim.lock:
            return [_shown(o) for o in self.truth.live_orders(self.account_id)]

    def order_status(self, broker_order_id: str) -> BrokerOrder:
        """Return one order of the truth by the gateway's id."""
        paper_id = paper_order_id(int(broker_order_id)) if broker_order_id.isdigit() else None
        if paper_id is None:
            raise NotFound(f"no order {broker_order_id} at the simulator")
        with self.sim.lock:
            return _shown(self.truth.order_status(self.account_id, paper_id))

    def executions(self) -> dict[str, Decimal]:
        """Return the truth's executions by the gateway's execution ids."""
        with self.sim.lock:
            return {execution_id(k): v for k, v in super().executions().items()}

    def books(self) -> tuple[dict[int, Decimal], dict[str, Decimal]]:
        """Return the truth's positions and fills (by the gateway's execution ids)."""
        with self.sim.lock:
            held, fills = super().books()
        return held, {execution_id(k): v for k, v in fills.items()}

    def evaluate(self) -> None:
        """Let the truth evaluate its books up to now."""
        with self.sim.lock:
            super().evaluate()

    def lag_executions(self, lag: timedelta) -> None:
        """``/sim/faults`` ``executions_lag_seconds``."""
        self.gateway.control("faults", executions_lag_seconds=lag.total_seconds())

    def forget_ended_orders(self, listed_for: timedelta | None) -> None:
        """``/sim/faults`` ``ended_orders_listed_for_seconds`` (``None``: the default, listed all day)."""
        seconds = None if listed_for is None else listed_for.total_seconds()
        self.gateway.control("faults", ended_orders_listed_for_seconds=seconds)

    def cancel_from_outside(self, broker_order_id: str) -> None:
        """``/sim/orders/{id}/cancel``: cancelled as from TWS, ibflow not told."""
        self.gateway.control(f"orders/{broker_order_id}/cancel")

    def fix_children(self) -> None:
        """Not playable over HTTP."""
        raise NotImplementedError("the gateway simulator has no switch for bracket children left whole")

    def restarted(self, broker: RecordingBroker) -> None:
        """A new process: a new ``ibkr`` broker (the old one's memory of the session and orders is gone)."""
        fresh = self.gateway.broker(self._world.clock, self._world.pause)
        self._brokers.append(fresh)
        broker.inner = fresh

    def close(self) -> None:
        """Close the brokers' connections, stop the simulator, release its database."""
        retry_reads.__defaults__ = self._retry_defaults
        try:
            for broker in self._brokers:
                broker.close()
            self.gateway.close()
        finally:
            self._engine.dispose()


def _shown(order: BrokerOrder) -> BrokerOrder:
    parent = order.parent_broker_order_id
    return dataclasses.replace(
        order,
        broker_order_id=BrokerOrderId(str(ibkr_order_id(order.broker_order_id))),
        parent_broker_order_id=None if parent is None else BrokerOrderId(str(ibkr_order_id(parent))),
    )


def http_venue(
    setup: Setup, engine: Engine, sessions: SessionFactory, clock: ManualClock, template: Path
) -> Built:
    """ibflow on the ``ibkr`` broker over HTTP to a fresh gateway simulator (a ``harness.VenueFactory``)."""
    if setup.fix_children:
        raise NotImplementedError("the gateway simulator has no switch for bracket children left whole")
    ours = Path(str(engine.url.database))
    sim_engine = fresh_engine(template, ours.with_suffix(".gateway.db"))  # the simulator's own books
    config = SimulatorConfig(
        start=START,
        time_scale=0.0,
        rate_limits=False,
        account_id=SIM_ACCOUNT,
        idle_timeout=SESSION_LIFETIME,
        sso_lifetime=SESSION_LIFETIME,
    )
    sim = GatewaySimulator(config, session_factory(sim_engine))
    sim.market.participation = setup.participation  # no flag for it: set before the first request
    gateway = Gateway(sim)
    world = HttpWorld(
        engine=engine,
        sessions=sessions,
        clock=clock,
        market=sim.market,
        paper=sim.broker,
        broker=FaultyBroker(sim.broker),  # the harness puts its RecordingBroker on the ``ibkr`` broker here
        locks=NamedLocks(engine),
        gateway=gateway,
    )
    ibkr = gateway.broker(clock, world.pause)
    return Built(world, SimVenue(gateway, sim_engine, world, [ibkr]), ibkr)
