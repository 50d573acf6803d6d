"""A backtest's paper broker with each account read answered once per instant of the replay's clock.

At each decision time the replay runs the tracking, protection and expiry jobs, then the executor; each
syncs orders, so the same books are read five or six times at one frozen instant. The paper broker answers
a read by locking its account and matching the open orders up to now, a transaction each time. In a
backtest nothing else writes those books (its own database, one process), the clock only moves between
decisions, and matching up to an instant already matched changes nothing (``matching.evaluation``), so
between two writes a read at one instant can only repeat its answer. ``InstantReads`` keeps that answer
until the clock moves or any write (place, modify, cancel) goes through it: the replay's results, lineage
and books are exactly those of the bare broker. Tracking's second look at the live orders (while an
order is unknown) gets the kept answer too: with no write between, the bare broker gives the same. The
replay runs in one thread, so the kept answers have no lock. Live trading never uses it.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from datetime import datetime
from typing import Any, TypeVar

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
from ibflow.core.clock import Clock
from ibflow.core.ids import AccountId, BrokerOrderId, Conid

_T = TypeVar("_T")


class InstantReads:
    """``broker`` with its account reads kept for the current instant of ``clock`` (see the module doc)."""

    def __init__(self, broker: Broker, clock: Clock) -> None:
        self.name = broker.name
        self._broker = broker
        self._clock = clock
        self._at: datetime | None = None
        self._answers: dict[Hashable, Any] = {}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # never the wrapper's own state (not set yet while copied or unpickled)
            raise AttributeError(name)
        found = getattr(self._broker, name)  # AttributeError for what it lacks (``live_orders_fresh``)
        self._answers = {}  # the paper broker's extras (its market, test switches) may write: keep nothing
        return found

    def _read(self, key: Hashable, read: Callable[[], _T]) -> _T:
        now = self._clock.now()
        if now != self._at:
            self._at, self._answers = now, {}
        if key in self._answers:
            kept: _T = self._answers[key]
        else:
            kept = self._answers[key] = read()
        return list(kept) if isinstance(kept, list) else kept  # type: ignore[return-value]

    def session_status(self) -> SessionStatus:
        return self._broker.session_status()

    def search_contracts(self, query: str) -> list[Contract]:
        return self._broker.search_contracts(query)

    def contract_details(self, conid: Conid) -> Contract:
        return self._broker.contract_details(conid)

    def historical_bars(self, conid: Conid, bar_size: str, start: datetime, end: datetime) -> list[BarData]:
        return self._broker.historical_bars(conid, bar_size, start, end)

    def quote(self, conid: Conid) -> Quote:
        return self._broker.quote(conid)

    def account_summary(self, account_id: AccountId) -> AccountSummary:
        return self._read(("summary", account_id), lambda: self._broker.account_summary(account_id))

    def live_orders(self, account_id: AccountId) -> list[BrokerOrder]:
        return self._read(("live", account_id), lambda: self._broker.live_orders(account_id))

    def order_status(self, account_id: AccountId, broker_order_id: BrokerOrderId) -> BrokerOrder:
        return self._read(
            ("status", account_id, broker_order_id),
            lambda: self._broker.order_status(account_id, broker_order_id),
        )

    def executions(self, account_id: AccountId, since: datetime) -> list[Execution]:
        return self._read(
            ("executions", account_id, since), lambda: self._broker.executions(account_id, since)
        )

    def positions(self, account_id: AccountId) -> list[BrokerPosition]:
        return self._read(("positions", account_id), lambda: self._broker.positions(account_id))

    def place_order(self, account_id: AccountId, order: OrderRequest) -> PlacedOrder:
        self._answers = {}
        try:
            return self._broker.place_order(account_id, order)
        finally:
            self._answers = {}  # what the write changed is read anew

    def place_bracket(self, account_id: AccountId, bracket: BracketRequest) -> list[PlacedOrder]:
        self._answers = {}
        try:
            return self._broker.place_bracket(account_id, bracket)
        finally:
            self._answers = {}  # what the write changed is read anew

    def modify_order(
        self, account_id: AccountId, broker_order_id: BrokerOrderId, change: OrderChange
    ) -> BrokerOrder:
        self._answers = {}
        try:
            return self._broker.modify_order(account_id, broker_order_id, change)
        finally:
            self._answers = {}  # what the write changed is read anew

    def cancel_order(self, account_id: AccountId, broker_order_id: BrokerOrderId) -> None:
        self._answers = {}
        try:
            self._broker.cancel_order(account_id, broker_order_id)
        finally:
            self._answers = {}  # what the write changed is read anew
