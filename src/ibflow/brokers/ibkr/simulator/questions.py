"""The order reply ("question") loop: which questions an order is asked, and the replies awaited.

A placement or modification with questions configured answers the first unsuppressed question instead of
acting; each ``POST /iserver/reply/{id}`` with ``confirmed: true`` answers the next question of the chain
or, after the last, carries the action out. ``confirmed: false`` discards the order. A reply id is good
once and only until another order request arrives or ``reply_timeout`` (simulated) passes; a stale id
answers 503, as IBKR does.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from ibflow.core.clock import Clock

MESSAGES: dict[str, str] = {
    "o163": 'The following order "{order}" price exceeds \nthe Percentage constraint of 3%.\n'
    "Are you sure you want to submit this order?",
    "o354": "You are submitting an order without market data. We strongly recommend against this as it may "
    "result in erroneous and unexpected trades.\nAre you sure you want to submit this order?",
    "o382": "The following value exceeds the tick size limit of 1.\n"
    "Are you sure you want to submit this order?",
    "o383": 'The following order "{order}" size exceeds the Size Limit of 500.\n'
    "Are you sure you want to submit this order?",
    "o403": "This order will most likely trigger and fill immediately.\n"
    "Are you sure you want to submit this order?",
    "o451": 'The following order "{order}" value estimate of 1,000,000.00 USD exceeds \n'
    "the Total Value Limit of 500,000 USD.\nAre you sure you want to submit this order?",
    "o10151": "You are about to submit a market order. Market orders are executed at the best available "
    "price and may be filled at a price far from the last.\nAre you sure you want to submit this order?",
    "o10331": "You are about to submit a stop order. Please be aware of the various stop order types "
    "available and the risks associated with each one.\nAre you sure you want to submit this order?",
    "p12": "If your order is not immediately executable, our systems may, depending on market conditions, "
    "reject your order if its limit price is more than the allowed amount away from the reference price.\n"
    "Are you sure you want to submit this order?",
}
"""Message texts by id (illustrative; a client should match the id, not the words)."""


@dataclass
class PendingReply:
    """A question waiting for its reply, and what happens once every question is confirmed."""

    reply_id: str
    remaining: list[str]
    describe: str
    act: Callable[[], object]
    asked_at: datetime


class ReplyBook:
    """The one reply the gateway waits for (IBKR keeps the latest order's question only)."""

    def __init__(self, clock: Clock, timeout: timedelta) -> None:
        self._clock = clock
        self._timeout = timeout
        self._lock = threading.Lock()
        self._pending: PendingReply | None = None
        self.chain: list[str] = []

    def ask(
        self, chain: list[str], describe: str, act: Callable[[], object]
    ) -> list[dict[str, object]] | None:
        """Start a new question chain (dropping any older one); ``None`` when nothing is left to ask."""
        with self._lock:
            self._pending = None
            if not chain:
                return None
            pending = PendingReply("", chain, describe, act, self._clock.now())
            return self._next_question(pending)

    def invalidate(self) -> None:
        """Another order request arrived: the waiting reply goes stale."""
        with self._lock:
            self._pending = None

    def reply(self, reply_id: str) -> PendingReply | None:
        """Take the pending reply ``reply_id``; ``None`` when it is unknown, used or stale."""
        with self._lock:
            pending = self._pending
            if pending is None or pending.reply_id != reply_id:
                return None
            self._pending = None
            if self._clock.now() - pending.asked_at > self._timeout:
                return None
            return pending

    def follow_up(self, pending: PendingReply) -> list[dict[str, object]] | None:
        """Ask the next question of a confirmed chain; ``None`` when it was the last."""
        with self._lock:
            if not pending.remaining:
                return None
            return self._next_question(pending)

    def _next_question(self, pending: PendingReply) -> list[dict[str, object]]:
        message_id = pending.remaining[0]
        pending.remaining = pending.remaining[1:]
        pending.reply_id = str(uuid.uuid4())
        pending.asked_at = self._clock.now()
        self._pending = pending
        text = MESSAGES.get(message_id, "Are you sure you want to submit this order?")
        return [
            {
                "id": pending.reply_id,
                "isSuppressed": False,
                "messageIds": [message_id],
                "message": [text.replace("{order}", pending.describe)],
            }
        ]
