"""Reconciliation and the protection watchdog, against the paper broker and its test switches."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import delete, select
from tests.unit.trading.trading_world import AAPL, ACCOUNT, World

from ibflow.brokers.base import OrderRequest
from ibflow.core.ids import BrokerOrderId, ClientOrderId, Conid
from ibflow.db.models import Fill, Order, ReconcileMismatch
from ibflow.db.states import OrderOrigin, OrderRole, OrderSide, OrderState, OrderType, TimeInForce
from ibflow.trading.lifecycle.submission import SubmitStatus

_MINUTE = timedelta(minutes=1)


def _open_position(world: World) -> tuple[int, tuple[int, ...]]:
    strategy_id = world.strategy()
    result, _intent = world.enter(strategy_id, world.plan("target", quiet=timedelta(minutes=30)))
    assert result.status is SubmitStatus.PLACED
    world.track()
    assert world.held(strategy_id) > 0
    return strategy_id, result.order_ids


def _buy_outside_ibflow(world: World, quantity: int, client_order_id: str = "tws-1") -> str:
    placed = world.paper.place_order(
        ACCOUNT,
        OrderRequest(
            client_order_id=ClientOrderId(client_order_id),
            conid=AAPL,
            side=OrderSide.BUY,
            order_type=OrderType.MARKET,
            quantity=Decimal(quantity),
            tif=TimeInForce.DAY,
        ),
    )
    return placed.broker_order_id


def test_a_deleted_fill_is_applied_again_and_nothing_is_counted_twice(world: World) -> None:
    strategy_id, _order_ids = _open_position(world)
    [fill] = world.fills()
    held = world.held(strategy_id)
    with world.sessions() as session:
        session.execute(delete(Fill).where(Fill.id == fill.id))
        session.commit()

    report = world.reconcile()

    [again] = world.fills()
    assert report.sync.new_fills == 1
    assert (again.broker_exec_id, again.quantity, again.price) == (
        fill.broker_exec_id,
        fill.quantity,
        fill.price,
    )
    assert world.held(strategy_id) == held == world.broker_held()
    assert report.mismatched == []


def test_an_order_placed_at_the_broker_is_adopted_as_external_and_never_touched(world: World) -> None:
    strategy_id, _order_ids = _open_position(world)
    outside = world.paper.place_order(
        ACCOUNT,
        OrderRequest(
            client_order_id=ClientOrderId("tws-77"),
            conid=AAPL,
            side=OrderSide.SELL,
            order_type=OrderType.LIMIT,
            quantity=Decimal(1),
            tif=TimeInForce.GTC,
            limit_price=(world.price() * Decimal("1.5")).quantize(Decimal("0.01")),
        ),
    )

    report = world.reconcile()

    [adopted] = [o for o in world.orders() if o.broker_order_id == outside.broker_order_id]
    assert (adopted.origin, adopted.role, adopted.state) == (
        OrderOrigin.EXTERNAL,
        OrderRole.MANUAL,
        OrderState.WORKING,
    )
    assert report.sync.adopted == [adopted.client_order_id]
    assert len(world.events("order.adopted_external")) == 1

    world.watch()
    world.exit(strategy_id)
    world.reconcile()  # adopting is done once

    assert world.broker_order(outside.broker_order_id).status.value == "submitted"
    assert world.broker.calls["modify_order"] == 0
    assert [o.id for o in world.orders() if o.origin == OrderOrigin.EXTERNAL] == [adopted.id]


@pytest.mark.parametrize("action", ["replace", "close"])
def test_a_stop_cancelled_at_the_broker_raises_an_event_and_is_replaced_or_closed(
    world: World, action: str
) -> None:
    world.set_protection_action(action)
    strategy_id, order_ids = _open_position(world)
    held = world.held(strategy_id)
    stop = world.order(order_ids[1])
    world.paper.cancel_order(ACCOUNT, BrokerOrderId(stop.broker_order_id or ""))

    report = world.watch()

    [missing] = world.events("protection.missing")
    assert missing.severity == "error"
    assert world.order(order_ids[1]).state is OrderState.CANCELLED
    if action == "replace":
        [position_id] = report.replaced
        [replacement] = [o for o in world.orders(OrderRole.STOP) if o.id != stop.id]
        assert replacement.client_order_id.split("-")[2:] == ["replace", str(position_id), "1"]
        assert (replacement.state, replacement.quantity, replacement.stop_price) == (
            OrderState.WORKING,
            held,
            stop.stop_price,
        )
        at_broker = world.broker_order(replacement.broker_order_id)
        assert (at_broker.status.value, at_broker.quantity) == ("submitted", held)
        assert world.order(order_ids[2]).state is OrderState.CANCELLED  # no unlinked target beside it
        assert world.watch().missing_stop == []  # protected again
    else:
        assert report.closed == [world.position(strategy_id).id]  # type: ignore[union-attr]
        world.advance(_MINUTE)
        world.track()
        assert world.held(strategy_id) == 0 == world.broker_held()
        assert [t.exit_reason for t in world.trades()] == ["protect"]


def test_no_replacement_stop_while_another_sell_of_the_position_may_still_fill(world: World) -> None:
    world.set_protection_action("replace")
    strategy_id, order_ids = _open_position(world)
    stop = world.order(order_ids[1])
    world.paper.cancel_order(ACCOUNT, BrokerOrderId(stop.broker_order_id or ""))
    with world.sessions() as session:  # a sell of unknown fate for the same position (say, an exit mid-crash)
        position = world.position(strategy_id)
        assert position is not None
        exit_row = Order(
            **{
                column: getattr(stop, column)
                for column in ("account_id", "strategy_id", "origin", "conid", "symbol", "side")
            },
            client_order_id="ibf-crash-9-exit",
            role=OrderRole.EXIT,
            order_type=OrderType.MARKET,
            tif=TimeInForce.DAY,
            quantity=world.held(strategy_id),
            state=OrderState.SUBMIT_UNKNOWN,
            filled_quantity=Decimal(0),
            send_attempts=1,
            position_id=position.id,
            created_at=world.clock.now(),
            updated_at=world.clock.now(),
        )
        session.add(exit_row)
        session.commit()

    report = world.watch()

    assert report.replaced == []
    assert [o.id for o in world.orders(OrderRole.STOP)] == [stop.id]  # no second stop was sent
    [waiting] = world.events("protection.waiting")
    assert "may still fill" in waiting.message
    assert world.watch().missing_stop == [report.missing_stop[0]]  # still reported on every look ...
    assert len(world.events("protection.waiting")) == 1  # ... but the event is not repeated every 30 s


def test_a_stop_that_triggered_without_liquidity_is_flagged_and_the_position_closed(world: World) -> None:
    world.set_protection_action("close")
    strategy_id = world.strategy()
    plan = world.plan("stop", quiet=timedelta(minutes=10))
    result, _intent = world.enter(strategy_id, plan)
    world.track()
    world.paper.market.controls.remove_liquidity(AAPL, at=world.clock.now())
    world.clock.set(plan.hit_at)

    report = world.watch()

    assert report.stuck_stop == [world.position(strategy_id).id]  # type: ignore[union-attr]
    [stuck] = world.events("protection.stop_stuck")
    assert "crossed" in stuck.message
    assert world.order(result.order_ids[1]).state is OrderState.CANCELLED
    [exit_order] = world.orders(OrderRole.EXIT)
    assert exit_order.quantity == world.held(strategy_id)

    world.paper.market.controls.restore_liquidity(AAPL, at=world.clock.now())
    world.advance(_MINUTE)
    world.track()
    assert world.held(strategy_id) == 0 == world.broker_held()


def test_a_position_mismatch_blocks_entries_on_that_contract_until_resolved(world: World) -> None:
    strategy_id = world.strategy()
    outside = _buy_outside_ibflow(world, 7)
    world.advance(_MINUTE)

    report = world.reconcile()

    assert report.mismatched == [AAPL]
    with world.sessions() as session:
        [mismatch] = session.scalars(select(ReconcileMismatch)).all()
        assert (mismatch.ibflow_quantity, mismatch.broker_quantity, mismatch.resolved_at) == (0, 7, None)
    assert len(world.events("reconcile.mismatch")) == 1
    plan = world.plan("target")
    blocked = world.submit(world.intent(strategy_id, entry=plan.entry, stop=plan.stop, target=plan.target))
    assert (blocked.status, blocked.reason) == (SubmitStatus.BLOCKED, "RECONCILE_MISMATCH")
    assert world.broker.calls["place_bracket"] == 0

    # Someone sells the 7 shares at the broker: the books agree again and the mismatch is resolved.
    world.paper.place_order(
        ACCOUNT,
        OrderRequest(
            client_order_id=ClientOrderId("tws-2"),
            conid=Conid(AAPL),
            side=OrderSide.SELL,
            order_type=OrderType.MARKET,
            quantity=Decimal(7),
            tif=TimeInForce.DAY,
        ),
    )
    world.advance(_MINUTE)
    report = world.reconcile()

    assert (report.mismatched, report.resolved) == ([], [AAPL])
    with world.sessions() as session:
        assert session.scalars(select(ReconcileMismatch.resolved_at)).one() == world.clock.now()
    assert [o.origin for o in world.orders() if o.broker_order_id == outside] == [OrderOrigin.EXTERNAL]
    allowed = world.submit(world.intent(strategy_id, entry=plan.entry, stop=plan.stop, target=plan.target))
    assert allowed.reason != "RECONCILE_MISMATCH"


def test_an_unsent_entry_that_expired_meanwhile_is_rejected_not_sent(world: World) -> None:
    strategy_id = world.strategy()
    result, _intent = world.enter(strategy_id, world.plan("target"))
    with world.sessions() as session:
        parent = session.get_one(Order, result.order_ids[0])
        stale = Order(
            **{
                column: getattr(parent, column)
                for column in ("account_id", "strategy_id", "role", "origin", "conid", "symbol", "side")
            },
            client_order_id="ibf-crash-2-entry",
            order_type=OrderType.LIMIT,
            tif=TimeInForce.DAY,
            quantity=Decimal(1),
            limit_price=parent.limit_price,
            state=OrderState.INTENT,
            filled_quantity=Decimal(0),
            send_attempts=0,
            expires_at=world.clock.now(),
            created_at=world.clock.now(),
            updated_at=world.clock.now(),
        )
        session.add(stale)
        session.commit()
        stale_id = stale.id
    world.reconcile()
    assert world.order(stale_id).state is OrderState.REJECTED
    assert world.order(stale_id).reason == "never sent before a crash, and expired since"
    assert all(o.client_order_id != "ibf-crash-2-entry" for o in world.broker.live_orders(ACCOUNT))


def test_rows_a_crashed_sender_left_are_settled(world: World) -> None:
    strategy_id = world.strategy()
    result, _intent = world.enter(strategy_id, world.plan("target"))
    parent_id = result.order_ids[0]
    # Pretend a sender crashed: one bracket written but never sent, one caught in the middle of sending.
    with world.sessions() as session:
        parent = session.get_one(Order, parent_id)
        parent.state = OrderState.SUBMITTING
        lost = Order(
            **{
                column: getattr(parent, column)
                for column in ("account_id", "strategy_id", "role", "origin", "conid", "symbol", "side")
            },
            client_order_id="ibf-crash-1-entry",
            order_type=OrderType.LIMIT,
            tif=TimeInForce.DAY,
            quantity=Decimal(1),
            limit_price=parent.limit_price,
            state=OrderState.INTENT,
            filled_quantity=Decimal(0),
            send_attempts=0,
            created_at=world.clock.now(),
            updated_at=world.clock.now(),
        )
        session.add(lost)
        session.commit()
        lost_id = lost.id

    report = world.reconcile()

    # a lone entry intent is not a bracket ibflow would send: it never left, and is rejected
    assert world.order(lost_id).state is OrderState.REJECTED
    assert world.order(lost_id).reason == "never sent before a crash, and not a complete bracket"
    parent = world.order(parent_id)
    assert parent.state in (OrderState.WORKING, OrderState.FILLED)  # unknown, then found by client order id
    assert parent.client_order_id in report.sync.settled
    assert set(report.recovered) == {parent.client_order_id}
