"""Kill-switch, risk, reconciliation and broker-session events are written where those decisions are made."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from tests.unit.events.support import check_event, covers, events_of, set_trading, the_event
from tests.unit.events.test_order_events import outside_order
from tests.unit.trading.trading_world import AAPL, ACCOUNT, World

from ibflow.brokers.base import SessionStatus
from ibflow.db.models import ReconcileMismatch, TradingState
from ibflow.db.states import OrderSide, TradingStateValue
from ibflow.trading.lifecycle.submission import SubmitStatus
from ibflow.trading.reconciliation.session_watch import watch_session

_MINUTE = timedelta(minutes=1)


@covers("trading.state_changed")
def test_a_kill_switch_change_says_from_to_who_and_why(world: World) -> None:
    set_trading(world.sessions, world.clock.now(), TradingStateValue.HALTED, "FOMC at 14:00")
    set_trading(world.sessions, world.clock.now(), TradingStateValue.HALTED, "again")  # no change, no event

    with world.sessions() as session:
        state_id = session.scalars(select(TradingState.id)).one()
    check_event(
        the_event(world.sessions, "trading.state_changed"),
        "trading.state_changed",
        entity_id=state_id,
        says=["trading ACTIVE -> HALTED by admin-1: FOMC at 14:00"],
        payload={"from": "ACTIVE", "to": "HALTED", "actor": "admin-1", "reason": "FOMC at 14:00"},
        severity="warning",
    )


@covers("risk.blocked")
def test_an_entry_risk_refuses_is_an_event_with_the_reason_code(world: World) -> None:
    set_trading(world.sessions, world.clock.now(), TradingStateValue.HALTED)
    strategy_id = world.strategy()
    plan = world.plan("target")
    world.clock.set(plan.start)
    intent = world.intent(strategy_id, entry=plan.entry, stop=plan.stop, target=plan.target)

    result = world.submit(intent)

    assert (result.status, result.reason) == (SubmitStatus.BLOCKED, "TRADING_HALTED")
    event = the_event(world.sessions, "risk.blocked")
    check_event(
        event,
        "risk.blocked",
        entity_id=intent.signal_id,
        says=["AAPL: entry blocked, TRADING_HALTED"],
        payload={"allowed": False, "reason": "TRADING_HALTED"},
        account_id=ACCOUNT,
    )
    assert event.execution_id == intent.execution_id
    assert (event.payload or {})["detail"] in event.message


@covers("reconcile.mismatch", "reconcile.resolved")
def test_a_position_mismatch_and_its_resolution_are_events(world: World) -> None:
    outside_order(world, "tws-1", OrderSide.BUY, 7)
    world.advance(_MINUTE)

    world.reconcile()
    world.reconcile()  # the same disagreement is not told twice

    with world.sessions() as session:
        mismatch_id = session.scalars(select(ReconcileMismatch.id)).one()
    check_event(
        the_event(world.sessions, "reconcile.mismatch"),
        "reconcile.mismatch",
        entity_id=mismatch_id,
        says=[f"contract {AAPL}: ibflow holds 0, the broker 7", "no new entries on it"],
        payload={"conid": AAPL, "ibflow": "0", "broker": "7.00000000"},
        severity="error",
        account_id=ACCOUNT,
    )

    outside_order(world, "tws-2", OrderSide.SELL, 7)
    world.advance(_MINUTE)
    world.reconcile()

    check_event(
        the_event(world.sessions, "reconcile.resolved"),
        "reconcile.resolved",
        entity_id=mismatch_id,
        says=[f"contract {AAPL}: ibflow and the broker agree again (0)"],
        account_id=ACCOUNT,
    )


@covers("broker.session_changed")
def test_a_lost_and_restored_broker_session_are_one_event_each(world: World) -> None:
    def watch() -> bool:
        return watch_session(world.sessions, broker=world.broker, account_id=ACCOUNT, clock=world.clock)

    assert watch() is False  # healthy from the start: nothing to say
    world.market.controls.set_session(SessionStatus(authenticated=True, connected=False))
    assert watch() is True
    assert watch() is False  # still down: told once
    world.advance(_MINUTE)
    world.market.controls.set_session(
        SessionStatus(authenticated=True, connected=True, message="reconnected")
    )
    assert watch() is True

    lost, back = events_of(world.sessions, "broker.session_changed")
    name = world.broker.name
    check_event(
        lost,
        "broker.session_changed",
        entity_id=None,
        says=[f"{name} session lost: not connected"],
        payload={"broker": name, "healthy": False, "detail": "not connected"},
        severity="error",
        account_id=ACCOUNT,
    )
    check_event(
        back,
        "broker.session_changed",
        entity_id=None,
        says=[f"{name} session is back: reconnected"],
        payload={"broker": name, "healthy": True, "detail": "reconnected"},
        severity="info",
    )
