"""Entry submission: blocks write nothing and call no broker; every submit outcome ends where it must."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from tests.unit.trading.risk_cases import CASES_BY_REASON, base_inputs
from tests.unit.trading.trading_world import ACCOUNT, World

from ibflow.brokers.base import BracketRequest, PlacedOrder
from ibflow.brokers.paper.faults import Fault, FaultyBroker
from ibflow.core.ids import AccountId, SignalId
from ibflow.db.models import Event, Order, TradingSignal
from ibflow.db.states import OrderState, SignalAction
from ibflow.trading.lifecycle.submission import SubmitStatus, submit_entry
from ibflow.trading.risk.checks import RiskReason

ORDER_CALLS = ("place_order", "place_bracket", "modify_order", "cancel_order")


def _order_calls(broker: FaultyBroker) -> dict[str, int]:
    return {name: broker.calls[name] for name in ORDER_CALLS}


def _paper_parents(world: World, client_order_id: str) -> list[str]:
    return [
        o.broker_order_id for o in world.paper.live_orders(ACCOUNT) if o.client_order_id == client_order_id
    ]


# SIZE_SHRANK judges only a bracket written before a crash (see test_final_recheck.py).
@pytest.mark.parametrize("reason", [r for r in RiskReason if r is not RiskReason.SIZE_SHRANK], ids=str)
def test_a_blocked_entry_writes_no_order_and_calls_no_broker(world: World, reason: RiskReason) -> None:
    case = CASES_BY_REASON[reason]  # every reason code has its blocking case
    with world.sessions() as session:
        inputs = case.build(session, world.clock, base_inputs(session, world.clock))
        signal = TradingSignal(
            strategy_id=inputs.strategy_id, action=SignalAction.BUY, created_at=world.clock.now()
        )
        session.add(signal)
        session.commit()
        inputs = inputs.with_intent(signal_id=SignalId(signal.id))
        orders_before = session.scalar(select(func.count()).select_from(Order))

    result = submit_entry(
        world.sessions,
        broker=world.broker,
        locks=world.locks,
        intent=inputs.intent,
        limits=inputs.limits,
        snapshot=inputs.snapshot,
        clock=world.clock,
        risk_env=inputs.risk_env,
        broker_env=inputs.broker_env,
    )

    assert (result.status, result.reason) == (SubmitStatus.BLOCKED, reason.value)
    assert result.order_ids == ()
    assert _order_calls(world.broker) == dict.fromkeys(ORDER_CALLS, 0)
    with world.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Order)) == orders_before
        stored = session.get_one(TradingSignal, signal.id)
        assert (stored.is_valid, stored.reason, stored.outcome) == (False, reason.value, "no_order")
        assert case.detail in (stored.reason_detail or "")
        [event] = session.scalars(select(Event).where(Event.kind == "risk.blocked")).all()
        assert reason.value in event.message


def test_a_size_that_rounds_to_zero_places_nothing(world: World) -> None:
    strategy_id = world.strategy()
    plan = world.plan("target")
    world.clock.set(plan.start)
    intent = world.intent(strategy_id, entry=plan.entry, stop=plan.stop, target=plan.target)

    # Risking 0.0001 of equity (10.00) on a stop about 10 away is less than one share: never rounded up.
    result = world.submit(intent, world.limits(risk_per_trade=Decimal("0.0001")))

    assert (result.status, result.reason) == (SubmitStatus.BLOCKED, "SIZE_ZERO")
    assert world.orders() == []
    assert _order_calls(world.broker) == dict.fromkeys(ORDER_CALLS, 0)


class _WatchingBroker(FaultyBroker):
    """Reads our books through its own session at the moment the bracket reaches it."""

    def __init__(self, world: World) -> None:
        super().__init__(world.paper)
        self.world = world
        self.seen: list[tuple[str, OrderState]] = []

    def place_bracket(self, account_id: AccountId, bracket: BracketRequest) -> list[PlacedOrder]:
        with self.world.sessions() as session:
            rows = session.scalars(select(Order).order_by(Order.id)).all()
            self.seen = [(row.client_order_id, row.state) for row in rows]
        return super().place_bracket(account_id, bracket)


def test_the_intent_is_committed_before_the_broker_hears_of_it(world: World) -> None:
    world.broker = _WatchingBroker(world)
    strategy_id = world.strategy()
    plan = world.plan("target")

    result, _intent = world.enter(strategy_id, plan)

    assert result.status is SubmitStatus.PLACED
    assert [state for _, state in world.broker.seen] == [OrderState.SUBMITTING] * 3  # type: ignore[attr-defined]
    assert [cid.rsplit("-", 1)[1] for cid, _ in world.broker.seen] == ["entry", "stop", "target"]  # type: ignore[attr-defined]
    events = world.order_events(result.order_ids[0])
    assert [(e.from_state, e.to_state) for e in events] == [
        (None, OrderState.INTENT),
        (OrderState.INTENT, OrderState.SUBMITTING),
        (OrderState.SUBMITTING, OrderState.WORKING),
    ]


def test_accept_then_raise_waits_in_submit_unknown_and_is_settled_by_client_id(world: World) -> None:
    world.broker.inject(Fault.ACCEPT_THEN_RAISE, "place_bracket")
    strategy_id = world.strategy()
    result, _intent = world.enter(strategy_id, world.plan("target"))

    assert result.status is SubmitStatus.UNKNOWN
    rows = [world.order(order_id) for order_id in result.order_ids]
    assert {row.state for row in rows} == {OrderState.SUBMIT_UNKNOWN}
    assert all(row.unknown_since == world.clock.now() for row in rows)

    # While it is unknown, no new entry on that strategy and contract.
    again = world.submit(
        world.intent(
            strategy_id,
            entry=rows[0].limit_price or Decimal(0),
            stop=rows[1].stop_price or Decimal(0),
            target=rows[2].limit_price or Decimal(0),
        )
    )
    assert again.reason == "UNKNOWN_ORDER_OUTSTANDING"

    report = world.sync()

    parent, stop, target = (world.order(order_id) for order_id in result.order_ids)
    assert parent.client_order_id in report.settled
    assert parent.state in (OrderState.WORKING, OrderState.FILLED)
    assert stop.broker_order_id is not None
    assert target.broker_order_id is not None
    assert world.broker.calls["place_bracket"] == 1  # never sent again
    assert len(_paper_parents(world, parent.client_order_id)) == 1  # one broker order in the end
    settled = world.order_events(parent.id)[3]
    assert (settled.from_state, settled.reason) == (OrderState.SUBMIT_UNKNOWN, "settled by client order id")


def test_an_order_lost_in_flight_is_rejected_after_the_grace_period(world: World) -> None:
    world.broker.inject(Fault.LOSE_IN_FLIGHT, "place_bracket")
    strategy_id = world.strategy()
    result, intent = world.enter(strategy_id, world.plan("target"))
    assert result.status is SubmitStatus.UNKNOWN

    world.advance(timedelta(seconds=60))
    reads = world.broker.calls["live_orders"]
    world.sync()
    assert {world.order(i).state for i in result.order_ids} == {OrderState.SUBMIT_UNKNOWN}  # grace is 120 s
    assert world.broker.calls["live_orders"] - reads == 2  # absent only when two reads both lack it

    world.advance(timedelta(seconds=61))
    report = world.sync()

    rows = [world.order(order_id) for order_id in result.order_ids]
    assert {row.state for row in rows} == {OrderState.REJECTED}
    assert all("proven absent" in (row.reason or "") for row in rows)
    assert len(report.proven_absent) == 3
    assert world.broker.calls["place_bracket"] == 1
    assert _paper_parents(world, rows[0].client_order_id) == []
    assert world.signal(intent.signal_id).outcome == "rejected"


def test_an_order_not_sent_is_sent_again_once(world: World) -> None:
    world.broker.inject(Fault.REFUSE_BEFORE_SENDING, "place_bracket")
    strategy_id = world.strategy()
    result, _intent = world.enter(strategy_id, world.plan("target"))

    assert result.status is SubmitStatus.PLACED
    parent = world.order(result.order_ids[0])
    assert (parent.state, parent.send_attempts) == (OrderState.WORKING, 2)
    assert world.broker.calls["place_bracket"] == 2
    assert len(_paper_parents(world, parent.client_order_id)) == 1
    assert len(world.events("order.not_sent")) == 1


def test_an_order_refused_twice_is_rejected_and_never_sent_a_third_time(world: World) -> None:
    world.broker.inject(Fault.REFUSE_BEFORE_SENDING, "place_bracket")
    world.broker.inject(Fault.REFUSE_BEFORE_SENDING, "place_bracket")
    strategy_id = world.strategy()
    result, _intent = world.enter(strategy_id, world.plan("target"))

    assert result.status is SubmitStatus.REJECTED
    assert {world.order(i).state for i in result.order_ids} == {OrderState.REJECTED}
    assert world.broker.calls["place_bracket"] == 2


def test_a_duplicate_id_answer_is_looked_up_not_rejected(world: World) -> None:
    world.broker.inject(Fault.DUPLICATE_ORDER_ID, "place_bracket")
    strategy_id = world.strategy()
    result, _intent = world.enter(strategy_id, world.plan("target"))

    assert result.status is SubmitStatus.PLACED
    parent, stop, target = (world.order(order_id) for order_id in result.order_ids)
    # The look-up found the bracket as the broker has it now: the marketable entry already filled, but its
    # fills have not been applied yet, so the parent is settling (still working in our books), not filled.
    assert (parent.state, stop.state, target.state) == (
        OrderState.WORKING,
        OrderState.WORKING,
        OrderState.WORKING,
    )
    assert parent.broker_status == "filled"
    assert len(world.events("order.settling")) == 1
    assert _paper_parents(world, parent.client_order_id) == [parent.broker_order_id]
    assert world.broker_order(stop.broker_order_id).quantity == stop.quantity
    assert not world.events("order.not_sent")

    world.sync()
    assert world.held(strategy_id) == parent.quantity
    assert world.order(parent.id).state is OrderState.FILLED  # settled once its fills arrived


def test_an_execution_places_one_bracket_however_often_it_is_submitted(world: World) -> None:
    strategy_id = world.strategy()
    first, intent = world.enter(strategy_id, world.plan("target"))

    second = world.submit(dataclasses.replace(intent))

    assert (first.status, second.status) == (SubmitStatus.PLACED, SubmitStatus.ALREADY_SUBMITTED)
    assert second.order_ids == first.order_ids
    assert world.broker.calls["place_bracket"] == 1
