"""``FaultyBroker``: wrap any ``Broker`` to produce the submit outcomes of TRADING-SAFETY on demand.

Faults are one-shot and apply to ``place_order`` or ``place_bracket``, in the order they were injected:

- ``ACCEPT_THEN_RAISE``: the inner broker gets the order, the caller gets ``OrderOutcomeUnknown``.
- ``REFUSE_BEFORE_SENDING``: the caller gets ``OrderNotSent``; the inner broker is never called.
- ``LOSE_IN_FLIGHT``: the caller gets ``OrderOutcomeUnknown``; the inner broker is never called.
- ``DUPLICATE_ORDER_ID``: the inner broker gets the order, the caller gets ``DuplicateClientOrderId``.
- ``ASK_QUESTION``: the broker asks IBKR's price question (``o163``) and, unanswered, places nothing: the
  caller gets ``OrderNeedsConfirmation`` unless the request's ``confirmed_questions`` hold ``o163``.

``ask_always(ids)`` makes every submit ask those questions until the request confirms them (what
``IBFLOW_PAPER_QUESTIONS`` does for the embedded default, so confirmations can be tried without a gateway).

Every call is counted per method (faulted ones included), so a test can assert that nothing reached the
broker: ``broker.calls["place_order"] == 0`` or ``broker.total_calls == 0``.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import Counter, deque
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from ibflow.brokers.base import (
    AccountSummary,
    BarData,
    BracketRequest,
    Broker,
    BrokerOrder,
    BrokerPosition,
    Contract,
    Execution,
    OrderChange,
    OrderRequest,
    PlacedOrder,
    Quote,
    SessionStatus,
)
from ibflow.core.errors import (
    DuplicateClientOrderId,
    OrderNeedsConfirmation,
    OrderNotSent,
    OrderOutcomeUnknown,
    TemporaryError,
)
from ibflow.core.ids import AccountId, BrokerOrderId, Conid

SubmitMethod = Literal["place_order", "place_bracket"]


class Fault(StrEnum):
    """What goes wrong with the next submit."""

    ACCEPT_THEN_RAISE = "accept_then_raise"
    REFUSE_BEFORE_SENDING = "refuse_before_sending"
    LOSE_IN_FLIGHT = "lose_in_flight"
    DUPLICATE_ORDER_ID = "duplicate_order_id"
    ASK_QUESTION = "ask_question"


_SURE = "Are you sure you want to submit this order?"
QUESTIONS = {
    "o163": f"The following order exceeds the price percentage constraint of 3%. {_SURE}",
    "o354": f"You are submitting an order without market data. {_SURE}",
    "o383": f"The following order size exceeds the Size Limit of 500. {_SURE}",
}
"""Questions the paper broker can ask, in IBKR's words (docs/gateway-simulator.md has the same ids)."""


_OPTIONAL = frozenset({"live_orders_fresh", "live_orders_interval_s"})
"""What a broker may offer besides the protocol (``brokers/base.py``), forwarded when the inner one has it."""


