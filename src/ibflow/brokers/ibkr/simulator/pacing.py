"""IBKR's pacing on the simulator's clock: the global limit, the per-endpoint limits and the penalty box.

Limits are sliding windows of simulated time (reference §7): 10 requests a second through the gateway, and
per endpoint the table below. A request over a limit answers 429; with a penalty box configured, the
offending client address then gets 429 for everything during the box. ``/iserver/marketdata/history``
allows 5 requests at once (``Gate``). A refused request does not count towards a window.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from ibflow.core.clock import Clock

SECOND = timedelta(seconds=1)


@dataclass(frozen=True)
class Limit:
    """At most ``count`` requests per ``window`` to the paths ``pattern`` matches."""

    name: str
    pattern: re.Pattern[str]
    count: int
    window: timedelta


def _limit(name: str, pattern: str, count: int, window: timedelta) -> Limit:
    return Limit(name, re.compile(pattern), count, window)


ENDPOINT_LIMITS: tuple[Limit, ...] = (
    _limit("snapshot", r"^/iserver/marketdata/snapshot$", 10, SECOND),
    _limit("live orders", r"^/iserver/account/orders$", 1, 5 * SECOND),
    _limit("trades", r"^/iserver/account/trades$", 1, 5 * SECOND),
    _limit("pnl", r"^/iserver/account/pnl/partitioned$", 1, 5 * SECOND),
    _limit("portfolio accounts", r"^/portfolio/accounts$", 1, 5 * SECOND),
    _limit("portfolio subaccounts", r"^/portfolio/subaccounts$", 1, 5 * SECOND),
    _limit("tickle", r"^/tickle$", 1, SECOND),
    _limit("sso validate", r"^/sso/validate$", 1, 60 * SECOND),
    _limit("scanner run", r"^/iserver/scanner/run$", 1, SECOND),
    _limit("fyi", r"^/fyi/", 1, SECOND),
)
"""Reference §7 (placing goes to ``/iserver/account/{acct}/orders``, which is not paced)."""


class RateLimiter:
    """The sliding windows and the penalty box of one gateway; thread-safe."""

    def __init__(
        self,
        clock: Clock,
        *,
        enabled: bool = True,
        global_per_second: int = 10,
        penalty_box: timedelta = timedelta(0),
    ) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.enabled = enabled
        self.global_per_second = global_per_second
        self.penalty_box = penalty_box
        self._windows: dict[str, deque[datetime]] = {}
        self._boxed_until: dict[str, datetime] = {}

    def check(self, client: str, path: str) -> str | None:
        """Count a request; return why it is refused (429) or ``None`` when it may pass."""
        now = self._clock.now()
        with self._lock:
            until = self._boxed_until.get(client)
            if until is not None and now < until:
                return "penalty box"
            if not self.enabled:
                return None
            limits = [Limit("global", re.compile(""), self.global_per_second, SECOND)]
            limits += [item for item in ENDPOINT_LIMITS if item.pattern.match(path)]
            for item in limits:
                window = self._windows.setdefault(item.name, deque())
                while window and window[0] <= now - item.window:
                    window.popleft()
                if len(window) >= item.count:
                    if self.penalty_box > timedelta(0):
                        self._boxed_until[client] = now + self.penalty_box
                    return item.name
            for item in limits:
                self._windows[item.name].append(now)
            return None

    def configure(
        self, *, enabled: bool | None, global_per_second: int | None, penalty_box: timedelta | None
    ) -> None:
        """Change the limits from now on; a change empties the windows and the box."""
        with self._lock:
            if enabled is not None:
                self.enabled = enabled
            if global_per_second is not None:
                self.global_per_second = global_per_second
            if penalty_box is not None:
                self.penalty_box = penalty_box
            self._windows.clear()
            self._boxed_until.clear()


class Gate:
    """At most ``size`` holders at once; a further ``enter`` is refused, never queued."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._held = 0
        self._lock = threading.Lock()

    def enter(self) -> bool:
        """Take a place; False when all are taken."""
        with self._lock:
            if self._held >= self._size:
                return False
            self._held += 1
            return True

    def leave(self) -> None:
        """Give a place back."""
        with self._lock:
            self._held -= 1
