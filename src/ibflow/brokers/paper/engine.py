"""Replay one order group (a single order, or a bracket) over a window of the price path, in time order.

Groups never affect each other, so each is replayed on its own. Inside a bracket the events interleave:
the parent's fills activate the children and size them, a child's fill reduces its sibling, and a child
that closes the whole position cancels its sibling (only the two children form the one-cancels-other
group) and the parent's working remainder. Each step takes the earliest event of the group: a fill, a stop
triggering, or an order ending (DAY expiry, or a cancel taking effect). Pure: no books, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import IntEnum

from ibflow.brokers.paper.matching.fills import FillPoint, Match, OrderTerms, Piece, find_fill
from ibflow.core.money import ZERO
from ibflow.db.models.paper import PaperLeg, PaperOrderStatus

_Status = PaperOrderStatus
_CHILDREN = (PaperLeg.STOP, PaperLeg.TARGET)


@dataclass
class SimOrder:
    """An order's matching state during one evaluation."""

    key: int
    leg: PaperLeg | None
    terms: OrderTerms
    quantity: Decimal
    filled: Decimal
    status: PaperOrderStatus
    active_from: datetime | None
    triggered_at: datetime | None = None
    last_fill_minute: int | None = None
    expires_at: datetime | None = None
    cancel_at: datetime | None = None
    ended_at: datetime | None = None
    reason: str = ""
    fills: list[FillPoint] = field(default_factory=list)

    @property
    def remaining(self) -> Decimal:
        """Return what may still fill."""
        return self.quantity - self.filled

    @property
    def stops_at(self) -> datetime | None:
        """Return when the order stops working (expiry or cancel), if it does."""
        times = [t for t in (self.expires_at, self.cancel_at) if t is not None]
        return min(times) if times else None

    def end(self, at: datetime, status: PaperOrderStatus, reason: str) -> None:
        """End the order at ``at``."""
        self.status, self.ended_at, self.reason = status, at, reason


class _Kind(IntEnum):
    FILL = 0
    TRIGGER = 1
    END = 2


@dataclass(frozen=True)
class _Event:
    at: datetime
    kind: _Kind
    rank: int
    order: SimOrder
    match: Match | None = None


class _Group:
    def __init__(
        self, orders: list[SimOrder], *, resize_children: bool = True, one_cancels_other: bool = True
    ) -> None:
        self.resize_children = resize_children
        self.one_cancels_other = one_cancels_other
        order_of = {None: 0, PaperLeg.PARENT: 0, PaperLeg.STOP: 1, PaperLeg.TARGET: 2}
        self.orders = sorted(orders, key=lambda o: order_of[o.leg])
        self.parent = next((o for o in orders if o.leg is PaperLeg.PARENT), None)
        self.children = [o for o in orders if o.leg in _CHILDREN]

    def next_event(self, pieces: list[Piece], start: datetime, end: datetime) -> _Event | None:
        events = []
        for rank, order in enumerate(self.orders):
            if not order.status.is_open:
                continue
            stops_at = order.stops_at
            if stops_at is not None and stops_at <= end:
                events.append(_Event(stops_at, _Kind.END, rank, order))
            event = self._match(order, rank, pieces, start, end)
            if event is not None:
                events.append(event)
        return min(events, key=lambda e: (e.at, e.kind, e.rank), default=None)

    def _match(
        self, order: SimOrder, rank: int, pieces: list[Piece], start: datetime, end: datetime
    ) -> _Event | None:
        if order.active_from is None or order.remaining <= 0:
            return None
        stops_at = order.stops_at
        low = max(start, order.active_from, order.triggered_at or order.active_from)
        if order.last_fill_minute is not None:  # at most one fill a minute: skip to the next one
            low = max(low, datetime.fromtimestamp((order.last_fill_minute + 1) * 60, UTC))
        high = end if stops_at is None else min(end, stops_at)
        if low > high:
            return None
        match = find_fill(
            order.terms,
            pieces,
            low,
            high,
            triggered=order.triggered_at is not None,
            after_minute=order.last_fill_minute,
            max_quantity=int(order.remaining),
        )
        if match.fill is not None and (stops_at is None or match.fill.at < stops_at):
            return _Event(match.fill.at, _Kind.FILL, rank, order, match)
        if match.triggered_at is not None and (stops_at is None or match.triggered_at < stops_at):
            return _Event(match.triggered_at, _Kind.TRIGGER, rank, order, match)
        return None

    def apply(self, event: _Event) -> None:
        order, match = event.order, event.match
        if event.kind is _Kind.END:
            self._end(order, event.at)
            return
        if match is None:
            raise AssertionError("a fill or trigger event without its match")
        if order.triggered_at is None:
            order.triggered_at = match.triggered_at
        if event.kind is _Kind.FILL and match.fill is not None:
            self._fill(order, match.fill)

    def _fill(self, order: SimOrder, fill: FillPoint) -> None:
        order.filled += fill.quantity
        order.last_fill_minute = fill.minute
        order.fills.append(fill)
        if order.leg is PaperLeg.PARENT:
            for child in self.children:
                if child.status is _Status.INACTIVE:
                    child.status, child.active_from = _Status.WORKING, fill.at
        self._resize_children()
        if order.remaining <= 0:
            order.end(fill.at, _Status.FILLED, "")
            if order.leg in _CHILDREN and self.one_cancels_other:
                self._close_bracket(order, fill.at)

    def _resize_children(self) -> None:
        if not self.resize_children or self.parent is None or self.parent.filled <= 0:
            return
        held = self.parent.filled - sum((c.filled for c in self.children), ZERO)
        for child in self.children:
            if child.status.is_open:
                child.quantity = child.filled + held

    def _close_bracket(self, filled_child: SimOrder, at: datetime) -> None:
        reason = f"one-cancels-other: the {filled_child.leg} child filled"
        for child in self.children:
            if child is not filled_child and child.status.is_open:
                child.end(at, _Status.CANCELLED, reason)
        if self.parent is not None and self.parent.status.is_open:
            self.parent.end(at, _Status.CANCELLED, f"bracket closed: the {filled_child.leg} child filled")

    def _end(self, order: SimOrder, at: datetime) -> None:
        cancelled = order.cancel_at is not None and (
            order.expires_at is None or order.cancel_at <= order.expires_at
        )
        if cancelled:
            order.end(at, _Status.CANCELLED, "cancelled on request")
        else:
            order.end(at, _Status.EXPIRED, "DAY order expired at the end of the trading day")
        if order is self.parent and order.filled <= 0:
            for child in self.children:
                if child.status.is_open:
                    child.end(at, _Status.CANCELLED, "the parent ended without a fill")


def replay(
    orders: list[SimOrder],
    pieces: list[Piece],
    start: datetime,
    end: datetime,
    *,
    resize_children: bool = True,
    one_cancels_other: bool = True,
) -> None:
    """Replay one order group over ``[start, end]`` of ``pieces``, updating the orders in place.

    ``resize_children`` off plays a broker that leaves a bracket's children at the parent's full quantity
    (ibflow must then resize them itself); on, the children always cover what the parent filled.
    ``one_cancels_other`` off plays a broker that leaves the other child working when one filled whole.
    """
    group = _Group(orders, resize_children=resize_children, one_cancels_other=one_cancels_other)
    while (event := group.next_event(pieces, start, end)) is not None:
        group.apply(event)
