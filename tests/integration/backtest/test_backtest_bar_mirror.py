"""A backtest reads its daily bars from memory: every answer is the one the bars table gives."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ibflow.brokers.paper.broker import PaperBroker
from ibflow.brokers.paper.market.prices import SimulatedMarket
from ibflow.core.clock import ManualClock
from ibflow.core.ids import Conid
from ibflow.db.engine import SessionFactory, make_engine, session_factory
from ibflow.marketdata.bars import BarService
from ibflow.workflow.backtest.bar_mirror import mirrored_bars

pytestmark = pytest.mark.integration
AAPL = Conid(265598)
FIRST = datetime(2026, 3, 2, 21, 5, tzinfo=UTC)  # a Monday, after the close in New York


def test_day_after_day_the_mirrored_bars_are_the_tables_to_the_last_digit(
    sessions: SessionFactory, tmp_path: Path, migrated_sqlite: Callable[[Path], str]
) -> None:
    """The same days asked of two databases: through the table, and through the backtest's mirror."""
    mirror_sessions = session_factory(make_engine(migrated_sqlite(tmp_path / "mirror.db")))
    clock = ManualClock(FIRST)
    table = BarService(PaperBroker(sessions, clock, SimulatedMarket(seed=7)), clock)
    broker = PaperBroker(mirror_sessions, clock, SimulatedMarket(seed=7))
    mirrored = mirrored_bars()(broker, clock)
    assert mirrored_bars()(broker, clock) is not mirrored  # each backtest its own copy
    for day in range(12):
        clock.set(FIRST + timedelta(days=day, hours=day % 3))
        answers = []
        for service, opened in ((table, sessions), (mirrored, mirror_sessions)):
            with opened() as session:
                answers.append(service.daily_bars(session, conid=AAPL, as_of=clock.now(), lookback_days=120))
                session.commit()
        cold, warm = answers
        assert warm == cold
        assert [tuple(map(str, (b.ts, b.open, b.close, b.volume))) for b in warm.bars] == [
            tuple(map(str, (b.ts, b.open, b.close, b.volume))) for b in cold.bars
        ]
