"""ibflow with ``IBFLOW_BROKER=ibkr`` against the gateway simulator over real HTTP.

ibflow's manual clock and the simulator's clock start at the same moment and are moved together
(``Desk.step``), so a test decides exactly when orders fill. The simulator keeps its books in a database
of its own; ibflow's rows are in another.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.integration.brokers.ibkr.conftest import AAPL, START, Gateway
from tests.workflow_support import MarketableBuy
from typer.testing import CliRunner

from ibflow import bootstrap
from ibflow.api.app import create_app
from ibflow.brokers.base import OrderChange
from ibflow.cli import app as cli
from ibflow.core.clock import ManualClock
from ibflow.core.errors import NotFound, ValidationError
from ibflow.core.ids import BrokerOrderId, StrategyId
from ibflow.db.engine import make_engine
from ibflow.db.models import AuditLog, Event, GatewayPacing, Order, Position, StrategyExecution
from ibflow.db.states import (
    ExecutionStatus,
    OrderOrigin,
    OrderRole,
    OrderState,
    PositionStatus,
    StrategyMode,
    UserRole,
)
from ibflow.trading.lifecycle.confirmations import confirm_order, reject_order
from ibflow.trading.lifecycle.tracking import sync_orders
from ibflow.trading.reconciliation.reconcile import reconcile
from ibflow.trading.risk.runtime_settings import set_setting
from ibflow.users.service import create_user
from ibflow.users.tokens import create_token
from ibflow.workflow.actions import cancel_order
from ibflow.workflow.runtime.jobs import periodic_jobs
from ibflow.workflow.strategies.lookup import IndicatorInput, StrategyInput, create_strategy

pytestmark = pytest.mark.integration


@dataclass
class Desk:
    """ibflow on the ``ibkr`` broker, the simulator behind it, and one live strategy buying AAPL."""

    container: bootstrap.Container
    clock: ManualClock
    gateway: Gateway
    strategy_id: int

    def step(self, seconds: float) -> None:
        """Move both clocks."""
        self.clock.advance(timedelta(seconds=seconds))
        self.gateway.advance(seconds)

    @property
    def handle(self) -> Any:
        return self.container.broker_for(StrategyMode.LIVE)

    def run(self) -> StrategyExecution:
        executor = self.container.executor()
        execution_id = executor.create_manual(StrategyId(self.strategy_id))
        executor.run(execution_id)
        with self.container.read_sessions() as session:
            return session.get_one(StrategyExecution, execution_id)

    def sync(self) -> None:
        self.step(60)
        deps = self.container.deps
        sync_orders(
            deps.sessions,
            broker=self.handle.broker,
            locks=deps.locks,
            account_id=self.handle.account_id,
            clock=self.clock,
        )

    def reconcile(self) -> Any:
        deps = self.container.deps
        return reconcile(
            deps.sessions,
            broker=self.handle.broker,
            locks=deps.locks,
            account_id=self.handle.account_id,
            clock=self.clock,
        )

    def orders(self) -> dict[OrderRole, Order]:
        with self.container.read_sessions() as session:
            rows = session.scalars(select(Order).where(Order.strategy_id == self.strategy_id)).all()
            return {o.role: o for o in rows}

    def placed_at_gateway(self) -> list[dict[str, Any]]:
        return [o for o in self.gateway.live_orders() if o.get("order_ref") or o.get("parentId")]


@pytest.fixture
def desk(
    gateway: Callable[..., Gateway],
    migrated_sqlite: Callable[[Path], str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Callable[..., Desk]]:
    containers: list[bootstrap.Container] = []

    def start(start: datetime = START, *, pacing: bool = False, **options: Any) -> Desk:
        sim = gateway(start=start, **options)
        monkeypatch.setenv("IBFLOW_DATA_DIR", str(tmp_path / "var"))
        monkeypatch.setenv("IBFLOW_DATABASE_URL", migrated_sqlite(tmp_path / "ibflow.db"))
        monkeypatch.setenv("IBFLOW_BROKER", "ibkr")
        monkeypatch.setenv("IBFLOW_IBKR_BASE_URL", str(sim.api.base_url))
        monkeypatch.setenv("IBFLOW_IBKR_ACCOUNT_ID", sim.account)
        monkeypatch.setenv("IBFLOW_LIVE_TRADING_ALLOWED", "true")
        monkeypatch.setenv("IBFLOW_IBKR_CALENDAR", "always")  # the simulator's market never closes
        monkeypatch.setenv("IBFLOW_IBKR_RATE_LIMITS", "true" if pacing else "false")  # test_pacing covers it
        clock = ManualClock(start)
        container = bootstrap.build(clock=clock)
        containers.append(container)
        container.analysts["buy"] = MarketableBuy
        with container.sessions() as session:
            strategy = create_strategy(
                session,
                data=StrategyInput(
                    name="ibkr-aapl",
                    symbol="AAPL",
                    indicators=(IndicatorInput("sma", {"period": 20}), IndicatorInput("atr")),
                    mode=StrategyMode.LIVE.value,
                ),
                contracts=container.contract_service(),
                clock=clock,
            )
            strategy.analyst = "buy"  # a scripted analyst: the broker is under test
            set_setting(
                session,
                key="live_trading_enabled",
                value=True,
                actor="admin",
                at=clock.now(),
                env=container.settings.risk,
                broker_env=container.settings.broker,
            )
            session.commit()
            strategy_id = strategy.id
        return Desk(container, clock, sim, strategy_id)

    yield start
    for container in containers:
        container.broker_for(StrategyMode.LIVE).broker.close()
        container.engine.dispose()


def test_an_execution_places_a_bracket_at_the_gateway_that_fills_and_shows_as_a_protected_position(
    desk: Callable[..., Desk],
) -> None:
    d = desk()
    execution = d.run()
    assert execution.status is ExecutionStatus.SUCCEEDED, execution.error
    orders = d.orders()
    assert {r: o.state for r, o in orders.items()} == {
        OrderRole.ENTRY: OrderState.WORKING,
        OrderRole.STOP: OrderState.INACTIVE,
        OrderRole.TARGET: OrderState.INACTIVE,
    }
    at_gateway = {o["orderId"]: o for o in d.gateway.live_orders()}
    entry = at_gateway[int(orders[OrderRole.ENTRY].broker_order_id or 0)]
    assert (entry["order_ref"], entry["conid"], entry["side"]) == (
        orders[OrderRole.ENTRY].client_order_id,
        AAPL,
        "BUY",
    )
    children = [o for o in at_gateway.values() if o.get("parentId") == entry["orderId"]]
    assert sorted(o["orderType"] for o in children) == ["Limit", "Stop"]

    d.sync()  # a simulated minute: the marketable entry fills
    orders = d.orders()
    assert orders[OrderRole.ENTRY].state is OrderState.FILLED
    assert {orders[OrderRole.STOP].state, orders[OrderRole.TARGET].state} == {OrderState.WORKING}
    with d.container.read_sessions() as session:
        position = session.scalars(select(Position).where(Position.strategy_id == d.strategy_id)).one()
    assert position.status is PositionStatus.OPEN
    assert position.quantity == orders[OrderRole.ENTRY].quantity
    report = d.reconcile()
    assert report.mismatched == []  # what ibflow holds is what the gateway holds


def test_a_connection_dropped_after_the_gateway_took_the_order_is_settled_by_its_client_id_not_resent(
    desk: Callable[..., Desk],
) -> None:
    d = desk()
    d.gateway.control("faults", drop_after_orders=1)
    execution = d.run()
    assert execution.status is ExecutionStatus.SUCCEEDED, execution.error
    assert d.orders()[OrderRole.ENTRY].state is OrderState.SUBMIT_UNKNOWN
    d.step(60)
    d.reconcile()  # as after a restart: found by its cOID at the gateway
    orders = d.orders()
    assert orders[OrderRole.ENTRY].state in (OrderState.WORKING, OrderState.FILLED)
    assert orders[OrderRole.ENTRY].broker_order_id is not None
    refs = [o.get("order_ref") for o in d.gateway.live_orders() if o.get("order_ref")]
    assert refs == [orders[OrderRole.ENTRY].client_order_id]  # one order at the gateway, never two


def test_an_order_placed_outside_ibflow_is_adopted_as_external_and_left_alone(
    desk: Callable[..., Desk],
) -> None:
    d = desk()
    d.gateway.prime()
    placed = d.gateway.place(
        {
            "conid": AAPL,
            "orderType": "LMT",
            "side": "BUY",
            "quantity": 2,
            "tif": "DAY",
            "price": 100,
            "cOID": "tws-1",
        }
    )
    assert placed.status_code == 200, placed.text
    d.step(10)
    d.reconcile()
    with d.container.read_sessions() as session:
        external = session.scalars(select(Order).where(Order.origin == OrderOrigin.EXTERNAL)).all()
    order_id = placed.json()[0]["order_id"]
    assert [(o.broker_order_id, o.state, o.quantity) for o in external] == [(order_id, OrderState.WORKING, 2)]
    assert d.orders() == {}  # not given to any strategy


def test_an_allow_listed_question_is_confirmed_and_another_waits_for_a_trader(
    desk: Callable[..., Desk],
) -> None:
    d = desk()
    d.gateway.control("questions", chain=["p12", "o163"])
    execution = d.run()
    assert execution.status is ExecutionStatus.SUCCEEDED, execution.error
    orders = d.orders()
    assert {o.state for o in orders.values()} == {OrderState.NEEDS_CONFIRMATION}
    assert d.placed_at_gateway() == []  # declined: nothing waits at the gateway
    deps = d.container.deps
    confirmed = confirm_order(
        deps.sessions,
        broker=d.handle.broker,
        locks=deps.locks,
        clock=d.clock,
        order_id=orders[OrderRole.ENTRY].id,
        actor="trader",
        risk_env=deps.risk_settings,
        broker_env=deps.broker_settings,
    )
    assert confirmed.message_ids == ("o163",)
    assert confirmed.state == OrderState.WORKING.value
    assert [o["order_ref"] for o in d.placed_at_gateway() if o.get("order_ref")] == [
        confirmed.client_order_id
    ]


def test_a_rejected_question_ends_the_bracket_rejected_without_an_order(desk: Callable[..., Desk]) -> None:
    d = desk()
    d.gateway.control("questions", chain=["o163"])
    d.run()
    entry = d.orders()[OrderRole.ENTRY]
    deps = d.container.deps
    result = reject_order(
        deps.sessions, locks=deps.locks, clock=d.clock, order_id=entry.id, actor="trader", reason="too far"
    )
    assert result.state == OrderState.REJECTED.value
    assert {o.state for o in d.orders().values()} == {OrderState.REJECTED}
    assert d.placed_at_gateway() == []


def test_a_session_lost_mid_run_ends_the_execution_at_check_broker_and_it_recovers_after_login(
    desk: Callable[..., Desk],
) -> None:
    d = desk()
    d.gateway.control("logout")
    lost = d.run()
    assert lost.status is ExecutionStatus.FAILED
    assert "session" in (lost.error or "")
    assert d.orders() == {}
    d.gateway.control("login")
    d.step(60)
    back = d.run()
    assert back.status is ExecutionStatus.SUCCEEDED, back.error
    assert d.orders()[OrderRole.ENTRY].state is OrderState.WORKING


def test_a_waiting_order_is_confirmed_through_the_cli_and_sent(desk: Callable[..., Desk]) -> None:
    d = desk(start=datetime.now(UTC).replace(microsecond=0))  # the command runs on the wall clock
    d.gateway.control("questions", chain=["o163"])
    d.run()
    entry = d.orders()[OrderRole.ENTRY]
    assert entry.state is OrderState.NEEDS_CONFIRMATION
    d.gateway.control("questions", chain=["o163"])  # asked again on the second send: answered this time
    result = CliRunner().invoke(cli, ["order", "confirm", str(entry.id), "--actor", "alice"])
    assert result.exit_code == 0, result.output
    assert "confirmed o163" in result.output
    assert "now working" in result.output
    assert [o["order_ref"] for o in d.placed_at_gateway() if o.get("order_ref")] == [entry.client_order_id]
    again = CliRunner().invoke(cli, ["order", "confirm", str(entry.id)])
    assert again.exit_code == 2
    assert "not waiting for a confirmation" in again.output


def _api(d: Desk) -> TestClient:
    """The API on ibflow's container, as a trader with a bearer token."""
    with d.container.sessions() as session:
        user = create_user(
            session, username="tess", password="a long enough password", role=UserRole.TRADER, clock=d.clock
        )
        token = create_token(session, user=user, name="tests", clock=d.clock).token
        session.commit()
    client = TestClient(create_app(d.container))
    client.headers["Authorization"] = f"Bearer {token}"
    return client


