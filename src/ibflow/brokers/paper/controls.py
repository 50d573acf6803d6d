"""Test switches on the simulated market: halt, delay or freeze a symbol, remove its liquidity.

Each switch is an interval of simulated time, ``[at, until)``, set and cleared with the caller's clock
time, so lazy evaluation sees it exactly where it was in time however late someone looks:

- **halt**: no trigger and no fill while halted; the quote is ``HALTED`` at the last price before the halt.
- **delay**: the quote is ``DELAYED`` and shows the price of N minutes ago; fills are unaffected.
- **freeze**: the quote is ``FROZEN`` at the price of the freeze time; fills are unaffected.
- **remove liquidity**: stops still trigger, but nothing fills until liquidity returns; a stop that
  triggered meanwhile then fills at the price of that moment.

Two switches make the broker's view late and forgetful, as a real gateway's is (they act on what the
broker *reports*, never on its books):

- **executions lag**: ``executions`` leaves out fills younger than the lag, while order status (live
  orders, ``order_status``) and positions already show them — a fill is reported before its execution.
- **ended orders forgotten**: ``live_orders`` lists an ended order only for this long after it ended
  (24 hours by default; zero forgets at once). ``order_status`` still finds it.

A third makes the broker less helpful: with **children fixed**, a bracket's children keep the parent's full
quantity instead of shrinking to what the parent filled, so ibflow must resize them itself.

An order cancelled from outside ibflow (a trader in TWS, the broker itself) is
``PaperBroker.cancel_from_outside``.

The switches live in the memory of the ``SimulatedMarket`` they belong to (tests run in one process); set
them at or after the books' last evaluation, never in the past that has already been matched.
The broker session status is a switch here as well, healthy unless a test says otherwise.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from ibflow.brokers.base import SessionStatus
from ibflow.core.clock import ensure_utc


class Switch(StrEnum):
    """What a control does to a symbol."""

    HALT = "halt"
    DELAY = "delay"
    FREEZE = "freeze"
    NO_LIQUIDITY = "no_liquidity"


@dataclass(frozen=True)
class SwitchInterval:
    """One switch on one symbol from ``since`` until ``until`` (``None``: still on)."""

    since: datetime
    until: datetime | None
    minutes: int = 0

    def covers(self, at: datetime) -> bool:
        """Tell whether the switch is on at ``at``."""
        return self.since <= at and (self.until is None or at < self.until)


HEALTHY = SessionStatus(authenticated=True, connected=True)


class MarketControls:
    """The switches of one simulated market; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._intervals: dict[tuple[Switch, int], list[SwitchInterval]] = {}
        self._session = HEALTHY
        self._executions_lag = timedelta(0)
        self._ended_listed_for: timedelta | None = None
        self._children_follow_fills = True
        self._children_cancel_each_other = True

    def halt(self, conid: int, *, at: datetime) -> None:
        """Halt trading in ``conid`` from ``at``: nothing triggers or fills, the quote says HALTED."""
        self._start(Switch.HALT, conid, at)

    def resume(self, conid: int, *, at: datetime) -> None:
        """End the halt of ``conid`` at ``at``."""
        self._stop(Switch.HALT, conid, at)

    def delay(self, conid: int, minutes: int, *, at: datetime) -> None:
        """Delay the quote of ``conid`` by ``minutes`` from ``at`` (flag DELAYED)."""
        if minutes <= 0:
            raise ValueError(f"a delay needs a positive number of minutes, got {minutes}")
        self._start(Switch.DELAY, conid, at, minutes)

    def undelay(self, conid: int, *, at: datetime) -> None:
        """End the quote delay of ``conid`` at ``at``."""
        self._stop(Switch.DELAY, conid, at)

    def freeze(self, conid: int, *, at: datetime) -> None:
        """Freeze the quote of ``conid`` at its price at ``at`` (flag FROZEN)."""
        self._start(Switch.FREEZE, conid, at)

    def unfreeze(self, conid: int, *, at: datetime) -> None:
        """End the quote freeze of ``conid`` at ``at``."""
        self._stop(Switch.FREEZE, conid, at)

    def remove_liquidity(self, conid: int, *, at: datetime) -> None:
        """From ``at`` nothing in ``conid`` fills (stops still trigger) until liquidity is restored."""
        self._start(Switch.NO_LIQUIDITY, conid, at)

    def restore_liquidity(self, conid: int, *, at: datetime) -> None:
        """Let ``conid`` fill again from ``at``."""
        self._stop(Switch.NO_LIQUIDITY, conid, at)

    def set_session(self, status: SessionStatus) -> None:
        """Make ``session_status`` report ``status`` (e.g. disconnected) until set again."""
        with self._lock:
            self._session = status

    def lag_executions(self, lag: timedelta) -> None:
        """Report fills in ``executions`` only ``lag`` after they happened (zero: at once)."""
        if lag < timedelta(0):
            raise ValueError(f"an executions lag cannot be negative, got {lag}")
        with self._lock:
            self._executions_lag = lag

    @property
    def executions_lag(self) -> timedelta:
        """Return how long a fill stays out of ``executions``."""
        with self._lock:
            return self._executions_lag

    def forget_ended_orders(self, after: timedelta | None) -> None:
        """List an ended order in ``live_orders`` only ``after`` it ended (``None``: the broker's default)."""
        if after is not None and after < timedelta(0):
            raise ValueError(f"a listing window cannot be negative, got {after}")
        with self._lock:
            self._ended_listed_for = after

    @property
    def ended_orders_listed_for(self) -> timedelta | None:
        """Return how long ``live_orders`` keeps an ended order (``None``: the broker's default)."""
        with self._lock:
            return self._ended_listed_for

    def fix_children(self, fixed: bool = True) -> None:
        """Leave bracket children at the parent's full quantity (``fixed``) or let them follow its fills."""
        with self._lock:
            self._children_follow_fills = not fixed

    def separate_children(self, separate: bool = True) -> None:
        """Leave the other child working when one filled whole (``separate``), or cancel it (the default)."""
        with self._lock:
            self._children_cancel_each_other = not separate

    @property
    def children_cancel_each_other(self) -> bool:
        """Tell whether a bracket child that filled whole cancels its sibling (the default)."""
        with self._lock:
            return self._children_cancel_each_other

    @property
    def children_follow_fills(self) -> bool:
        """Tell whether bracket children shrink to what the parent filled (the default)."""
        with self._lock:
            return self._children_follow_fills

    @property
    def session(self) -> SessionStatus:
        """Return the session status the broker reports."""
        with self._lock:
            return self._session

    def active(self, switch: Switch, conid: int, at: datetime) -> SwitchInterval | None:
        """Return the interval of ``switch`` on ``conid`` covering ``at``, if any."""
        at = ensure_utc(at)
        with self._lock:
            intervals = list(self._intervals.get((switch, conid), ()))
        return next((i for i in intervals if i.covers(at)), None)

    def intervals(self, switch: Switch, conid: int) -> list[SwitchInterval]:
        """Return every interval of ``switch`` on ``conid``, oldest first."""
        with self._lock:
            return list(self._intervals.get((switch, conid), ()))

    def _start(self, switch: Switch, conid: int, at: datetime, minutes: int = 0) -> None:
        at = ensure_utc(at)
        with self._lock:
            intervals = self._intervals.setdefault((switch, conid), [])
            if intervals and intervals[-1].until is None:
                raise ValueError(f"{switch.value} is already on for conid {conid}")
            if intervals and intervals[-1].until is not None and at < intervals[-1].until:
                raise ValueError(f"{switch.value} on conid {conid} cannot start before its last end")
            intervals.append(SwitchInterval(since=at, until=None, minutes=minutes))

    def _stop(self, switch: Switch, conid: int, at: datetime) -> None:
        at = ensure_utc(at)
        with self._lock:
            intervals = self._intervals.get((switch, conid), [])
            if not intervals or intervals[-1].until is not None:
                raise ValueError(f"{switch.value} is not on for conid {conid}")
            last = intervals[-1]
            if at < last.since:
                raise ValueError(f"{switch.value} on conid {conid} cannot end before it started")
            intervals[-1] = SwitchInterval(since=last.since, until=at, minutes=last.minutes)
