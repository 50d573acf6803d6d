"""The gateway's session state machine, on the simulator's clock.

States (reported by ``/tickle`` and ``/iserver/auth/status``):

- ``NO_SESSION``: nobody logged in at the gateway's browser page; every API call answers 401.
- ``CONNECTED``: a portal session without a brokerage session (it idled out, or was logged out of the
  brokerage side): ``/portfolio``, ``/trsrv``, ``/sso`` work, ``/iserver`` answers 401 ``not authenticated``
  until ``ssodh/init`` or ``reauthenticate``.
- ``COMPETING``: another brokerage session of the same user exists; ``/iserver`` trading answers 401
  until ``ssodh/init`` with ``compete: true`` takes the session back.
- ``AUTHENTICATED``: everything works.

Transitions: the ``/sim/login`` control (a user logging in at the gateway) starts an authenticated session;
no request for ``idle_timeout`` drops the brokerage session (``CONNECTED``); the SSO countdown
(``ssoExpires``, refreshed by ``/tickle`` and ``/sso/validate``) running out, the nightly reset at
``reset_hour_new_york`` and ``/logout`` end the session (``NO_SESSION``). Each new brokerage session
forgets what the old one primed (``/iserver/accounts``, snapshots, live orders, suppressed questions).
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from ibflow.core.clock import Clock

NEW_YORK = ZoneInfo("America/New_York")


class SessionState(StrEnum):
    """Where the gateway's session is."""

    NO_SESSION = "no_session"
    CONNECTED = "connected"
    COMPETING = "competing"
    AUTHENTICATED = "authenticated"


@dataclass
class Brokerage:
    """What one brokerage session has primed; a new session starts empty."""

    started_at: datetime
    accounts_queried: bool = False
    portfolio_queried: bool = False
    orders_primed: bool = False
    snapshot_fields: dict[int, set[str]] = field(default_factory=dict)
    suppressed: set[str] = field(default_factory=set)
    seen_orders: set[int] = field(default_factory=set)


class SessionMachine:
    """The session of one simulated gateway; every method takes the lock."""

    def __init__(
        self,
        clock: Clock,
        *,
        idle_timeout: timedelta,
        sso_lifetime: timedelta,
        reset_hour_new_york: int = 0,
        logged_in: bool = True,
    ) -> None:
        self._clock = clock
        self._idle_timeout = idle_timeout
        self._sso_lifetime = sso_lifetime
        self._reset_hour = reset_hour_new_york
        self._lock = threading.RLock()
        now = clock.now()
        self._state = SessionState.NO_SESSION
        self._last_request = now
        self._sso_until = now
        self._reset_at = now
        self.token = ""
        self.logged_in_at = now
        self.brokerage = Brokerage(started_at=now)
        if logged_in:
            self.login()

    @property
    def state(self) -> SessionState:
        """Return the state now (after expiries)."""
        with self._lock:
            self._expire(self._clock.now())
            return self._state

    def touch(self) -> SessionState:
        """Record an API request: apply expiries first, then restart the idle countdown."""
        with self._lock:
            now = self._clock.now()
            self._expire(now)
            self._last_request = now
            return self._state

    def sso_remaining(self) -> timedelta:
        """Return how long until the SSO session ends."""
        with self._lock:
            return max(self._sso_until - self._clock.now(), timedelta(0))

    def refresh_sso(self) -> None:
        """Push the SSO expiry out again (what ``/tickle`` and ``/sso/validate`` do)."""
        with self._lock:
            if self._state is not SessionState.NO_SESSION:
                self._sso_until = self._clock.now() + self._sso_lifetime

    def login(self) -> None:
        """Log in at the gateway's page: a fresh, authenticated brokerage session."""
        with self._lock:
            now = self._clock.now()
            self.token = secrets.token_hex(16)
            self.logged_in_at = now
            self._sso_until = now + self._sso_lifetime
            self._reset_at = _next_reset(now, self._reset_hour)
            self._last_request = now
            self._start_brokerage(now)

    def init_brokerage(self, *, compete: bool) -> bool:
        """``ssodh/init`` / ``reauthenticate``: start a brokerage session; False when no portal session."""
        with self._lock:
            now = self._clock.now()
            self._expire(now)
            if self._state is SessionState.NO_SESSION:
                return False
            if self._state is SessionState.COMPETING and not compete:
                return True
            if self._state is not SessionState.AUTHENTICATED:
                self._start_brokerage(now)
            return True

    def logout(self) -> None:
        """End the session: a new login at the gateway is needed."""
        with self._lock:
            self._state = SessionState.NO_SESSION

    def drop_brokerage(self) -> None:
        """Lose the brokerage session but keep the portal one (as after an idle expiry)."""
        with self._lock:
            if self._state is not SessionState.NO_SESSION:
                self._state = SessionState.CONNECTED

    def compete(self) -> None:
        """Another login of the same user took the brokerage session."""
        with self._lock:
            if self._state is not SessionState.NO_SESSION:
                self._state = SessionState.COMPETING

    def _start_brokerage(self, now: datetime) -> None:
        self._state = SessionState.AUTHENTICATED
        self.brokerage = Brokerage(started_at=now)

    def _expire(self, now: datetime) -> None:
        if self._state is SessionState.NO_SESSION:
            return
        if now >= self._reset_at or now >= self._sso_until:
            self._state = SessionState.NO_SESSION
        elif self._state is SessionState.AUTHENTICATED and now - self._last_request >= self._idle_timeout:
            self._state = SessionState.CONNECTED


def _next_reset(now: datetime, hour: int) -> datetime:
    local = now.astimezone(NEW_YORK)
    reset = datetime.combine(local.date(), time(hour), tzinfo=NEW_YORK)
    if reset <= local:
        reset = datetime.combine(local.date() + timedelta(days=1), time(hour), tzinfo=NEW_YORK)
    return reset
