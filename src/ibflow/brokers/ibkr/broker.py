"""The ``ibkr`` broker: the ``Broker`` protocol over the Client Portal Web API (reference: docs/ibkr.md).

What the gateway needs and this class does for every caller:
- ``/iserver/accounts`` once per brokerage session before trading, snapshots, live orders and trades
  (again whenever the gateway answers "Please query /accounts first"), ``/portfolio/accounts`` before the
  portfolio endpoints;
- live orders read twice at the start of a session (the first answer is empty) and then shared: one read
  serves every caller for ``live_orders_ttl`` seconds (a flatten of five positions waits for one read, not
  five), and any order request makes the next read a fresh one;
- order questions confirmed only when every message id is allowed (``questions.py``);
- executions given their order ids from the live orders (``fills.py``);
- ``order_status`` answers ``TemporaryError`` for orders older than the session (IBKR's 503): the caller
  settles such an order from the executions (up to 7 days) and then the positions.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from ibflow.brokers.base import (
    AccountSummary,
    BarData,
    BracketRequest,
    BracketRole,
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
from ibflow.brokers.ibkr import bodies, parse
from ibflow.brokers.ibkr.fills import attribute
from ibflow.brokers.ibkr.http import GatewayHttp, NeedsAccounts, NotSent, Unanswered
from ibflow.brokers.ibkr.questions import MAX_ROUNDS, OrderNeedsConfirmation, QuestionPolicy
from ibflow.core.clock import Clock
from ibflow.core.errors import (
    BrokerError,
    BrokerRejected,
    DuplicateClientOrderId,
    NotFound,
    OrderNotSent,
    OrderOutcomeUnknown,
    OrderRejected,
    RateLimited,
    SessionUnavailable,
    TemporaryError,
)
from ibflow.core.faultpoints import QUESTION_PENDING, crash_point
from ibflow.core.ids import AccountId, BrokerOrderId, ClientOrderId, Conid

log = logging.getLogger(__name__)

SNAPSHOT_FIELDS = "31,84,86,6509,7295,70,71,87"
"""Last, bid, ask, availability, open, high, low, volume."""
BAR_DAYS = {"1d": 1, "1w": 7}
POSITIONS_PAGE = 100


@dataclass
class _LiveRead:
    at: datetime
    orders: list[BrokerOrder]


class IbkrBroker:
    """One IBKR account through one gateway."""

    name = "ibkr"
    live_orders_interval_s = 5.5
    """IBKR answers live orders once per 5 s (the pacer keeps 5.5): a cancel is watched with looks this far
    apart (``trading.lifecycle.cancels.Waiting.suited_to``)."""

    def __init__(
        self,
        http: GatewayHttp,
        *,
        account_id: AccountId,
        clock: Clock,
        questions: QuestionPolicy | None = None,
        live_orders_ttl: timedelta = timedelta(seconds=5),
        take_over_competing: bool = False,
        live_account_allowed: bool = False,
    ) -> None:
        self._http = http
        self.account_id = account_id
        self._clock = clock
        self._questions = questions or QuestionPolicy()
        self._ttl = live_orders_ttl
        self._take_over = take_over_competing
        self._live_allowed = live_account_allowed
        self._lock = threading.RLock()
        self._primed = False
        self._portfolio_primed = False
        self._live_primed = False
        self._live_checked = False
        self._suppressed: frozenset[str] = frozenset()
        """The allow-list as suppressed at the gateway for this brokerage session (no reply round)."""
        self._live: _LiveRead | None = None
        self._known: dict[BrokerOrderId, tuple[ClientOrderId | None, BrokerOrderId | None]] = {}
        """What the status endpoint does not say of an order: its client id and its parent."""
        self.is_paper: bool | None = None

    def close(self) -> None:
        """Close the connections to the gateway."""
        self._http.close()

    # --- session -------------------------------------------------------------------------------------

    def session_status(self) -> SessionStatus:
        """Tickle the gateway (this keeps the session alive) and report it; initialise a timed-out one."""
        try:
            body = self._http.read("POST", "/tickle")
        except SessionUnavailable as exc:
            self._forget_session()
            return SessionStatus(authenticated=False, connected=False, message=str(exc))
        except TemporaryError:
            raise
        status = parse.session_from_tickle(body)
        if status.connected and not status.authenticated and (self._take_over or not status.competing):
            status = self._init_brokerage()
        if not status.healthy:
            self._forget_session()
        return status

    def _init_brokerage(self) -> SessionStatus:
        """``ssodh/init``: a brokerage session again without a new login (a competing one only by setting)."""
        try:
            body = self._http.send(
                "POST", "/iserver/auth/ssodh/init", json={"publish": True, "compete": self._take_over}
            )
        except (BrokerError, NotSent, Unanswered) as exc:
            return SessionStatus(authenticated=False, connected=True, message=f"ssodh/init failed: {exc}")
        self._forget_session()
        return parse.session_from_auth_status(body)

    def _forget_session(self) -> None:
        with self._lock:
            self._primed = self._portfolio_primed = self._live_primed = False
            self._suppressed = frozenset()
            self._live = None

    def _prime(self) -> None:
        with self._lock:
            if self._primed:
                return
            info = parse.accounts_info(self._http.read("GET", "/iserver/accounts"))
            if self.account_id not in info.accounts:
                raise BrokerRejected(
                    f"the gateway's user has no account {self.account_id} (it has {', '.join(info.accounts)})"
                )
            self.is_paper = info.is_paper and self.account_id.startswith("DU")
            self._primed = True

    def _prime_portfolio(self) -> None:
        with self._lock:
            if not self._portfolio_primed:
                self._http.read("GET", "/portfolio/accounts")
                self._portfolio_primed = True

    def _portfolio_read(self, method: str, path: str, **kwargs: Any) -> Any:
        """A read under ``/portfolio`` after ``/portfolio/accounts``; primed again when the gateway asks."""
        return self._primed_read(self._prime_portfolio, self._forget_portfolio, method, path, **kwargs)

    def _read(self, method: str, path: str, **kwargs: Any) -> Any:
        """A read under ``/iserver`` after ``/iserver/accounts``; primed again when the gateway asks."""
        return self._primed_read(self._prime, self._forget_session, method, path, **kwargs)

    def _primed_read(
        self, prime: Callable[[], None], forget: Callable[[], None], method: str, path: str, **kwargs: Any
    ) -> Any:
        prime()
        try:
            return self._http.read(method, path, **kwargs)
        except NeedsAccounts:
            forget()
            prime()
            return self._http.read(method, path, **kwargs)

    def _forget_portfolio(self) -> None:
        with self._lock:
            self._portfolio_primed = False

    # --- reference data ------------------------------------------------------------------------------

    def search_contracts(self, query: str) -> list[Contract]:
        """Stocks whose symbol matches ``query``, best first, each with its details."""
        rows = parse.search_rows(self._read("GET", "/iserver/secdef/search", params={"symbol": query}))
        return [self.contract_details(Conid(row.conid)) for row in rows if row.is_stock][:5]

    def contract_details(self, conid: Conid) -> Contract:
        """One contract (``NotFound`` for a conid the gateway does not know)."""
        try:
            return parse.contract_from_info(self._read("GET", f"/iserver/contract/{conid}/info"))
        except TemporaryError as exc:
            if "invalid conid" in str(exc).lower() or "not found" in str(exc).lower():
                raise NotFound(f"no contract {conid} at IBKR") from exc
            raise

    def historical_bars(self, conid: Conid, bar_size: str, start: datetime, end: datetime) -> list[BarData]:
        """Bars that began in ``[start, end)``; one still forming at ``end`` is ``partial``."""
        days = BAR_DAYS.get(bar_size)
        if days is None:
            raise BrokerRejected(f"bar size {bar_size!r} is not supported (1d, 1w)")
        now = self._clock.now()
        span = max(1, (now - start).days + 2)
        period = f"{min(span, 1000)}d" if days == 1 else f"{min(span // 7 + 1, 792)}w"
        bars = parse.bars_from_history(
            self._read(
                "GET",
                "/iserver/marketdata/history",
                params={"conid": str(conid), "bar": bar_size, "period": period},
            )
        )
        length = timedelta(days=days)
        return [
            BarData(b.ts, b.open, b.high, b.low, b.close, b.volume, partial=b.ts + length > end)
            for b in bars
            if start <= b.ts < end
        ]

    def quote(self, conid: Conid) -> Quote:
        """The last price and whether it may be traded on (a first snapshot only opens the stream)."""
        params = {"conids": str(conid), "fields": SNAPSHOT_FIELDS}
        for _ in range(3):
            body = self._read("GET", "/iserver/marketdata/snapshot", params=params)
            items = [item for item in body or [] if str(item.get("conid")) == str(conid)]
            quote = parse.quote_from_snapshot(items[0], now=self._clock.now()) if items else None
            if quote is not None:
                return quote
        raise TemporaryError(f"no price for {conid} yet (the snapshot stream is still opening)")

    # --- account -------------------------------------------------------------------------------------

    def account_summary(self, account_id: AccountId) -> AccountSummary:
        """Cash, net liquidation and buying power as IBKR computes them."""
        self._check_account(account_id)
        return parse.account_summary(
            self._portfolio_read("GET", f"/portfolio/{account_id}/summary"), account_id
        )

    def positions(self, account_id: AccountId) -> list[BrokerPosition]:
        """Every position, fresh (the portfolio cache is invalidated first: it lags fills)."""
        self._check_account(account_id)
        self._portfolio_read("POST", f"/portfolio/{account_id}/positions/invalidate", retry=False)
        found: list[BrokerPosition] = []
        for page in range(50):
            body = self._portfolio_read("GET", f"/portfolio/{account_id}/positions/{page}")
            found += parse.positions_from(body or [], account_id)
            if len(body or []) < POSITIONS_PAGE:
                break
        return [p for p in found if p.quantity != 0]

    # --- orders --------------------------------------------------------------------------------------

    def place_order(self, account_id: AccountId, order: OrderRequest) -> PlacedOrder:
        """Send one order (see the ``Broker`` contract for the outcomes)."""
        self._check_account(account_id)
        body = {"orders": [bodies.order_body(order, account_id)]}
        accepted = self._submit(
            f"/iserver/account/{account_id}/orders", body, order.client_order_id, order.confirmed_questions
        )
        if len(accepted.items) != 1:
            raise OrderOutcomeUnknown(f"{order.client_order_id}: {len(accepted.items)} answers for one order")
        order_id, status = accepted.items[0]
        self._known[order_id] = (order.client_order_id, None)
        return PlacedOrder(order_id, status, order.client_order_id, None)

    def place_bracket(self, account_id: AccountId, bracket: BracketRequest) -> list[PlacedOrder]:
        """Send the parent and its two children in one request; the answer has one item per leg."""
        self._check_account(account_id)
        body = bodies.bracket_body(bracket, account_id)
        parent = bracket.parent.client_order_id
        accepted = self._submit(
            f"/iserver/account/{account_id}/orders",
            body,
            parent,
            bracket.parent.confirmed_questions,
            bracket=True,
        )
        if len(accepted.items) != 3:
            raise OrderOutcomeUnknown(f"{parent}: {len(accepted.items)} answers for a bracket of three")
        roles = (BracketRole.PARENT, BracketRole.STOP, BracketRole.TARGET)
        parent_id = accepted.items[0][0]
        self._known[parent_id] = (parent, None)
        for order_id, _ in accepted.items[1:]:
            self._known[order_id] = (None, parent_id)
        coids = (parent, None, None)
        return [
            PlacedOrder(order_id, status, coid, role)
            for (order_id, status), role, coid in zip(accepted.items, roles, coids, strict=True)
        ]

    def modify_order(
        self, account_id: AccountId, broker_order_id: BrokerOrderId, change: OrderChange
    ) -> BrokerOrder:
        """Change a working order (the whole order is sent again, as IBKR requires)."""
        self._check_account(account_id)
        # The live listing carries the order's prices (``price`` / ``auxPrice``); the status body does not
        # always say a stop's price, and IBKR wants the whole order again.
        listed = {o.broker_order_id: o for o in self.live_orders(account_id)}.get(broker_order_id)
        current = listed or self.order_status(account_id, broker_order_id)
        body = bodies.modify_body(current, change, account_id)
        path = f"/iserver/account/{account_id}/order/{broker_order_id}"
        coid = current.client_order_id or ClientOrderId(f"order {broker_order_id}")
        try:
            self._submit(path, body, coid)
        except (OrderNotSent, OrderNeedsConfirmation) as exc:  # declined or never sent: not modified
            raise OrderRejected(f"not modified: {exc}") from exc
        return self.order_status(account_id, broker_order_id)

    def cancel_order(self, account_id: AccountId, broker_order_id: BrokerOrderId) -> None:
        """Ask IBKR to cancel; watch ``live_orders`` for the outcome."""
        self._check_account(account_id)
        self._prime()
        with self._lock:
            self._live = None
        try:
            body = self._http.send("DELETE", f"/iserver/account/{account_id}/order/{broker_order_id}")
        except (NotSent, Unanswered) as exc:
            raise TemporaryError(f"cancel of {broker_order_id}: {exc}") from exc
        except (BrokerRejected, TemporaryError) as exc:
            if "doesn't exist" in str(exc) or "not found" in str(exc).lower():
                raise NotFound(f"order {broker_order_id}: {exc}") from exc
            raise
        if isinstance(body, dict) and body.get("error"):
            text = str(body["error"])
            if "doesn't exist" in text or "not found" in text.lower():
                raise NotFound(f"order {broker_order_id}: {text}")
            raise BrokerRejected(f"cancel of {broker_order_id} refused: {text}")

    def live_orders(self, account_id: AccountId) -> list[BrokerOrder]:
        """Today's orders, one shared read per ``live_orders_ttl`` (two at the start of a session)."""
        return self._live_orders(account_id, fresh=False)

    def live_orders_fresh(self, account_id: AccountId) -> list[BrokerOrder]:
        """A new read, never the shared one (tracking's second look while an order's outcome is unknown)."""
        return self._live_orders(account_id, fresh=True)

    def _live_orders(self, account_id: AccountId, *, fresh: bool) -> list[BrokerOrder]:
        self._check_account(account_id)
        with self._lock:
            now = self._clock.now()
            if not fresh and self._live is not None and now - self._live.at < self._ttl:
                return list(self._live.orders)
            orders = parse.orders_from_live(self._live_body(), account_id, now=now)
            self._remember(orders)
            self._live = _LiveRead(now, orders)
            return list(orders)

    def _live_body(self) -> Any:
        """The live-orders answer, past IBKR's first-call-empty answer of a brokerage session.

        The first call of a session (and one with ``force``) answers an empty list. A session can be new
        without ibflow noticing (a gateway keeper logged it in again between two tickles; the gateway asks
        for ``/iserver/accounts`` again): then the force call is made again. An empty answer marked
        ``snapshot: false`` is read once more before it counts as "no orders": an empty list taken for the
        truth would prove orders of unknown outcome absent while they work at IBKR.
        """
        for _ in range(3):
            try:
                self._prime()
                if not self._live_primed:
                    self._http.read("GET", "/iserver/account/orders", params={"force": "true"})
                    self._live_primed = True
                body = self._http.read("GET", "/iserver/account/orders")
            except NeedsAccounts:
                self._forget_session()  # a new brokerage session: prime, then the force call again
                continue
            empty = isinstance(body, dict) and not body.get("orders")
            if empty and body.get("snapshot") is False and not self._live_checked:
                self._live_checked = True  # the next read (paced 5 s on) is the one that counts
                continue
            self._live_checked = False
            return body
        raise TemporaryError("the gateway's live orders are not ready yet; asked three times")

    def order_status(self, account_id: AccountId, broker_order_id: BrokerOrderId) -> BrokerOrder:
        """One order now; ``TemporaryError`` when IBKR cannot say (an order older than the session).

        The status body names neither our client id nor a parent: both come from what this broker saw of
        the order (its placement, a live-orders read); a waiting child's state needs its parent's fills.
        """
        self._check_account(account_id)
        body = self._status_body(broker_order_id)
        coid, parent = self._known.get(broker_order_id, (None, None))
        parent_filled = None
        if parent is not None and str(body.get("order_status", "")).casefold() == "presubmitted":
            try:
                parent_body = self._status_body(parent)
                parent_filled = Decimal(str(parent_body.get("cum_fill") or 0)) > 0
            except (TemporaryError, NotFound):
                # The parent is beyond what the status endpoint keeps. Reporting the child working (as if
                # its parent filled) is the safe side: a stop reported waiting could be replaced twice.
                parent_filled = True
        return parse.order_from_status(
            body,
            account_id,
            now=self._clock.now(),
            client_order_id=coid,
            parent_broker_order_id=parent,
            parent_filled=parent_filled,
        )

    def _status_body(self, broker_order_id: BrokerOrderId) -> dict[str, Any]:
        body = self._read("GET", f"/iserver/account/order/status/{broker_order_id}")
        if not isinstance(body, dict):
            raise TemporaryError(f"order {broker_order_id}: the gateway answered {type(body).__name__}")
        if body.get("error"):
            raise NotFound(f"order {broker_order_id}: {body['error']}")
        return body

    def executions(self, account_id: AccountId, since: datetime) -> list[Execution]:
        """Fills since ``since`` (IBKR keeps 7 days), each with its order id where it can be known."""
        self._check_account(account_id)
        days = min(7, max(1, (self._clock.now() - since).days + 1))
        body = self._read("GET", "/iserver/account/trades", params={"days": str(days)})
        found = [e for e in parse.executions_from_trades(body or [], account_id) if e.executed_at >= since]
        orders = self.live_orders(account_id)
        parents = {order_id: coid for order_id, (coid, _) in self._known.items() if coid is not None}
        return attribute(found, orders, parent_client_ids=parents)

    # --- submitting ----------------------------------------------------------------------------------

    def _submit(
        self,
        path: str,
        body: dict[str, Any],
        coid: ClientOrderId,
        confirmed: frozenset[str] = frozenset(),
        *,
        bracket: bool = False,
    ) -> parse.Accepted:
        """Send an order request and walk its questions; map every way it can end (rule 2)."""
        try:
            self._prime()
        except (BrokerError, NotSent, Unanswered) as exc:
            raise OrderNotSent(f"{coid}: the gateway is not ready ({exc})") from exc
        self._suppress_allowed()
        if not self.is_paper and not self._live_allowed:
            raise OrderRejected(
                f"{coid}: {self.account_id} is a live IBKR account; trading it needs "
                "IBFLOW_IBKR_LIVE_ACCOUNT_ALLOWED=true as well as IBFLOW_LIVE_TRADING_ALLOWED"
            )
        with self._lock:
            self._live = None
        answer = self._send(path, body, coid, first=True)
        for _ in range(MAX_ROUNDS):
            parsed = parse.placement_answer(answer, bracket=bracket)
            if isinstance(parsed, parse.Accepted):
                return parsed
            if isinstance(parsed, parse.Rejected):
                if parsed.duplicate:
                    raise DuplicateClientOrderId(f"{coid}: {parsed.text}")
                raise OrderRejected(f"{coid}: {parsed.text}")
            ids = tuple(parsed.message_ids)
            if not self._questions.confirms(ids, also=confirmed):
                self._decline(parsed.reply_id, coid)
                raise OrderNeedsConfirmation(" ".join(parsed.texts).strip(), ids)
            log.info("%s: confirming %s (on the allow-list)", coid, ", ".join(ids))
            crash_point(QUESTION_PENDING)
            answer = self._send(f"/iserver/reply/{parsed.reply_id}", {"confirmed": True}, coid, first=False)
        raise OrderOutcomeUnknown(f"{coid}: more than {MAX_ROUNDS} questions; settle it by its client id")

    def _send(self, path: str, body: dict[str, Any], coid: ClientOrderId, *, first: bool) -> Any:
        try:
            return self._http.send("POST", path, json=body)
        except NotSent as exc:
            if first:
                raise OrderNotSent(f"{coid}: {exc}") from exc
            raise OrderOutcomeUnknown(f"{coid}: a reply was not sent ({exc})") from exc
        except (RateLimited, SessionUnavailable, NeedsAccounts) as exc:
            if isinstance(exc, NeedsAccounts):
                self._forget_session()  # the next request primes this brokerage session again
            if first:  # the gateway refused the request before acting on it
                raise OrderNotSent(f"{coid}: {exc}") from exc
            raise OrderOutcomeUnknown(f"{coid}: {exc}") from exc
        except (Unanswered, TemporaryError) as exc:
            raise OrderOutcomeUnknown(f"{coid}: {exc}") from exc
        except (BrokerRejected, NotFound) as exc:
            if first:
                raise OrderRejected(f"{coid}: {exc}") from exc
            raise OrderOutcomeUnknown(f"{coid}: {exc}") from exc

    def _suppress_allowed(self) -> None:
        """Suppress the allow-listed questions for the brokerage session, so the gateway never asks them.

        A question answered in a reply round is invalidated by any other request reaching the gateway
        first (another process's quote, a tickle); a suppressed one is never asked. The full list is sent
        each time it changes (IBKR replaces the set); if suppressing fails, those questions come and are
        confirmed in the reply loop instead.
        """
        allowed = self._questions.allowed()
        if allowed == self._suppressed:
            return
        try:
            if allowed:
                self._http.send("POST", "/iserver/questions/suppress", json={"messageIds": sorted(allowed)})
            else:
                self._http.send("POST", "/iserver/questions/suppress/reset")
        except (BrokerError, NotSent, Unanswered) as exc:
            log.warning(
                "suppressing the allow-listed questions failed (%s); they are answered one by one", exc
            )
            return
        self._suppressed = allowed

    def _decline(self, reply_id: str, coid: ClientOrderId) -> None:
        """Answer a question ``confirmed: false`` so the gateway discards the order."""
        try:
            answer = self._http.send("POST", f"/iserver/reply/{reply_id}", json={"confirmed": False})
        except (BrokerError, NotSent, Unanswered) as exc:
            # Not declined: the gateway drops an unanswered question when the next request comes.
            log.warning("%s: declining a question failed (%s); the gateway drops it unanswered", coid, exc)
            return
        try:
            placed = isinstance(parse.placement_answer(answer), parse.Accepted)
        except BrokerError:
            placed = False  # a discard notice, not an order
        if placed:
            raise OrderOutcomeUnknown(f"{coid}: declined, yet the gateway answered as if it placed the order")

    def _remember(self, orders: list[BrokerOrder]) -> None:
        for order in orders:
            self._known[order.broker_order_id] = (order.client_order_id, order.parent_broker_order_id)

    def _check_account(self, account_id: AccountId) -> None:
        if account_id != self.account_id:
            raise BrokerRejected(f"this gateway trades {self.account_id}, not {account_id}")
