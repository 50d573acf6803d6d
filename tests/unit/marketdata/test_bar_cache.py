"""The bars cache: a warm answer is always the cold one (holes, short answers, revisions, week ends)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from ibflow.brokers.base import BarData, Broker
from ibflow.brokers.paper.broker import PaperBroker
from ibflow.brokers.paper.market.prices import SimulatedMarket
from ibflow.core.clock import ManualClock
from ibflow.core.ids import Conid
from ibflow.db.engine import SessionFactory, make_engine, session_factory
from ibflow.db.models import Bar
from ibflow.marketdata.bars import DAILY, BarSeries, BarService, weekly_from_daily

AAPL = Conid(265598)
END = datetime(2026, 11, 20, 21, 30, tzinfo=UTC)  # the broker's now in the out-of-order test


class Recording:
    """A broker that forwards to the paper broker and keeps every bars request it was asked."""

    def __init__(self, inner: Broker) -> None:
        self.inner = inner
        self.asked: list[tuple[datetime, datetime]] = []

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def historical_bars(self, conid: Conid, bar_size: str, start: datetime, end: datetime) -> list[BarData]:
        self.asked.append((start, end))
        return self.inner.historical_bars(conid, bar_size, start, end)


class CutsShortOnce(Recording):
    """Its first answer holds only the newest ``keep`` bars, as a broker that limits an answer does."""

    def __init__(self, inner: Broker, keep: int) -> None:
        super().__init__(inner)
        self.keep: int | None = keep

    def historical_bars(self, conid: Conid, bar_size: str, start: datetime, end: datetime) -> list[BarData]:
        bars = super().historical_bars(conid, bar_size, start, end)
        keep, self.keep = self.keep, None
        return bars if keep is None else bars[-keep:]


class Revises(Recording):
    """Answers with a revised closing print for the bars named in ``revised`` (as IBKR corrects closes)."""

    def __init__(self, inner: Broker) -> None:
        super().__init__(inner)
        self.revised: dict[datetime, Decimal] = {}

    def historical_bars(self, conid: Conid, bar_size: str, start: datetime, end: datetime) -> list[BarData]:
        bars = super().historical_bars(conid, bar_size, start, end)
        return [self._revise(bar) for bar in bars]

    def _revise(self, bar: BarData) -> BarData:
        close = self.revised.get(bar.ts)
        if close is None or bar.partial:
            return bar
        return dataclasses.replace(bar, close=close, high=max(bar.high, close), low=min(bar.low, close))


def _paper(sessions: SessionFactory, now: datetime | ManualClock, calendar: str = "always") -> PaperBroker:
    clock = now if isinstance(now, ManualClock) else ManualClock(now)
    return PaperBroker(sessions, clock, SimulatedMarket(seed=7, calendar=calendar))


def _cold(broker: Broker, as_of: datetime, lookback_days: int) -> tuple[BarData, ...]:
    """The answer of an empty cache: the broker's bars for the whole window, in one request."""
    return tuple(broker.historical_bars(AAPL, DAILY, as_of - timedelta(days=lookback_days), as_of))


requests = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=3 * 365 * 24 * 60).map(lambda m: END - timedelta(minutes=m)),
        st.sampled_from([5, 30, 200, 450, 1100]),
    ),
    min_size=2,
    max_size=8,
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(calendar=st.sampled_from(["always", "XNYS"]), asked=requests)
def test_a_warm_answer_equals_the_cold_one_whatever_order_the_times_come_in(
    migrated_sqlite: Callable[[Path], str],
    tmp_path_factory: pytest.TempPathFactory,
    calendar: str,
    asked: list[tuple[datetime, int]],
) -> None:
    path = tmp_path_factory.mktemp("bars") / "cache.db"
    engine = make_engine(migrated_sqlite(path))
    sessions = session_factory(engine)
    broker = Recording(_paper(sessions, END, calendar))
    service = BarService(broker, ManualClock(END))
    try:
        for as_of, lookback in [*asked, *asked]:  # the second round finds every answer warm
            with sessions() as session:
                warm = service.daily_bars(session, conid=AAPL, as_of=as_of, lookback_days=lookback)
                session.commit()
            assert warm.bars == _cold(broker.inner, as_of, lookback), (as_of, lookback)
            assert warm.partial_last == (bool(warm.bars) and warm.bars[-1].partial)
        broker.asked.clear()
        with sessions() as session:
            service.daily_bars(session, conid=AAPL, as_of=asked[0][0], lookback_days=asked[0][1])
        assert len(broker.asked) == 1  # a repeated request asks the broker for its tail only
    finally:
        engine.dispose()


