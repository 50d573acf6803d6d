"""Review of unlisted-order settling and anonymous-execution attribution (commits a2bcd2a, 180a999).

Each test plays a sequence an adversarial review found where those rules booked a fill to the wrong order,
or took an order as ended while it still worked at the broker; each failed before the fix.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from tests.unit.trading.trading_world import AAPL, ACCOUNT, World

from ibflow.brokers.base import Execution, OrderRequest
from ibflow.core.ids import AccountId, BrokerOrderId, ClientOrderId
from ibflow.db.states import OrderSide, OrderType, TimeInForce

_MINUTE = timedelta(minutes=1)


pytestmark = pytest.mark.usefixtures("retries_on_clock")


def _grace(world: World) -> timedelta:
    return timedelta(seconds=world.risk_env.submit_unknown_grace_seconds)


def _bid(world: World, order_id: int) -> str:
    return world.order(order_id).broker_order_id or ""


def _sells_working_at_broker(world: World) -> Decimal:
    return sum(
        (
            o.remaining_quantity
            for o in world.paper.live_orders(ACCOUNT)
            if o.side is OrderSide.SELL and o.status.value in ("submitted", "pending_submit")
        ),
        Decimal(0),
    )


def _stops_working_at_broker(world: World) -> Decimal:
    """Shares the working stops would sell (a bracket's target is one-cancels-other with its stop)."""
    return sum(
        (
            o.remaining_quantity
            for o in world.paper.live_orders(ACCOUNT)
            if o.side is OrderSide.SELL
            and o.order_type is OrderType.STOP
            and o.status.value in ("submitted", "pending_submit")
        ),
        Decimal(0),
    )


def _tws_trades_carry_no_reference(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Executions of orders placed in TWS name no order reference, as IBKR's trades endpoint reports them
    (the paper broker refuses an order without one, so the test places them as ``tws-...``)."""
    read = world.broker.executions

    def executions(account_id: AccountId, since: datetime) -> list[Execution]:
        return [
            dataclasses.replace(e, client_order_id=None)
            if (e.client_order_id or "").startswith("tws-")
            else e
            for e in read(account_id, since)
        ]

    monkeypatch.setattr(world.broker, "executions", executions)


def test_an_outside_buy_is_not_booked_to_our_entry_the_broker_no_longer_lists(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An execution naming no order may be anyone's: a trade placed in TWS carries no order reference either.

    Our entry ended at the broker while ibflow was away (cancelled there: a DAY order expiring overnight
    does the same) and is neither listed nor readable (IBKR's 503). The account holder then buys the same
    stock in TWS at a price our limit allows. That execution names no order, so attribution gives it to our
    entry, the one unlisted BUY that "fits": ibflow now counts shares it never bought as its own, and will
    protect, exit and flatten them (TRADING-SAFETY: shares it did not buy are never touched).
    """
    strategy_id = world.strategy()
    price = world.price()
    entry = (price * Decimal("0.998")).quantize(Decimal("0.01"))
    intent = world.intent(
        strategy_id,
        entry=entry,
        stop=(price * Decimal("0.97")).quantize(Decimal("0.01")),
        target=(price * Decimal("1.03")).quantize(Decimal("0.01")),
    )
    result = world.submit(intent)
    entry_id = result.order_ids[0]
    ours = {_bid(world, order_id) for order_id in result.order_ids}
    for broker_order_id in ours:  # ended at the broker before anything filled; ibflow not told
        world.paper.cancel_from_outside(ACCOUNT, BrokerOrderId(broker_order_id))
    world.advance(_MINUTE)
    assert world.broker_held() == 0
    world.market.controls.forget_ended_orders(timedelta(0))
    world.broker.status_unreadable(ours)
    world.broker.anonymous_executions()
    _tws_trades_carry_no_reference(world, monkeypatch)
    world.paper.place_order(  # the account holder's own buy in TWS, at our limit
        ACCOUNT,
        OrderRequest(
            client_order_id=ClientOrderId("tws-buy-1"),
            conid=AAPL,
            side=OrderSide.BUY,
            order_type=OrderType.LIMIT,
            limit_price=entry,
            quantity=Decimal(5),
            tif=TimeInForce.DAY,
        ),
    )
    while world.price() > entry - Decimal("0.02"):  # until the path is well through the limit
        world.advance(_MINUTE)
    world.advance(_MINUTE)
    assert world.broker_held() == 5
    assert world.order(entry_id).filled_quantity == 0

    world.track()

    assert world.order(entry_id).filled_quantity == 0
    assert world.held(strategy_id) == 0
    # what the wrong booking leads to: once the children are taken as ended, the watchdog (set to close)
    # finds "ibflow's" position unprotected and sells the account holder's shares at market
    world.set_protection_action("close")
    world.advance(_grace(world))
    world.watch()
    world.advance(_MINUTE)
    world.track()
    assert world.broker_held() == 5
    assert world.broker.calls["place_order"] == 0


def test_a_listed_stops_fill_is_not_booked_to_another_brackets_unlisted_stop(world: World) -> None:
    """An execution that names no order is not proof that its order is unlisted.

    Two strategies hold brackets on one contract at the same levels. Bracket A's stop was cancelled in
    another front end and is neither listed nor readable. Bracket B's stop is listed and fills; its
    execution names no order (the paper broker's ``anonymous_executions``; at IBKR, ``ibkr/fills.py`` leaves
    it unnamed whenever two listed children fit, e.g. two stops of one level filling together).
    Attribution only looks at unlisted orders, so it gives B's fill to A's stop: A is booked flat while
    its shares are still held, and B's stop stays *settling* for ever (the watchdog waits on it).
    """
    first, second = world.strategy(name="first"), world.strategy(name="second")
    plan = world.plan("stop", quiet=timedelta(minutes=30))
    brackets = []
    for strategy_id in (first, second):
        brackets.append(world.enter(strategy_id, plan)[0].order_ids)
        world.advance(2 * _MINUTE)
        world.track()
    held = world.held(first)
    assert held > 0
    assert world.held(second) > 0
    stop_a = brackets[0][1]
    world.paper.cancel_from_outside(ACCOUNT, BrokerOrderId(_bid(world, stop_a)))
    world.broker.hide_from_live_orders({_bid(world, stop_a)})
    world.broker.status_unreadable({_bid(world, stop_a)})
    world.broker.anonymous_executions()

    world.clock.set(plan.hit_at + 10 * _MINUTE)  # B's stop fills; A's was cancelled
    world.track()

    assert world.broker_held() == held  # A's shares, still there
    assert world.order(stop_a).filled_quantity == 0
    assert world.held(first) == held
    # A's stop really is gone (and the price crossed it): once the grace shows it ended, the watchdog
    # protects A's shares again, or sells them; never a short, never A booked flat while they are held.
    for _ in range(4):
        world.advance(_grace(world))
        world.watch()
    assert world.order(stop_a).filled_quantity == 0
    assert world.broker_held() >= 0
    assert world.broker_held() == 0 or _stops_working_at_broker(world) >= world.broker_held()


def test_a_stop_still_working_is_not_replaced_because_its_status_read_failed_for_the_grace(
    world: World,
) -> None:
    """A 503 is "cannot say", not "gone": a stop still working is taken as ended and a second stop sent.

    The live-orders answer misses a working stop (IBKR's filtered or after-hours answers, a brokerage
    session that is not up) and its status read answers 503 for two minutes (the same session trouble).
    After the grace it is moved to cancelled in our books without any cancel sent to the broker; the
    watchdog replaces it (``sellable_at_broker`` reads the same live orders), and once the stop is listed
    again our row stays cancelled. Both stops work at the broker; when the price falls both sell.
    """
    world.set_protection_action("replace")
    strategy_id = world.strategy()
    plan = world.plan("stop", quiet=timedelta(minutes=30))
    result, _intent = world.enter(strategy_id, plan)
    world.advance(2 * _MINUTE)
    world.track()
    held = world.held(strategy_id)
    assert held > 0
    stop_id = result.order_ids[1]
    world.broker.hide_from_live_orders({_bid(world, stop_id)})
    world.broker.status_unreadable({_bid(world, stop_id)})

    for _ in range(4):  # two minutes of a gateway that neither lists the stop nor reads it
        world.watch()
        world.advance(timedelta(seconds=40))
    world.broker.hide_from_live_orders(set())
    world.broker.status_unreadable(set())
    world.watch()

    assert _stops_working_at_broker(world) <= world.broker_held()  # no second stop beside the first
    world.clock.set(plan.hit_at + 10 * _MINUTE)
    world.track()
    assert world.broker_held() >= 0, "the account went short"


def test_downtime_does_not_count_as_the_grace_of_an_unreadable_stop(world: World) -> None:
    """The grace is measured from ``unlisted_since`` to now, so time ibflow was not looking counts too.

    One cycle misses the stop and cannot read it (``unlisted_since`` is set); ibflow then stops (crash,
    deploy) for an hour while the stop keeps working. Right after a gateway restart IBKR's first answers
    are the same: no orders listed yet, status 503. The first cycle after the restart takes the stop as
    ended at once, on a single unretried read, and the watchdog sends a second stop: the "one bad read"
    the grace was meant to absorb (test_lagging_broker). Both stops sell when the price falls: short.
    """
    world.set_protection_action("replace")
    strategy_id = world.strategy()
    plan = world.plan("stop", quiet=timedelta(hours=2))
    result, _intent = world.enter(strategy_id, plan)
    world.advance(2 * _MINUTE)
    world.track()
    assert world.held(strategy_id) > 0
    stop_id = result.order_ids[1]
    stop_bid = _bid(world, stop_id)
    world.broker.hide_from_live_orders({stop_bid})
    world.broker.status_unreadable({stop_bid})
    world.track()  # one bad read, then ibflow is down
    assert world.order(stop_id).unlisted_since is not None

    world.advance(timedelta(hours=1))  # the stop works at the broker all along; nobody looks
    world.watch()  # the first cycle after the restart, on a gateway still coming up
    world.broker.hide_from_live_orders(set())
    world.broker.status_unreadable(set())  # the session is up: the stop is listed, working

    assert _stops_working_at_broker(world) <= world.broker_held()  # no second stop beside the first
    world.clock.set(plan.hit_at + 10 * _MINUTE)
    world.track()
    assert world.broker_held() >= 0, "the account went short"
