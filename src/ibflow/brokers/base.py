"""The ``Broker`` protocol and the broker-neutral types every implementation speaks.

Every call names the account it acts on. Prices and quantities are ``Decimal``; times are aware UTC.
Implementations translate their own vocabulary at the boundary with explicit tables, and raise on a value
they do not know rather than guessing.

Methods and their contracts:

``session_status()``
    Whether the broker session is usable (authenticated, connected, not competing). Never raises for a
    down session; raises ``TemporaryError`` only when the status itself cannot be read.
``search_contracts(query)``
    Contracts whose symbol (or name) matches ``query``, best match first; an empty list when none.
``contract_details(conid)``
    One contract with its minimum tick; ``NotFound`` for an unknown conid.
``historical_bars(conid, bar_size, start, end)``
    Bars that began in ``[start, end)``, oldest first. A bar still forming at ``end`` is returned with
    ``partial=True`` and built only from prices up to ``end``; nothing after ``end`` is ever returned.
``quote(conid)``
    The last price with its ``QuoteFlag``: ``LIVE`` or why it must not be traded on (stale, delayed,
    frozen, halted).
``account_summary(account_id)``
    Cash, net liquidation value and buying power as the broker computes them.
``place_order(account_id, order)``
    Send one order. Returns a ``PlacedOrder`` when the broker acknowledged it. Otherwise raises exactly one
    of the order outcomes of ``ibflow.core.errors``: ``OrderRejected`` (definitive, with the reason),
    ``OrderNotSent`` (provably never left: safe to send again once), ``OrderOutcomeUnknown`` (may be live:
    never resend, settle by client order id), ``DuplicateClientOrderId`` (the broker already has it) or
    ``OrderNeedsConfirmation`` (the broker asked a question outside the allow-list and the order's
    ``confirmed_questions``; it was declined, so nothing was placed). Never retried inside the
    implementation.
``place_bracket(account_id, bracket)``
    Send parent + stop-loss child + take-profit child in one request. Only the two children form the
    one-cancels-other group; they stay ``INACTIVE`` until the parent fills and always cover what the parent
    filled. Returns the three ``PlacedOrder``s (parent, stop, target) or raises as ``place_order``. Our
    client order id travels on the parent only (as at IBKR); children are known by the parent's broker id
    and their role.
``modify_order(account_id, broker_order_id, change)``
    Change quantity and/or prices of a working order; ``OrderRejected`` when the broker refuses,
    ``OrderOutcomeUnknown`` when the answer is lost. Not retried.
``cancel_order(account_id, broker_order_id)``
    Ask the broker to cancel. The acknowledgement does not mean cancelled: watch ``live_orders`` until the
    status is ``CANCELLED`` (or ``FILLED``, when it filled on the way). ``NotFound`` for an unknown id.
``live_orders(account_id)``
    Today's working orders and the ones that ended recently, each with our client order id (parents and
    single orders) or, for bracket children, the parent's broker id and the child's role. A broker may
    serve one read to several callers for a few seconds (IBKR answers once per 5 s); such a broker also
    offers ``live_orders_fresh(account_id)``, a read of its own, and says how often it may be read in
    ``live_orders_interval_s`` (both optional: a broker without them reads anew every time).
``order_status(account_id, broker_order_id)``
    One order as the broker sees it now, however long ago it ended (the live-orders list forgets ended
    orders after about a day; this does not). ``NotFound`` when the broker does not know the id;
    ``TemporaryError`` when it cannot say now (IBKR answers 503 for orders older than the session): the
    caller then settles the order from the executions and the positions.
``executions(account_id, since)``
    Fills since ``since``, each with the broker's execution id (unique per account). Like IBKR, the
    executions of a bracket child carry no client order id; match them by broker order id.
``positions(account_id)``
    What the broker holds per contract, with its average cost and market value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Protocol, runtime_checkable

from ibflow.core.ids import AccountId, BrokerExecId, BrokerOrderId, ClientOrderId, Conid
from ibflow.db.states import OrderSide, OrderType, TimeInForce

__all__ = [
    "AccountSummary",
    "BarData",
    "BracketRequest",
    "BracketRole",
    "Broker",
    "BrokerOrder",
    "BrokerOrderStatus",
    "BrokerPosition",
    "Contract",
    "Execution",
    "OrderChange",
    "OrderRequest",
    "OrderSide",
    "OrderType",
    "PlacedOrder",
    "Quote",
    "QuoteFlag",
    "SessionStatus",
    "TimeInForce",
]


class BracketRole(StrEnum):
    """Which leg of a bracket an order is."""

    PARENT = "parent"
    STOP = "stop"
    TARGET = "target"


class BrokerOrderStatus(StrEnum):
    """Broker-neutral order status; a partly filled working order is ``SUBMITTED`` with fills."""

    PENDING_SUBMIT = "pending_submit"
    INACTIVE = "inactive"
    SUBMITTED = "submitted"
    FILLED = "filled"
    PENDING_CANCEL = "pending_cancel"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    REJECTED = "rejected"


class QuoteFlag(StrEnum):
    """Whether a price may be traded on."""

    LIVE = "live"
    STALE = "stale"
    DELAYED = "delayed"
    FROZEN = "frozen"
    HALTED = "halted"


@dataclass(frozen=True)
class SessionStatus:
    """The broker session as the broker reports it."""

    authenticated: bool
    connected: bool
    competing: bool = False
    message: str = ""

    @property
    def healthy(self) -> bool:
        """Tell whether orders and market data work now."""
        return self.authenticated and self.connected and not self.competing


@dataclass(frozen=True)
class Contract:
    """A tradable instrument."""

    conid: Conid
    symbol: str
    name: str
    sec_type: str
    exchange: str
    currency: str
    min_tick: Decimal


@dataclass(frozen=True)
class BarData:
    """One OHLCV bar; ``ts`` is the bar's start (UTC)."""

    ts: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    partial: bool = False


