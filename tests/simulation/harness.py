"""Play a scenario against the real trading services and a paper broker, checking invariants after each step.

The paper broker is the truth. After every step (and one simulated minute, a cycle) ``Run.check`` asserts:

- ``never_short``: the broker holds no negative position (v1 is long-only);
- ``sells_covered``: the SELL quantity working at the broker (a bracket's two children counted once, they
  are one-cancels-other) never exceeds what the broker holds of that contract (with a broker that leaves
  children at the parent's full size, checked after ibflow's next tracking cycle);
- ``protected``: an open position the broker holds has a live stop (working, or filled and settling) or a
  ``protection.*`` event since it lost one, by its second watchdog run;
- ``no_entry_while_halted``: no entry reached the broker while the kill switch was HALTED or REDUCING;
- ``one_send_per_id``: no client order id was sent to the broker twice;
- ``fills_once``: every fill ibflow applied is a broker execution, with its quantity, once.

A ``flatten`` step must end with no position at the broker and no working order, every run of
``FLATTEN_CYCLES`` tracking cycles selling something, within ``FLATTEN_LIMIT`` cycles (``flatten_completes``:
at a participation of 0.2 % of the volume a market sell of 120 shares takes eight one-minute cycles); a
``settle`` step (and the end of every scenario) runs sync and reconciliation with the broker's view caught
up and then requires ibflow's positions and fills to equal the broker's (``settled_positions``,
``settled_fills``). A crash step arms a fault point, runs a verb into
it and, if it fired, "restarts" after a downtime as ``ibflow serve`` does: orders left mid-submit are
recovered under the account lock, then the account is reconciled.

Where ibflow sends its orders and where the invariants read the truth is a venue: by default
(``paper_venue``) one paper broker in the world's own database; ``tests/simulation/http_world.py`` puts the
``ibkr`` broker and the gateway simulator over HTTP there instead, the simulator's inner paper broker being
the truth.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from tests.simulation.scenario import Setup, Step
from tests.unit.trading.trading_world import ACCOUNT, World, build_world

from ibflow.brokers.base import BracketRequest, BrokerOrder, BrokerOrderStatus, OrderRequest, PlacedOrder
from ibflow.brokers.paper.broker import PaperBroker
from ibflow.brokers.paper.controls import MarketControls
from ibflow.brokers.paper.faults import FaultyBroker
from ibflow.core import faultpoints
from ibflow.core.clock import ManualClock
from ibflow.core.errors import NotFound
from ibflow.core.ids import AccountId, BrokerOrderId, Conid
from ibflow.db import migrate
from ibflow.db.engine import SessionFactory, make_engine, session_factory
from ibflow.db.models import Event, Fill, Order, PaperFill, PaperPosition, Position, TradingState
from ibflow.db.states import OrderSide, OrderType, PositionStatus, TradingStateValue
from ibflow.trading.intents import StrategyLimits
from ibflow.trading.lifecycle.orders import hold_account
from ibflow.trading.lifecycle.tracking import recover_interrupted
from ibflow.trading.risk.kill_switch import set_state
from ibflow.trading.risk.runtime_settings import set_setting

AAPL, MSFT = Conid(265598), Conid(272093)
CONTRACTS = ((AAPL, "AAPL"), (AAPL, "AAPL"), (MSFT, "MSFT"))
"""The contract of each strategy (by index)."""

CYCLE = timedelta(minutes=1)
FLATTEN_CYCLES = 6
"""Tracking cycles a flatten may go on selling nothing (a slow market fills its market order bit by bit)."""
FLATTEN_LIMIT = 240
"""Tracking cycles a flatten may take in all (four hours of one-minute cycles)."""
WATCHES_UNPROTECTED = 2
START = datetime(2026, 3, 4, 17, 0, tzinfo=UTC)
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_WORKING = frozenset(
    {BrokerOrderStatus.PENDING_SUBMIT, BrokerOrderStatus.SUBMITTED, BrokerOrderStatus.PENDING_CANCEL}
)
_OPEN = _WORKING | {BrokerOrderStatus.INACTIVE}
_PROTECTION_EVENTS = (
    "protection.missing",
    "protection.waiting",
    "protection.not_replaced",
    "protection.stop_stuck",
)


class Violation(AssertionError):
    """An invariant broke; ``name`` says which."""

    def __init__(self, name: str, detail: str) -> None:
        super().__init__(f"{name}: {detail}")
        self.name = name


class Crash(BaseException):
    """Stands for SIGKILL at a crash point: what was committed stays, nothing after it runs."""


def migrated_template(folder: Path) -> Path:
    """Migrate a SQLite file once; worlds start from copies of it."""
    path = folder / "template.db"
    if not path.exists():
        migrate.upgrade(f"sqlite:///{path}")
    return path


def fresh_engine(template: Path, target: Path) -> Engine:
    """Copy the migrated template to ``target`` and open it."""
    with sqlite3.connect(template) as source, sqlite3.connect(target) as copy:
        source.backup(copy)
    return make_engine(f"sqlite:///{target}")


class RecordingBroker(FaultyBroker):
    """Counts calls (``FaultyBroker``) and records every entry sent with the kill switch state at the time."""

    def __init__(self, world_sessions: SessionFactory, inner: Any) -> None:
        super().__init__(inner)
        self._sessions = world_sessions
        self.entries: list[tuple[str, TradingStateValue]] = []
        self.sent_ids: Counter[str] = Counter()

    def _state(self) -> TradingStateValue:
        with self._sessions() as session:
            state = session.scalars(select(TradingState.state).where(TradingState.scope == "global")).first()
        return state or TradingStateValue.ACTIVE

    def place_order(self, account_id: AccountId, order: OrderRequest) -> PlacedOrder:
        """Record, then forward."""
        self.sent_ids[order.client_order_id] += 1
        if order.side is OrderSide.BUY:
            self.entries.append((order.client_order_id, self._state()))
        return super().place_order(account_id, order)

    def place_bracket(self, account_id: AccountId, bracket: BracketRequest) -> list[PlacedOrder]:
        """Record, then forward."""
        for leg in (bracket.parent, bracket.stop_loss, bracket.take_profit):
            self.sent_ids[leg.client_order_id] += 1
        self.entries.append((bracket.parent.client_order_id, self._state()))
        return super().place_bracket(account_id, bracket)


class PaperVenue:
    """The broker's side of a world: the paper broker ibflow trades with, which is also the truth.

    ``account_id`` is the account ibflow trades; ``truth`` the paper broker whose books the invariants read
    (``books`` reads its tables through ``truth_sessions``); the switches (executions lag, ended orders
    forgotten, outside cancels, children left whole) act on it. ``restarted`` is told when ibflow restarts
    after a crash, ``close`` when the run ends.
    """

    def __init__(
        self,
        *,
        truth: PaperBroker,
        truth_sessions: SessionFactory,
        controls: MarketControls,
        account_id: AccountId = ACCOUNT,
    ) -> None:
        self.truth = truth
        self.truth_sessions = truth_sessions
        self.controls = controls
        self.account_id = account_id

    def live_orders(self) -> list[BrokerOrder]:
        """Return the truth's orders of the day (evaluating its books up to now)."""
        return self.truth.live_orders(self.account_id)

    def order_status(self, broker_order_id: str) -> BrokerOrder:
        """Return one order of the truth (``NotFound`` if it has none by that id)."""
        return self.truth.order_status(self.account_id, BrokerOrderId(broker_order_id))

    def executions(self) -> dict[str, Decimal]:
        """Return every execution of the truth: quantity by execution id, as ibflow should know them."""
        return {e.broker_exec_id: e.quantity for e in self.truth.executions(self.account_id, EPOCH)}

    def books(self) -> tuple[dict[int, Decimal], dict[str, Decimal]]:
        """Return the truth's positions (non-zero, by contract) and fills (by execution id), from its rows."""
        held: dict[int, Decimal] = {}
        with self.truth_sessions() as session:
            for conid, quantity in session.execute(select(PaperPosition.conid, PaperPosition.quantity)):
                held[conid] = held.get(conid, Decimal(0)) + quantity
            executions = dict(session.execute(select(PaperFill.broker_exec_id, PaperFill.quantity)).all())
        return {conid: q for conid, q in held.items() if q != 0}, executions

    def evaluate(self) -> None:
        """Let the truth evaluate its books up to now (a read does)."""
        self.truth.positions(self.account_id)

    def lag_executions(self, lag: timedelta) -> None:
        """Fills reach the executions ``lag`` after the order status says filled."""
        self.controls.lag_executions(lag)

    def forget_ended_orders(self, listed_for: timedelta | None) -> None:
        """Ended orders leave the live orders ``listed_for`` after they end (``None``: never)."""
        self.controls.forget_ended_orders(listed_for)

    def cancel_from_outside(self, broker_order_id: str) -> None:
        """Cancel an order as from TWS: ibflow is not told."""
        self.truth.cancel_from_outside(self.account_id, BrokerOrderId(broker_order_id))

    def fix_children(self) -> None:
        """Leave bracket children at the parent's full size."""
        self.controls.fix_children()

    def restarted(self, broker: RecordingBroker) -> None:
        """ibflow restarted after a crash (the paper broker lives in the process: nothing to do)."""
        del broker

    def close(self) -> None:
        """Release what the venue holds (nothing here)."""


