"""HTTP to the Client Portal gateway: one ``httpx2`` client, IBKR's errors mapped to ibflow's error tree.

Reads (``read``) are paced, then retried with backoff on what may pass (5xx, timeouts, dropped connections,
a 429 after the penalty wait); writes (``send``) are paced and never retried: the caller learns whether the
request provably never left (``NotSent``), was answered, or may have reached the gateway (``Unanswered``),
which is what TRADING-SAFETY rule 2 needs to tell not-sent from ambiguous.

Mapping (reference §7): 401 and 400 "no bridge" are ``SessionUnavailable`` (someone must log in at the
gateway, or the brokerage session must be initialised); 429 is ``RateLimited`` and tells the pacer to back off
for the penalty period; 500 "Please query /accounts first" is ``NeedsAccounts`` (the client primes and asks
again); other 5xx are ``TemporaryError``; 404 is ``NotFound``; any other 4xx is ``BrokerRejected``.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx2

from ibflow.core.errors import (
    BrokerError,
    BrokerRejected,
    NotFound,
    RateLimited,
    SessionUnavailable,
    TemporaryError,
)
from ibflow.core.metrics import instruments

log = logging.getLogger(__name__)

BROKER = "ibkr"
NOT_SENT_ERRORS = (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.PoolTimeout)
"""Transport failures before any byte of the request left: the gateway cannot have seen it."""


class NeedsAccounts(TemporaryError):
    """The gateway wants ``/iserver/accounts`` called first in this brokerage session."""


class NotSent(BrokerError):
    """A write that provably never reached the gateway."""


class Unanswered(BrokerError):
    """A write that may have reached the gateway, whose answer was lost (timeout, dropped connection)."""


class Pacer(Protocol):
    """Waits until a request to ``path`` keeps within the gateway's limits; learns of a 429."""

    def acquire(self, path: str) -> None:
        """Block until a request to ``path`` may be sent."""
        ...

    def penalized(self, path: str) -> None:
        """A 429 arrived for ``path``: hold every request for the penalty period."""
        ...

    def penalty_remaining(self) -> float:
        """Seconds left in the penalty box (0 when there is none)."""
        ...


class NoPacing:
    """No limits (a gateway of tests with its limits off)."""

    def acquire(self, path: str) -> None:
        """Never wait."""
        del path

    def penalized(self, path: str) -> None:
        """Nothing to hold."""
        del path

    def penalty_remaining(self) -> float:
        """Never in a box."""
        return 0.0


@dataclass(frozen=True)
class Retry:
    """How reads are retried: ``attempts`` in all, waiting ``backoff * 2**n`` seconds between them."""

    attempts: int = 3
    backoff: float = 0.5


