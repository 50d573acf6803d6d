"""Position, exit and protection events are written where positions open and close and the watchdog acts."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import Engine
from tests.unit.events.support import (
    check_event,
    covers,
    events_of,
    protection_action,
    set_trading,
    the_event,
)
from tests.unit.events.test_order_events import outside_order
from tests.unit.trading.trading_world import AAPL, ACCOUNT, Plan, World, build_world

from ibflow.brokers.base import BrokerOrder, Execution, OrderChange
from ibflow.brokers.paper.faults import Fault, FaultyBroker
from ibflow.core.clock import ManualClock
from ibflow.core.errors import BrokerError
from ibflow.core.ids import AccountId, BrokerExecId, BrokerOrderId, ClientOrderId
from ibflow.db.engine import SessionFactory
from ibflow.db.states import OrderRole, OrderSide, TradingStateValue
from ibflow.trading.lifecycle.fills import apply_executions
from ibflow.trading.lifecycle.submission import SubmitStatus
from ibflow.trading.positions.exits import ExitStatus

_MINUTE = timedelta(minutes=1)


class _BrokerSaysNo(FaultyBroker):
    """A broker that refuses every cancel and every modify (a gateway answering errors)."""

    def cancel_order(self, account_id: AccountId, broker_order_id: BrokerOrderId) -> None:
        self._count("cancel_order")
        raise BrokerError(f"cannot cancel order {broker_order_id}: order is locked")

    def modify_order(
        self, account_id: AccountId, broker_order_id: BrokerOrderId, change: OrderChange
    ) -> BrokerOrder:
        self._count("modify_order")
        raise BrokerError(f"cannot modify order {broker_order_id}: order is locked")


def _held(
    world: World, first: str = "target", quiet: timedelta = timedelta(minutes=30)
) -> tuple[int, tuple[int, ...], Plan]:
    strategy_id = world.strategy()
    plan = world.plan(first, quiet=quiet)  # type: ignore[arg-type]
    result, _intent = world.enter(strategy_id, plan)
    assert result.status is SubmitStatus.PLACED
    world.track()
    assert world.held(strategy_id) > 0
    return strategy_id, result.order_ids, plan


def _position_id(world: World, strategy_id: int | None) -> int:
    position = world.position(strategy_id)  # type: ignore[arg-type]
    assert position is not None
    return position.id


@covers("position.opened")
def test_a_first_fill_opens_a_position_with_an_event(world: World) -> None:
    strategy_id, _ids, _plan = _held(world)

    position = world.position(strategy_id)
    assert position is not None
    check_event(
        the_event(world.sessions, "position.opened"),
        "position.opened",
        entity_id=position.id,
        says=[f"AAPL: holding {position.quantity.normalize():f} at {position.avg_cost}"],
        account_id=ACCOUNT,
    )


@covers("trade.closed")
def test_a_target_fill_closes_the_trade_with_its_pnl(world: World) -> None:
    strategy_id, _ids, plan = _held(world, "target", quiet=_MINUTE)
    world.clock.set(plan.hit_at)

    world.track()

    [trade] = world.trades()
    check_event(
        the_event(world.sessions, "trade.closed"),
        "trade.closed",
        entity_id=trade.id,
        says=[f"AAPL: {trade.quantity.normalize():f} shares target, net {trade.net_pnl:.2f}, ", " R"],
        payload={"exit_reason": "target", "signal_id": trade.signal_id},
        account_id=ACCOUNT,
    )
    assert Decimal(the_event(world.sessions, "trade.closed").payload["net_pnl"]) == trade.net_pnl > 0  # type: ignore[index]
    assert world.held(strategy_id) == 0


@covers("position.short")
def test_a_broker_execution_selling_more_than_is_held_is_a_short_position_event(world: World) -> None:
    # The paper broker never oversells (its protection is reduce-only); a broker reporting a stop that sold
    # more than was held is what the alarm is for. The execution goes through the path tracking uses.
    strategy_id, order_ids, _plan = _held(world)
    held = world.held(strategy_id)
    stop = world.order(order_ids[1])
    oversold = Execution(
        account_id=ACCOUNT,
        broker_exec_id=BrokerExecId("0001f4e8.67a1.01"),
        conid=AAPL,
        side=OrderSide.SELL,
        quantity=held + 5,
        price=stop.stop_price or Decimal(1),
        commission=Decimal("1.00"),
        executed_at=world.clock.now(),
        broker_order_id=BrokerOrderId(stop.broker_order_id or ""),
        client_order_id=ClientOrderId(stop.client_order_id),
    )
    with world.sessions() as session:
        apply_executions(session, account_id=ACCOUNT, executions=[oversold], at=world.clock.now())
        session.commit()

    assert world.held(strategy_id) == -5
    check_event(
        the_event(world.sessions, "position.short"),
        "position.short",
        entity_id=_position_id(world, strategy_id),
        says=["AAPL: short 5 shares; ibflow is long-only"],
        severity="error",
        account_id=ACCOUNT,
    )


@covers("exit.blocked")
def test_an_exit_refused_by_the_kill_switch_is_an_event(world: World) -> None:
    strategy_id, _ids, _plan = _held(world)
    set_trading(world.sessions, world.clock.now(), TradingStateValue.HALTED)

    result = world.exit(strategy_id)

    assert result.status is ExitStatus.BLOCKED
    check_event(
        the_event(world.sessions, "exit.blocked"),
        "exit.blocked",
        entity_id=_position_id(world, strategy_id),
        says=["signal exit of AAPL blocked"],
        severity="warning",
        account_id=ACCOUNT,
    )


@covers("exit.waiting", "protection.missing")
def test_an_exit_waits_for_a_replacement_stop_of_unknown_outcome(world: World) -> None:
    protection_action(world, "replace")
    strategy_id, order_ids, _plan = _held(world)
    stop = world.order(order_ids[1])
    world.paper.cancel_order(ACCOUNT, BrokerOrderId(stop.broker_order_id or ""))
    world.broker.inject(Fault.LOSE_IN_FLIGHT, "place_order")  # the replacement's answer never comes

    world.watch()
    result = world.exit(strategy_id)

    position_id = _position_id(world, strategy_id)
    check_event(
        the_event(world.sessions, "protection.missing"),
        "protection.missing",
        entity_id=position_id,
        says=[f"AAPL ({world.held(strategy_id).normalize():f} held) has no live stop"],
        severity="error",
        account_id=ACCOUNT,
    )
    assert result.status is ExitStatus.UNKNOWN_OUTSTANDING
    check_event(
        the_event(world.sessions, "exit.waiting"),
        "exit.waiting",
        entity_id=position_id,
        says=["AAPL: an order on this contract has an unknown outcome"],
        account_id=ACCOUNT,
    )


@covers("protection.waiting")
def test_no_stop_while_an_exit_of_unknown_outcome_may_fill_is_an_event(world: World) -> None:
    strategy_id, _ids, _plan = _held(world)
    world.broker.inject(Fault.LOSE_IN_FLIGHT, "place_order")
    world.exit(strategy_id)  # protection cancelled, the exit's answer lost

    world.watch()

    check_event(
        the_event(world.sessions, "protection.waiting"),
        "protection.waiting",
        entity_id=_position_id(world, strategy_id),
        says=["has no live stop, but 1 other sell(s) may still fill; not replaced yet"],
        account_id=ACCOUNT,
    )


@covers("order.cancel_failed", "exit.cancel_unconfirmed")
def test_an_exit_whose_protection_cannot_be_cancelled_sends_nothing(world: World) -> None:
    strategy_id, order_ids, _plan = _held(world)
    world.broker = _BrokerSaysNo(world.paper)

    result = world.exit(strategy_id)

    assert result.status is ExitStatus.CANCEL_UNCONFIRMED
    stop = world.order(order_ids[1])
    check_event(
        the_event(world.sessions, "order.cancel_failed", stop.id),
        "order.cancel_failed",
        entity_id=stop.id,
        says=[f"cancel of {stop.client_order_id} failed", "order is locked"],
        account_id=ACCOUNT,
    )
    check_event(
        the_event(world.sessions, "exit.cancel_unconfirmed"),
        "exit.cancel_unconfirmed",
        entity_id=_position_id(world, strategy_id),
        says=["the broker has not confirmed the cancel of", stop.client_order_id, "no exit sent"],
        account_id=ACCOUNT,
    )
    assert world.orders(OrderRole.EXIT) == []


@covers("protection.target_missing")
def test_a_position_without_a_target_is_an_event(world: World) -> None:
    strategy_id, order_ids, _plan = _held(world)
    target = world.order(order_ids[2])
    world.paper.cancel_order(ACCOUNT, BrokerOrderId(target.broker_order_id or ""))

    world.watch()

    check_event(
        the_event(world.sessions, "protection.target_missing"),
        "protection.target_missing",
        entity_id=_position_id(world, strategy_id),
        says=["AAPL", "has no target"],
        severity="info",
    )
    assert world.events("protection.missing") == []


@covers("protection.stop_stuck")
def test_a_crossed_stop_that_did_not_fill_is_an_event(world: World) -> None:
    protection_action(world, "close")
    strategy_id, _ids, plan = _held(world, "stop", quiet=timedelta(minutes=10))
    world.paper.market.controls.remove_liquidity(AAPL, at=world.clock.now())
    world.clock.set(plan.hit_at)

    world.watch()

    check_event(
        the_event(world.sessions, "protection.stop_stuck"),
        "protection.stop_stuck",
        entity_id=_position_id(world, strategy_id),
        says=[f"stop {plan.stop} was crossed", "but has not filled"],
        severity="error",
    )


@covers("protection.not_replaced")
def test_a_stop_that_cannot_be_replaced_for_want_of_shares_is_an_event(world: World) -> None:
    protection_action(world, "replace")
    strategy_id, order_ids, _plan = _held(world)
    held = world.held(strategy_id)
    high = str((world.price() * Decimal("1.5")).quantize(Decimal("0.01")))
    outside_order(world, "tws-sell-all", OrderSide.SELL, int(held), high)  # someone offers every share
    stop = world.order(order_ids[1])
    world.paper.cancel_order(ACCOUNT, BrokerOrderId(stop.broker_order_id or ""))

    report = world.watch()

    assert report.replaced == []
    check_event(
        the_event(world.sessions, "protection.not_replaced"),
        "protection.not_replaced",
        entity_id=_position_id(world, strategy_id),
        says=["not replaced: the broker holds nothing beyond the sells working there"],
        severity="error",
    )


def _children_left_whole(
    engine: Engine, sessions: SessionFactory, clock: ManualClock
) -> tuple[World, tuple[int, ...]]:
    """An entry filled in parts, expired, on a broker that leaves its children whole: ibflow resizes them."""
    world = build_world(engine, sessions, clock, participation=0.002)
    world.market.controls.fix_children()
    strategy_id = world.strategy()
    plan = world.plan("target", quiet=timedelta(minutes=30))
    world.clock.set(plan.start)
    intent = world.intent(
        strategy_id, entry=plan.entry, stop=plan.stop, target=plan.target, expires_in=timedelta(minutes=3)
    )
    order_ids = world.submit(intent).order_ids
    for _ in range(2):
        world.track()
        world.advance(_MINUTE)
    world.advance(_MINUTE)
    return world, order_ids


@covers("order.resized")
def test_children_resized_to_the_position_are_events(
    engine: Engine, sessions: SessionFactory, clock: ManualClock
) -> None:
    world, (parent_id, stop_id, _target_id) = _children_left_whole(engine, sessions, clock)

    world.expire()

    filled = world.order(parent_id).filled_quantity
    stop = world.order(stop_id)
    assert stop.quantity == filled
    resized = [e for e in events_of(world.sessions, "order.resized") if e.entity_id == stop_id]
    assert resized
    check_event(
        resized[-1],
        "order.resized",
        entity_id=stop_id,
        says=["AAPL stop resized", f"-> {filled.normalize():f} to cover the position"],
        severity="info",
    )


@covers("protection.resize_failed")
def test_a_resize_the_broker_refuses_is_an_event(
    engine: Engine, sessions: SessionFactory, clock: ManualClock
) -> None:
    world, (_parent_id, stop_id, _target_id) = _children_left_whole(engine, sessions, clock)
    world.broker = _BrokerSaysNo(world.paper)
    world.track()  # cancels refused too: resizing is asked of the children the broker leaves whole

    failed = [e for e in events_of(world.sessions, "protection.resize_failed") if e.entity_id == stop_id]
    assert failed
    check_event(
        failed[0],
        "protection.resize_failed",
        entity_id=stop_id,
        says=["resize to", "failed", "order is locked"],
        severity="warning",
    )
