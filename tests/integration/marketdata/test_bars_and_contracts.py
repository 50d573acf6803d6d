"""Market data through the paper broker: no look-ahead, partial bars never cached, weekly bars, contracts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine, func, select

from ibflow.brokers.base import BarData
from ibflow.brokers.paper.broker import PaperBroker
from ibflow.brokers.paper.market.prices import SimulatedMarket
from ibflow.core.clock import ManualClock
from ibflow.core.errors import ValidationError
from ibflow.core.ids import Conid
from ibflow.core.money import quantize
from ibflow.db.engine import SessionFactory, make_engine, session_factory
from ibflow.db.models import Bar, Symbol
from ibflow.indicators.catalogue import CATALOGUE
from ibflow.indicators.compute import IndicatorConfig, compute_all
from ibflow.marketdata.bars import COLUMNS, BarService, weekly_from_daily
from ibflow.marketdata.cache import InProcessTtlCache
from ibflow.marketdata.contracts import ContractService

pytestmark = pytest.mark.integration
AAPL = Conid(265598)
T = datetime(2026, 3, 4, 18, 37, 12, tzinfo=UTC)  # a Wednesday afternoon in New York
T2 = T + timedelta(days=9, hours=3)
CONFIGS = [IndicatorConfig.of(name) for name in CATALOGUE]


def _broker(sessions: SessionFactory, at: datetime) -> PaperBroker:
    return PaperBroker(sessions, ManualClock(at), SimulatedMarket(seed=7))


def test_a_warm_cache_from_a_later_time_gives_exactly_the_cold_answer(
    sessions: SessionFactory, tmp_path: Path, migrated_sqlite: Callable[[Path], str]
) -> None:
    broker = _broker(sessions, T2)
    service = BarService(broker, ManualClock(T2))
    with sessions() as session:
        later = service.daily_bars(session, conid=AAPL, as_of=T2, lookback_days=400)  # warms the cache
        session.commit()
        warm = service.daily_bars(session, conid=AAPL, as_of=T, lookback_days=400)
        session.commit()
    assert later.bars[-1].ts > T
    cold_sessions = session_factory(make_engine(migrated_sqlite(tmp_path / "cold.db")))
    with cold_sessions() as session:
        cold = BarService(_broker(cold_sessions, T), ManualClock(T)).daily_bars(
            session, conid=AAPL, as_of=T, lookback_days=400
        )
    assert warm.bars == cold.bars
    assert all(bar.ts <= T for bar in warm.bars)
    assert warm.partial_last
    assert cold.partial_last
    assert warm.bars[-1].partial
    for timeframe in (lambda s: s, weekly_from_daily):
        warm_out = compute_all(timeframe(warm).frame, CONFIGS)
        cold_out = compute_all(timeframe(cold).frame, CONFIGS)
        for key, outputs in cold_out.items():
            for name, values in outputs.items():
                assert np.array_equal(values, warm_out[key][name], equal_nan=True), (key, name)


def test_the_partial_bar_is_built_up_to_t_and_never_stored(sessions: SessionFactory) -> None:
    broker = _broker(sessions, T)
    with sessions() as session:
        series = BarService(broker, ManualClock(T)).daily_bars(session, conid=AAPL, as_of=T, lookback_days=30)
        session.commit()
        stored = session.scalars(select(Bar.ts).where(Bar.conid == AAPL)).all()
    partial = series.bars[-1]
    assert partial.partial
    assert partial.ts <= T < partial.ts + timedelta(days=1)
    assert partial.close == broker.market.price(AAPL, T)
    assert partial.ts not in stored
    assert len(stored) == len(series.bars) - 1
    for bar in series.bars:
        assert bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high


def test_a_second_request_reads_the_cache_and_only_the_tail_from_the_broker(
    engine: Engine, sessions: SessionFactory
) -> None:
    broker = _broker(sessions, T)
    service = BarService(broker, ManualClock(T))
    with sessions() as session:
        first = service.daily_bars(session, conid=AAPL, as_of=T, lookback_days=200)
        session.commit()
    later = T + timedelta(days=2)
    with sessions() as session:
        second = service.daily_bars(session, conid=AAPL, as_of=later, lookback_days=200)
        session.commit()
        count = session.scalar(select(func.count()).select_from(Bar))
    kept = {b for b in first.bars if not b.partial and b.ts >= second.bars[0].ts}
    assert kept <= set(second.bars)  # complete bars come back unchanged from the cache
    complete = {b.ts for b in (*first.bars, *second.bars) if not b.partial}
    assert count == len(complete)
    assert [b.ts for b in second.bars] == sorted({b.ts for b in second.bars})


def test_weekly_bars_end_on_friday_and_agree_with_the_daily_bars(sessions: SessionFactory) -> None:
    broker = _broker(sessions, T)
    with sessions() as session:
        daily = BarService(broker, ManualClock(T)).daily_bars(session, conid=AAPL, as_of=T, lookback_days=120)
    weekly = weekly_from_daily(daily)
    assert weekly.partial_last  # Wednesday: the week is not over
    frame = daily.frame
    for week in weekly.bars[1:-1]:
        days = [b for b in daily.bars if week.ts <= b.ts < week.ts + timedelta(days=7)]
        assert week.open == days[0].open
        assert week.close == days[-1].close
        assert week.high == max(b.high for b in days)
        assert week.low == min(b.low for b in days)
        assert week.volume == sum((b.volume for b in days), Decimal(0))
    assert len(frame) == len(daily.bars)


def test_contract_search_and_details_are_cached_with_a_ttl(sessions: SessionFactory) -> None:
    clock = ManualClock(T)
    broker = _broker(sessions, T)
    service = ContractService(broker, InProcessTtlCache(), clock, ttl=timedelta(hours=1))
    with sessions() as session:
        found = service.search(session, "aapl")
        assert found[0].symbol == "AAPL"
        assert found[0].min_tick == Decimal("0.01")
        session.commit()
        row = session.scalars(select(Symbol).where(Symbol.conid == AAPL)).one()
        assert row.fetched_at == T
        assert service.details(session, AAPL) == found[0]
        clock.advance(timedelta(hours=2))  # stale: read again from the broker
        service.details(session, AAPL)
        session.commit()
        assert session.scalars(select(Symbol.fetched_at).where(Symbol.conid == AAPL)).one() == T + timedelta(
            hours=2
        )
        with pytest.raises(ValidationError, match="symbol or company name"):
            service.search(session, "   ")


def test_cached_bars_come_back_as_stored_on_both_databases(any_migrated_db_url: str) -> None:
    """On PostgreSQL the cache is read without the ORM types' per-value processing: the same decimals (8
    places, as ``ExactDecimal`` gives them) and the same aware UTC times as on SQLite."""
    engine = make_engine(any_migrated_db_url)
    sessions = session_factory(engine)
    service = BarService(_broker(sessions, T), ManualClock(T))
    with sessions() as session:
        first = service.daily_bars(session, conid=AAPL, as_of=T, lookback_days=60)
        session.commit()
    later = T + timedelta(days=1)
    with sessions() as session:
        cached = [bar for bar, _ in service._cached(session, AAPL, T - timedelta(days=60), later)]
    engine.dispose()
    stored = [bar for bar in first.bars if not bar.partial]
    assert len(cached) == len(stored) > 30

    def shown(bar: BarData) -> tuple[str, ...]:
        return (bar.ts.isoformat(), *(str(quantize(getattr(bar, name))) for name in COLUMNS))

    assert [shown(bar) for bar in cached] == [shown(bar) for bar in stored]
    assert [(str(bar.open), bar.ts.tzinfo) for bar in cached] == [(shown(bar)[1], UTC) for bar in stored]
