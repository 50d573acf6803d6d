"""The simulator's own clock: wall time scaled by ``time_scale``, set and moved by a control.

A scale of 60 makes one wall second a simulated minute, so a 6-minute idle expiry takes 6 seconds; a scale of
0 stops the clock, and only ``/sim/clock`` moves it (the tests' way to stay in step with a manual clock).
The clock never goes backwards: the paper broker's books cannot be matched into the past.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from ibflow.core.clock import Clock, SystemClock, ensure_utc


class SimClock:
    """A ``Clock`` running at ``scale`` times the wall clock from ``start``; thread-safe."""

    def __init__(
        self, start: datetime | None = None, *, scale: float = 1.0, wall: Clock | None = None
    ) -> None:
        if scale < 0:
            raise ValueError(f"a time scale cannot be negative, got {scale}")
        self._wall = wall or SystemClock()
        self._lock = threading.Lock()
        self._wall_base = self._wall.now()
        self._base = ensure_utc(start) if start is not None else self._wall_base
        self._scale = scale

    @property
    def scale(self) -> float:
        """Return how many simulated seconds pass per wall second."""
        with self._lock:
            return self._scale

    def now(self) -> datetime:
        """Return the simulated time now."""
        with self._lock:
            return self._now_locked()

    def set(self, when: datetime) -> datetime:
        """Move the clock forwards to ``when``; refuse to move it back."""
        when = ensure_utc(when)
        with self._lock:
            current = self._now_locked()
            if when < current:
                raise ValueError(f"the simulator's clock cannot go back from {current.isoformat()}")
            self._rebase(when)
            return when

    def advance(self, delta: timedelta) -> datetime:
        """Move the clock forwards by ``delta``."""
        if delta < timedelta(0):
            raise ValueError(f"the simulator's clock cannot go back (advance by {delta})")
        with self._lock:
            when = self._now_locked() + delta
            self._rebase(when)
            return when

    def set_scale(self, scale: float) -> None:
        """Run at ``scale`` from now on (0 stops the clock)."""
        if scale < 0:
            raise ValueError(f"a time scale cannot be negative, got {scale}")
        with self._lock:
            self._rebase(self._now_locked())
            self._scale = scale

    def _now_locked(self) -> datetime:
        return self._base + (self._wall.now() - self._wall_base) * self._scale

    def _rebase(self, when: datetime) -> None:
        self._base = when
        self._wall_base = self._wall.now()
