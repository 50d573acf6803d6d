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


class LoginThrottle:
    """Sliding windows of failed logins; thread-safe."""

    def __init__(self, clock: Clock, *, per_user: int, per_address: int, window: timedelta) -> None:
        self._clock = clock
        self._per_user = per_user
        self._per_address = per_address
        self._window = window
        self._lock = threading.Lock()
        self._failures: dict[str, deque[datetime]] = {}

    def check(self, username: str, address: str) -> None:
        """Raise ``Throttled`` when either the name or the address has used up its failures."""
        now = self._clock.now()
        with self._lock:
            waits = [
                self._wait(key, limit, now)
                for key, limit in ((_user(username), self._per_user), (_address(address), self._per_address))
            ]
        wait = max(waits)
        if wait > 0:
            raise Throttled(f"too many failed logins; try again in {wait} seconds", retry_after=wait)

    def failed(self, username: str, address: str) -> None:
        """Count one failed login."""
        now = self._clock.now()
        with self._lock:
            for key in (_user(username), _address(address)):
                self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, username: str) -> None:
        """Forget the name's failures (the address keeps its count)."""
        with self._lock:
            self._failures.pop(_user(username), None)

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
