"""Login throttling: failed logins counted per user name and per client address in a sliding window.

Kept in the process (the embedded default serves the API from one process); over the limit, a login is
refused with how many seconds to wait, before the password is even checked. A success clears the name's
count. Unknown and disabled users count like wrong passwords, so the answers never tell them apart.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from datetime import datetime, timedelta

from ibflow.core.clock import Clock
from ibflow.core.errors import Throttled

SWEEP_ABOVE = 4_096
"""Names and addresses kept before those with no failure left in the window are dropped."""


class LoginThrottle:
    """Sliding windows of failed logins; thread-safe."""

    def __init__(self, clock: Clock, *, per_user: int, per_address: int, window: timedelta) -> None:
        self._clock = clock
        self._per_user = per_user
        self._per_address = per_address
        self._window = window
        self._lock = threading.Lock()
        self._failures: dict[str, deque[datetime]] = {}

    def attempt(self, username: str, address: str) -> datetime:
        """Count one login attempt as a failure before the password is checked; return its mark.

        Checking and counting in one locked step means a burst of parallel attempts cannot all pass the
        check before any failure is counted. Over the limit it raises ``Throttled`` (with the wait) and
        counts nothing; a correct password takes the attempt back with ``succeeded``.
        """
        now = self._clock.now()
        keys = ((_user(username), self._per_user), (_address(address), self._per_address))
        with self._lock:
            wait = max(self._wait(key, limit, now) for key, limit in keys)
            if wait == 0:
                for key, _ in keys:
                    self._failures.setdefault(key, deque()).append(now)
                if len(self._failures) > SWEEP_ABOVE:
                    self._sweep(now)
        if wait > 0:
            raise Throttled(f"too many failed logins; try again in {wait} seconds", retry_after=wait)
        return now

    def succeeded(self, username: str, address: str, mark: datetime) -> None:
        """Forget the name's failures and take back this attempt's count for the address."""
        with self._lock:
            self._failures.pop(_user(username), None)
            counted = self._failures.get(_address(address))
            if counted is not None and mark in counted:
                counted.remove(mark)

    def _sweep(self, now: datetime) -> None:
        for key in [k for k, times in self._failures.items() if not times or times[-1] <= now - self._window]:
            del self._failures[key]

    def _wait(self, key: str, limit: int, now: datetime) -> int:
        failures = self._failures.get(key)
        if not failures:
            return 0
        while failures and failures[0] <= now - self._window:
            failures.popleft()
        if len(failures) < limit:
            return 0
        return max(1, math.ceil((failures[0] + self._window - now).total_seconds()))


def _user(username: str) -> str:
    return f"user:{username.strip().lower()}"


def _address(address: str) -> str:
    return f"address:{address}"