class GatewayHttp:
    """The gateway's ``/v1/api`` over one connection pool."""

    def __init__(
        self,
        base_url: str,
        *,
        verify: bool | str = True,
        timeout: float = 15.0,
        transport: httpx2.BaseTransport | None = None,
        pacer: Pacer | None = None,
        retry: Retry | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = httpx2.Client(
            base_url=base_url.rstrip("/"), verify=verify, timeout=timeout, transport=transport
        )
        self._closing = weakref.finalize(self, self._client.close)  # a command that never calls close()
        self._pacer: Pacer = pacer or NoPacing()
        self._retry = retry or Retry()
        self._sleep = sleep

    def close(self) -> None:
        """Close the connection pool."""
        self._closing()

    def read(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        retry: bool = True,
    ) -> Any:
        """Return the JSON answer of a request that changes nothing at the broker (retried with backoff)."""
        attempts = self._retry.attempts if retry else 1
        for attempt in range(1, attempts + 1):
            try:
                return self._answered(self._request(method, path, params=params, json=json), path)
            except (NeedsAccounts, SessionUnavailable, NotFound, BrokerRejected):
                raise
            except (TemporaryError, NotSent, Unanswered) as exc:
                if attempt == attempts:
                    raise _temporary(exc) from exc
                wait = self._retry.backoff * 2 ** (attempt - 1)
                log.info("gateway %s %s failed (%s); retry %d in %.1f s", method, path, exc, attempt, wait)
                self._sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def send(self, method: str, path: str, *, json: Any = None) -> Any:
        """Return the JSON answer of a request that acts at the broker; never retried.

        Raises ``NotSent`` when the request provably never left, ``Unanswered`` when it may have reached
        the gateway without an answer, or the mapped error of an HTTP error status.
        """
        return self._answered(self._request(method, path, json=json), path)

    def _request(
        self, method: str, path: str, *, params: Mapping[str, str] | None = None, json: Any = None
    ) -> httpx2.Response:
        # In the penalty box nothing waits for it (15 minutes with a lock held, a quote gone stale): a read
        # fails as rate limited, a send as not sent; the caller tries again later, judging afresh.
        remaining = self._pacer.penalty_remaining()
        if remaining > 0:
            _error("penalty_box")
            raise RateLimited(f"{method} {path}: the gateway's penalty box lasts {remaining:.0f} s more")
        try:
            self._pacer.acquire(path)
        except Exception as exc:  # the pacer's database failed: nothing was sent
            _error("pacer")
            raise NotSent(f"{method} {path}: the rate limiter failed ({type(exc).__name__}: {exc})") from exc
        _count_request()
        try:
            return self._client.request(method, path, params=params, json=json)
        except NOT_SENT_ERRORS as exc:
            _error("not_sent")
            raise NotSent(
                f"{method} {path}: the gateway could not be reached ({type(exc).__name__})"
            ) from exc
        except httpx2.TransportError as exc:
            _error("unanswered")
            raise Unanswered(f"{method} {path}: no answer from the gateway ({type(exc).__name__})") from exc

    def _answered(self, response: httpx2.Response, path: str) -> Any:
        status = response.status_code
        if status < 400:
            if not response.content:
                return None
            try:
                return response.json()
            except ValueError as exc:
                raise TemporaryError(
                    f"{path}: the gateway answered {status} with a body that is not JSON"
                ) from exc
        text = _error_text(response)
        _error("http_429" if status == 429 else "http_5xx" if status >= 500 else "http_4xx")
        if status == 401:
            raise SessionUnavailable(f"the gateway is not authenticated ({text}): log in at the gateway")
        if status == 400 and "no bridge" in text.lower():
            raise SessionUnavailable(f"the brokerage session is not initialised ({text})")
        if status == 429:
            self._pacer.penalized(path)
            raise RateLimited(f"{path}: the gateway's rate limit was hit ({text}); backing off")
        if status == 500 and "accounts first" in text.lower():  # /accounts or /portfolio/accounts
            raise NeedsAccounts(f"{path}: {text}")
        if status >= 500:
            raise TemporaryError(f"{path}: the gateway answered {status} ({text})")
        if status == 404:
            raise NotFound(f"{path}: {text}")
        raise BrokerRejected(f"{path}: the gateway answered {status} ({text})")


def _error(kind: str) -> None:
    # A metric never changes what a request's outcome is taken to be (a 429 counted while the metrics
    # folder is gone stays a 429, not an ambiguous send): counting fails quietly, with a log line.
    try:
        instruments().broker_errors.labels(BROKER, kind).inc()
    except Exception:
        log.warning("could not count the broker error %s", kind, exc_info=True)


def _count_request() -> None:
    try:
        instruments().broker_requests.labels(BROKER).inc()
    except Exception:
        log.warning("could not count a broker request", exc_info=True)


def _error_text(response: httpx2.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    if isinstance(body, dict) and body.get("error"):
        return str(body["error"])[:300]
    return str(body)[:200]


def _temporary(exc: BrokerError) -> TemporaryError:
    return exc if isinstance(exc, TemporaryError) else TemporaryError(str(exc))
