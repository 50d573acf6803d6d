"""Exits never sell more than is held, never leave a short, and obey the kill switch."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import Engine, select
from tests.unit.trading.trading_world import ACCOUNT, Plan, World, build_world

from ibflow.brokers.paper.faults import FaultyBroker
from ibflow.core.clock import ManualClock
from ibflow.core.ids import AccountId, BrokerOrderId
from ibflow.db.engine import SessionFactory
from ibflow.db.models import AuditLog
from ibflow.db.states import OrderRole, OrderState, TradingStateValue
from ibflow.trading.lifecycle.submission import SubmitStatus
from ibflow.trading.positions.exits import ExitStatus
from ibflow.trading.risk.checks import RiskReason
from ibflow.trading.risk.kill_switch import set_state

_MINUTE = timedelta(minutes=1)


class _SlowCancels(FaultyBroker):
    """A broker whose first cancel reaches the exchange only at ``arrives`` (the clock moves there)."""

    def __init__(self, world: World, arrives: datetime) -> None:
        super().__init__(world.paper)
        self.clock = world.clock
        self.arrives: datetime | None = arrives

    def cancel_order(self, account_id: AccountId, broker_order_id: BrokerOrderId) -> None:
        if self.arrives is not None and self.clock.now() < self.arrives:
            self.clock.set(self.arrives)
        self.arrives = None
        super().cancel_order(account_id, broker_order_id)


def _open_position(world: World, first: str = "stop") -> tuple[int, tuple[int, ...], Plan]:
    strategy_id = world.strategy()
    levels = world.plan(first, quiet=timedelta(minutes=10))  # type: ignore[arg-type]
    result, _intent = world.enter(strategy_id, levels)
    assert result.status is SubmitStatus.PLACED
    world.track()
    assert world.held(strategy_id) > 0
    return strategy_id, result.order_ids, levels


def _set_trading(world: World, value: TradingStateValue) -> None:
    with world.sessions() as session:
        set_state(
            session, value=value, actor="trader-1", reason="test", at=world.clock.now(), actor_is_admin=True
        )
        session.commit()


def test_a_sell_while_the_stop_rests_sells_exactly_what_is_held(world: World) -> None:
    strategy_id, order_ids, _hit = _open_position(world)
    held = world.held(strategy_id)

    result = world.exit(strategy_id)

    assert result.status is ExitStatus.SENT
    assert result.quantity == held
    _parent, stop, target = (world.order(order_id) for order_id in order_ids)
    assert (stop.state, target.state) == (OrderState.CANCELLED, OrderState.CANCELLED)
    exit_order = world.order(result.order_id or 0)
    assert (exit_order.role, exit_order.reduce_only, exit_order.quantity) == (OrderRole.EXIT, True, held)
    assert exit_order.client_order_id.split("-")[2:] == ["signal", str(result.position_id), "1"]
    world.advance(_MINUTE)
    world.track()
    assert world.held(strategy_id) == 0 == world.broker_held()
    assert [t.exit_reason for t in world.trades()] == ["signal"]


def test_a_stop_filling_during_the_cancel_shrinks_the_exit_to_what_remains(
    engine: Engine, sessions: SessionFactory, clock: ManualClock
) -> None:
    world = build_world(engine, sessions, clock, participation=0.002)  # the stop fills ~20 shares a minute
    strategy_id, order_ids, plan = _open_position(world)
    for _ in range(5):  # let the entry fill completely
        world.advance(_MINUTE)
        world.track()
    held = world.held(strategy_id)
    assert world.order(order_ids[0]).state is OrderState.FILLED
    # The cancel travels while the price crosses the stop: the stop fills part before it is cancelled.
    world.broker = _SlowCancels(world, plan.touched_at + _MINUTE)

    result = world.exit(strategy_id)

    _parent, stop, _target = (world.order(order_id) for order_id in order_ids)
    assert 0 < stop.filled_quantity < held
    assert stop.state is OrderState.CANCELLED
    assert result.status is ExitStatus.SENT
    assert result.quantity == held - stop.filled_quantity
    for _ in range(10):
        world.advance(_MINUTE)
        world.track()
        assert world.held(strategy_id) >= 0
        assert world.broker_held() >= 0
    assert world.held(strategy_id) == 0 == world.broker_held()


def test_a_stop_filling_completely_during_the_cancel_leaves_nothing_to_sell(world: World) -> None:
    strategy_id, _order_ids, plan = _open_position(world)
    world.broker = _SlowCancels(world, plan.hit_at + 5 * _MINUTE)

    result = world.exit(strategy_id)

    assert result.status is ExitStatus.CLOSED_MEANWHILE
    assert result.order_id is None
    assert world.orders(OrderRole.EXIT) == []
    assert world.held(strategy_id) == 0 == world.broker_held()


def test_a_sell_with_no_position_places_nothing(world: World) -> None:
    strategy_id = world.strategy()

    result = world.exit(strategy_id)

    assert result.status is ExitStatus.NO_POSITION
    assert world.orders() == []
    assert world.broker.calls["place_order"] == world.broker.calls["cancel_order"] == 0


def test_halted_blocks_entries_and_signal_exits_but_flatten_closes_everything(world: World) -> None:
    strategy_id, _order_ids, _hit = _open_position(world)
    other = world.strategy(name="msft", conid=272093, symbol="MSFT")
    msft_plan = world.plan("target", conid=272093)
    _set_trading(world, TradingStateValue.HALTED)

    entry = world.submit(
        world.intent(
            other,
            entry=msft_plan.entry,
            stop=msft_plan.stop,
            target=msft_plan.target,
            conid=272093,
            symbol="MSFT",
        )
    )
    sell = world.exit(strategy_id)

    assert (entry.status, entry.reason) == (SubmitStatus.BLOCKED, RiskReason.TRADING_HALTED.value)
    assert sell.status is ExitStatus.BLOCKED
    assert world.orders(OrderRole.EXIT) == []
    assert world.broker.calls["cancel_order"] == 0  # a blocked exit does not even cancel the protection

    flattened = world.flatten()

    assert [e.status for e in flattened.exits] == [ExitStatus.SENT]
    assert {o.state for o in world.orders() if o.role != OrderRole.EXIT} <= {
        OrderState.FILLED,
        OrderState.CANCELLED,
    }
    world.advance(_MINUTE)
    world.track()
    assert world.held(strategy_id) == 0 == world.broker_held()
    assert [t.exit_reason for t in world.trades()] == ["flatten"]


def test_flatten_is_audited_with_who_and_why(world: World) -> None:
    _open_position(world)
    world.flatten(actor="alice", reason="closing for the weekend")
    with world.sessions() as session:
        rows = [
            (a.actor, a.action, a.target_id, a.detail)
            for a in session.scalars(select(AuditLog).where(AuditLog.action == "trading.flatten"))
        ]
    assert rows == [("alice", "trading.flatten", ACCOUNT, "closing for the weekend")]


def test_reducing_allows_only_orders_that_reduce_exposure(world: World) -> None:
    strategy_id, _order_ids, _hit = _open_position(world)
    _set_trading(world, TradingStateValue.REDUCING)
    other = world.strategy(name="msft", conid=272093, symbol="MSFT")
    msft = world.plan("target", conid=272093)

    entry = world.submit(
        world.intent(other, entry=msft.entry, stop=msft.stop, target=msft.target, conid=272093, symbol="MSFT")
    )
    sell = world.exit(strategy_id)

    assert (entry.status, entry.reason) == (SubmitStatus.BLOCKED, RiskReason.TRADING_REDUCING.value)
    assert sell.status is ExitStatus.SENT
    assert sell.quantity == world.order(sell.order_id or 0).quantity
    world.advance(_MINUTE)
    world.track()
    assert world.held(strategy_id) == 0 == world.broker_held()


def test_flatten_leaves_orders_ibflow_did_not_send_alone(world: World) -> None:
    strategy_id, _order_ids, _hit = _open_position(world)
    from ibflow.brokers.base import OrderRequest
    from ibflow.core.ids import ClientOrderId, Conid
    from ibflow.db.states import OrderSide, OrderType, TimeInForce

    price = world.price(272093)
    outside = world.paper.place_order(
        ACCOUNT,
        OrderRequest(
            client_order_id=ClientOrderId("tws-12345"),
            conid=Conid(272093),
            side=OrderSide.BUY,
            order_type=OrderType.LIMIT,
            quantity=Decimal(5),
            tif=TimeInForce.GTC,
            limit_price=(price * Decimal("0.8")).quantize(Decimal("0.01")),
        ),
    )
    world.reconcile()

    world.flatten()

    assert world.broker_order(outside.broker_order_id).status.value == "submitted"
    adopted = [o for o in world.orders() if o.broker_order_id == outside.broker_order_id]
    assert [(o.origin.value, o.state) for o in adopted] == [("external", OrderState.WORKING)]
    world.advance(_MINUTE)
    world.track()
    assert world.held(strategy_id) == 0