@dataclass(frozen=True)
class Quote:
    """The last traded price of a contract."""

    conid: Conid
    last: Decimal
    ts: datetime
    flag: QuoteFlag = QuoteFlag.LIVE
    bid: Decimal | None = None
    ask: Decimal | None = None


@dataclass(frozen=True)
class AccountSummary:
    """The broker's numbers for an account."""

    account_id: AccountId
    currency: str
    cash: Decimal
    net_liquidation: Decimal
    buying_power: Decimal


@dataclass(frozen=True)
class OrderRequest:
    """One order to send. ``client_order_id`` is ours and unique; prices are already on the tick.

    ``confirmed_questions`` are the broker's question ids a trader confirmed for this order (a bracket's
    are on its parent): a broker that asks questions answers those, and no others beyond its allow-list.
    """

    client_order_id: ClientOrderId
    conid: Conid
    side: OrderSide
    order_type: OrderType
    quantity: Decimal
    tif: TimeInForce
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    confirmed_questions: frozenset[str] = frozenset()


@dataclass(frozen=True)
class BracketRequest:
    """A limit (or market) entry with its stop-loss and take-profit children.

    The children's ``client_order_id`` is recorded by us but, as at IBKR, not sent to the broker.
    """

    parent: OrderRequest
    stop_loss: OrderRequest
    take_profit: OrderRequest


@dataclass(frozen=True)
class OrderChange:
    """What to change on a working order; ``None`` leaves a field as it is."""

    quantity: Decimal | None = None
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None


@dataclass(frozen=True)
class PlacedOrder:
    """An acknowledged order."""

    broker_order_id: BrokerOrderId
    status: BrokerOrderStatus
    client_order_id: ClientOrderId | None = None
    role: BracketRole | None = None


@dataclass(frozen=True)
class BrokerOrder:
    """An order as the broker sees it now."""

    account_id: AccountId
    broker_order_id: BrokerOrderId
    conid: Conid
    side: OrderSide
    order_type: OrderType
    tif: TimeInForce
    quantity: Decimal
    filled_quantity: Decimal
    status: BrokerOrderStatus
    updated_at: datetime
    client_order_id: ClientOrderId | None = None
    parent_broker_order_id: BrokerOrderId | None = None
    role: BracketRole | None = None
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    avg_fill_price: Decimal | None = None
    reason: str = ""

    @property
    def remaining_quantity(self) -> Decimal:
        """Quantity not filled yet."""
        return self.quantity - self.filled_quantity


@dataclass(frozen=True)
class Execution:
    """One fill at the broker."""

    account_id: AccountId
    broker_exec_id: BrokerExecId
    conid: Conid
    side: OrderSide
    quantity: Decimal
    price: Decimal
    commission: Decimal
    executed_at: datetime
    broker_order_id: BrokerOrderId | None = None
    client_order_id: ClientOrderId | None = None


@dataclass(frozen=True)
class BrokerPosition:
    """What the broker holds of one contract."""

    account_id: AccountId
    conid: Conid
    quantity: Decimal
    avg_cost: Decimal
    market_price: Decimal
    market_value: Decimal
    unrealized_pnl: Decimal
    realized_pnl: Decimal = field(default=Decimal(0))


@runtime_checkable
class Broker(Protocol):
    """What ibflow needs from a broker; see the module docstring for each method's contract."""

    name: str

    def session_status(self) -> SessionStatus: ...

    def search_contracts(self, query: str) -> list[Contract]: ...

    def contract_details(self, conid: Conid) -> Contract: ...

    def historical_bars(
        self, conid: Conid, bar_size: str, start: datetime, end: datetime
    ) -> list[BarData]: ...

    def quote(self, conid: Conid) -> Quote: ...

    def account_summary(self, account_id: AccountId) -> AccountSummary: ...

    def place_order(self, account_id: AccountId, order: OrderRequest) -> PlacedOrder: ...

    def place_bracket(self, account_id: AccountId, bracket: BracketRequest) -> list[PlacedOrder]: ...

    def modify_order(
        self, account_id: AccountId, broker_order_id: BrokerOrderId, change: OrderChange
    ) -> BrokerOrder: ...

    def cancel_order(self, account_id: AccountId, broker_order_id: BrokerOrderId) -> None: ...

    def live_orders(self, account_id: AccountId) -> list[BrokerOrder]: ...

    def order_status(self, account_id: AccountId, broker_order_id: BrokerOrderId) -> BrokerOrder: ...

    def executions(self, account_id: AccountId, since: datetime) -> list[Execution]: ...

    def positions(self, account_id: AccountId) -> list[BrokerPosition]: ...
