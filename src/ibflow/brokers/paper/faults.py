"""``FaultyBroker``: wrap any ``Broker`` to produce the submit outcomes of TRADING-SAFETY on demand.

Faults are one-shot and apply to ``place_order`` or ``place_bracket``, in the order they were injected:

- ``ACCEPT_THEN_RAISE``: the inner broker gets the order, the caller gets ``OrderOutcomeUnknown``.
- ``REFUSE_BEFORE_SENDING``: the caller gets ``OrderNotSent``; the inner broker is never called.
- ``LOSE_IN_FLIGHT``: the caller gets ``OrderOutcomeUnknown``; the inner broker is never called.
- ``DUPLICATE_ORDER_ID``: the inner broker gets the order, the caller gets ``DuplicateClientOrderId``.

Every call is counted per method (faulted ones included), so a test can assert that nothing reached the
broker: ``broker.calls["place_order"] == 0`` or ``broker.total_calls == 0``.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from datetime import datetime
from enum import StrEnum
from typing import Literal

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
from ibflow.core.errors import DuplicateClientOrderId, OrderNotSent, OrderOutcomeUnknown
from ibflow.core.ids import AccountId, BrokerOrderId, Conid

SubmitMethod = Literal["place_order", "place_bracket"]


class Fault(StrEnum):
    """What goes wrong with the next submit."""

    ACCEPT_THEN_RAISE = "accept_then_raise"
    REFUSE_BEFORE_SENDING = "refuse_before_sending"
    LOSE_IN_FLIGHT = "lose_in_flight"
    DUPLICATE_ORDER_ID = "duplicate_order_id"


class FaultyBroker:
    """A ``Broker`` that forwards to ``inner``, counting calls and playing injected submit faults."""

    def __init__(self, inner: Broker) -> None:
        self.inner = inner
        self.name = inner.name
        self.calls: Counter[str] = Counter()
        self._faults: dict[str, deque[Fault]] = {"place_order": deque(), "place_bracket": deque()}
        self._lock = threading.Lock()

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
        _before(fault, f"order {order.client_order_id}")
        placed = self.inner.place_order(account_id, order)
        _after(fault, f"order {order.client_order_id}")
        return placed

    def place_bracket(self, account_id: AccountId, bracket: BracketRequest) -> list[PlacedOrder]:
        """Forward, or play the next injected fault for ``place_bracket``."""
        fault = self._next_fault("place_bracket")
        label = f"bracket {bracket.parent.client_order_id}"
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
        return self.inner.live_orders(account_id)

    def order_status(self, account_id: AccountId, broker_order_id: BrokerOrderId) -> BrokerOrder:
        """Forward to the inner broker."""
        self._count("order_status")
        return self.inner.order_status(account_id, broker_order_id)

    def executions(self, account_id: AccountId, since: datetime) -> list[Execution]:
        """Forward to the inner broker."""
        self._count("executions")
        return self.inner.executions(account_id, since)

    def positions(self, account_id: AccountId) -> list[BrokerPosition]:
        """Forward to the inner broker."""
        self._count("positions")
        return self.inner.positions(account_id)


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
