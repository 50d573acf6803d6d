"""Statuses stored in the database, and the order state machine of ARCHITECTURE §4."""

from __future__ import annotations

from enum import StrEnum

from ibflow.core.errors import InvalidTransition


class OrderState(StrEnum):
    """Where an order stands; every change is checked against ``ORDER_TRANSITIONS``."""

    INTENT = "intent"
    SUBMITTING = "submitting"
    INACTIVE = "inactive"
    NEEDS_CONFIRMATION = "needs_confirmation"
    SUBMIT_UNKNOWN = "submit_unknown"
    WORKING = "working"
    PARTIALLY_FILLED = "partially_filled"
    CANCEL_PENDING = "cancel_pending"
    FILLED = "filled"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    REJECTED = "rejected"

    @property
    def is_terminal(self) -> bool:
        """Tell whether nothing can happen to the order any more."""
        return self in TERMINAL_ORDER_STATES

    @property
    def is_live(self) -> bool:
        """Tell whether the order may still fill at the broker (or might, when its fate is unknown)."""
        return self in LIVE_ORDER_STATES


TERMINAL_ORDER_STATES = frozenset(
    {OrderState.FILLED, OrderState.CANCELLED, OrderState.EXPIRED, OrderState.REJECTED}
)
LIVE_ORDER_STATES = frozenset(
    {
        OrderState.SUBMITTING,
        OrderState.INACTIVE,
        OrderState.SUBMIT_UNKNOWN,
        OrderState.WORKING,
        OrderState.PARTIALLY_FILLED,
        OrderState.CANCEL_PENDING,
        OrderState.NEEDS_CONFIRMATION,
    }
)

_S = OrderState
ORDER_TRANSITIONS: dict[OrderState, frozenset[OrderState]] = {
    _S.INTENT: frozenset({_S.SUBMITTING, _S.REJECTED}),
    _S.SUBMITTING: frozenset(
        {
            _S.WORKING,
            _S.INACTIVE,
            _S.NEEDS_CONFIRMATION,
            _S.SUBMIT_UNKNOWN,
            _S.REJECTED,
            _S.PARTIALLY_FILLED,
            _S.FILLED,
        }
    ),
    _S.INACTIVE: frozenset({_S.WORKING, _S.CANCELLED}),
    _S.NEEDS_CONFIRMATION: frozenset({_S.SUBMITTING, _S.CANCELLED, _S.REJECTED}),
    # Whatever the broker reports once the order is found, or rejected when proven absent.
    _S.SUBMIT_UNKNOWN: frozenset(
        {
            _S.INACTIVE,
            _S.WORKING,
            _S.PARTIALLY_FILLED,
            _S.CANCEL_PENDING,
            _S.FILLED,
            _S.CANCELLED,
            _S.EXPIRED,
            _S.REJECTED,
        }
    ),
    _S.WORKING: frozenset(
        {_S.PARTIALLY_FILLED, _S.FILLED, _S.CANCEL_PENDING, _S.CANCELLED, _S.EXPIRED, _S.REJECTED}
    ),
    _S.PARTIALLY_FILLED: frozenset(
        {_S.PARTIALLY_FILLED, _S.FILLED, _S.CANCEL_PENDING, _S.CANCELLED, _S.EXPIRED}
    ),
    _S.CANCEL_PENDING: frozenset({_S.CANCELLED, _S.PARTIALLY_FILLED, _S.FILLED, _S.EXPIRED}),
    _S.FILLED: frozenset(),
    _S.CANCELLED: frozenset(),
    _S.EXPIRED: frozenset(),
    _S.REJECTED: frozenset(),
}


def check_transition(current: OrderState, target: OrderState) -> None:
    """Raise ``InvalidTransition`` unless the table allows ``current -> target``."""
    if target not in ORDER_TRANSITIONS[current]:
        allowed = ", ".join(sorted(ORDER_TRANSITIONS[current])) or "nothing (terminal)"
        raise InvalidTransition(
            f"order state {current.value} -> {target.value} is not allowed; from {current.value}: {allowed}"
        )


class OrderRole(StrEnum):
    """What an order is for."""

    ENTRY = "entry"
    STOP = "stop"
    TARGET = "target"
    EXIT = "exit"
    MANUAL = "manual"


class OrderOrigin(StrEnum):
    """Who created an order: ibflow, or someone else at the broker (adopted, never touched)."""

    IBFLOW = "ibflow"
    EXTERNAL = "external"


class OrderSide(StrEnum):
    """Buy or sell."""

    BUY = "BUY"
    SELL = "SELL"


class OrderType(StrEnum):
    """Order types ibflow sends."""

    MARKET = "MKT"
    LIMIT = "LMT"
    STOP = "STP"
    STOP_LIMIT = "STP_LMT"


class TimeInForce(StrEnum):
    """How long an order works."""

    DAY = "DAY"
    GTC = "GTC"


class ExecutionStatus(StrEnum):
    """Status of one strategy execution."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    INTERRUPTED = "interrupted"


class ExecutionTrigger(StrEnum):
    """What started an execution."""

    SCHEDULE = "schedule"
    MANUAL = "manual"


class StepStatus(StrEnum):
    """Status of one lineage row."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"


class SignalAction(StrEnum):
    """What the analyst proposes."""

    BUY = "BUY"
    SELL = "SELL"
    HOLD = "HOLD"
    NO_SIGNAL = "NO_SIGNAL"


class StrategyMode(StrEnum):
    """Which broker a strategy trades through: the built-in paper broker, or IBFLOW_BROKER."""

    PAPER = "paper"
    LIVE = "live"


class StrategyState(StrEnum):
    """Whether the scheduler runs a strategy."""

    ACTIVE = "active"
    PAUSED = "paused"
    ARCHIVED = "archived"


class TradingStateValue(StrEnum):
    """The kill switch."""

    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"


class UserRole(StrEnum):
    """What a user may do."""

    ADMIN = "admin"
    TRADER = "trader"
    VIEWER = "viewer"


class PositionStatus(StrEnum):
    """Whether a position holds shares."""

    OPEN = "open"
    CLOSED = "closed"
