"""The in-process query cache and the trading day."""

from __future__ import annotations

from datetime import UTC, datetime

from ibflow.marketdata.cache import InProcessTtlCache
from ibflow.marketdata.calendar import day_bounds, trading_date


def test_entries_expire_after_their_ttl_and_the_oldest_is_evicted() -> None:
    now = [0.0]
    cache = InProcessTtlCache(max_entries=2, monotonic=lambda: now[0])
    cache.set("a", {"v": 1}, ttl_s=10)
    cache.set("b", [2], ttl_s=100)
    assert cache.get("a") == {"v": 1}
    cache.set("c", "3", ttl_s=100)  # evicts b: a was used more recently
    assert cache.get("b") is None
    now[0] = 11
    assert cache.get("a") is None
    assert cache.get("c") == "3"
    cache.delete("c")
    assert cache.get("c") is None


def test_the_trading_day_ends_at_midnight_new_york() -> None:
    late = datetime(2026, 3, 5, 4, 30, tzinfo=UTC)  # 23:30 on the 4th in New York
    assert str(trading_date(late)) == "2026-03-04"
    start, end = day_bounds(late)
    assert start == datetime(2026, 3, 4, 5, 0, tzinfo=UTC)
    assert end == datetime(2026, 3, 5, 5, 0, tzinfo=UTC)
    summer_start, _ = day_bounds(datetime(2026, 7, 1, 12, tzinfo=UTC))
    assert summer_start == datetime(2026, 7, 1, 4, 0, tzinfo=UTC)
