"""Two real processes share the paper broker's books and never double-fill.

Both start at a barrier and evaluate in tight loops for 10 seconds (longer if one has not yet looked 20
times) on the same database, over 60 resting orders, with a clock running 3,600 times faster than the wall
clock (so 10 hours or more of simulated market go by). Afterwards: no order has more fills than its
quantity, cash is the start minus the value and the commissions of every fill, and the fills are exactly
those a single evaluation over the same stretch of time produces.
"""

from __future__ import annotations

import multiprocessing
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ibflow.brokers.base import OrderRequest
from ibflow.brokers.paper import PaperBroker, SimulatedMarket
from ibflow.core.clock import ManualClock
from ibflow.core.ids import AccountId, ClientOrderId, Conid
from ibflow.core.money import ZERO
from ibflow.db.base import Base
from ibflow.db.engine import make_engine, session_factory
from ibflow.db.models import PaperAccount, PaperFill, PaperOrder
from ibflow.db.states import OrderSide, OrderType, TimeInForce

pytestmark = pytest.mark.integration

ACCOUNT = AccountId("PAPER-1")
START = datetime(2026, 3, 4, 17, 0, tzinfo=UTC)
SPEED = 3600.0
SECONDS = 10.0
LOOKS = 20
"""Each process looks at least this many times: past ``SECONDS`` both go on until each has (SQLite's lock
is not fair: under load one process once got 13 looks in 10 s while the other got 605), for at most
``MAX_SECONDS``."""
MAX_SECONDS = 60.0
SEED = 11
CASH = Decimal(10_000_000)
CONIDS = [Conid(c) for c in (265598, 756733, 76792991, 4815747, 272093, 2100000014)]


class WallClock:
    """Simulated time running ``SPEED`` times faster than the wall clock from a shared wall start.

    The start is a shared ``multiprocessing.Value``: 0 until the first process past the barrier sets it.
    """

    def __init__(self, wall_start: Any) -> None:
        self._wall_start = wall_start

    def now(self) -> datetime:
        return START + timedelta(seconds=(time.time() - self._wall_start.value) * SPEED)


def resting_orders(market: SimulatedMarket) -> list[OrderRequest]:
    """Ten buys per symbol: limits below, stops and stop-limits above, and one large market order."""
    orders = []
    for conid in CONIDS:
        price = market.price(conid, START)
        for k in range(1, 5):
            below = (price * (1 - Decimal("0.002") * k)).quantize(Decimal("0.01"))
            above = (price * (1 + Decimal("0.002") * k)).quantize(Decimal("0.01"))
            orders.append((conid, OrderType.LIMIT, 3000 * k, below, None))
            orders.append((conid, OrderType.STOP, 2000 * k, None, above))
        orders.append((conid, OrderType.STOP_LIMIT, 5000, price * 2, price + Decimal("0.25")))
        orders.append((conid, OrderType.MARKET, 40_000, None, None))
    return [
        OrderRequest(
            ClientOrderId(f"race-{n}"), conid, OrderSide.BUY, kind, Decimal(qty), TimeInForce.GTC, limit, stop
        )
        for n, (conid, kind, qty, limit, stop) in enumerate(orders)
    ]


def evaluate_in_a_loop(url: str, me: int, shared: tuple[Any, Any, Any, Any]) -> None:
    """Process ``me`` of two: look at the books in a loop; ``shared`` is (wall start, looks of each,
    barrier, results queue)."""
    wall_start, counts, barrier, results = shared
    engine = make_engine(url)
    broker = PaperBroker(session_factory(engine), WallClock(wall_start), SimulatedMarket(seed=SEED))
    barrier.wait()
    with wall_start.get_lock():  # the market starts moving once both processes have started
        if not wall_start.value:
            wall_start.value = time.time()
    began = time.time()
    looks = 0
    calls = (broker.live_orders, broker.positions, broker.account_summary)
    while (elapsed := time.time() - began) < SECONDS or (min(counts) < LOOKS and elapsed < MAX_SECONDS):
        calls[looks % len(calls)](ACCOUNT)
        looks += 1
        counts[me] = looks
    engine.dispose()
    results.put(looks)


def books(url: str) -> tuple[PaperAccount, list[PaperOrder], list[PaperFill]]:
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            account = session.scalars(select(PaperAccount)).one()
            orders = list(session.scalars(select(PaperOrder).order_by(PaperOrder.id)))
            fills = list(session.scalars(select(PaperFill).order_by(PaperFill.id)))
            return account, orders, fills
    finally:
        engine.dispose()


def test_two_processes_evaluating_at_once_never_double_fill(any_migrated_db_url: str, tmp_path: Path) -> None:
    engine = make_engine(any_migrated_db_url)
    placing = PaperBroker(
        session_factory(engine), ManualClock(START), SimulatedMarket(seed=SEED), starting_cash=CASH
    )
    requests = resting_orders(placing.market)
    assert len(requests) >= 50
    for request in requests:
        placing.place_order(ACCOUNT, request)
    engine.dispose()

    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    # Set when both have started: starting a process can take seconds on a busy machine, and a fixed head
    # start made the first look catch up on hours of market while the other waited on the lock.
    wall_start = ctx.Value("d", 0.0)
    counts = ctx.Array("i", 2)
    workers = [
        ctx.Process(
            target=evaluate_in_a_loop, args=(any_migrated_db_url, me, (wall_start, counts, barrier, results))
        )
        for me in range(2)
    ]
    for worker in workers:
        worker.start()
    looks = [results.get(timeout=MAX_SECONDS + 120) for _ in workers]
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    assert min(looks) >= LOOKS, f"both processes must really have raced, looked {looks} times"

    account, orders, fills = books(any_migrated_db_url)
    assert len(fills) > 100
    by_order: dict[int, Decimal] = {}
    for fill in fills:
        by_order[fill.order_id] = by_order.get(fill.order_id, ZERO) + fill.quantity
    for order in orders:
        assert by_order.get(order.id, ZERO) <= order.quantity
        assert by_order.get(order.id, ZERO) == order.filled_quantity
    spent = sum((f.quantity * f.price + f.commission for f in fills), ZERO)
    assert account.cash == CASH - spent
    assert any(o.filled_quantity < o.quantity for o in orders if o.filled_quantity > 0) or len(fills) > len(
        orders
    )

    # the same orders evaluated once, in one process, over the same stretch of time
    single_url = f"sqlite:///{tmp_path / 'single.db'}"
    single_engine = make_engine(single_url)
    Base.metadata.create_all(single_engine)
    single_clock = ManualClock(START)
    single = PaperBroker(
        session_factory(single_engine), single_clock, SimulatedMarket(seed=SEED), starting_cash=CASH
    )
    for request in requests:
        single.place_order(ACCOUNT, request)
    single_clock.set(account.evaluated_until)
    single.live_orders(ACCOUNT)
    single_engine.dispose()
    _, _, expected = books(single_url)
    assert [(f.broker_exec_id, f.executed_at, f.price, f.quantity, f.commission) for f in fills] == [
        (f.broker_exec_id, f.executed_at, f.price, f.quantity, f.commission) for f in expected
    ]
