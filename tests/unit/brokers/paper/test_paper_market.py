"""The simulated market's price path, daily bars, volumes and quotes."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ibflow.brokers.base import QuoteFlag
from ibflow.brokers.paper import SimulatedMarket
from ibflow.brokers.paper.market.calendar import NEW_YORK, new_york_day
from ibflow.brokers.paper.market.pathgen import EPOCH, daily_path, day_index, stable_seed
from ibflow.brokers.paper.market.universe import default_universe
from ibflow.brokers.paper.matching.fills import to_tick

AAPL, SPY, TSLA = 265598, 756733, 76792991
T0 = datetime(2026, 3, 4, 17, 0, tzinfo=UTC)
SYMBOLS = [i.conid for i in default_universe()]

queries = st.lists(
    st.tuples(st.sampled_from(SYMBOLS), st.integers(min_value=0, max_value=400 * 24 * 3600)),
    min_size=1,
    max_size=25,
)


@settings(max_examples=25, deadline=None)
@given(queries, st.randoms(use_true_random=False))
def test_the_price_does_not_depend_on_the_order_of_queries(asked: list[tuple[int, int]], rng: object) -> None:
    first = SimulatedMarket(seed=5, cache_days=2)  # a tiny cache: evictions must not matter either
    second = SimulatedMarket(seed=5)
    forward = {(c, s): first.path_price(c, T0 + timedelta(seconds=s)) for c, s in asked}
    shuffled = list(asked)
    rng.shuffle(shuffled)  # type: ignore[attr-defined]
    backward = {(c, s): second.path_price(c, T0 + timedelta(seconds=s)) for c, s in shuffled}
    assert forward == backward


def test_the_same_seed_gives_the_same_prices_and_another_seed_others() -> None:
    times = [T0 + timedelta(minutes=37 * k) for k in range(50)]
    markets = [SimulatedMarket(seed=5), SimulatedMarket(seed=5), SimulatedMarket(seed=6)]
    one, two, other = ([m.price(AAPL, t) for t in times] for m in markets)
    assert one == two
    assert one != other
    # pinned, so that every process and every run agrees (BLAKE2b seeds, never the salted hash())
    assert stable_seed(5, "AAPL") == 16134508336628972312
    assert one[0] == Decimal("214.78")


def test_the_price_is_continuous_in_time(market: SimulatedMarket) -> None:
    for k in range(200):
        at = T0 + timedelta(seconds=4111 * k + 0.25)
        before, after = market.path_price(TSLA, at), market.path_price(TSLA, at + timedelta(milliseconds=1))
        assert abs(after - before) / before < 1e-4
    # across midnight New York: the close of a day is the open of the next
    midnight = new_york_day(date(2026, 3, 5))[0]
    assert market.path_price(TSLA, midnight - timedelta(microseconds=1)) == pytest.approx(
        market.path_price(TSLA, midnight), rel=1e-6
    )


def test_daily_bars_are_built_from_the_path(market: SimulatedMarket) -> None:
    bars = market.daily_bars(AAPL, T0 - timedelta(days=30), T0)
    assert len(bars) == 30
    assert all(not b.partial for b in bars[:-1])
    for bar, following in itertools.pairwise(bars):
        assert following.ts - bar.ts in (timedelta(hours=23), timedelta(hours=24), timedelta(hours=25))
        assert following.open == bar.close  # continuous around the clock
    for bar in bars[:-1]:
        low, high = market.path_range(AAPL, bar.ts, bar.ts + timedelta(hours=24))
        assert (bar.low, bar.high) == (to_tick(low, Decimal("0.01")), to_tick(high, Decimal("0.01")))
        assert bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high


def test_the_bar_containing_end_is_partial_and_sees_nothing_after_end(market: SimulatedMarket) -> None:
    day_start = new_york_day(date(2026, 3, 4))[0]
    early = market.daily_bars(AAPL, day_start, T0)
    assert len(early) == 1
    bar = early[0]
    assert bar.partial
    assert bar.ts == day_start
    assert bar.close == market.price(AAPL, T0)
    low, high = market.path_range(AAPL, day_start, T0)
    assert (bar.low, bar.high) == (to_tick(low, Decimal("0.01")), to_tick(high, Decimal("0.01")))
    complete = market.daily_bars(AAPL, day_start, day_start + timedelta(days=1))[0]
    assert not complete.partial
    assert complete.volume > bar.volume
    assert market.daily_bars(AAPL, day_start, day_start) == []  # nothing begins before the start


@pytest.mark.parametrize("calendar", ["always", "XNYS"])
def test_years_of_history_agree_with_the_paths_fills_and_quotes_read(calendar: str) -> None:
    """A long history request draws its days together; every bar must still be the one each day's own path
    (the path quotes and fills read) gives, on days of 23, 24 and 25 hours and on early closes."""
    start, end = datetime(2023, 1, 1, tzinfo=UTC), datetime(2026, 3, 4, 17, tzinfo=UTC)
    for conid in (AAPL, TSLA):
        cold = SimulatedMarket(seed=11, calendar=calendar).daily_bars(conid, start, end)
        warm_market = SimulatedMarket(seed=11, calendar=calendar)
        for bar in cold:
            warm_market.day_path(conid, bar.ts.astimezone(NEW_YORK).date())  # the path fills read
        warm = warm_market.daily_bars(conid, start, end)
        assert len(cold) > 700
        assert cold == warm
        lengths = {b2.ts - b1.ts for b1, b2 in itertools.pairwise(cold)}
        assert calendar != "always" or {timedelta(hours=23), timedelta(hours=25)} <= lengths


def test_a_partial_bar_becomes_the_complete_bar_of_a_history_request() -> None:
    day = date(2025, 11, 2)  # the clocks go back: a 25-hour day
    day_start, day_end = new_york_day(day)
    market = SimulatedMarket(seed=3)
    almost = market.daily_bars(SPY, day_start, day_end - timedelta(microseconds=1))[-1]
    history = SimulatedMarket(seed=3).daily_bars(SPY, day_start - timedelta(days=400), day_end)[-1]
    assert almost.partial
    assert not history.partial
    assert (almost.ts, almost.open, almost.high, almost.low) == (
        history.ts,
        history.open,
        history.high,
        history.low,
    )
    assert history == market.daily_bars(SPY, day_start, day_end)[-1]


def test_daily_volume_is_realistic(market: SimulatedMarket) -> None:
    for conid in (AAPL, SPY, TSLA):
        bars = market.daily_bars(conid, T0 - timedelta(days=120), T0 - timedelta(days=1))
        mean = sum(int(b.volume) for b in bars) / len(bars)
        assert 0.6 < mean / market.instrument(conid).avg_daily_volume < 1.4


def test_realized_volatility_of_every_symbol_over_a_year_lies_in_its_band() -> None:
    seed, start = 20260101, date(2025, 1, 1)
    first, last = day_index(start), day_index(start + timedelta(days=365))
    for item in default_universe():
        closes = daily_path(seed, item).log_levels[first + 1 : last + 1]  # each day's close
        realized = float(np.std(np.diff(closes), ddof=1)) * math.sqrt(365.25)  # trades every day
        assert item.vol_low <= realized <= item.vol_high, (item.symbol, realized)


def test_daily_closes_are_the_day_level_path_the_volatility_is_measured_on() -> None:
    seed, start = 20260101, date(2025, 1, 1)
    market = SimulatedMarket(seed=seed)
    spy = market.instrument(SPY)
    day_start = new_york_day(start)[0]
    bars = market.daily_bars(SPY, day_start, day_start + timedelta(days=40))
    levels = daily_path(seed, spy).log_levels
    expected = [to_tick(math.exp(levels[day_index(start) + k + 1]), spy.min_tick) for k in range(40)]
    assert [b.close for b in bars] == expected


def test_the_path_has_trending_and_ranging_regimes() -> None:
    spy = default_universe().instrument(SPY)
    path = daily_path(7, spy)
    window = slice(day_index(date(2010, 1, 1)), day_index(date(2030, 1, 1)))
    regime = path.regime[window]
    returns = np.diff(path.log_levels)[window]
    assert set(regime.tolist()) == {-1, 0, 1}
    assert returns[regime == 1].mean() > 0 > returns[regime == -1].mean()
    changes = int(np.count_nonzero(np.diff(regime)))
    assert 20 * 365 / 60 < changes < 20 * 365 / 15  # regimes last weeks, not days or years


def test_the_path_covers_fixed_years_only() -> None:
    with pytest.raises(ValueError, match="covers"):
        day_index(EPOCH - timedelta(days=1))


def test_nyse_bars_are_per_session_and_volume_trades_only_in_sessions() -> None:
    market = SimulatedMarket(seed=11, calendar="XNYS")
    bars = market.daily_bars(SPY, datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 10, tzinfo=UTC))
    assert [b.ts for b in bars] == [datetime(2026, 3, d, 14, 30, tzinfo=UTC) for d in (2, 3, 4, 5, 6)] + [
        datetime(2026, 3, 9, 13, 30, tzinfo=UTC)
    ]
    day = market.day_path(SPY, date(2026, 3, 4))
    assert day.volume[: 9 * 60 + 30].sum() == 0  # before the 09:30 open, New York time
    assert day.volume[16 * 60 :].sum() == 0
    assert day.volume[9 * 60 + 30 : 16 * 60].min() > 0


def test_quotes_are_live_when_trading_and_stale_when_the_exchange_is_closed() -> None:
    always = SimulatedMarket(seed=11)
    quote = always.quote(SPY, T0)
    assert (quote.flag, quote.last, quote.ts) == (QuoteFlag.LIVE, always.price(SPY, T0), T0)
    nyse = SimulatedMarket(seed=11, calendar="XNYS")
    saturday = datetime(2026, 3, 7, 15, tzinfo=UTC)
    friday_close = datetime(2026, 3, 6, 21, tzinfo=UTC)
    stale = nyse.quote(SPY, saturday)
    assert (stale.flag, stale.ts) == (QuoteFlag.STALE, friday_close)
    assert stale.last == nyse.price(SPY, friday_close)


def test_participation_must_be_a_fraction() -> None:
    with pytest.raises(ValueError, match="participation"):
        SimulatedMarket(seed=1, participation=0)
