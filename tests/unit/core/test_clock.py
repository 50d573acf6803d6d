"""The injectable clocks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from ibflow.core.clock import ManualClock, SystemClock, ensure_utc


def test_system_clock_is_aware_utc() -> None:
    now = SystemClock().now()
    assert now.tzinfo == UTC


def test_manual_clock_moves_only_when_told() -> None:
    start = datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=2)))
    clock = ManualClock(start)
    assert clock.now() == start
    assert clock.now().tzinfo == UTC
    assert clock.advance(timedelta(minutes=5)) == start + timedelta(minutes=5)
    clock.set(datetime(2025, 1, 1, tzinfo=UTC))
    assert clock.now().year == 2025


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        ensure_utc(datetime(2026, 1, 1))  # noqa: DTZ001
    with pytest.raises(ValueError, match="naive"):
        ManualClock(datetime(2026, 1, 1))  # noqa: DTZ001
