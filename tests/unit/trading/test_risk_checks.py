"""Every risk check blocks with its own reason code, writes nothing, and lets a good entry through sized."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from tests.unit.trading.risk_cases import (
    CASES,
    CASES_BY_REASON,
    OTHER_CONID,
    OTHER_SYMBOL,
    RiskInputs,
    add_order,
    add_position,
    add_trade,
    base_inputs,
    broker_env,
)

from ibflow.core.clock import ManualClock
from ibflow.core.errors import RiskBlocked
from ibflow.db.engine import SessionFactory, make_engine, session_factory
from ibflow.db.models import AppSetting, AuditLog, Order, TradingState
from ibflow.db.states import OrderState, StrategyMode
from ibflow.trading.risk.checks import RiskDecision, RiskReason, evaluate_entry
from ibflow.trading.risk.runtime_settings import set_setting


def _evaluate(session: Session, clock: ManualClock, inputs: RiskInputs) -> RiskDecision:
    return evaluate_entry(
        session,
        intent=inputs.intent,
        limits=inputs.limits,
        snapshot=inputs.snapshot,
        clock=clock,
        live_trading_allowed=inputs.broker_env.live_trading_allowed,
        risk_env=inputs.risk_env,
        written=inputs.written,
    )


def _count(session: Session, model: type[object]) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_every_reason_code_has_exactly_one_blocking_case() -> None:
    reasons = [case.reason for case in CASES]
    assert len(reasons) == len(set(reasons)), "a reason has two cases"
    assert set(reasons) == set(RiskReason), "add a case to risk_cases.CASES for each new RiskReason"


@pytest.mark.parametrize("reason", list(RiskReason), ids=str)
def test_each_check_blocks_with_its_code_and_writes_nothing(
    reason: RiskReason, sessions: SessionFactory, clock: ManualClock
) -> None:
    case = CASES_BY_REASON[reason]  # a member without a case fails here
    with sessions() as session:
        inputs = case.build(session, clock, base_inputs(session, clock))
        session.commit()
        orders_before = _count(session, Order)

        decision = _evaluate(session, clock, inputs)

        pending = [*session.new, *session.dirty, *session.deleted]
        assert pending == [], "risk must never write"
        session.rollback()
        assert (decision.allowed, decision.reason) == (False, reason), decision.detail
        assert decision.quantity == 0
        assert case.detail in decision.detail
        assert _count(session, Order) == orders_before
        with pytest.raises(RiskBlocked) as raised:
            decision.raise_if_blocked()
        assert raised.value.reason_code == reason.value


def test_the_base_entry_is_allowed_with_the_risk_based_size(
    sessions: SessionFactory, clock: ManualClock
) -> None:
    with sessions() as session:
        inputs = base_inputs(session, clock)
        session.commit()
        decision = _evaluate(session, clock, inputs)

    assert decision.allowed, decision.detail
    assert decision.reason is None
    # 1 % of 100,000 = 1,000 budget; 5.00 risk a share -> 200 shares (below every cap).
    assert decision.quantity == Decimal(200)
    assert (decision.entry, decision.stop, decision.target) == (Decimal("100.00"), Decimal(95), Decimal(110))
    assert decision.sizing["limited_by"] == "risk"
    assert decision.sizing["exposure_after"] == "20000.00"
    assert decision.detail.startswith("BUY 200 AAPL @ 100.00")
    assert decision.as_dict()["quantity"] == "200"


def test_levels_are_rounded_to_the_tick_before_they_are_judged(
    sessions: SessionFactory, clock: ManualClock
) -> None:
    with sessions() as session:
        inputs = base_inputs(session, clock)
        rounded = _evaluate(
            session, clock, inputs.with_intent(entry=Decimal("100.006"), stop=Decimal("94.994"))
        )
        # A stop 0.004 under the entry is on the entry once on the tick: what would be sent is judged.
        collapsed = _evaluate(
            session, clock, inputs.with_intent(entry=Decimal("100.004"), stop=Decimal("99.996"))
        )

        vanishing = _evaluate(session, clock, inputs.with_intent(stop=Decimal("0.004")))

    assert rounded.allowed
    assert (rounded.entry, rounded.stop) == (Decimal("100.01"), Decimal("94.99"))
    assert vanishing.reason is RiskReason.MISSING_LEVELS  # 0.00 once on the tick
    assert "stop" in vanishing.detail
    assert collapsed.reason is RiskReason.STOP_WRONG_SIDE
    assert collapsed.stop == collapsed.entry == Decimal("100.00")


def test_an_entry_rejected_before_sending_does_not_use_up_the_day(
    sessions: SessionFactory, clock: ManualClock
) -> None:
    with sessions() as session:
        inputs = base_inputs(session, clock).with_limits(max_entries_per_day=1)
        add_order(session, clock, strategy_id=inputs.strategy_id, state=OrderState.REJECTED, send_attempts=0)
        assert _evaluate(session, clock, inputs).allowed

        add_order(session, clock, strategy_id=inputs.strategy_id, state=OrderState.REJECTED)
        assert _evaluate(session, clock, inputs).reason is RiskReason.MAX_ENTRIES_PER_DAY


def test_the_trading_day_is_new_york_midnight_to_midnight(
    sessions: SessionFactory, clock: ManualClock
) -> None:
    # 04:30 UTC on 4 March is 23:30 on 3 March in New York: yesterday's entry and yesterday's loss.
    late_yesterday = datetime(2026, 3, 4, 4, 30, tzinfo=UTC)
    with sessions() as session:
        inputs = base_inputs(session, clock).with_limits(max_entries_per_day=1)
        add_order(
            session, clock, strategy_id=inputs.strategy_id, state=OrderState.FILLED, created_at=late_yesterday
        )
        add_trade(session, strategy_id=inputs.strategy_id, net_pnl=Decimal(-5000), closed_at=late_yesterday)
        assert _evaluate(session, clock, inputs).allowed

        clock.set(datetime(2026, 3, 4, 4, 45, tzinfo=UTC))  # still 3 March in New York
        blocked = _evaluate(session, clock, inputs.with_intent(expires_at=None))
        assert blocked.reason is RiskReason.MAX_ENTRIES_PER_DAY


def test_the_loss_streak_cooldown_ends_and_a_win_breaks_the_streak(
    sessions: SessionFactory, clock: ManualClock
) -> None:
    with sessions() as session:
        inputs = CASES_BY_REASON[RiskReason.LOSS_STREAK_COOLDOWN].build(
            session, clock, base_inputs(session, clock)
        )
        inputs = inputs.with_intent(expires_at=None)
        assert _evaluate(session, clock, inputs).reason is RiskReason.LOSS_STREAK_COOLDOWN

        clock.advance(timedelta(minutes=50))  # the last loss closed 60 minutes ago: the cooldown is over
        assert _evaluate(session, clock, inputs).allowed

        clock.advance(timedelta(minutes=-50))
        add_trade(session, strategy_id=inputs.strategy_id, net_pnl=Decimal(10), closed_at=clock.now())
        assert _evaluate(session, clock, inputs).allowed


def test_working_entries_count_toward_open_positions_and_exposure(
    sessions: SessionFactory, clock: ManualClock
) -> None:
    with sessions() as session:
        inputs = base_inputs(session, clock)
        # A working entry on another contract: 350 shares at 100 not filled yet, 50 filled and held.
        add_order(
            session,
            clock,
            strategy_id=inputs.strategy_id,
            state=OrderState.PARTIALLY_FILLED,
            conid=OTHER_CONID,
            symbol=OTHER_SYMBOL,
            quantity=Decimal(400),
            filled_quantity=Decimal(50),
        )
        add_position(
            session,
            clock,
            strategy_id=inputs.strategy_id,
            conid=OTHER_CONID,
            symbol=OTHER_SYMBOL,
            quantity=Decimal(50),
        )
        exposed = _evaluate(session, clock, inputs)
        assert exposed.reason is RiskReason.MAX_EXPOSURE
        assert "60.00% of equity" in exposed.detail  # 5,000 held + 35,000 working + 20,000 new

        set_setting(
            session,
            key="max_open_positions",
            value=1,
            actor="admin-1",
            at=clock.now(),
            env=inputs.risk_env,
            broker_env=inputs.broker_env,
        )
        full = _evaluate(session, clock, inputs)
        assert full.reason is RiskReason.MAX_OPEN_POSITIONS
        assert "1 of 1 positions" in full.detail  # the held and the working leg are one position


def test_a_pending_entry_on_the_same_contract_blocks_a_second_one(
    sessions: SessionFactory, clock: ManualClock
) -> None:
    with sessions() as session:
        inputs = base_inputs(session, clock)
        add_order(session, clock, strategy_id=inputs.strategy_id, state=OrderState.INTENT, send_attempts=0)
        assert _evaluate(session, clock, inputs).reason is RiskReason.OPEN_ENTRY_EXISTS


def test_live_mode_needs_the_environment_and_an_admin(sessions: SessionFactory, clock: ManualClock) -> None:
    with sessions() as session:
        inputs = base_inputs(session, clock).with_limits(mode=StrategyMode.LIVE)
        allowed_env = broker_env(live_trading_allowed=True)
        set_setting(
            session,
            key="live_trading_enabled",
            value=True,
            actor="admin-1",
            at=clock.now(),
            env=inputs.risk_env,
            broker_env=allowed_env,
        )
        assert _evaluate(session, clock, inputs.replace(broker_env=allowed_env)).allowed
        # The admin's switch stays on, but the environment withdrew permission: the environment wins.
        assert _evaluate(session, clock, inputs).reason is RiskReason.LIVE_TRADING_NOT_ALLOWED


def test_evaluating_leaves_no_trace_in_the_database(sessions: SessionFactory, clock: ManualClock) -> None:
    with sessions() as session:
        inputs = base_inputs(session, clock)
        session.commit()
        _evaluate(session, clock, inputs)
        session.commit()
        # Not even the kill-switch row is created by a risk check.
        assert _count(session, TradingState) == 0
        assert _count(session, AppSetting) == 0
        assert _count(session, AuditLog) == 0


def test_every_reason_code_is_documented_in_the_order_it_runs() -> None:
    text = (Path(__file__).parents[3] / "docs" / "risk.md").read_text(encoding="utf-8")
    positions = [text.find(f"| `{reason.value}` |") for reason in RiskReason]
    missing = [reason.value for reason, at in zip(RiskReason, positions, strict=True) if at < 0]
    assert missing == [], f"document these in docs/risk.md: {missing}"
    assert positions == sorted(positions)


@pytest.mark.integration
def test_every_case_blocks_the_same_on_both_backends(any_migrated_db_url: str) -> None:
    engine = make_engine(any_migrated_db_url)
    clock = ManualClock(datetime(2026, 3, 4, 17, 0, tzinfo=UTC))
    try:
        for case in CASES:
            with session_factory(engine)() as session:
                inputs = case.build(session, clock, base_inputs(session, clock))
                decision = _evaluate(session, clock, inputs)
                session.rollback()
            assert decision.reason is case.reason, decision.detail
            assert case.detail in decision.detail
        with session_factory(engine)() as session:
            assert _evaluate(session, clock, base_inputs(session, clock)).quantity == Decimal(200)
    finally:
        engine.dispose()