def test_a_short_answer_from_the_broker_is_completed_by_the_next_request(
    sessions: SessionFactory,
) -> None:
    as_of = datetime(2026, 3, 4, 18, 37, tzinfo=UTC)
    broker = CutsShortOnce(_paper(sessions, as_of + timedelta(days=3)), keep=199)
    service = BarService(broker, ManualClock(as_of + timedelta(days=3)))
    with sessions() as session:
        short = service.daily_bars(session, conid=AAPL, as_of=as_of, lookback_days=400)
        session.commit()
        again = service.daily_bars(session, conid=AAPL, as_of=as_of, lookback_days=400)
        later = service.daily_bars(session, conid=AAPL, as_of=as_of + timedelta(days=2), lookback_days=400)
        session.commit()
    assert len(short) == 199
    cold = _cold(broker.inner, as_of, 400)
    assert len(cold) == 400
    assert again.bars == cold
    assert later.bars == _cold(broker.inner, as_of + timedelta(days=2), 400)


@pytest.fixture
def any_sessions(any_migrated_db_url: str) -> Iterator[SessionFactory]:
    """Sessions on a migrated SQLite and, in a second run, PostgreSQL database (each stores bars its way)."""
    engine = make_engine(any_migrated_db_url)
    yield session_factory(engine)
    engine.dispose()


def test_a_revised_closing_print_replaces_the_stored_bar(any_sessions: SessionFactory) -> None:
    sessions = any_sessions
    closed = datetime(2026, 3, 4, 21, 30, tzinfo=UTC)  # Wednesday, after the NYSE close
    clock = ManualClock(closed)
    broker = Revises(_paper(sessions, clock, "XNYS"))
    service = BarService(broker, clock)
    with sessions() as session:
        first = service.daily_bars(session, conid=AAPL, as_of=closed, lookback_days=60)
        session.commit()
    today = first.bars[-1]
    assert not today.partial  # the session is over: the bar is stored, with its first closing print
    revised_close = today.close + Decimal("0.37")
    broker.revised[today.ts] = revised_close
    clock.advance(timedelta(hours=3))
    with sessions() as session:
        second = service.daily_bars(session, conid=AAPL, as_of=clock.now(), lookback_days=60)
        session.commit()
        stored = session.scalars(select(Bar.close).where(Bar.conid == AAPL, Bar.ts == today.ts)).one()
    assert second.bars[-1].close == revised_close
    assert stored == revised_close
    assert second.bars == _cold(broker, clock.now(), 60)  # the revising broker's own cold answer
    # Once a bar was read two days after it began it is final: a later request asks only for the tail.
    clock.advance(timedelta(days=3))
    with sessions() as session:
        service.daily_bars(session, conid=AAPL, as_of=clock.now(), lookback_days=60)
        session.commit()
        broker.asked.clear()
        service.daily_bars(session, conid=AAPL, as_of=clock.now(), lookback_days=60)
    assert len(broker.asked) == 1
    assert broker.asked[0][0] > today.ts


def _week(sessions: SessionFactory, as_of: datetime) -> BarSeries:
    broker = _paper(sessions, as_of, "XNYS")
    with sessions() as session:
        daily = BarService(broker, ManualClock(as_of)).daily_bars(
            session, conid=AAPL, as_of=as_of, lookback_days=60
        )
    return weekly_from_daily(daily)


@pytest.mark.parametrize(
    ("as_of", "complete"),
    [
        (datetime(2026, 4, 2, 21, 0, tzinfo=UTC), True),  # Thursday after the close; Good Friday is closed
        (datetime(2026, 4, 2, 18, 0, tzinfo=UTC), False),  # Thursday during the session
        (datetime(2025, 7, 3, 18, 30, tzinfo=UTC), True),  # July 3rd after its 1 pm close; the 4th is Friday
        (datetime(2026, 7, 3, 15, 0, tzinfo=UTC), True),  # Friday July 3rd (observed holiday); Thursday ended
        (datetime(2026, 3, 4, 21, 30, tzinfo=UTC), False),  # an ordinary Wednesday evening: two sessions left
        (datetime(2026, 3, 7, 12, 0, tzinfo=UTC), True),  # an ordinary Saturday
    ],
)
def test_a_week_is_complete_after_its_last_session_even_when_that_is_not_a_friday(
    sessions: SessionFactory, as_of: datetime, complete: bool
) -> None:
    weekly = _week(sessions, as_of)
    assert weekly.partial_last is not complete
    assert weekly.bars[-1].partial is not complete
