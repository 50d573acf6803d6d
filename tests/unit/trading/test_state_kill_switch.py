"""The kill switch: what each state allows, who may change it, and the automatic halts."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from tests.unit.trading.risk_cases import ACCOUNT, add_trade, base_inputs, broker_env, risk_env

from ibflow.core.clock import ManualClock
from ibflow.core.errors import TradingHalted, ValidationError
from ibflow.db.engine import SessionFactory, make_engine, session_factory
from ibflow.db.models import AuditLog, Event, TradingState
from ibflow.db.states import TradingStateValue
from ibflow.trading.risk.checks import RiskReason, evaluate_entry
from ibflow.trading.risk.kill_switch import (
    AUTO_BROKER_ERRORS,
    AUTO_MAX_DAILY_LOSS,
    OrderPurpose,
    allows,
    check_daily_loss,
    current_state,
    daily_realized_pnl,
    record_broker_error,
    record_broker_success,
    require_allowed,
    set_state,
)
from ibflow.trading.risk.runtime_settings import set_setting

ACTIVE, REDUCING, HALTED = TradingStateValue.ACTIVE, TradingStateValue.REDUCING, TradingStateValue.HALTED
P = OrderPurpose

# (state, purpose, reduces exposure) -> allowed, for every combination.
ALLOWED = {
    **{(ACTIVE, purpose, reduces): True for purpose in P for reduces in (True, False)},
    **{
        (REDUCING, purpose, reduces): True
        for purpose in (P.CANCEL, P.PROTECTIVE, P.FLATTEN)
        for reduces in (True, False)
    },
    (REDUCING, P.SIGNAL_EXIT, True): True,
    (REDUCING, P.SIGNAL_EXIT, False): False,
    (REDUCING, P.ENTRY, True): False,
    (REDUCING, P.ENTRY, False): False,
    **{
        (HALTED, purpose, reduces): True
        for purpose in (P.CANCEL, P.PROTECTIVE, P.FLATTEN)
        for reduces in (True, False)
    },
    (HALTED, P.SIGNAL_EXIT, True): False,
    (HALTED, P.SIGNAL_EXIT, False): False,
    (HALTED, P.ENTRY, True): False,
    (HALTED, P.ENTRY, False): False,
}


def _events(session: Session, kind: str) -> list[Event]:
    return list(session.scalars(select(Event).where(Event.kind == kind).order_by(Event.id)))


def _audits(session: Session) -> list[AuditLog]:
    return list(session.scalars(select(AuditLog).order_by(AuditLog.id)))


def _set(
    session: Session, clock: ManualClock, value: TradingStateValue, *, admin: bool = False
) -> TradingState:
    actor = "admin-1" if admin else "trader-1"
    return set_state(
        session, value=value, actor=actor, reason=f"{actor} says so", at=clock.now(), actor_is_admin=admin
    )


@pytest.mark.parametrize(("state", "purpose", "reduces"), sorted(ALLOWED), ids=str)
def test_what_each_state_allows(state: TradingStateValue, purpose: OrderPurpose, reduces: bool) -> None:
    assert len(ALLOWED) == len(TradingStateValue) * len(OrderPurpose) * 2
    assert allows(state, purpose, reduces_exposure=reduces) is ALLOWED[(state, purpose, reduces)]


def test_the_first_read_creates_an_active_switch(sessions: SessionFactory, clock: ManualClock) -> None:
    with sessions() as session:
        row = current_state(session, at=clock.now())
        session.commit()
        assert (row.scope, row.state, row.broker_error_streak) == ("global", ACTIVE, 0)
        assert current_state(session).id == row.id


def test_halted_blocks_entries_and_signal_sells_but_lets_a_trader_get_out(
    sessions: SessionFactory, clock: ManualClock
) -> None:
    with sessions() as session:
        inputs = base_inputs(session, clock)
        _set(session, clock, HALTED)
        decision = evaluate_entry(
            session,
            intent=inputs.intent,
            limits=inputs.limits,
            snapshot=inputs.snapshot,
            clock=clock,
            live_trading_allowed=False,
        )
        assert decision.reason is RiskReason.TRADING_HALTED
        assert "trader-1 says so" in decision.detail
        with pytest.raises(TradingHalted, match=r"HALTED.*trader-1 says so.*signal_exit"):
            require_allowed(session, P.SIGNAL_EXIT, reduces_exposure=True)
        with pytest.raises(TradingHalted):
            require_allowed(session, P.ENTRY, reduces_exposure=False)
        for purpose in (P.FLATTEN, P.CANCEL, P.PROTECTIVE):
            require_allowed(session, purpose, reduces_exposure=True)


def test_reducing_allows_only_orders_that_reduce_exposure(
    sessions: SessionFactory, clock: ManualClock
) -> None:
    with sessions() as session:
        _set(session, clock, REDUCING)
        require_allowed(session, P.SIGNAL_EXIT, reduces_exposure=True)
        for purpose in (P.FLATTEN, P.CANCEL, P.PROTECTIVE):
            require_allowed(session, purpose, reduces_exposure=True)
        with pytest.raises(TradingHalted, match="REDUCING"):
            require_allowed(session, P.SIGNAL_EXIT, reduces_exposure=False)
        with pytest.raises(TradingHalted, match="REDUCING"):
            require_allowed(session, P.ENTRY, reduces_exposure=True)


def test_any_trader_halts_but_only_an_admin_resumes(sessions: SessionFactory, clock: ManualClock) -> None:
    with sessions() as session:
        _set(session, clock, REDUCING)
        _set(session, clock, HALTED)
        with pytest.raises(ValidationError, match="only an admin"):
            _set(session, clock, ACTIVE)
        with pytest.raises(ValidationError, match="only an admin"):
            _set(session, clock, REDUCING)  # loosening HALTED to REDUCING is a resume too
        assert current_state(session).state is HALTED

        row = _set(session, clock, ACTIVE, admin=True)
        session.commit()

        assert (row.state, row.changed_by, row.reason, row.changed_at) == (
            ACTIVE,
            "admin-1",
            "admin-1 says so",
            clock.now(),
        )
        changes = [(e.payload or {}).get("to") for e in _events(session, "trading.state_changed")]
        assert changes == ["REDUCING", "HALTED", "ACTIVE"]
        audits = [(a.actor, a.before, a.after) for a in _audits(session)]
        assert audits == [
            ("trader-1", "ACTIVE", "REDUCING"),
            ("trader-1", "REDUCING", "HALTED"),
            ("admin-1", "HALTED", "ACTIVE"),
        ]


def test_whoever_may_resume_may_also_loosen_halted_to_reducing(
    sessions: SessionFactory, clock: ManualClock
) -> None:
    with sessions() as session:
        _set(session, clock, HALTED)
        row = _set(session, clock, REDUCING, admin=True)
        assert (row.state, row.changed_by) == (REDUCING, "admin-1")
        with pytest.raises(TradingHalted, match="REDUCING"):
            require_allowed(session, P.ENTRY, reduces_exposure=False)
        require_allowed(session, P.SIGNAL_EXIT, reduces_exposure=True)  # exits work again
        assert [(a.actor, a.before, a.after) for a in _audits(session)][-1] == (
            "admin-1",
            "HALTED",
            "REDUCING",
        )


def test_a_change_needs_a_reason_and_repeating_the_state_changes_nothing(
    sessions: SessionFactory, clock: ManualClock
) -> None:
    with sessions() as session:
        with pytest.raises(ValidationError, match="reason"):
            set_state(
                session, value=HALTED, actor="trader-1", reason=" ", at=clock.now(), actor_is_admin=False
            )
        _set(session, clock, HALTED)
        _set(session, clock, HALTED)
        assert len(_events(session, "trading.state_changed")) == 1


@pytest.mark.parametrize("actor", ["auto:max_daily_loss", " Auto:x", "system", "", "x" * 65])
def test_a_person_cannot_act_under_a_name_reserved_for_ibflow(
    sessions: SessionFactory, clock: ManualClock, actor: str
) -> None:
    with sessions() as session:
        _set(session, clock, HALTED)
        with pytest.raises(ValidationError, match="actor"):
            set_state(
                session, value=ACTIVE, actor=actor, reason="hidden", at=clock.now(), actor_is_admin=True
            )
        assert current_state(session).state is HALTED
        assert len(_audits(session)) == 1


def test_only_code_marks_a_change_automatic(sessions: SessionFactory, clock: ManualClock) -> None:
    with sessions() as session:
        set_state(
            session,
            value=HALTED,
            actor=AUTO_BROKER_ERRORS,
            reason="broker down",
            at=clock.now(),
            actor_is_admin=False,
            automatic=True,
        )
        assert _audits(session) == []
        with pytest.raises(ValueError, match="auto:"):
            set_state(
                session,
                value=REDUCING,
                actor="trader-1",
                reason="not a rule",
                at=clock.now(),
                actor_is_admin=True,
                automatic=True,
            )


def test_repeated_broker_errors_halt_trading(sessions: SessionFactory, clock: ManualClock) -> None:
    with sessions() as session:
        for _ in range(2):
            record_broker_error(session, at=clock.now(), detail="timeout", halt_after=3)
        record_broker_success(session)  # a success ends the run of errors
        for _ in range(2):
            record_broker_error(session, at=clock.now(), detail="timeout", halt_after=3)
        assert current_state(session).state is ACTIVE

        record_broker_error(session, at=clock.now(), detail="HTTP 503 from the gateway", halt_after=3)
        session.commit()

        row = current_state(session)
        assert (row.state, row.changed_by) == (HALTED, AUTO_BROKER_ERRORS)
        assert "3 broker errors in a row" in row.reason
        assert "HTTP 503 from the gateway" in row.reason
        [event] = _events(session, "trading.state_changed")
        assert event.severity == "warning"
        assert "HTTP 503" in event.message
        assert _audits(session) == []  # an automatic change is an event, not a user action

        _set(session, clock, ACTIVE, admin=True)
        assert current_state(session).broker_error_streak == 0
        record_broker_error(session, at=clock.now(), detail="timeout", halt_after=3)
        assert current_state(session).state is ACTIVE


def test_the_daily_loss_limit_halts_trading(sessions: SessionFactory, clock: ManualClock) -> None:
    with sessions() as session:
        inputs = base_inputs(session, clock)
        add_trade(session, strategy_id=inputs.strategy_id, net_pnl=Decimal(-2000), closed_at=clock.now())
        add_trade(session, strategy_id=inputs.strategy_id, net_pnl=Decimal(500), closed_at=clock.now())
        equity = Decimal(100_000)
        assert daily_realized_pnl(session, ACCOUNT, clock) == Decimal(-1500)
        limit = Decimal("0.03")
        assert not check_daily_loss(
            session, account_id=ACCOUNT, equity=equity, clock=clock, max_daily_loss_fraction=limit
        )

        add_trade(session, strategy_id=inputs.strategy_id, net_pnl=Decimal(-1500), closed_at=clock.now())
        assert check_daily_loss(
            session, account_id=ACCOUNT, equity=equity, clock=clock, max_daily_loss_fraction=limit
        )
        assert not check_daily_loss(  # already halted: no second halt
            session, account_id=ACCOUNT, equity=equity, clock=clock, max_daily_loss_fraction=limit
        )
        session.commit()

        row = current_state(session)
        assert (row.state, row.changed_by) == (HALTED, AUTO_MAX_DAILY_LOSS)
        assert "3,000.00 reached the limit 3,000.00" in row.reason
        assert len(_events(session, "trading.state_changed")) == 1
        assert _audits(session) == []  # an automatic change is an event, not a user action


def test_the_daily_loss_limit_follows_the_run_time_setting(
    sessions: SessionFactory, clock: ManualClock
) -> None:
    with sessions() as session:
        inputs = base_inputs(session, clock)
        add_trade(session, strategy_id=inputs.strategy_id, net_pnl=Decimal(-3500), closed_at=clock.now())
        set_setting(
            session,
            key="max_daily_loss_fraction",
            value="0.05",
            actor="admin-1",
            at=clock.now(),
            env=risk_env(),
            broker_env=broker_env(),
        )
        # Without an explicit fraction the stored setting (5 %) applies, not the 3 % default.
        assert not check_daily_loss(session, account_id=ACCOUNT, equity=Decimal(100_000), clock=clock)
        assert check_daily_loss(session, account_id=ACCOUNT, equity=Decimal(70_000), clock=clock)


@pytest.mark.integration
def test_the_kill_switch_and_its_automatic_halts_on_both_backends(any_migrated_db_url: str) -> None:
    engine = make_engine(any_migrated_db_url)
    clock = ManualClock(datetime(2026, 3, 4, 17, 0, tzinfo=UTC))
    try:
        sessions = session_factory(engine)
        for _ in range(3):
            with sessions() as session:  # each error in its own transaction, as the order service does
                record_broker_error(session, at=clock.now(), detail="timeout", halt_after=3)
                session.commit()
        with sessions() as session:
            row = current_state(session)
            assert (row.state, row.changed_by, row.broker_error_streak) == (HALTED, AUTO_BROKER_ERRORS, 3)
            _set(session, clock, ACTIVE, admin=True)
            inputs = base_inputs(session, clock)
            add_trade(
                session, strategy_id=inputs.strategy_id, net_pnl=Decimal("-3000.5"), closed_at=clock.now()
            )
            assert daily_realized_pnl(session, ACCOUNT, clock) == Decimal("-3000.5")
            assert check_daily_loss(session, account_id=ACCOUNT, equity=Decimal(100_000), clock=clock)
            session.commit()
        with sessions() as session:
            assert current_state(session).changed_by == AUTO_MAX_DAILY_LOSS
            assert len(_events(session, "trading.state_changed")) == 3
    finally:
        engine.dispose()
