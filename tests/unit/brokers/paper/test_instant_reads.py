"""A backtest's paper broker reads once per instant: the same answers as the bare broker, fewer reads."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.unit.brokers.paper.test_paper_brackets import AAPL, ACCOUNT, bracket, down, up

from ibflow.brokers.base import BrokerOrder, BrokerOrderStatus, OrderChange
from ibflow.brokers.paper import PaperBroker, SimulatedMarket
from ibflow.core.clock import ManualClock
from ibflow.core.ids import AccountId, BrokerOrderId
from ibflow.db.engine import SessionFactory
from ibflow.workflow.backtest.instant_reads import InstantReads


class CountingBroker(PaperBroker):
    """The paper broker, counting the account reads that reach its books."""

    reached = 0

    def live_orders(self, account_id: AccountId) -> list[BrokerOrder]:
        self.reached += 1
        return super().live_orders(account_id)


@pytest.fixture
def books(sessions: SessionFactory, clock: ManualClock, market: SimulatedMarket) -> CountingBroker:
    return CountingBroker(sessions, clock, market)


def test_reads_at_one_instant_reach_the_books_once(books: CountingBroker, clock: ManualClock) -> None:
    reads = InstantReads(books, clock)

    first = reads.live_orders(ACCOUNT)
    again = reads.live_orders(ACCOUNT)

    assert again == first == books.live_orders(ACCOUNT)
    assert books.reached == 2  # one for the two reads through the wrapper, one asked directly
    clock.advance(timedelta(minutes=1))
    reads.live_orders(ACCOUNT)
    assert books.reached == 3  # the clock moved: read anew


def test_a_write_is_seen_by_the_next_read_at_the_same_instant(
    books: CountingBroker, clock: ManualClock, market: SimulatedMarket
) -> None:
    reads = InstantReads(books, clock)
    assert reads.live_orders(ACCOUNT) == []
    now = market.path_price(AAPL, clock.now())

    placed = reads.place_bracket(
        ACCOUNT, bracket("i-1", 10, entry=down(now * 0.5), stop=down(now * 0.45), target=up(now * 2))
    )
    assert [o.broker_order_id for o in reads.live_orders(ACCOUNT)] == [p.broker_order_id for p in placed]

    parent = BrokerOrderId(placed[0].broker_order_id)
    reads.modify_order(ACCOUNT, parent, OrderChange(limit_price=up(now + 1)))  # marketable now
    assert reads.order_status(ACCOUNT, parent).status is BrokerOrderStatus.FILLED
    assert reads.positions(ACCOUNT) == books.positions(ACCOUNT)
    assert reads.account_summary(ACCOUNT) == books.account_summary(ACCOUNT)

    stop = next(o for o in reads.live_orders(ACCOUNT) if o.role is not None and o.role.value == "stop")
    reads.cancel_order(ACCOUNT, BrokerOrderId(stop.broker_order_id))
    assert reads.live_orders(ACCOUNT) == books.live_orders(ACCOUNT)
    assert stop.broker_order_id not in {
        o.broker_order_id for o in reads.live_orders(ACCOUNT) if o.status is BrokerOrderStatus.SUBMITTED
    }


def test_what_the_broker_lacks_stays_missing_and_keeps_the_answers(
    books: CountingBroker, clock: ManualClock
) -> None:
    reads = InstantReads(books, clock)
    reads.live_orders(ACCOUNT)

    assert getattr(reads, "live_orders_fresh", None) is None
    reads.live_orders(ACCOUNT)
    assert books.reached == 1
    assert reads.market is books.market  # an extra of the paper broker: reached, and nothing kept after it
    reads.live_orders(ACCOUNT)
    assert books.reached == 2
