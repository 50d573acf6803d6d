"""The simulated market: deterministic prices, volumes, daily bars and quotes for the bundled universe.

Prices come from ``pathgen`` (a pure function of seed, symbol and time); volume exists only inside the
calendar's trading spans, spread over each span with an intraday U-shape; an order may fill up to
``participation`` of a minute's volume in that minute. Bars, quotes and fills all read the same path, so
they always agree. Generated days are kept in a bounded LRU cache; results never depend on what was
asked before.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Generic, TypeVar

import numpy as np

from ibflow.brokers.base import BarData, Quote, QuoteFlag
from ibflow.brokers.paper.controls import MarketControls, Switch, SwitchInterval
from ibflow.brokers.paper.market.calendar import (
    MarketCalendar,
    TradingSpan,
    make_calendar,
    new_york_date,
    new_york_day,
)
from ibflow.brokers.paper.market.pathgen import (
    daily_path,
    day_index,
    intraday_log_path,
    intraday_log_paths,
    volume_profile,
)
from ibflow.brokers.paper.market.universe import Instrument, Universe, default_universe
from ibflow.brokers.paper.matching.fills import Piece, to_tick
from ibflow.core.clock import ensure_utc
from ibflow.core.ids import Conid
from ibflow.core.settings import BrokerSettings

_MINUTE = timedelta(minutes=1)
_SECOND = timedelta(seconds=1)
_DAYS_PER_DRAW = 256
"""Days of history drawn together: a few MB of arrays at a time, however long the request."""
_K = TypeVar("_K", bound=Hashable)
_V = TypeVar("_V")


class _Lru(Generic[_K, _V]):
    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[_K, _V] = OrderedDict()
        self._lock = threading.Lock()

    def peek(self, key: _K) -> _V | None:
        """Return the value kept for ``key``, or ``None``, without making it or changing the order."""
        with self._lock:
            return self._items.get(key)

    def put(self, key: _K, value: _V) -> None:
        """Keep ``value`` for ``key`` (the newest entry)."""
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            if len(self._items) > self._size:
                self._items.popitem(last=False)

    def get(self, key: _K, make: Callable[[], _V]) -> _V:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            value = make()
            self._items[key] = value
            if len(self._items) > self._size:
                self._items.popitem(last=False)
            return value


@dataclass(frozen=True)
class DayPath:
    """One symbol's New York day on its 1-minute grid."""

    day: date
    origin: datetime
    origin_minute: int
    prices: np.ndarray
    volume: np.ndarray
    caps: np.ndarray
    span: TradingSpan | None

    def seconds(self, at: datetime) -> float:
        """Return ``at`` as seconds after the day's origin."""
        return (at - self.origin) / timedelta(seconds=1)

    def price_at(self, seconds: float) -> float:
        """Return the path's price ``seconds`` after the origin (linear between grid points)."""
        minute = min(max(int(seconds // 60), 0), len(self.volume) - 1)
        low, high = float(self.prices[minute]), float(self.prices[minute + 1])
        return low + (high - low) * (seconds - minute * 60) / 60


class SimulatedMarket:
    """Deterministic prices, bars and quotes, and the pieces of path the paper broker matches orders on."""

    def __init__(
        self,
        *,
        seed: int,
        calendar: MarketCalendar | str = "always",
        universe: Universe | None = None,
        participation: float = 0.1,
        cache_days: int = 1024,
    ) -> None:
        if not 0 < participation <= 1:
            raise ValueError(f"participation must be in (0, 1], got {participation}")
        self.seed = seed
        self.calendar = make_calendar(calendar) if isinstance(calendar, str) else calendar
        self.universe = universe or default_universe()
        self.participation = participation
        self.controls = MarketControls()
        self._days: _Lru[tuple[int, date], DayPath] = _Lru(cache_days)
        self._bars: _Lru[tuple[int, date], BarData] = _Lru(16 * cache_days)

    @classmethod
    def from_settings(cls, settings: BrokerSettings) -> SimulatedMarket:
        """Build the market the settings describe (seed and calendar)."""
        return cls(seed=settings.paper_seed, calendar=settings.paper_calendar)

    def instrument(self, conid: int) -> Instrument:
        """Return the instrument with ``conid``; ``NotFound`` when the universe lacks it."""
        return self.universe.instrument(conid)

    def day_path(self, conid: int, day: date) -> DayPath:
        """Return the path, volumes and fill caps of ``conid`` on New York date ``day``."""
        return self._days.get((conid, day), lambda: self._make_day(conid, day))

    def path_price(self, conid: int, at: datetime) -> float:
        """Return the exact (float) path price of ``conid`` at ``at``."""
        at = ensure_utc(at)
        path = self.day_path(conid, new_york_date(at))
        return path.price_at(path.seconds(at))

    def price(self, conid: int, at: datetime) -> Decimal:
        """Return the path price of ``conid`` at ``at``, rounded to the tick."""
        return to_tick(self.path_price(conid, at), self.instrument(conid).min_tick)

    def path_range(self, conid: int, start: datetime, end: datetime) -> tuple[float, float]:
        """Return the lowest and highest path price over ``[start, end]`` (exact, whatever the calendar)."""
        start, end = ensure_utc(start), ensure_utc(end)
        lows, highs = [], []
        day = new_york_date(start)
        while day <= new_york_date(end):
            path = self.day_path(conid, day)
            x0, x1 = max(0.0, path.seconds(start)), min(len(path.volume) * 60.0, path.seconds(end))
            if x0 <= x1:
                inner = path.prices[int(x0 // 60) + 1 : math.ceil(x1 / 60)]
                values = [path.price_at(x0), path.price_at(x1)]
                if len(inner):
                    values += [float(inner.min()), float(inner.max())]
                lows.append(min(values))
                highs.append(max(values))
            day += timedelta(days=1)
        if not lows:
            raise ValueError(f"empty interval [{start}, {end}]")
        return min(lows), max(highs)

    def last_trade(self, conid: int, at: datetime) -> tuple[Decimal, datetime]:
        """Return the last traded price at or before ``at`` and its time (closes and halts respected)."""
        at = ensure_utc(at)
        halt = self.controls.active(Switch.HALT, conid, at)
        moment = self.calendar.last_trading_moment(halt.since if halt else at)
        return self.price(conid, moment), moment

    def quote(self, conid: int, at: datetime) -> Quote:
        """Return the quote of ``conid`` at ``at`` with its flag (halted, frozen, delayed, stale or live)."""
        at = ensure_utc(at)
        self.instrument(conid)
        for switch, flag in ((Switch.HALT, QuoteFlag.HALTED), (Switch.FREEZE, QuoteFlag.FROZEN)):
            interval = self.controls.active(switch, conid, at)
            if interval is not None:
                last, when = self.last_trade(conid, interval.since)
                return Quote(conid=Conid(conid), last=last, ts=when, flag=flag)
        delay = self.controls.active(Switch.DELAY, conid, at)
        if delay is not None:
            last, when = self.last_trade(conid, at - delay.minutes * _MINUTE)
            return Quote(conid=Conid(conid), last=last, ts=when, flag=QuoteFlag.DELAYED)
        last, when = self.last_trade(conid, at)
        flag = QuoteFlag.LIVE if when == at else QuoteFlag.STALE
        return Quote(conid=Conid(conid), last=last, ts=when, flag=flag)

    def daily_bars(self, conid: int, start: datetime, end: datetime) -> list[BarData]:
        """Return the daily bars of ``conid`` that began in ``[start, end)``; the one still open at ``end``
        is partial and built only from prices up to ``end``."""
        start, end = ensure_utc(start), ensure_utc(end)
        self.instrument(conid)
        spans = []
        day, last = new_york_date(start), new_york_date(end)
        while day <= last:
            span = self.calendar.span_for(day)
            if span is not None and start <= span.start < end:
                spans.append(span)
            day += timedelta(days=1)
        bars: dict[date, BarData] = {}
        missing = []
        for span in spans:
            if span.end > end:
                bars[span.day] = self._bar(conid, span, end)
            elif (kept := self._bars.peek((conid, span.day))) is not None:
                bars[span.day] = kept
            else:
                missing.append(span)
        for span, bar in self._finished_bars(conid, missing):
            self._bars.put((conid, span.day), bar)
            bars[span.day] = bar
        return [bars[span.day] for span in spans]

    def _finished_bars(self, conid: int, spans: list[TradingSpan]) -> list[tuple[TradingSpan, BarData]]:
        """The bars of spans that have ended, as ``_bar(conid, span, span.end)`` computes them, for many days
        at once: the days' paths are drawn together (``intraday_log_paths``, the same numbers) and are not
        kept in the cache of days, which a request for years of history would otherwise flush of the paths
        fills and quotes keep reading."""
        instrument = self.instrument(conid)
        result = []
        groups: dict[tuple[int, int, int], list[tuple[TradingSpan, datetime]]] = {}
        for span in spans:
            kept = self._days.peek((conid, span.day))
            if kept is not None:
                result.append(
                    (
                        span,
                        _bar_of(kept.origin, kept.prices, kept.volume, span, span.end, instrument=instrument),
                    )
                )
                continue
            origin, day_end = new_york_day(span.day)
            key = (
                int((day_end - origin) / _MINUTE),
                int((span.start - origin) / _MINUTE),
                int((span.end - origin) / _MINUTE),
            )
            groups.setdefault(key, []).append((span, origin))
        daily = daily_path(self.seed, instrument)
        batches = [
            (key, members[at : at + _DAYS_PER_DRAW])
            for key, members in groups.items()
            for at in range(0, len(members), _DAYS_PER_DRAW)
        ]
        for (minutes, first, stop), members in batches:
            indices = np.array([day_index(span.day) for span, _ in members])
            prices = np.exp(
                intraday_log_paths(
                    self.seed,
                    instrument.symbol,
                    indices.tolist(),
                    minutes=minutes,
                    x_open=daily.log_levels[indices],
                    x_close=daily.log_levels[indices + 1],
                    sigma=daily.sigma[indices],
                )
            )
            volume = np.zeros((len(members), minutes), dtype=np.int64)
            volume[:, first:stop] = np.floor(
                daily.volume[indices].astype(np.float64)[:, None] * volume_profile(stop - first)
            )
            result.extend(_finished_bars_of(members, prices, volume, instrument=instrument))
        return result

    def pieces(self, conid: int, start: datetime, end: datetime) -> list[Piece]:
        """Return the stretches of ``[start, end]`` when ``conid`` trades, split where liquidity changes."""
        start, end = ensure_utc(start), ensure_utc(end)
        result: list[Piece] = []
        day, last = new_york_date(start), new_york_date(end)
        while day <= last:
            span = self.calendar.span_for(day)
            if span is not None and max(start, span.start) <= min(end, span.end):
                path = self.day_path(conid, day)
                for part_start, part_end, liquid in self._tradable(
                    conid, max(start, span.start), min(end, span.end)
                ):
                    result.append(
                        Piece(
                            origin=path.origin,
                            origin_minute=path.origin_minute,
                            prices=path.prices,
                            caps=path.caps,
                            start=path.seconds(part_start),
                            end=path.seconds(part_end),
                            liquid=liquid,
                        )
                    )
            day += timedelta(days=1)
        return result

    def _tradable(self, conid: int, start: datetime, end: datetime) -> list[tuple[datetime, datetime, bool]]:
        parts = _cut([(start, end)], self.controls.intervals(Switch.HALT, conid))
        dry = self.controls.intervals(Switch.NO_LIQUIDITY, conid)
        liquid = [(a, b, True) for a, b in _cut(parts, dry)]
        illiquid = [(a, b, False) for a, b in _overlap(parts, dry)]
        return sorted(liquid + illiquid)

    def _make_day(self, conid: int, day: date) -> DayPath:
        origin, prices, volume, span = self._day_arrays(conid, day)
        caps = np.floor(volume * self.participation).astype(np.int64)
        return DayPath(
            day=day,
            origin=origin,
            origin_minute=int(origin.timestamp()) // 60,
            prices=prices,
            volume=volume,
            caps=caps,
            span=span,
        )

    def _day_arrays(
        self, conid: int, day: date
    ) -> tuple[datetime, np.ndarray, np.ndarray, TradingSpan | None]:
        """Return the day's grid origin, its path prices (one more than minutes) and volume per minute."""
        instrument = self.instrument(conid)
        index = day_index(day)
        origin, day_end = new_york_day(day)
        minutes = int((day_end - origin) / _MINUTE)
        daily = daily_path(self.seed, instrument)
        log_prices = intraday_log_path(
            self.seed,
            instrument.symbol,
            index,
            minutes=minutes,
            x_open=float(daily.log_levels[index]),
            x_close=float(daily.log_levels[index + 1]),
            sigma=float(daily.sigma[index]),
        )
        span = self.calendar.span_for(day)
        volume = np.zeros(minutes, dtype=np.int64)
        if span is not None:
            first, stop = int((span.start - origin) / _MINUTE), int((span.end - origin) / _MINUTE)
            volume[first:stop] = np.floor(float(daily.volume[index]) * volume_profile(stop - first))
        return origin, np.exp(log_prices), volume, span

    def _bar(self, conid: int, span: TradingSpan, stop: datetime) -> BarData:
        path = self.day_path(conid, span.day)
        return _bar_of(path.origin, path.prices, path.volume, span, stop, instrument=self.instrument(conid))


def _bar_of(
    origin: datetime,
    prices: np.ndarray,
    volume_per_minute: np.ndarray,
    span: TradingSpan,
    stop: datetime,
    *,
    instrument: Instrument,
) -> BarData:
    """The bar of ``span`` up to ``stop`` from a day's path prices and volume per minute."""
    tick = instrument.min_tick
    minutes = len(volume_per_minute)

    def price_at(seconds: float) -> float:  # DayPath.price_at
        minute = min(max(int(seconds // 60), 0), minutes - 1)
        low, high = float(prices[minute]), float(prices[minute + 1])
        return low + (high - low) * (seconds - minute * 60) / 60

    x0, x1 = (span.start - origin) / _SECOND, (stop - origin) / _SECOND
    inner = prices[int(x0 // 60) + 1 : math.ceil(x1 / 60)]
    edges = [price_at(x0), price_at(x1)]
    high, low = max(edges), min(edges)
    if len(inner):
        high, low = max(high, float(inner.max())), min(low, float(inner.min()))
    first, last = int(x0 // 60), int(x1 // 60)
    volume = int(volume_per_minute[first:last].sum())
    if last < minutes and x1 > last * 60:
        volume += int(volume_per_minute[last] * (x1 - last * 60) / 60)
    return BarData(
        ts=span.start,
        open=to_tick(edges[0], tick),
        high=to_tick(high, tick),
        low=to_tick(low, tick),
        close=to_tick(edges[1], tick),
        volume=Decimal(volume),
        partial=stop < span.end,
    )


def _finished_bars_of(
    members: list[tuple[TradingSpan, datetime]],
    prices: np.ndarray,
    volume: np.ndarray,
    *,
    instrument: Instrument,
) -> list[tuple[TradingSpan, BarData]]:
    """``_bar_of(origin, prices[row], volume[row], span, span.end)`` of every row, the rows whose spans lie
    alike in their days (the usual case) computed together: the same operations on the same floats, so the
    same bars."""
    offsets = [((span.start - origin) / _SECOND, (span.end - origin) / _SECOND) for span, origin in members]
    if len(set(offsets)) != 1:
        return [
            (span, _bar_of(origin, prices[row], volume[row], span, span.end, instrument=instrument))
            for row, (span, origin) in enumerate(members)
        ]
    x0, x1 = offsets[0]
    minutes = volume.shape[1]

    def price_at(seconds: float) -> np.ndarray:  # DayPath.price_at, one value per row
        minute = min(max(int(seconds // 60), 0), minutes - 1)
        low, high = prices[:, minute], prices[:, minute + 1]
        values: np.ndarray = low + (high - low) * (seconds - minute * 60) / 60
        return values

    opens, closes = price_at(x0), price_at(x1)
    highs, lows = np.maximum(opens, closes), np.minimum(opens, closes)
    inner = prices[:, int(x0 // 60) + 1 : math.ceil(x1 / 60)]
    if inner.shape[1]:
        highs, lows = np.maximum(highs, inner.max(axis=1)), np.minimum(lows, inner.min(axis=1))
    first, last = int(x0 // 60), int(x1 // 60)
    volumes = volume[:, first:last].sum(axis=1)
    if last < minutes and x1 > last * 60:
        volumes = volumes + (volume[:, last] * (x1 - last * 60) / 60).astype(np.int64)
    tick = instrument.min_tick
    steps = [
        np.maximum(1, np.rint(values / float(tick))).astype(np.int64).tolist()  # to_tick, every row at once
        for values in (opens, highs, lows, closes)
    ]
    return [
        (
            span,
            BarData(
                ts=span.start,
                open=(Decimal(o) * tick).quantize(tick),
                high=(Decimal(h) * tick).quantize(tick),
                low=(Decimal(lo) * tick).quantize(tick),
                close=(Decimal(c) * tick).quantize(tick),
                volume=Decimal(v),
                partial=False,
            ),
        )
        for (span, _), o, h, lo, c, v in zip(members, *steps, volumes.tolist(), strict=True)
    ]


def _cut(
    parts: list[tuple[datetime, datetime]], holes: list[SwitchInterval]
) -> list[tuple[datetime, datetime]]:
    for hole in holes:
        kept = []
        for a, b in parts:
            if hole.since > b or (hole.until is not None and hole.until <= a):
                kept.append((a, b))
                continue
            if a < hole.since:
                kept.append((a, hole.since))
            if hole.until is not None and hole.until <= b:
                kept.append((hole.until, b))
        parts = kept
    return parts


def _overlap(
    parts: list[tuple[datetime, datetime]], holes: list[SwitchInterval]
) -> list[tuple[datetime, datetime]]:
    result = []
    for a, b in parts:
        for hole in holes:
            lo = max(a, hole.since)
            hi = b if hole.until is None else min(b, hole.until)
            if lo < hi or (lo == hi and hole.covers(lo)):
                result.append((lo, hi))
    return result
