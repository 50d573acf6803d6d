"""Faults a test (or a user trying ibflow's recovery) switches on: ``/sim/faults`` and the CLI flags.

Gateway-level faults live here; the paper broker's own switches (executions lag, ended orders forgotten,
children fixed) are set on its ``MarketControls`` by the control routes.

- ``errors``: the next N API calls answer ``status`` (500 or 503) with IBKR's error body.
- ``delay``: every API answer waits this many *wall* seconds (so client timeouts can be tested).
- ``drop_after_order``: the next N order placements are carried out, then the connection is cut before
  the answer is complete (the order lives; the client cannot know).
- ``error_body``: the next N placements or modifications answer HTTP 200 with ``{"error": message}``
  and change nothing (as IBKR's business rejections).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class ErrorAnswer:
    """An HTTP error to answer instead of the real one."""

    status: int
    body: dict[str, object]


ERROR_BODIES: dict[int, str] = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}
DEFAULT_REJECTION = "We cannot accept an order at the limit price you selected. Please submit a new price."


class Faults:
    """The gateway faults now on; thread-safe counters."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._errors_left = 0
        self._error_status = 500
        self.delay_seconds = 0.0
        self._drops_left = 0
        self._rejections_left = 0
        self._rejection = DEFAULT_REJECTION

    def fail_calls(self, count: int, status: int = 500) -> None:
        """Answer the next ``count`` API calls with ``status``."""
        if status not in ERROR_BODIES:
            raise ValueError(f"status must be one of {sorted(ERROR_BODIES)}, got {status}")
        with self._lock:
            self._errors_left, self._error_status = count, status

    def next_error(self) -> ErrorAnswer | None:
        """Use up one forced error, if any is left."""
        with self._lock:
            if self._errors_left <= 0:
                return None
            self._errors_left -= 1
            status = self._error_status
        return ErrorAnswer(status, {"error": ERROR_BODIES[status], "statusCode": status})

    def drop_after_orders(self, count: int) -> None:
        """Cut the connection after each of the next ``count`` placements was carried out."""
        with self._lock:
            self._drops_left = count

    def take_drop(self) -> bool:
        """Use up one connection drop, if any is left."""
        with self._lock:
            if self._drops_left <= 0:
                return False
            self._drops_left -= 1
            return True

    def reject_orders(self, count: int, message: str = DEFAULT_REJECTION) -> None:
        """Answer the next ``count`` placements or modifications with HTTP 200 and an error body."""
        with self._lock:
            self._rejections_left, self._rejection = count, message

    def take_rejection(self) -> str | None:
        """Use up one rejection, if any is left; return its message."""
        with self._lock:
            if self._rejections_left <= 0:
                return None
            self._rejections_left -= 1
            return self._rejection

    def describe(self) -> dict[str, object]:
        """Return what is on now (for ``GET /sim/faults``)."""
        with self._lock:
            return {
                "errors_left": self._errors_left,
                "error_status": self._error_status,
                "delay_seconds": self.delay_seconds,
                "drops_left": self._drops_left,
                "rejections_left": self._rejections_left,
            }
