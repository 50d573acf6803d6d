"""IBKR's vocabulary and ibflow's broker types, one explicit table per translated value.

Inbound tables (IBKR -> ibflow) are keyed by the case-folded IBKR spelling, since IBKR spells the same value
differently per endpoint (``Limit`` in live orders, ``LIMIT`` in order status, ``LMT`` in what we send).
``lookup`` raises ``UnknownBrokerValue`` for anything a table does not hold: a value we do not know is never
guessed. Outbound tables (ibflow -> IBKR) hold what the Client Portal API wants in an order body.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from ibflow.brokers.base import BrokerOrderStatus, OrderSide, OrderType, QuoteFlag, TimeInForce
from ibflow.core.errors import BrokerError

_K = TypeVar("_K")
_V = TypeVar("_V")


class UnknownBrokerValue(BrokerError):
    """IBKR answered a value (or a shape) we have no translation for; ``what`` names the field."""

    def __init__(self, what: str, value: object) -> None:
        super().__init__(f"unknown IBKR {what}: {value!r}")
        self.what = what
        self.value = value


def lookup(table: Mapping[_K, _V], value: object, what: str) -> _V:
    """Return ``table[value]``, else the entry of the stripped, case-folded string; else raise."""
    keys = [value, value.strip().casefold()] if isinstance(value, str) else [value]
    for key in keys:
        try:
            return table[key]  # type: ignore[index]
        except (KeyError, TypeError):
            continue
    raise UnknownBrokerValue(what, value)


def _folded(table: Mapping[str, _V]) -> dict[str, _V]:
    return {key.casefold(): value for key, value in table.items()}


# Order status (live orders ``status``, order status ``order_status``, placement ``order_status``).
ORDER_STATUS_IN: dict[str, BrokerOrderStatus] = _folded(
    {
        "PendingSubmit": BrokerOrderStatus.PENDING_SUBMIT,
        # PreSubmitted: IBKR accepted the order and holds it on its own servers: an untriggered stop, a limit
        # waiting for the session to open (the recorded GTC limits are PreSubmitted), or a bracket child
        # waiting for its parent's fill. The first two are working orders, so the table says SUBMITTED; the
        # bracket child is the one exception, resolved by ``order_status_of`` from the parent's fills.
        "PreSubmitted": BrokerOrderStatus.SUBMITTED,
        "Submitted": BrokerOrderStatus.SUBMITTED,
        "Filled": BrokerOrderStatus.FILLED,
        "PendingCancel": BrokerOrderStatus.PENDING_CANCEL,
        # IBKR does not tell a DAY order's expiry from a cancel: both are Cancelled; EXPIRED never comes in.
        "Cancelled": BrokerOrderStatus.CANCELLED,
        # Inactive: IBKR refused to work the order (margin, permissions, price checks) after accepting it.
        # It can also mean an order held untransmitted, but ibflow never sends ``transmit: false``, so an
        # Inactive order of ours is one IBKR will not work: REJECTED (terminal), as the simulator shows it.
        # Mapping it to ibflow's INACTIVE (waiting) would keep a dead order "live" in our books for ever.
        "Inactive": BrokerOrderStatus.REJECTED,
        # WarnState: the order works but IBKR attached a warning (e.g. routing); it may still fill.
        "WarnState": BrokerOrderStatus.SUBMITTED,
    }
)
PRE_SUBMITTED = "presubmitted"
"""The one status whose meaning depends on the order (see ``order_status_of``)."""


def order_status_of(value: object, *, waiting_for_parent: bool) -> BrokerOrderStatus:
    """Return the status of IBKR's ``value``; PreSubmitted is INACTIVE for a child waiting for its parent."""
    status = lookup(ORDER_STATUS_IN, value, "order status")
    if waiting_for_parent and str(value).strip().casefold() == PRE_SUBMITTED:
        return BrokerOrderStatus.INACTIVE
    return status


# Order types.
ORDER_TYPE_OUT: dict[OrderType, str] = {
    OrderType.MARKET: "MKT",
    OrderType.LIMIT: "LMT",
    OrderType.STOP: "STP",
    OrderType.STOP_LIMIT: "STOP_LIMIT",
}
ORDER_TYPE_IN: dict[str, OrderType] = _folded(
    {
        # what we send, live orders ``orderType``, ``origOrderType`` / order status ``order_type``
        "MKT": OrderType.MARKET,
        "Market": OrderType.MARKET,
        "LMT": OrderType.LIMIT,
        "Limit": OrderType.LIMIT,
        "STP": OrderType.STOP,
        "Stop": OrderType.STOP,
        "STOP_LIMIT": OrderType.STOP_LIMIT,
        "Stop Limit": OrderType.STOP_LIMIT,
        "STP_LMT": OrderType.STOP_LIMIT,
        "STP LMT": OrderType.STOP_LIMIT,
        "STP_LIMIT": OrderType.STOP_LIMIT,
    }
)

# Sides: ``BUY``/``SELL`` in live orders and what we send, ``B``/``S`` in order status and trades.
SIDE_OUT: dict[OrderSide, str] = {OrderSide.BUY: "BUY", OrderSide.SELL: "SELL"}
SIDE_IN: dict[str, OrderSide] = _folded(
    {"BUY": OrderSide.BUY, "B": OrderSide.BUY, "SELL": OrderSide.SELL, "S": OrderSide.SELL}
)

# Time in force; IBKR's others (IOC, OPG, PAX, OVT, OND) are not ibflow's and raise when read.
TIF_OUT: dict[TimeInForce, str] = {TimeInForce.DAY: "DAY", TimeInForce.GTC: "GTC"}
TIF_IN: dict[str, TimeInForce] = _folded({"DAY": TimeInForce.DAY, "GTC": TimeInForce.GTC})

# Snapshot field 6509 (market data availability), by its first letter. ``None``: IBKR sends no usable
# market data for the contract (N: not subscribed, O: the market data API agreement is not signed); there is
# no price to flag, so the quote is refused (``NoMarketData``) instead of being passed off as delayed.
AVAILABILITY_IN: dict[str, QuoteFlag | None] = _folded(
    {
        "R": QuoteFlag.LIVE,  # real time
        "D": QuoteFlag.DELAYED,  # 15-20 minutes delayed
        "Z": QuoteFlag.FROZEN,  # frozen: the last data of a closed market
        "Y": QuoteFlag.FROZEN,  # frozen delayed: frozen is what makes it untradeable
        "N": None,
        "O": None,
    }
)

# Snapshot field 31 (last price) prefixes. A halt outranks everything, a prior close comes next, then 6509.
LAST_PREFIX_IN: dict[str, QuoteFlag] = _folded({"H": QuoteFlag.HALTED, "C": QuoteFlag.STALE})


class NoMarketData(BrokerError):
    """IBKR sends no market data for the contract (not subscribed, or the API agreement is missing)."""


__all__ = [
    "AVAILABILITY_IN",
    "LAST_PREFIX_IN",
    "ORDER_STATUS_IN",
    "ORDER_TYPE_IN",
    "ORDER_TYPE_OUT",
    "SIDE_IN",
    "SIDE_OUT",
    "TIF_IN",
    "TIF_OUT",
    "NoMarketData",
    "UnknownBrokerValue",
    "lookup",
    "order_status_of",
]