@pytest.mark.parametrize("answer", ["confirm", "reject"])
def test_a_waiting_order_is_confirmed_or_rejected_through_the_api(
    desk: Callable[..., Desk], answer: str
) -> None:
    d = desk()
    d.gateway.control("questions", chain=["o163"])
    d.run()
    entry = d.orders()[OrderRole.ENTRY]
    d.gateway.control("questions", chain=["o163"])
    with _api(d) as client:
        done = client.post(f"/api/v1/orders/{entry.id}/{answer}")
        assert done.status_code == 200, done.text
        assert done.json()["message_ids"] == ["o163"]
        assert "o163" not in done.json()["question"]  # the question's text, not its id
        expected = "working" if answer == "confirm" else "rejected"
        assert done.json()["state"] == expected
        assert client.post(f"/api/v1/orders/{entry.id}/{answer}").status_code == 409
        child = d.orders()[OrderRole.STOP]
        assert client.post(f"/api/v1/orders/{child.id}/confirm").status_code == 409
    working_refs = [o.get("order_ref") for o in d.placed_at_gateway() if o.get("order_ref")]
    assert working_refs == ([entry.client_order_id] if answer == "confirm" else [])


def test_the_session_watch_tells_each_change_and_reconciles_when_the_session_is_back(
    desk: Callable[..., Desk],
) -> None:
    d = desk()
    jobs = {j.name.split("[")[0]: j for j in periodic_jobs(d.container.deps, [d.handle])}
    watch = jobs["watch_session"].run
    assert watch() is False  # healthy, as assumed before any event
    d.gateway.control("logout")
    assert watch() is True
    assert watch() is False  # still the same state: no second event
    d.gateway.control("login")
    d.gateway.control("compete")
    assert watch() is True  # down for another reason now
    d.gateway.control("login")
    d.gateway.prime()
    placed = d.gateway.place(
        {"conid": AAPL, "orderType": "LMT", "side": "BUY", "quantity": 1, "tif": "DAY", "price": 100}
    )
    assert placed.status_code == 200, placed.text
    assert watch() is True
    with d.container.read_sessions() as session:
        events = session.scalars(
            select(Event).where(Event.kind == "broker.session_changed").order_by(Event.id)
        )
        changes = [(e.payload["healthy"], e.payload["state"]) for e in events]
        adopted = session.scalars(
            select(Order.broker_order_id).where(Order.origin == OrderOrigin.EXTERNAL)
        ).all()
    assert changes == [
        (False, "not connected"),
        (False, "another session competes for it"),
        (True, "authenticated and connected"),
    ]
    assert adopted == [placed.json()[0]["order_id"]]  # reconciled on the way back


