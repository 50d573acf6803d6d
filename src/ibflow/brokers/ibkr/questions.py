"""IBKR order questions: which message ids ibflow confirms by itself (TRADING-SAFETY, "IBKR order questions").

A placement or modification may be answered with a question (a reply id, message ids, texts). ibflow
confirms it only when every message id is on the allow-list; otherwise it declines at once (the gateway
invalidates an unanswered question as soon as another request arrives, so it cannot wait for a person) and
raises ``OrderNeedsConfirmation``: the order waits, ``needs_confirmation``, until a trader confirms it,
which sends it again with those message ids confirmed for that order only.
"""

from __future__ import annotations

from collections.abc import Callable

from ibflow.core.errors import OrderNeedsConfirmation

__all__ = ["INFORMATIONAL", "MAX_ROUNDS", "OrderNeedsConfirmation", "QuestionPolicy"]

INFORMATIONAL = frozenset({"p12", "o10331", "o10152"})
"""Confirmed unless the allow-list says otherwise: notices that change nothing about the order
(p12 price-management algo, o10331 / o10152 stop-order risk disclosures)."""

MAX_ROUNDS = 10
"""Questions answered for one request at most (IBKR chains them; IBind stops at 20)."""


class QuestionPolicy:
    """The message ids confirmed for every order (read at each question: the run-time setting
    ``ibkr_question_allow_list`` may change at any time), and those a trader confirmed for one order."""

    def __init__(self, allowed: Callable[[], frozenset[str]] | frozenset[str] = INFORMATIONAL) -> None:
        self._allowed = allowed if callable(allowed) else (lambda: allowed)

    def allowed(self) -> frozenset[str]:
        """The allow-list now."""
        return self._allowed()

    def confirms(self, message_ids: tuple[str, ...], *, also: frozenset[str] = frozenset()) -> bool:
        """Whether every id is allowed (``also``: confirmed by a trader for this order)."""
        allowed = self._allowed()
        return bool(message_ids) and all(m in allowed or m in also for m in message_ids)
