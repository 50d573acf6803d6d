"""Find where one order triggers and fills on a stretch of the price path; pure, no books.

The path is linear between the points of its 1-minute grid, so inside a minute the price moves straight
from one grid value to the next: whether and when a price level is reached is exact. Rules:

- A market order (or a stop once triggered) fills at the first moment it may, at the path's price then.
- A limit fills at the first moment the path is at the limit or better: at the path's price when it already
  is (a marketable limit), else at the limit itself, the moment the path crosses it.
- A stop triggers the first moment the path reaches its stop price (at once when the path is already beyond
  it, e.g. after a gap); a stop-limit then works as a limit from that moment.
- An order fills at most once a minute, and at most ``cap`` shares in that minute (a share of the minute's
  simulated volume), so a large order fills in parts over several minutes.

Fill prices are rounded to the tick with one monotone function, so every fill lies inside the bar built
from the same path. Times are seconds after the trading day's origin (New York midnight, in UTC).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import numpy as np

from ibflow.db.states import OrderSide, OrderType

_MINUTE = 60.0
_ONE_SECOND = timedelta(seconds=1)


def to_tick(value: float, tick: Decimal) -> Decimal:
    """Round a path price to the tick (half-even, never below one tick)."""
    steps = max(1, round(value / float(tick)))
    return (Decimal(steps) * tick).quantize(tick)


@dataclass(frozen=True)
class Piece:
    """A closed stretch ``[start, end]`` of one trading day with nothing switching inside it."""

    origin: datetime
    """The day's grid origin (New York midnight, UTC); ``start`` and ``end`` are seconds after it."""
    origin_minute: int
    """Minutes from the Unix epoch to ``origin``."""
    prices: np.ndarray
    """The day's path on its 1-minute grid (one more point than minutes)."""
    caps: np.ndarray
    """Shares an order may fill in each minute of the day."""
    start: float
    end: float
    liquid: bool = True
    """False while liquidity is removed: stops trigger, nothing fills."""

    def seconds(self, at: datetime) -> float:
        """Return ``at`` as seconds after the origin."""
        return (at - self.origin) / _ONE_SECOND

    def moment(self, seconds: float) -> datetime:
        """Return the time ``seconds`` after the origin, to the microsecond."""
        return self.origin + timedelta(microseconds=round(seconds * 1e6))


@dataclass(frozen=True)
class OrderTerms:
    """What the matching needs to know about an order."""

    side: OrderSide
    order_type: OrderType
    limit_price: Decimal | None
    stop_price: Decimal | None
    tick: Decimal


@dataclass(frozen=True)
class FillPoint:
    """One fill found on the path."""

    at: datetime
    minute: int
    """Minute since the Unix epoch in which it filled (at most one fill per order and minute)."""
    price: Decimal
    quantity: int


@dataclass(frozen=True)
class Match:
    """The outcome of a search: when a stop triggered (if it did now) and the first fill, if any."""

    triggered_at: datetime | None
    fill: FillPoint | None


@dataclass(frozen=True)
class _Segments:
    minute: np.ndarray
    start: np.ndarray
    end: np.ndarray
    p_start: np.ndarray
    p_end: np.ndarray
    caps: np.ndarray


def _segments(piece: Piece, x0: float, x1: float) -> _Segments:
    last = len(piece.caps) - 1
    minute = np.arange(min(int(x0 // _MINUTE), last), min(int(x1 // _MINUTE), last) + 1)
    grid = minute * _MINUTE
    start = np.maximum(grid, x0)
    end = np.minimum(grid + _MINUTE, x1)
    slope = (piece.prices[minute + 1] - piece.prices[minute]) / _MINUTE
    base = piece.prices[minute]
    caps = piece.caps[minute] if piece.liquid else np.zeros(len(minute), dtype=np.int64)
    return _Segments(minute, start, end, base + slope * (start - grid), base + slope * (end - grid), caps)


def _first_reach(
    piece: Piece, seg: _Segments, level: float, upward: bool, allowed: np.ndarray | None
) -> tuple[int, float, bool] | None:
    # (segment, seconds, already there at the segment's start) of the first time the path is at ``level``
    # or beyond it (above it when ``upward``), within the allowed segments.
    if upward:
        at_start = seg.p_start >= level
        reached = np.maximum(seg.p_start, seg.p_end) >= level
    else:
        at_start = seg.p_start <= level
        reached = np.minimum(seg.p_start, seg.p_end) <= level
    if allowed is not None:
        reached &= allowed
    if not reached.any():
        return None
    j = int(np.argmax(reached))
    if at_start[j]:
        return j, float(seg.start[j]), True
    minute = int(seg.minute[j])
    low, high = float(piece.prices[minute]), float(piece.prices[minute + 1])
    crossing = minute * _MINUTE + _MINUTE * (level - low) / (high - low)
    return j, min(max(crossing, float(seg.start[j])), float(seg.end[j])), False


def _first_fill(
    piece: Piece, terms: OrderTerms, window: tuple[float, float], after_minute: int | None, max_quantity: int
) -> FillPoint | None:
    x0, x1 = window
    seg = _segments(piece, x0, x1)
    allowed = seg.caps >= 1
    if after_minute is not None:
        allowed &= (piece.origin_minute + seg.minute) > after_minute
    limit = terms.limit_price if terms.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT) else None
    if limit is None:
        if not allowed.any():
            return None
        j = int(np.argmax(allowed))
        seconds, price = float(seg.start[j]), to_tick(float(seg.p_start[j]), terms.tick)
    else:
        hit = _first_reach(piece, seg, float(limit), terms.side is OrderSide.SELL, allowed)
        if hit is None:
            return None
        j, seconds, already = hit
        price = to_tick(float(seg.p_start[j]), terms.tick) if already else limit
    quantity = min(max_quantity, int(seg.caps[j]))
    return FillPoint(piece.moment(seconds), piece.origin_minute + int(seg.minute[j]), price, quantity)


def find_fill(
    terms: OrderTerms,
    pieces: list[Piece],
    start: datetime,
    end: datetime,
    *,
    triggered: bool,
    after_minute: int | None,
    max_quantity: int,
) -> Match:
    """Search ``[start, end]`` of ``pieces`` for the order's trigger (if still due) and its next fill."""
    needs_trigger = not triggered and terms.order_type in (OrderType.STOP, OrderType.STOP_LIMIT)
    triggered_at: datetime | None = None
    stop = float(terms.stop_price) if terms.stop_price is not None else 0.0
    if needs_trigger and terms.stop_price is None:
        raise ValueError(f"a {terms.order_type.value} order needs a stop price")
    for piece in pieces:
        x0 = max(piece.start, piece.seconds(start))
        x1 = min(piece.end, piece.seconds(end))
        if x0 > x1:
            continue
        if needs_trigger:
            hit = _first_reach(piece, _segments(piece, x0, x1), stop, terms.side is OrderSide.BUY, None)
            if hit is None:
                continue
            triggered_at = piece.moment(hit[1])
            x0 = min(max(x0, piece.seconds(triggered_at)), x1)
            needs_trigger = False
        fill = _first_fill(piece, terms, (x0, x1), after_minute, max_quantity)
        if fill is not None:
            return Match(triggered_at, fill)
    return Match(triggered_at, None)