class FaultyBroker:
    """A ``Broker`` that forwards to ``inner``, counting calls and playing injected submit faults."""

    def __init__(self, inner: Broker) -> None:
        self.inner = inner
        self.name = inner.name
        self.calls: Counter[str] = Counter()
        self._faults: dict[str, deque[Fault]] = {"place_order": deque(), "place_bracket": deque()}
        self._always: tuple[str, ...] = ()
        self._unreadable: frozenset[str] = frozenset()
        self._hidden: frozenset[str] = frozenset()
        self._anonymous = False
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        """The inner broker's optional capabilities: without them a wrapped IBKR broker would be waited on as
        if its live orders could be read anew at any time (``Waiting.suited_to``)."""
        if name in _OPTIONAL:
            return getattr(self.inner, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def ask_always(self, message_ids: tuple[str, ...]) -> None:
        """Ask these questions (ids of ``QUESTIONS``) on every submit that has not confirmed them."""
        unknown = [m for m in message_ids if m not in QUESTIONS]
        if unknown:
            raise ValueError(f"unknown question ids {unknown}; known: {', '.join(QUESTIONS)}")
        self._always = message_ids

    def status_unreadable(self, broker_order_ids: set[str]) -> None:
        """Make ``order_status`` of these orders answer as IBKR does for an order older than its brokerage
        session: a 503 (``TemporaryError``), however often it is asked; an empty set reads all again."""
        self._unreadable = frozenset(broker_order_ids)

    def hide_from_live_orders(self, broker_order_ids: set[str]) -> None:
        """Leave these orders out of ``live_orders`` answers (a read that misses orders still working, as
        IBKR's filtered and after-hours answers have); an empty set lists everything again."""
        self._hidden = frozenset(broker_order_ids)

    def anonymous_executions(self, anonymous: bool = True) -> None:
        """Report executions as IBKR's trades endpoint does: no order id on any; a bracket child's then names
        no order at all (a parent's and a single order's keep our client order id)."""
        self._anonymous = anonymous

    def inject(self, fault: Fault, method: SubmitMethod = "place_order") -> None:
        """Make the next not yet faulted call of ``method`` fail with ``fault`` (once)."""
        with self._lock:
            self._faults[method].append(fault)

    def pending_faults(self, method: SubmitMethod = "place_order") -> list[Fault]:
        """Return the faults still waiting for a call of ``method``."""
        with self._lock:
            return list(self._faults[method])

    @property
    def total_calls(self) -> int:
        """Return how many calls were made, all methods together."""
        with self._lock:
            return sum(self.calls.values())

    def _count(self, method: str) -> None:
        with self._lock:
            self.calls[method] += 1

    def _next_fault(self, method: SubmitMethod) -> Fault | None:
        with self._lock:
            self.calls[method] += 1
            queue = self._faults[method]
            return queue.popleft() if queue else None

    def session_status(self) -> SessionStatus:
        """Forward to the inner broker."""
        self._count("session_status")
        return self.inner.session_status()

    def search_contracts(self, query: str) -> list[Contract]:
        """Forward to the inner broker."""
        self._count("search_contracts")
        return self.inner.search_contracts(query)

    def contract_details(self, conid: Conid) -> Contract:
        """Forward to the inner broker."""
        self._count("contract_details")
        return self.inner.contract_details(conid)

    def historical_bars(self, conid: Conid, bar_size: str, start: datetime, end: datetime) -> list[BarData]:
        """Forward to the inner broker."""
        self._count("historical_bars")
        return self.inner.historical_bars(conid, bar_size, start, end)

    def quote(self, conid: Conid) -> Quote:
        """Forward to the inner broker."""
        self._count("quote")
        return self.inner.quote(conid)

    def account_summary(self, account_id: AccountId) -> AccountSummary:
        """Forward to the inner broker."""
        self._count("account_summary")
        return self.inner.account_summary(account_id)

    def place_order(self, account_id: AccountId, order: OrderRequest) -> PlacedOrder:
        """Forward, or play the next injected fault for ``place_order``."""
        fault = self._next_fault("place_order")
        self._ask(fault, order)
        _before(fault, f"order {order.client_order_id}")
        placed = self.inner.place_order(account_id, order)
        _after(fault, f"order {order.client_order_id}")
        return placed

    def place_bracket(self, account_id: AccountId, bracket: BracketRequest) -> list[PlacedOrder]:
        """Forward, or play the next injected fault for ``place_bracket``."""
        fault = self._next_fault("place_bracket")
        label = f"bracket {bracket.parent.client_order_id}"
        self._ask(fault, bracket.parent)
        _before(fault, label)
        placed = self.inner.place_bracket(account_id, bracket)
        _after(fault, label)
        return placed

    def modify_order(
        self, account_id: AccountId, broker_order_id: BrokerOrderId, change: OrderChange
    ) -> BrokerOrder:
        """Forward to the inner broker."""
        self._count("modify_order")
        return self.inner.modify_order(account_id, broker_order_id, change)

    def cancel_order(self, account_id: AccountId, broker_order_id: BrokerOrderId) -> None:
        """Forward to the inner broker."""
        self._count("cancel_order")
        self.inner.cancel_order(account_id, broker_order_id)

    def live_orders(self, account_id: AccountId) -> list[BrokerOrder]:
        """Forward to the inner broker."""
        self._count("live_orders")
        listed = self.inner.live_orders(account_id)
        return [o for o in listed if o.broker_order_id not in self._hidden] if self._hidden else listed

    def order_status(self, account_id: AccountId, broker_order_id: BrokerOrderId) -> BrokerOrder:
        """Forward to the inner broker."""
        self._count("order_status")
        if broker_order_id in self._unreadable:
            raise TemporaryError(f"order status {broker_order_id}: the gateway answered 503 (Unavailable)")
        return self.inner.order_status(account_id, broker_order_id)

    def executions(self, account_id: AccountId, since: datetime) -> list[Execution]:
        """Forward to the inner broker."""
        self._count("executions")
        found = self.inner.executions(account_id, since)
        return [dataclasses.replace(e, broker_order_id=None) for e in found] if self._anonymous else found

    def positions(self, account_id: AccountId) -> list[BrokerPosition]:
        """Forward to the inner broker."""
        self._count("positions")
        return self.inner.positions(account_id)

    def _ask(self, fault: Fault | None, order: OrderRequest) -> None:
        asked = [*self._always, *(["o163"] if fault is Fault.ASK_QUESTION else [])]
        open_ids = tuple(m for m in dict.fromkeys(asked) if m not in order.confirmed_questions)
        if open_ids:
            text = " ".join(QUESTIONS[m] for m in open_ids)
            raise OrderNeedsConfirmation(text, open_ids)


def _before(fault: Fault | None, label: str) -> None:
    if fault is Fault.REFUSE_BEFORE_SENDING:
        raise OrderNotSent(f"{label} not sent (injected fault: refused before sending)")
    if fault is Fault.LOSE_IN_FLIGHT:
        raise OrderOutcomeUnknown(f"{label}: no answer (injected fault: lost in flight)")


def _after(fault: Fault | None, label: str) -> None:
    if fault is Fault.ACCEPT_THEN_RAISE:
        raise OrderOutcomeUnknown(f"{label}: connection dropped after sending (injected fault)")
    if fault is Fault.DUPLICATE_ORDER_ID:
        raise DuplicateClientOrderId(f"{label}: the broker answered 'duplicate order id' (injected fault)")
