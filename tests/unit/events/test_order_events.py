"""Order events are written where the lifecycle does what they say: placing, filling, refusing, tracking."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import Engine, delete
from tests.unit.events.support import check_event, covers, events_of, set_trading, the_event
from tests.unit.trading.trading_world import AAPL, ACCOUNT, World, build_world

from ibflow.brokers.base import OrderRequest
from ibflow.brokers.paper.faults import Fault
from ibflow.core import faultpoints
from ibflow.core.clock import ManualClock
from ibflow.core.ids import BrokerOrderId, ClientOrderId
from ibflow.db.engine import SessionFactory
from ibflow.db.models import Order, PaperOrder
from ibflow.db.states import OrderSide, OrderState, OrderType, TimeInForce, TradingStateValue
from ibflow.trading.lifecycle.client_ids import installation_id
from ibflow.trading.lifecycle.orders import move
from ibflow.trading.lifecycle.submission import SubmitResult, SubmitStatus


def _submit(world: World, expires_in: timedelta | None = None) -> SubmitResult:
    strategy_id = world.strategy()
    plan = world.plan("target", quiet=timedelta(minutes=30))
    world.clock.set(plan.start)
    intent = world.intent(
        strategy_id, entry=plan.entry, stop=plan.stop, target=plan.target, expires_in=expires_in
    )
    return world.submit(intent)


def outside_order(world: World, client_order_id: str, side: OrderSide, quantity: int, limit: str = "") -> str:
    """Place an order at the paper broker as a person in TWS would (a limit if given, else at market)."""
    placed = world.paper.place_order(
        ACCOUNT,
        OrderRequest(
            client_order_id=ClientOrderId(client_order_id),
            conid=AAPL,
            side=side,
            order_type=OrderType.LIMIT if limit else OrderType.MARKET,
            quantity=Decimal(quantity),
            tif=TimeInForce.GTC if limit else TimeInForce.DAY,
            limit_price=Decimal(limit) if limit else None,
        ),
    )
    return placed.broker_order_id


@covers("order.state_changed")
def test_every_step_of_an_order_is_an_event_with_its_from_and_to(world: World) -> None:
    parent_id, stop_id, _target_id = _submit(world).order_ids
    world.track()

    parent = world.order(parent_id)
    steps = [e for e in events_of(world.sessions, "order.state_changed") if e.entity_id == parent_id]
    assert [(e.payload or {})["to"] for e in steps] == ["intent", "submitting", "working", "filled"]
    check_event(
        steps[0],
        "order.state_changed",
        entity_id=parent_id,
        says=[f"AAPL entry BUY {parent.quantity.normalize():f}: new -> intent (created)"],
        payload={"from": None, "to": "intent", "role": "entry", "origin": "ibflow", "broker_order_id": None},
        account_id=ACCOUNT,
    )
    check_event(
        steps[-1],
        "order.state_changed",
        entity_id=parent_id,
        says=["working -> filled"],
        payload={"client_order_id": parent.client_order_id, "broker_order_id": parent.broker_order_id},
    )
    assert steps[-1].execution_id == parent.execution_id
    stop_events = [e for e in events_of(world.sessions, "order.state_changed") if e.entity_id == stop_id]
    assert {(e.payload or {})["role"] for e in stop_events} == {"stop"}


@covers("fill.applied")
def test_a_fill_is_an_event_naming_the_order_its_price_and_commission(world: World) -> None:
    parent_id = _submit(world).order_ids[0]
    world.track()

    [fill] = world.fills()
    parent = world.order(parent_id)
    check_event(
        the_event(world.sessions, "fill.applied", parent_id),
        "fill.applied",
        entity_id=parent_id,
        says=[f"AAPL entry BUY {fill.quantity.normalize():f} filled at {fill.price.normalize():f}"],
        payload={
            "client_order_id": parent.client_order_id,
            "broker_order_id": parent.broker_order_id,
            "broker_exec_id": fill.broker_exec_id,
            "side": "BUY",
            "quantity": str(fill.quantity),
            "price": str(fill.price),
            "commission": str(fill.commission),
            "role": "entry",
        },
        account_id=ACCOUNT,
    )
    world.sync()  # the same execution read again is no second event
    assert len(events_of(world.sessions, "fill.applied")) == 1


@covers("order.needs_confirmation")
def test_an_order_moved_to_needs_confirmation_asks_a_trader(
    world: World, meanwhile: dict[str, Callable[[], None]]
) -> None:
    # No broker of ours asks a question yet (the IBKR client is to come): the state machine's move to
    # NEEDS_CONFIRMATION is the code path, taken here from SUBMITTING while the bracket is being sent.
    question = "The order price exceeds the 3% price constraint. Are you sure?"

    def broker_asks() -> None:
        with world.sessions() as session:
            [parent] = [o for o in session.query(Order).all() if o.role.value == "entry"]
            move(session, parent, OrderState.SUBMITTING, at=world.clock.now(), reason="sending")
            move(session, parent, OrderState.NEEDS_CONFIRMATION, at=world.clock.now(), reason=question)
            session.commit()

    meanwhile[faultpoints.AFTER_INTENT_COMMIT] = broker_asks
    _submit(world)

    [parent] = [o for o in world.orders() if o.role.value == "entry"]
    check_event(
        the_event(world.sessions, "order.needs_confirmation"),
        "order.needs_confirmation",
        entity_id=parent.id,
        says=[parent.client_order_id, "waits for a trader to confirm", question],
        payload={"client_order_id": parent.client_order_id, "broker_order_id": None, "question": question},
        severity="warning",
        account_id=ACCOUNT,
    )


@covers("order.refused")
def test_a_bracket_refused_at_the_last_look_is_an_event(
    world: World, meanwhile: dict[str, Callable[[], None]]
) -> None:
    meanwhile[faultpoints.AFTER_INTENT_COMMIT] = lambda: set_trading(
        world.sessions, world.clock.now(), TradingStateValue.HALTED, "halted just before the send"
    )
    result = _submit(world)

    assert result.status is SubmitStatus.REJECTED
    parent = world.order(result.order_ids[0])
    check_event(
        the_event(world.sessions, "order.refused"),
        "order.refused",
        entity_id=parent.id,
        says=[parent.client_order_id, "not sent", "TRADING_HALTED"],
        severity="warning",
        account_id=ACCOUNT,
    )
    assert world.broker.calls["place_bracket"] == 0


@covers("order.not_sent")
def test_a_bracket_provably_not_sent_is_an_event_before_it_is_sent_again(world: World) -> None:
    world.broker.inject(Fault.REFUSE_BEFORE_SENDING, "place_bracket")
    result = _submit(world)

    assert result.status is SubmitStatus.PLACED  # the second try went through
    parent = world.order(result.order_ids[0])
    check_event(
        the_event(world.sessions, "order.not_sent"),
        "order.not_sent",
        entity_id=parent.id,
        says=[parent.client_order_id, "provably not sent", "sending it once more"],
        payload={"error": "OrderNotSent"},
        account_id=ACCOUNT,
    )


@covers("order.settling")
def test_an_order_found_at_the_broker_after_a_duplicate_id_answer_is_adopted(world: World) -> None:
    world.broker.inject(Fault.DUPLICATE_ORDER_ID, "place_bracket")
    result = _submit(world)

    settling = events_of(world.sessions, "order.settling")
    assert settling, "no order.settling event"
    order = world.order(settling[0].entity_id or 0)
    assert order.id in result.order_ids
    check_event(
        settling[0],
        "order.settling",
        entity_id=order.id,
        says=[f"AAPL {order.role.value}: the broker reports it"],
        payload={"client_order_id": order.client_order_id, "broker_order_id": order.broker_order_id},
    )


@covers("order.quantity_changed")
def test_a_quantity_the_broker_changed_is_an_event(
    engine: Engine, sessions: SessionFactory, clock: ManualClock
) -> None:
    # A thin market fills the entry in parts; the paper broker sizes the children to what is filled.
    world = build_world(engine, sessions, clock, participation=0.002)
    _parent_id, stop_id, _target_id = _submit(world).order_ids
    sent = world.order(stop_id).quantity
    for _ in range(2):
        world.track()
        world.advance(timedelta(minutes=1))

    stop = world.order(stop_id)
    changes = [e for e in events_of(world.sessions, "order.quantity_changed") if e.entity_id == stop_id]
    assert changes
    assert stop.quantity != sent
    assert [(e.payload or {})["from"] for e in changes] == [str(sent)] + [
        (e.payload or {})["to"] for e in changes[:-1]
    ]
    check_event(
        changes[-1],
        "order.quantity_changed",
        entity_id=stop_id,
        says=[
            f"AAPL stop: quantity {Decimal(str((changes[-1].payload or {})['from'])).normalize():f} -> "
            f"{stop.quantity.normalize():f} at the broker"
        ],
        payload={"to": str(stop.quantity), "client_order_id": stop.client_order_id},
    )


@covers("order.vanished")
def test_a_working_order_the_broker_no_longer_knows_is_an_event(world: World) -> None:
    result = _submit(world)
    world.track()
    stop = world.order(result.order_ids[1])
    world.paper.cancel_from_outside(ACCOUNT, BrokerOrderId(stop.broker_order_id or ""))
    with world.sessions() as session:  # the broker's books lose it (an account reset): unknown by id too
        session.execute(delete(PaperOrder).where(PaperOrder.id == int(stop.broker_order_id or 0)))
        session.commit()

    world.sync()

    check_event(
        the_event(world.sessions, "order.vanished"),
        "order.vanished",
        entity_id=stop.id,
        says=[stop.client_order_id, "no longer listed by the broker"],
        payload={"client_order_id": stop.client_order_id, "broker_order_id": stop.broker_order_id},
        severity="warning",
    )
    assert world.order(stop.id).state is OrderState.CANCELLED


@covers("order.adopted_external")
def test_an_order_placed_outside_ibflow_is_adopted_with_an_event(world: World) -> None:
    limit = str((world.price() * Decimal("0.8")).quantize(Decimal("0.01")))
    outside = outside_order(world, "tws-77", OrderSide.BUY, 3, limit)

    world.reconcile()

    [adopted] = [o for o in world.orders() if o.broker_order_id == outside]
    check_event(
        the_event(world.sessions, "order.adopted_external"),
        "order.adopted_external",
        entity_id=adopted.id,
        says=[f"({outside}, BUY 3 of {AAPL})", "never touched"],
        account_id=ACCOUNT,
    )


@covers("order.unmatched")
def test_an_order_with_our_id_but_no_row_is_an_event(world: World) -> None:
    with world.sessions() as session:
        ours = f"ibf-{installation_id(session)}-999-entry"
    limit = str((world.price() * Decimal("0.8")).quantize(Decimal("0.01")))
    outside = outside_order(world, ours, OrderSide.BUY, 2, limit)

    world.reconcile()

    event = the_event(world.sessions, "order.unmatched")
    check_event(
        event, "order.unmatched", entity_id=None, says=[f"order {outside} (BUY 2 of {AAPL})", "not adopted"]
    )
    assert [o for o in world.orders() if o.broker_order_id == outside] == []


@covers("order.expiring")
def test_an_entry_reaching_its_expiry_is_an_event_before_its_cancel(world: World) -> None:
    world.clock.set(world.clock.now())
    price = world.price()
    entry = (price * Decimal("0.985")).quantize(Decimal("0.01"))
    strategy_id = world.strategy()
    intent = world.intent(
        strategy_id,
        entry=entry,
        stop=(entry * Decimal("0.99")).quantize(Decimal("0.01")),
        target=(price * Decimal("1.02")).quantize(Decimal("0.01")),
        expires_in=timedelta(minutes=20),
    )
    parent_id = world.submit(intent).order_ids[0]
    world.advance(timedelta(minutes=20))

    assert world.expire() == [parent_id]

    parent = world.order(parent_id)
    check_event(
        the_event(world.sessions, "order.expiring"),
        "order.expiring",
        entity_id=parent_id,
        says=["AAPL entry reached its expiry", f"{parent.expires_at:%Y-%m-%d %H:%M} UTC", "with 0 of"],
        account_id=ACCOUNT,
    )
    assert parent.state is OrderState.CANCELLED
