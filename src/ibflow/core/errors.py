"""The one error tree of ibflow.

Every error ibflow raises on purpose derives from ``IbflowError``. Only ``TemporaryError`` and its
subclasses are retried, and only around reads (``retry_reads``); submits, modifies and cancels are never
retried, so none of the order outcomes below derives from ``TemporaryError``::

    IbflowError
    ├── ConfigurationError            bad settings or wiring; fix the configuration
    ├── ValidationError               bad input from a user or a caller; the message says what to fix
    │   └── InvalidTransition         an order state change the transition table does not allow
    ├── NotFound                      a row or a broker object that does not exist
    ├── BrokerError                   anything a broker said or failed to say
    │   ├── TemporaryError            retryable read failure (timeout, 5xx, 429 on a read)
    │   │   └── RateLimited           the broker's pacing limit; wait, then read again
    │   ├── SessionUnavailable        no authenticated broker session; reads and orders both wait
    │   ├── BrokerRejected            the broker refused a request outright (unknown conid, bad price)
    │   └── OrderOutcome              the outcome of a submit that did not end in an acknowledgement
    │       ├── OrderNotSent          provably never left: safe to send again once the limiter allows
    │       ├── OrderOutcomeUnknown   may or may not be live: settle by client order id, never resend
    │       ├── OrderRejected         definitively refused by the broker, with its reason
    │       └── DuplicateClientOrderId  the broker already has this id: look it up, it is not a rejection
    ├── RiskBlocked                   a pre-trade check blocked an entry (carries the reason code)
    ├── BudgetExceeded                an LLM call would break the execution's budget or the daily cap
    ├── TradingHalted                 the kill switch does not allow this order
    └── AccessDenied                  who is asking may not do this
        ├── NotAuthenticated          nobody logged in, or the session or token ended
        ├── Forbidden                 logged in, but the role is too low
        └── Throttled                 too many failed logins; try again after ``retry_after`` seconds
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

_P = ParamSpec("_P")
_T = TypeVar("_T")

log = logging.getLogger(__name__)


class IbflowError(Exception):
    """Base of every error ibflow raises on purpose."""


class ConfigurationError(IbflowError):
    """Settings or wiring are wrong; nothing will work until they are fixed."""


class ValidationError(IbflowError):
    """Input is invalid; ``problems`` maps each bad field to what is wrong with it."""

    def __init__(self, message: str, problems: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.problems: dict[str, str] = dict(problems or {})


class InvalidTransition(ValidationError):
    """An order state change that the transition table does not allow."""


class NotFound(IbflowError):
    """The requested object does not exist."""


class Conflict(IbflowError):
    """The request clashes with what exists already, e.g. a name another object holds."""


class BrokerError(IbflowError):
    """A broker call failed."""


class TemporaryError(BrokerError):
    """A read that may succeed if tried again later."""


class RateLimited(TemporaryError):
    """The broker's pacing limit was hit."""


class SessionUnavailable(BrokerError):
    """No authenticated broker session."""


class BrokerRejected(BrokerError):
    """The broker refused a request (not an order outcome)."""


class OrderOutcome(BrokerError):
    """A submit that did not end in an acknowledgement. Never retried automatically."""


class OrderNotSent(OrderOutcome):
    """The order provably never reached the broker: it may be sent again once."""


class OrderOutcomeUnknown(OrderOutcome):
    """The order may or may not be live at the broker: settle it by client order id, never resend."""


class OrderRejected(OrderOutcome):
    """The broker definitively refused the order."""


class OrderNeedsConfirmation(OrderOutcome):
    """The broker asked a question ibflow may not answer by itself; the order was not placed (yet).

    It waits ``needs_confirmation`` with the question until a trader confirms it (then it is sent again
    with these message ids confirmed for that order only) or rejects it.
    """

    def __init__(self, question: str, message_ids: tuple[str, ...]) -> None:
        super().__init__(f"the broker asks ({', '.join(message_ids) or 'no id'}): {question}")
        self.question = question
        self.message_ids = message_ids


class DuplicateClientOrderId(OrderOutcome):
    """The broker already holds an order with this client order id: look it up; it is not a rejection."""


class RiskBlocked(IbflowError):
    """A pre-trade risk check blocked an entry."""

    def __init__(self, reason_code: str, detail: str) -> None:
        super().__init__(f"{reason_code}: {detail}")
        self.reason_code = reason_code
        self.detail = detail


class BudgetExceeded(IbflowError):
    """An LLM call would break a budget (``scope`` is ``execution`` or ``daily``); it was not made."""

    reason_code = "budget_exceeded"

    def __init__(self, scope: str, detail: str) -> None:
        super().__init__(f"budget_exceeded ({scope}): {detail}")
        self.scope = scope
        self.detail = detail


class TradingHalted(IbflowError):
    """The trading state does not allow this order."""


class Unavailable(IbflowError):
    """The process cannot do this now: nothing here runs executions, or it is stopping."""


class AccessDenied(IbflowError):
    """The caller may not do this (HTTP 401 / 403 / 429)."""


class NotAuthenticated(AccessDenied):
    """No valid session or token: log in."""


class Forbidden(AccessDenied):
    """The caller's role is too low for this."""


class Throttled(AccessDenied):
    """Too many failed attempts; ``retry_after`` seconds until the next may be made."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def retry_reads(
    attempts: int = 3,
    base_delay_s: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> Callable[[Callable[_P, _T]], Callable[_P, _T]]:
    """Retry a read on ``TemporaryError`` with exponential backoff; never wrap a submit with it."""

    def decorate(func: Callable[_P, _T]) -> Callable[_P, _T]:
        @functools.wraps(func)
        def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _T:
            for attempt in range(1, attempts + 1):
                try:
                    return func(*args, **kwargs)
                except TemporaryError as exc:
                    if attempt == attempts:
                        raise
                    delay = base_delay_s * 2 ** (attempt - 1)
                    log.warning(
                        "%s failed (%s); retry %d/%d in %.2fs",
                        func.__name__,
                        exc,
                        attempt,
                        attempts - 1,
                        delay,
                    )
                    sleep(delay)
            raise AssertionError("unreachable")

        return wrapper

    return decorate
