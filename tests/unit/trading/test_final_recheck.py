"""The final re-check right before an entry's broker call (defects 5, 6 and 8 of the trading-core audit).

A bracket a crash left in ``intent`` is judged again like a first send; the quote flag, the account and
the broker's position are read again under the account lock; a halt committed after the risk check but
before the broker call stops the bracket.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import pytest
from tests.unit.trading.trading_world import AAPL, ACCOUNT, Crash, World

from ibflow.brokers.base import OrderRequest
from ibflow.core import faultpoints
from ibflow.core.ids import ClientOrderId, Conid
from ibflow.db.models import Strategy
from ibflow.db.states import OrderSide, OrderState, OrderType, StrategyState, TimeInForce, TradingStateValue
from ibflow.trading.lifecycle.submission import SubmitStatus
from ibflow.trading.risk.kill_switch import set_state
from ibflow.trading.risk.runtime_settings import set_setting


@pytest.fixture
def at_crash_point() -> Iterator[dict[str, object]]:
    """Map a crash point to what happens there: ``Crash`` (a crash) or a function (something meanwhile)."""
    armed: dict[str, object] = {}

    def handler(name: str) -> None:
        action = armed.pop(name, None)
        if action is Crash:
            raise Crash(name)
        if callable(action):
            action()

    faultpoints.install_handler(handler)
    yield armed
    faultpoints.install_handler(None)


def _halt(world: World, reason: str = "news pending") -> None:
    with world.sessions() as session:
        set_state(
            session,
            value=TradingStateValue.HALTED,
            actor="trader-1",
            reason=reason,
            at=world.clock.now(),
            actor_is_admin=False,
        )
        session.commit()


def _crash_after_intent(world: World, at_crash_point: dict[str, object]) -> int:
    """Leave a bracket written, never sent (as SIGKILL after the intent commit does); return its strategy."""
    strategy_id = world.strategy()
    plan = world.plan("target", quiet=timedelta(hours=3))
    world.clock.set(plan.start)
    intent = world.intent(strategy_id, entry=plan.entry, stop=plan.stop, target=plan.target)
    at_crash_point[faultpoints.AFTER_INTENT_COMMIT] = Crash
    with pytest.raises(Crash):
        world.submit(intent)
    assert {o.state for o in world.orders()} == {OrderState.INTENT}
    return strategy_id


def _rejected_with(world: World, code: str) -> None:
    rows = world.orders()
    assert {o.state for o in rows} == {OrderState.REJECTED}
    assert all(code in (o.reason or "") for o in rows), [o.reason for o in rows]
    assert world.broker.calls["place_bracket"] == 0
    assert world.paper.live_orders(ACCOUNT) == []


def test_a_crash_left_bracket_is_sent_once_when_nothing_changed(
    world: World, at_crash_point: dict[str, object]
) -> None:
    """The control case: the re-check passes and the bracket goes out once, as judged."""
    _crash_after_intent(world, at_crash_point)
    world.advance(timedelta(minutes=1))

    report = world.reconcile()

    assert len(report.resent) == 1
    parent = world.orders()[0]
    assert parent.state in (OrderState.WORKING, OrderState.PARTIALLY_FILLED, OrderState.FILLED)
    assert [o.client_order_id for o in world.paper.live_orders(ACCOUNT)].count(parent.client_order_id) <= 1


def test_a_crash_left_bracket_of_an_archived_strategy_is_rejected_not_sent(
    world: World, at_crash_point: dict[str, object]
) -> None:
    """Defect 5: archived before the restart, the bracket used to be sent anyway and fill."""
    strategy_id = _crash_after_intent(world, at_crash_point)
    with world.sessions() as session:
        session.get_one(Strategy, strategy_id).state = StrategyState.ARCHIVED
        session.commit()

    world.reconcile()

    _rejected_with(world, "STRATEGY_NOT_ACTIVE")


def test_a_crash_left_bracket_over_a_lowered_exposure_limit_is_rejected(
    world: World, at_crash_point: dict[str, object]
) -> None:
    """Defect 5: every risk limit is judged again, with the reason code kept."""
    _crash_after_intent(world, at_crash_point)
    with world.sessions() as session:
        set_setting(
            session,
            key="max_exposure_fraction",
            value="0",
            actor="admin-1",
            at=world.clock.now(),
            env=world.risk_env,
            broker_env=world.broker_env,
        )
        session.commit()

    world.reconcile()

    _rejected_with(world, "MAX_EXPOSURE")


def test_a_crash_left_bracket_is_not_resent_while_halted(
    world: World, at_crash_point: dict[str, object]
) -> None:
    _crash_after_intent(world, at_crash_point)
    _halt(world)

    world.reconcile()

    _rejected_with(world, "TRADING_HALTED")


def test_a_symbol_halted_while_the_analyst_thinks_gets_no_bracket(world: World) -> None:
    """Defect 6: the quote flag is read again under the lock, right before sending."""
    strategy_id = world.strategy()
    plan = world.plan("target", quiet=timedelta(hours=3))
    world.clock.set(plan.start)
    snapshot = world.snapshot()  # what the run read before calling the analyst
    world.market.controls.halt(AAPL, at=world.clock.now())
    world.advance(timedelta(seconds=90))  # the analyst "thinks"
    intent = world.intent(strategy_id, entry=plan.entry, stop=plan.stop, target=plan.target)

    result = world.submit(intent, snapshot=snapshot)

    assert (result.status, result.reason) == (SubmitStatus.BLOCKED, "QUOTE_HALTED")
    assert world.broker.calls["place_bracket"] == 0
    assert world.orders() == []


def test_shares_bought_outside_meanwhile_block_the_entry(world: World) -> None:
    """Defect 6: the broker's position is read again; ibflow's books must agree with it before an entry."""
    strategy_id = world.strategy()
    plan = world.plan("target", quiet=timedelta(hours=3))
    world.clock.set(plan.start)
    snapshot = world.snapshot()
    world.paper.place_order(
        ACCOUNT,
        OrderRequest(
            client_order_id=ClientOrderId("tws-manual-1"),
            conid=Conid(AAPL),
            side=OrderSide.BUY,
            order_type=OrderType.MARKET,
            quantity=Decimal(10),
            tif=TimeInForce.DAY,
        ),
    )
    world.advance(timedelta(minutes=1))
    assert world.broker_held() == 10
    intent = world.intent(strategy_id, entry=plan.entry, stop=plan.stop, target=plan.target)

    result = world.submit(intent, snapshot=snapshot)

    assert (result.status, result.reason) == (SubmitStatus.BLOCKED, "BROKER_POSITION_DIFFERS")
    assert world.broker.calls["place_bracket"] == 0


def test_a_halt_committed_after_the_risk_check_stops_the_bracket(
    world: World, at_crash_point: dict[str, object]
) -> None:
    """Defect 8: the kill switch is read again inside the lock, immediately before the broker call."""
    strategy_id = world.strategy()
    plan = world.plan("target", quiet=timedelta(hours=3))
    world.clock.set(plan.start)
    intent = world.intent(strategy_id, entry=plan.entry, stop=plan.stop, target=plan.target)
    at_crash_point[faultpoints.AFTER_INTENT_COMMIT] = lambda: _halt(world, "halted 0.7 s before the send")

    result = world.submit(intent)

    assert result.status is SubmitStatus.REJECTED
    assert "TRADING_HALTED" in result.detail
    assert world.broker.calls["place_bracket"] == 0
    assert {o.state for o in world.orders()} == {OrderState.REJECTED}
    assert world.signal(intent.signal_id).outcome == "blocked"
    assert [e.kind for e in world.events("order.refused")] == ["order.refused"]


def test_a_strategy_archived_after_the_risk_check_stops_the_bracket(
    world: World, at_crash_point: dict[str, object]
) -> None:
    """The last look before the broker call reads the strategy's state too."""
    strategy_id = world.strategy()
    plan = world.plan("target", quiet=timedelta(hours=3))
    world.clock.set(plan.start)
    intent = world.intent(strategy_id, entry=plan.entry, stop=plan.stop, target=plan.target)

    def archive() -> None:
        with world.sessions() as session:
            session.get_one(Strategy, strategy_id).state = StrategyState.ARCHIVED
            session.commit()

    at_crash_point[faultpoints.AFTER_INTENT_COMMIT] = archive

    result = world.submit(intent)

    assert result.status is SubmitStatus.REJECTED
    assert "STRATEGY_NOT_ACTIVE" in result.detail
    assert world.broker.calls["place_bracket"] == 0