@dataclass(frozen=True)
class Built:
    """What a venue factory builds: the world, the venue, and the broker ibflow calls (``Run`` records it)."""

    world: World
    venue: PaperVenue
    broker: Any


VenueFactory = Callable[[Setup, Engine, SessionFactory, ManualClock, Path], Built]
"""Build a world on ibflow's migrated database and its manual clock (and the migrated template, for a venue
with a database of its own), and the venue behind it."""


def paper_venue(
    setup: Setup, engine: Engine, sessions: SessionFactory, clock: ManualClock, template: Path
) -> Built:
    """The default: ibflow and the truth are one paper broker on the world's database."""
    del template
    world = build_world(engine, sessions, clock, participation=setup.participation)
    venue = PaperVenue(truth=world.paper, truth_sessions=sessions, controls=world.market.controls)
    return Built(world, venue, world.paper)


class Run:
    """One world playing one scenario; ``play`` each step, then ``finish``."""

    def __init__(
        self, setup: Setup, database: Path, template: Path, *, venue: VenueFactory = paper_venue
    ) -> None:
        self.setup = setup
        engine = fresh_engine(template, database)
        self.engine = engine
        sessions = session_factory(engine)
        built = venue(setup, engine, sessions, ManualClock(START), template)
        self.world: World = built.world
        self.venue = built.venue
        self.broker = RecordingBroker(sessions, built.broker)
        self.world.broker = self.broker
        if setup.fix_children:
            self.venue.fix_children()
        self.strategies = [
            self.world.strategy(conid=conid, symbol=symbol, name=f"sim-{i}")
            for i, (conid, symbol) in enumerate(CONTRACTS)
        ]
        with sessions() as session:
            set_setting(
                session,
                key="protection_action",
                value=setup.protection_action,
                actor="admin-1",
                at=self.world.clock.now(),
                env=self.world.risk_env,
                broker_env=self.world.broker_env,
            )
            session.commit()
        self._armed: list[str] = []
        self._unprotected_watches: dict[int, int] = {}
        self._protected_at: dict[int, datetime] = {}
        self.crashes = 0
        faultpoints.install_handler(self._crash_point)

    def broker_fills(self) -> int:
        """Return how many fills the broker made."""
        return len(self._paper_books()[1])

    def close(self) -> None:
        """Remove the crash handler and release the venue and the database."""
        faultpoints.install_handler(None)
        try:
            self.venue.close()
        finally:
            self.engine.dispose()

    def _crash_point(self, name: str) -> None:
        if name in self._armed:
            self._armed.remove(name)
            raise Crash(name)

    # --- steps -------------------------------------------------------------------------------------------
    def play(self, step: Step) -> None:
        """Run one step, let a cycle pass, check every invariant."""
        watched = self._do(step.verb, step.args)
        self.world.advance(CYCLE)
        if self.setup.fix_children:
            # A broker that leaves children at the parent's full size over-covers a partial fill until
            # ibflow's next tracking cycle resizes them: the invariants hold from that cycle on.
            self.world.track()
        self.check(watched=watched)

    def _do(self, verb: str, args: tuple[Any, ...]) -> bool:
        """Run a verb; return whether the watchdog ran."""
        world, venue = self.world, self.venue
        verbs: dict[str, Callable[[], object]] = {
            "sync": world.sync,
            "track": world.track,
            "watch": world.watch,
            "expire": world.expire,
            "reconcile": world.reconcile,
            "buy": lambda: self._buy(*args),
            "sell": lambda: world.exit(self.strategies[args[0]], conid=CONTRACTS[args[0]][0]),
            "hold": lambda: None,  # a HOLD signal places nothing
            "advance": lambda: world.advance(timedelta(minutes=args[0])),
            "lag": lambda: venue.lag_executions(CYCLE * args[0]),
            "forget": lambda: venue.forget_ended_orders(
                None if args[0] is None else timedelta(minutes=args[0])
            ),
            "outside": lambda: self._cancel_outside(args[0]),
            "halt": lambda: self._trading(TradingStateValue.HALTED),
            "reduce": lambda: self._trading(TradingStateValue.REDUCING),
            "resume": lambda: self._trading(TradingStateValue.ACTIVE),
            "flatten": self._flatten,
            "settle": self._settle,
        }
        if verb == "crash":
            return self._crash(*args)
        verbs[verb]()
        return verb == "watch"

    def _buy(self, strategy: int, entry_bp: int, stop_bp: int, target_bp: int, expires: int | None) -> None:
        world = self.world
        conid, symbol = CONTRACTS[strategy]
        price = world.price(conid)
        entry = _tick(price * (1 + Decimal(entry_bp) / 10_000))
        intent = world.intent(
            self.strategies[strategy],
            entry=entry,
            stop=_tick(entry * (1 - Decimal(stop_bp) / 10_000)),
            target=_tick(entry * (1 + Decimal(target_bp) / 10_000)),
            conid=conid,
            symbol=symbol,
            expires_in=None if expires is None else timedelta(minutes=expires),
        )
        world.submit(intent, self._limits())

    def _limits(self) -> StrategyLimits:
        return self.world.limits(max_entries_per_day=50, max_quantity=Decimal(120))

    def _cancel_outside(self, index: int) -> None:
        working = sorted(
            (o for o in self.venue.live_orders() if o.status in _OPEN),
            key=lambda o: int(o.broker_order_id) if o.broker_order_id.isdigit() else 0,
        )
        if working:
            self.venue.cancel_from_outside(working[index % len(working)].broker_order_id)

    def _trading(self, value: TradingStateValue) -> None:
        with self.world.sessions() as session:
            set_state(
                session,
                value=value,
                actor="sim",
                reason=f"simulated {value.value}",
                at=self.world.clock.now(),
                actor_is_admin=True,
            )
            session.commit()

    def _crash(self, point: str, verb: str, args: tuple[Any, ...], downtime: int) -> bool:
        self._armed[:] = [point]
        try:
            watched = self._do(verb, tuple(args))
        except Crash:
            self._armed.clear()
            self.crashes += 1
            self.world.advance(timedelta(minutes=int(downtime)))
            self.restart()
            return False
        self._armed.clear()
        return watched

    def restart(self) -> None:
        """Start up as ``ibflow serve`` does: recover orders left mid-submit, then reconcile."""
        world = self.world
        self.venue.restarted(self.broker)
        account = self.venue.account_id
        with hold_account(world.locks, account), world.sessions() as session:
            recover_interrupted(session, account_id=account, at=world.clock.now())
            session.commit()
        world.reconcile()

    def _flatten(self) -> None:
        self.world.flatten()
        stalled = 0
        before: Decimal | None = None
        for cycle in range(FLATTEN_LIMIT + 1):
            held = {conid: q for conid, q in self._broker_positions().items() if q != 0}
            working = [o for o in self.venue.live_orders() if o.status in _OPEN]
            if not held and not working:
                return
            total = sum((abs(q) for q in held.values()), Decimal(0))
            stalled = stalled + 1 if before is not None and total >= before else 0
            before = total
            if stalled == FLATTEN_CYCLES or cycle == FLATTEN_LIMIT:
                raise Violation(
                    "flatten_completes",
                    f"{cycle} cycles after a flatten ({stalled} of them selling nothing) the broker holds "
                    f"{held} and lists working {[_brief(o) for o in working]}",
                )
            self.world.advance(CYCLE)
            self.world.track()

    def _settle(self) -> None:
        self.venue.lag_executions(timedelta(0))
        self.venue.forget_ended_orders(None)
        for _ in range(3):
            self.world.advance(CYCLE)
            self.world.sync()
            self.world.reconcile()
        broker = self._broker_positions()
        ours = self._ibflow_positions()
        for conid in set(broker) | set(ours):
            if broker.get(conid, Decimal(0)) != ours.get(conid, Decimal(0)):
                raise Violation(
                    "settled_positions", f"after reconciliation ibflow holds {ours}, the broker {broker}"
                )
        executions = self.venue.executions()
        fills = self._fills()
        if executions != fills:
            missing = sorted(set(executions) - set(fills))
            extra = sorted(set(fills) - set(executions))
            raise Violation(
                "settled_fills", f"broker executions not applied {missing}, fills not at the broker {extra}"
            )

    def finish(self) -> None:
        """Let the broker's view catch up, then require agreement; then a flatten must complete."""
        self.play(Step("settle"))
        self.play(Step("flatten"))

    # --- invariants -----------------------------------------------------------------------------------
    def _broker_positions(self) -> dict[int, Decimal]:
        # The paper broker's own books, read after a broker call has evaluated them up to now.
        self.venue.evaluate()
        return self._paper_books()[0]

    def _paper_books(self) -> tuple[dict[int, Decimal], dict[str, Decimal]]:
        return self.venue.books()

    def _ibflow_positions(self) -> dict[int, Decimal]:
        totals: dict[int, Decimal] = {}
        with self.world.sessions() as session:
            for position in session.scalars(select(Position)):
                totals[position.conid] = totals.get(position.conid, Decimal(0)) + position.quantity
        return {conid: q for conid, q in totals.items() if q != 0}

    def _fills(self) -> dict[str, Decimal]:
        with self.world.sessions() as session:
            rows = session.execute(select(Fill.broker_exec_id, Fill.quantity)).all()
        counted = Counter(exec_id for exec_id, _q in rows)
        twice = [exec_id for exec_id, n in counted.items() if n > 1]
        if twice:
            raise Violation("fills_once", f"applied twice: {twice}")
        return dict(rows)

    def check(self, *, watched: bool) -> None:
        """Assert every invariant against the paper broker's books now."""
        live = self.venue.live_orders()  # evaluates the books up to now
        held, executions = self._paper_books()
        short = {conid: q for conid, q in held.items() if q < 0}
        if short:
            raise Violation("never_short", f"the broker holds {short}")
        self._check_sells(live, held)
        self._check_entries()
        twice = sorted(cid for cid, n in self.broker.sent_ids.items() if n > 1)
        if twice:
            raise Violation("one_send_per_id", f"sent twice: {twice}")
        fills = self._fills()
        unknown = {k: v for k, v in fills.items() if executions.get(k) != v}
        if unknown:
            raise Violation("fills_once", f"fills not matching a broker execution: {unknown}")
        self._check_protection(live, held, watched=watched)

    def _check_sells(self, live: list[BrokerOrder], held: dict[int, Decimal]) -> None:
        selling: dict[int, Decimal] = {}
        groups: dict[tuple[int, str], Decimal] = {}
        for order in live:
            if order.side is not OrderSide.SELL or order.status not in _WORKING:
                continue
            if order.parent_broker_order_id is not None:
                key = (order.conid, order.parent_broker_order_id)
                groups[key] = max(groups.get(key, Decimal(0)), order.remaining_quantity)
            else:
                selling[order.conid] = selling.get(order.conid, Decimal(0)) + order.remaining_quantity
        for (conid, _parent), quantity in groups.items():
            selling[conid] = selling.get(conid, Decimal(0)) + quantity
        for conid, quantity in selling.items():
            if quantity > held.get(conid, Decimal(0)):
                listed = [_brief(o) for o in live if o.conid == conid and o.status in _OPEN]
                raise Violation(
                    "sells_covered",
                    f"contract {conid}: {quantity} to sell working at the broker, it holds "
                    f"{held.get(conid, Decimal(0))}: {listed}",
                )

    def _check_entries(self) -> None:
        halted = [
            (cid, state.value) for cid, state in self.broker.entries if state is not TradingStateValue.ACTIVE
        ]
        if halted:
            raise Violation("no_entry_while_halted", f"entries sent while not active: {halted}")

    def _check_protection(self, live: list[BrokerOrder], held: dict[int, Decimal], *, watched: bool) -> None:
        by_id = {o.broker_order_id: o for o in live}
        now = self.world.clock.now()
        with self.world.sessions() as session:
            positions = [
                (p.id, p.symbol, p.conid, p.quantity)
                for p in session.scalars(select(Position).where(Position.status == PositionStatus.OPEN))
            ]
            stops = {
                position_id: [
                    (row.broker_order_id, row.state.is_terminal)
                    for row in session.scalars(
                        select(Order).where(
                            Order.position_id == position_id, Order.order_type == OrderType.STOP
                        )
                    )
                    if row.broker_order_id is not None
                ]
                for position_id, *_rest in positions
            }
            flagged = {
                position_id for position_id, *_rest in positions if self._flagged(session, position_id)
            }
        for position_id, symbol, conid, quantity in positions:
            if quantity <= 0 or held.get(conid, Decimal(0)) <= 0:
                self._forget_position(position_id, now)
                continue
            if self._has_stop(stops[position_id], by_id):
                self._forget_position(position_id, now)
                continue
            if position_id in flagged:
                # Reported since it was last protected: the watchdog said so (it repeats a waiting
                # report once an hour, not every run), so the window stays where the protection ended.
                self._unprotected_watches.pop(position_id, None)
                continue
            if watched:
                count = self._unprotected_watches.get(position_id, 0) + 1
                self._unprotected_watches[position_id] = count
                if count >= WATCHES_UNPROTECTED:
                    raise Violation(
                        "protected",
                        f"position {position_id} ({symbol}, {quantity} held, the broker {held.get(conid)}) "
                        f"has no live stop after {count} watchdog runs and no protection event",
                    )

    def _forget_position(self, position_id: int, now: datetime) -> None:
        self._unprotected_watches.pop(position_id, None)
        self._protected_at[position_id] = now

    def _has_stop(self, stops: list[tuple[str, bool]], by_id: dict[str, BrokerOrder]) -> bool:
        for broker_order_id, ended in stops:
            found = by_id.get(broker_order_id)
            if found is None:
                try:
                    found = self.venue.order_status(broker_order_id)
                except NotFound:
                    continue
            if found.status in _WORKING:
                return True
            if found.status is BrokerOrderStatus.FILLED and not ended:
                return True  # settling: filled at the broker, its fills on their way
        return False

    def _flagged(self, session: Any, position_id: int) -> bool:
        since = self._protected_at.get(position_id, START)
        found = session.scalars(
            select(Event.id).where(
                Event.kind.in_(_PROTECTION_EVENTS),
                Event.entity_type == "position",
                Event.entity_id == position_id,
                Event.created_at >= since,
            )
        ).first()
        return found is not None


def _tick(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"))


def _brief(order: BrokerOrder) -> str:
    role = order.role.value if order.role is not None else "-"
    return (
        f"{order.broker_order_id}:{order.side.value}:{order.order_type.value}:{role}:"
        f"{order.filled_quantity.normalize():f}/{order.quantity.normalize():f}:{order.status.value}"
    )
