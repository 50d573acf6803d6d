"""Matching on a hand-made path: where each order type triggers and fills, and how brackets interleave.

The path (one price per minute, linear in between):  minute 0..10 ->
100, 101, 102, 101, 99, 98, 100, 103, 103, 102, 101; at most 50 shares an order fills each minute.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest

from ibflow.brokers.paper.engine import SimOrder, replay
from ibflow.brokers.paper.matching.fills import FillPoint, OrderTerms, Piece, find_fill, to_tick
from ibflow.db.models.paper import PaperLeg, PaperOrderStatus
from ibflow.db.states import OrderSide, OrderType

ORIGIN = datetime(2026, 3, 4, 5, 0, tzinfo=UTC)
MINUTE0 = int(ORIGIN.timestamp()) // 60
TICK = Decimal("0.01")
PRICES = np.array([100, 101, 102, 101, 99, 98, 100, 103, 103, 102, 101], dtype=np.float64)
BUY, SELL = OrderSide.BUY, OrderSide.SELL
MKT, LMT, STP, STP_LMT = OrderType.MARKET, OrderType.LIMIT, OrderType.STOP, OrderType.STOP_LIMIT


def piece(start: float = 0.0, end: float = 600.0, *, liquid: bool = True, cap: int = 50) -> Piece:
    caps = np.full(len(PRICES) - 1, cap, dtype=np.int64)
    return Piece(ORIGIN, MINUTE0, PRICES, caps, start, end, liquid)


def at(seconds: float) -> datetime:
    return ORIGIN + timedelta(seconds=seconds)


def terms(side: OrderSide, kind: OrderType, limit: str | None = None, stop: str | None = None) -> OrderTerms:
    return OrderTerms(side, kind, Decimal(limit) if limit else None, Decimal(stop) if stop else None, TICK)


def search(
    order: OrderTerms,
    start: float = 0.0,
    end: float = 600.0,
    *,
    quantity: int = 10,
    after_minute: int | None = None,
    pieces: list[Piece] | None = None,
    triggered: bool = False,
) -> tuple[datetime | None, FillPoint | None]:
    found = find_fill(
        order,
        pieces if pieces is not None else [piece()],
        at(start),
        at(end),
        triggered=triggered,
        after_minute=after_minute,
        max_quantity=quantity,
    )
    return found.triggered_at, found.fill


def test_a_market_order_fills_at_once_at_the_path_price() -> None:
    _, fill = search(terms(BUY, MKT), start=30)
    assert fill == FillPoint(at(30), MINUTE0, Decimal("100.50"), 10)


def test_a_marketable_limit_fills_at_the_current_price_not_at_its_limit() -> None:
    _, fill = search(terms(BUY, LMT, limit="105.00"))
    assert fill is not None
    assert (fill.at, fill.price) == (at(0), Decimal("100.00"))


def test_a_limit_fills_at_the_limit_the_moment_the_path_crosses_it() -> None:
    _, fill = search(terms(BUY, LMT, limit="99.50"))
    assert fill == FillPoint(at(225), MINUTE0 + 3, Decimal("99.50"), 10)  # 101 -> 99 in minute 3
    _, fill = search(terms(SELL, LMT, limit="102.50"), start=130)
    assert fill == FillPoint(at(410), MINUTE0 + 6, Decimal("102.50"), 10)  # 100 -> 103 in minute 6


def test_a_limit_the_path_never_reaches_does_not_fill() -> None:
    assert search(terms(BUY, LMT, limit="97.99")) == (None, None)
    assert search(terms(SELL, LMT, limit="103.01")) == (None, None)
    assert search(terms(BUY, LMT, limit="99.50"), end=200) == (None, None)  # not within the window


def test_a_stop_triggers_when_the_path_crosses_it_and_fills_there() -> None:
    triggered, fill = search(terms(BUY, STP, stop="102.50"), start=130)
    assert triggered == at(410)
    assert fill == FillPoint(at(410), MINUTE0 + 6, Decimal("102.50"), 10)
    triggered, fill = search(terms(SELL, STP, stop="99.00"))
    assert triggered == at(240)
    assert fill is not None
    assert fill.price == Decimal("99.00")


def test_a_stop_already_beyond_its_price_triggers_at_once_at_the_current_price() -> None:
    triggered, fill = search(terms(SELL, STP, stop="99.00"), start=300)  # price 98 there: a gap
    assert triggered == at(300)
    assert fill is not None
    assert fill.price == Decimal("98.00")


def test_a_stop_limit_works_as_a_limit_once_triggered() -> None:
    triggered, fill = search(terms(SELL, STP_LMT, limit="99.50", stop="99.00"))
    assert triggered == at(240)
    assert fill == FillPoint(at(345), MINUTE0 + 5, Decimal("99.50"), 10)  # back up through 99.50


def test_an_order_fills_at_most_the_cap_once_a_minute() -> None:
    _, first = search(terms(BUY, MKT), quantity=120)
    assert first is not None
    assert (first.quantity, first.minute) == (50, MINUTE0)
    _, second = search(terms(BUY, MKT), start=20, quantity=70, after_minute=first.minute)
    assert second == FillPoint(at(60), MINUTE0 + 1, Decimal("101.00"), 50)


def test_without_liquidity_a_stop_triggers_but_does_not_fill() -> None:
    triggered, fill = search(terms(SELL, STP, stop="99.00"), pieces=[piece(liquid=False)])
    assert (triggered, fill) == (at(240), None)
    _, later = search(
        terms(SELL, STP, stop="99.00"), start=240, pieces=[piece(0, 330, liquid=False), piece(330, 600)]
    )
    assert later is not None
    assert (later.at, later.price) == (at(330), Decimal("99.00"))  # when liquidity returns


def test_a_moment_is_a_window_too() -> None:
    _, fill = search(terms(BUY, MKT), start=90, end=90)
    assert fill is not None
    assert (fill.at, fill.price) == (at(90), Decimal("101.50"))


def test_tick_rounding_is_monotone_and_never_zero() -> None:
    assert to_tick(100.004999, TICK) == Decimal("100.00")
    assert to_tick(100.005001, TICK) == Decimal("100.01")
    assert to_tick(0.0001, TICK) == TICK
    values = sorted(np.random.default_rng(1).uniform(1, 500, 2000).tolist())
    rounded = [to_tick(v, TICK) for v in values]
    assert rounded == sorted(rounded)


def bracket(parent_limit: str, stop: str, target: str, quantity: int = 120) -> list[SimOrder]:
    size = Decimal(quantity)
    parent = SimOrder(
        1,
        PaperLeg.PARENT,
        terms(BUY, LMT, limit=parent_limit),
        size,
        Decimal(0),
        PaperOrderStatus.WORKING,
        active_from=ORIGIN,
    )
    stop_leg = SimOrder(
        2,
        PaperLeg.STOP,
        terms(SELL, STP, stop=stop),
        size,
        Decimal(0),
        PaperOrderStatus.INACTIVE,
        active_from=None,
    )
    target_leg = SimOrder(
        3,
        PaperLeg.TARGET,
        terms(SELL, LMT, limit=target),
        size,
        Decimal(0),
        PaperOrderStatus.INACTIVE,
        active_from=None,
    )
    return [parent, stop_leg, target_leg]


def fills(order: SimOrder) -> list[tuple[float, str, int]]:
    return [((f.at - ORIGIN).total_seconds(), str(f.price), f.quantity) for f in order.fills]


def test_bracket_children_wait_for_the_parent_then_a_stop_fill_cancels_the_target() -> None:
    parent, stop, target = bracket("100.50", stop="98.50", target="102.50")
    replay([parent, stop, target], [piece()], ORIGIN, at(600))
    assert fills(parent) == [(0, "100.00", 50), (195, "100.50", 50), (240, "99.00", 20)]
    assert stop.active_from == at(0)  # activated by the parent's first fill
    # the stop sells what is held at each moment: 50 of 120 at the crossing, then the rest
    assert fills(stop) == [(270, "98.50", 50), (300, "98.00", 50), (360, "100.00", 20)]
    assert stop.status is PaperOrderStatus.FILLED
    assert target.fills == []
    assert (target.status, target.ended_at) == (PaperOrderStatus.CANCELLED, at(360))
    assert "one-cancels-other" in target.reason
    assert parent.status is PaperOrderStatus.FILLED


def test_a_partial_child_fill_reduces_its_sibling() -> None:
    parent, stop, target = bracket("100.50", stop="98.50", target="102.50")
    replay([parent, stop, target], [piece()], ORIGIN, at(299))
    assert fills(stop) == [(270, "98.50", 50)]
    assert parent.filled == 120
    assert (stop.quantity, target.quantity) == (120, 70)  # the target covers what is still held
    assert target.status is PaperOrderStatus.WORKING


def test_a_target_fill_cancels_the_stop() -> None:
    parent, stop, target = bracket("100.00", stop="97.00", target="101.50", quantity=40)
    replay([parent, stop, target], [piece()], ORIGIN, at(600))
    assert fills(parent) == [(0, "100.00", 40)]
    assert fills(target) == [(90, "101.50", 40)]
    assert stop.status is PaperOrderStatus.CANCELLED
    assert stop.fills == []


def test_a_parent_that_expires_unfilled_takes_its_children_along() -> None:
    parent, stop, target = bracket("95.00", stop="90.00", target="110.00")
    parent.expires_at = at(300)
    replay([parent, stop, target], [piece()], ORIGIN, at(600))
    assert (parent.status, parent.ended_at) == (PaperOrderStatus.EXPIRED, at(300))
    assert [stop.status, target.status] == [PaperOrderStatus.CANCELLED] * 2


def test_a_partly_filled_parent_that_ends_leaves_children_sized_to_its_fills() -> None:
    parent, stop, target = bracket("100.00", stop="90.00", target="110.00")
    parent.cancel_at = at(30)
    replay([parent, stop, target], [piece()], ORIGIN, at(600))
    assert parent.filled == 50
    assert parent.status is PaperOrderStatus.CANCELLED
    assert (stop.quantity, target.quantity) == (50, 50)
    assert [stop.status, target.status] == [PaperOrderStatus.WORKING] * 2


def test_splitting_the_window_changes_nothing() -> None:
    whole = bracket("100.50", stop="98.50", target="102.50")
    replay(whole, [piece()], ORIGIN, at(600))
    split = bracket("100.50", stop="98.50", target="102.50")
    cuts = [0, 17.5, 60, 61, 195, 196, 250, 270, 271, 333, 600]
    for a, b in itertools.pairwise(cuts):
        replay(split, [piece(a, b)], at(a), at(b))
    assert [fills(o) for o in whole] == [fills(o) for o in split]
    assert [o.status for o in whole] == [o.status for o in split]


@pytest.mark.parametrize("kind", [STP, STP_LMT])
def test_a_stop_without_a_stop_price_is_a_programming_error(kind: OrderType) -> None:
    with pytest.raises(ValueError, match="stop price"):
        search(terms(SELL, kind, limit="99.00"))