def test_status_and_readyz_say_which_kind_of_account_is_connected(desk: Callable[..., Desk]) -> None:
    d = desk()
    status = CliRunner().invoke(cli, ["status"])
    assert status.exit_code == 0, status.output
    assert "account DU1234567 (IBKR paper account)" in status.output
    assert "account PAPER-1 (paper broker (simulated market))" in status.output
    with TestClient(create_app(d.container)) as client:
        ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["accounts"]["DU1234567"] == "IBKR paper account"


def test_with_the_gateways_limits_and_penalty_box_on_an_execution_and_its_tracking_never_draw_a_429(
    desk: Callable[..., Desk], tmp_path: Path
) -> None:
    d = desk(
        start=datetime.now(UTC).replace(microsecond=0),
        pacing=True,
        rate_limits=True,
        time_scale=1.0,  # the simulator counts its limits in wall seconds, as IBKR does
        penalty_box=timedelta(minutes=10),
    )
    execution = d.run()
    assert execution.status is ExecutionStatus.SUCCEEDED, execution.error
    d.sync()
    d.sync()  # live orders and trades twice more: each at most once per 5 s
    assert d.orders()[OrderRole.ENTRY].state in (OrderState.WORKING, OrderState.FILLED)
    pacing = make_engine(f"sqlite:///{tmp_path / 'gateway-pacing.db'}")
    with pacing.connect() as conn:
        booked = dict(conn.execute(select(GatewayPacing.key, GatewayPacing.next_free_at)).all())
    pacing.dispose()
    assert any(key.startswith("endpoint:") and "orders" in key for key in booked)  # live orders were paced
    assert booked.get("penalty", 0.0) == 0.0  # no 429 ever came back
    assert d.gateway.api.post("/tickle").status_code == 200  # and the simulator's box is empty


