"""Fills of orders the broker no longer lists, reported by executions that name no order (as IBKR's do).

IBKR's trades name no order id, and a bracket child's carry no client order id either; the ``ibkr`` broker
can only attribute them to orders it lists. An order that ended before the brokerage session is not listed
and its status answers 503: tracking gives such an execution to the one unlisted order of ours it fits
(``trading/lifecycle/attribution.py``), and names none when two could own it.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.unit.trading.trading_world import ACCOUNT, World

from ibflow.brokers.base import BrokerOrderStatus
from ibflow.db.states import OrderRole, OrderState

_MINUTE = timedelta(minutes=1)


pytestmark = pytest.mark.usefixtures("retries_on_clock")


def _enter_and_go_dark(world: World, strategies: list[int]) -> tuple[list[list[int]], object]:
    """Enter a bracket per strategy on one plan (target first); then the broker forgets what ended, cannot
    give the children's status, and names no order on its executions. Returns the order ids and the plan."""
    plan = world.plan("target", quiet=timedelta(minutes=30))
    brackets = []
    for strategy_id in strategies:
        brackets.append(world.enter(strategy_id, plan)[0].order_ids)
        world.advance(2 * _MINUTE)
        world.track()
    for strategy_id in strategies:
        assert world.held(strategy_id) > 0
    children = [world.order(order_id).broker_order_id or "" for ids in brackets for order_id in ids[1:]]
    world.market.controls.forget_ended_orders(timedelta(0))
    world.broker.status_unreadable(set(children))
    world.broker.anonymous_executions()
    return brackets, plan


def test_a_target_that_filled_while_ibflow_was_away_is_found_by_its_execution(world: World) -> None:
    strategy_id = world.strategy()
    [[_entry_id, stop_id, target_id]], plan = _enter_and_go_dark(world, [strategy_id])

    world.clock.set(plan.hit_at + 10 * _MINUTE)  # type: ignore[attr-defined]
    assert world.paper.order_status(ACCOUNT, world.order(target_id).broker_order_id or "").status is (  # type: ignore[arg-type]
        BrokerOrderStatus.FILLED
    )
    world.track()

    assert world.held(strategy_id) == 0 == world.broker_held()
    target = world.order(target_id)
    assert target.state is OrderState.FILLED
    assert target.filled_quantity > 0
    assert [t.exit_reason for t in world.trades()] == ["target"]
    assert world.events("reconcile.mismatch") == []
    # its sibling, cancelled by one-cancels-other, is not listed and unreadable: ended after the grace
    assert world.order(stop_id).state in (OrderState.WORKING, OrderState.CANCEL_PENDING)
    world.advance(timedelta(seconds=world.risk_env.submit_unknown_grace_seconds))
    world.track()
    assert world.order(stop_id).state is OrderState.CANCELLED
    assert world.order(stop_id).filled_quantity == 0
    assert world.broker.calls["place_order"] == 0  # nothing was sold or protected twice


def test_an_execution_two_orders_could_own_is_given_to_neither(world: World) -> None:
    # Two strategies, one plan: both targets sell the same quantity at the same price. Which execution is
    # whose cannot be told, so neither is booked; reconciliation shows the difference instead of a guess.
    first, second = world.strategy(name="first"), world.strategy(name="second")
    brackets, plan = _enter_and_go_dark(world, [first, second])

    world.clock.set(plan.hit_at + 10 * _MINUTE)  # type: ignore[attr-defined]
    report = world.reconcile()

    assert world.broker_held() == 0
    targets = [world.order(ids[2]) for ids in brackets]
    assert [t.filled_quantity for t in targets] == [0, 0]
    assert [f for f in world.fills() if world.order(f.order_id).role is OrderRole.TARGET] == []
    assert report.mismatched
    assert len(world.events("reconcile.mismatch")) == 1