def test_two_processes_sending_at_once_keep_the_limits_and_neither_breaks_the_others_question(
    desk: Callable[..., Desk], tmp_path: Path
) -> None:
    d = desk(
        start=datetime.now(UTC).replace(microsecond=0),  # the commands run on the wall clock
        pacing=True,
        rate_limits=True,
        time_scale=1.0,
        penalty_box=timedelta(minutes=10),
    )
    d.gateway.control("questions", chain=["o163"])  # not allow-listed: asked, declined, then confirmed
    d.run()
    waiting = d.orders()[OrderRole.ENTRY]
    assert waiting.state is OrderState.NEEDS_CONFIRMATION
    with d.container.sessions() as session:
        other = create_strategy(
            session,
            data=StrategyInput(
                name="ibkr-msft",
                symbol="MSFT",
                indicators=(IndicatorInput("atr"),),
                mode=StrategyMode.LIVE.value,
            ),
            contracts=d.container.contract_service(),
            clock=d.clock,
        )
        other.analyst = "buy"
        session.commit()
    marker = tmp_path / "asked"

    def one_run(*args: str) -> subprocess.Popen[str]:  # a process of its own, as an `ibflow` command
        command = [sys.executable, "-m", "tests.integration.brokers.ibkr.one_run", *args]
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    first = one_run(f"confirm:{waiting.id}", str(marker))  # holds its reply 8 s once the question comes
    for _ in range(600):
        if marker.exists() or first.poll() is not None:
            break
        time.sleep(0.05)
    assert marker.exists(), first.communicate()[0]
    runs = [first, one_run("ibkr-msft")]  # its bracket goes out while the first one's question is open
    outputs = [run.communicate(timeout=120)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    with d.container.read_sessions() as session:
        entries = session.scalars(
            select(Order).where(Order.role == OrderRole.ENTRY).order_by(Order.symbol)
        ).all()
    assert [(o.symbol, o.state) for o in entries] == [
        ("AAPL", OrderState.WORKING),  # its reply was not invalidated by the other process's order
        ("MSFT", OrderState.NEEDS_CONFIRMATION),  # asked in turn, after the first one's loop ended
    ]
    pacing = make_engine(f"sqlite:///{tmp_path / 'gateway-pacing.db'}")
    with pacing.connect() as conn:
        penalty = conn.execute(
            select(GatewayPacing.next_free_at).where(GatewayPacing.key == "penalty")
        ).scalar()
    pacing.dispose()
    assert (penalty or 0.0) == 0.0  # no 429 in either process


def test_an_admin_adds_a_question_to_the_allow_list_at_run_time_and_the_next_order_is_confirmed_by_itself(
    desk: Callable[..., Desk],
) -> None:
    d = desk()
    d.gateway.control("questions", chain=["o163"])
    with d.container.sessions() as session:
        set_setting(
            session,
            key="ibkr_question_allow_list",
            value="p12, O163",
            actor="admin",
            at=d.clock.now(),
            env=d.container.settings.risk,
            broker_env=d.container.settings.broker,
        )
        session.commit()
        audit = session.scalars(
            select(AuditLog).where(AuditLog.target_id == "ibkr_question_allow_list")
        ).one()
    assert (audit.before, audit.after) == ("o10152,o10331,p12", "o163,p12")
    execution = d.run()
    assert execution.status is ExecutionStatus.SUCCEEDED, execution.error
    assert d.orders()[OrderRole.ENTRY].state is OrderState.WORKING  # asked o163, confirmed without a trader
    with d.container.sessions() as session, pytest.raises(ValidationError, match="not IBKR question ids"):
        set_setting(
            session,
            key="ibkr_question_allow_list",
            value="o163,everything",
            actor="admin",
            at=d.clock.now(),
            env=d.container.settings.risk,
            broker_env=d.container.settings.broker,
        )


class _PatientBuy(MarketableBuy):
    """Bids 2 % under the last price: the entry stays working."""

    def analyze(self, request: Any) -> Any:
        return super().analyze(replace(request, last_price=request.last_price * Decimal("0.98")))


def test_a_working_entry_is_modified_then_cancelled_at_the_gateway(desk: Callable[..., Desk]) -> None:
    d = desk(cancel_delay=timedelta(0))
    d.container.analysts["buy"] = _PatientBuy
    d.run()
    entry = d.orders()[OrderRole.ENTRY]
    broker, account = d.handle.broker, d.handle.account_id
    assert entry.state is OrderState.WORKING
    lower = (entry.limit_price or Decimal(0)) - Decimal("1.00")
    changed = broker.modify_order(account, entry.broker_order_id, OrderChange(limit_price=lower))
    assert (changed.limit_price, changed.quantity) == (lower, entry.quantity)
    listed = {o["orderId"]: o for o in d.gateway.live_orders()}[int(entry.broker_order_id or 0)]
    assert Decimal(listed["price"]) == lower
    done = cancel_order(
        d.container.deps, d.container.accounts(), order_id=entry.id, actor="alice", reason="test"
    )
    assert (done.confirmed, done.state) == (True, "cancelled")
    assert {o.state for o in d.orders().values()} == {OrderState.CANCELLED}
    with pytest.raises(NotFound):
        broker.cancel_order(account, BrokerOrderId("987654321"))


def test_a_new_gateway_session_ibflow_did_not_see_never_makes_the_live_orders_look_empty(
    desk: Callable[..., Desk],
) -> None:
    d = desk()
    d.run()
    broker, account = d.handle.broker, d.handle.account_id
    placed = {o.broker_order_id for o in d.orders().values()}
    assert {o.broker_order_id for o in broker.live_orders(account)} == placed
    d.gateway.control("logout")
    d.gateway.control("login")  # a keeper logged the gateway in again between two tickles
    d.step(10)
    assert {o.broker_order_id for o in broker.live_orders(account)} == placed  # not IBKR's first-call []
    assert {o.broker_order_id for o in broker.live_orders_fresh(account)} == placed


def test_an_order_the_gateway_refuses_for_a_new_session_is_not_sent_then_goes_once_primed(
    desk: Callable[..., Desk],
) -> None:
    d = desk()
    d.container.analysts["buy"] = _PatientBuy
    assert d.handle.broker.session_status().healthy  # primed for this brokerage session
    d.run()
    d.gateway.control("logout")
    d.gateway.control("login")  # "Please query /accounts first" for whatever comes next
    d.step(60)
    with d.container.sessions() as session:  # a second strategy, so the first one's entry blocks nothing
        other = create_strategy(
            session,
            data=StrategyInput(name="ibkr-msft", symbol="MSFT", mode=StrategyMode.LIVE.value),
            contracts=d.container.contract_service(),
            clock=d.clock,
        )
        other.analyst = "buy"
        session.commit()
        other_id = other.id
    executor = d.container.executor()
    executor.run(executor.create_manual(StrategyId(other_id)))
    with d.container.read_sessions() as session:
        entry = session.scalars(
            select(Order).where(Order.strategy_id == other_id, Order.role == OrderRole.ENTRY)
        ).one()
    assert entry.state is OrderState.WORKING, entry.reason  # not submit_unknown: the gateway never took it


def test_in_the_penalty_box_an_order_is_refused_at_once_not_held_for_minutes(
    desk: Callable[..., Desk],
) -> None:
    d = desk(pacing=True)
    d.container.ibkr_pacer.penalized("/iserver/marketdata/snapshot")  # a 429 came: 15 minutes for everyone
    execution = d.run()
    assert execution.status is ExecutionStatus.FAILED  # the first read fails fast, no 15-minute sleep
    assert "penalty box" in (execution.error or "")
    assert d.orders() == {}
