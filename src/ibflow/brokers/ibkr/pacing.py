"""The gateway's rate limits, shared by every process of the installation (TRADING-SAFETY rule 4).

IBKR allows 10 requests a second through the Client Portal gateway and fewer to some endpoints (reference
§7); a breach answers 429 and puts the client's IP in a penalty box (15 minutes) where every call fails.
The service, CLI commands and workers on other machines all call the same gateway from the same
installation, so the limits are kept in the database (``gateway_pacing``), never in one process's memory.

Every limit is a spacing: one request per ``spacing`` seconds, IBKR's figure plus a margin (``MARGIN``,
``SHORT_MARGIN``). A
request takes its slot in one short transaction: lock the rows of ``global``, of its endpoint's rule (if
any) and of ``penalty``; ``slot = max(now, next_free_at of each)``; write ``next_free_at = slot + spacing``
for the global row and the endpoint row; commit; then sleep until the slot, outside the transaction.
PostgreSQL locks the rows with ``SELECT ... FOR UPDATE`` (missing rows are created first with
``INSERT ... ON CONFLICT DO NOTHING``); on SQLite our engine starts every write transaction with
``BEGIN IMMEDIATE``, which serializes the whole reservation.

When the endpoint's row or the penalty box holds a request further off than the global queue would, it
takes no slot yet: it sleeps until then and asks again, so that a live-orders read queued 5 s ahead does
not hold every other request 5 s back (one ``global`` next-free time cannot keep a gap free before it).

Times are wall-clock epoch seconds (``time.time``), the one clock processes, and machines kept in step by
NTP, share; a monotonic clock means nothing outside its process. The margins cover what lies between our
slot and the gateway's count: the wake-up and network jitter after the slot, and clock skew between
machines (NTP keeps it to milliseconds; it must stay well under 10 ms per request, 100 ms per second).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ibflow.db.models.system import GatewayPacing

log = logging.getLogger(__name__)

MARGIN = 0.10
"""A slow limit's spacing is IBKR's figure plus 10%: a 1-per-5-s endpoint gets 5.5 s (0.5 s of slack)."""

SHORT_MARGIN = 0.25
"""The global limit and every limit of one second or less get 25%: the global 0.1 s becomes 0.125 s (8
requests a second), so 11 requests in a row span 1.25 s, leaving 250 ms for one request's wake-up and network
jitter (or clock skew) before the gateway could count 11 in one second. 10% (100 ms) was not enough: on a
loaded 2-core machine one request arrived 99 ms after its slot and two workers together met a 429 and the
15-minute penalty box (tests/integration/runtime/test_celery_ibkr_pacing.py)."""

GLOBAL_KEY = "global"
PENALTY_KEY = "penalty"
PENALTY_SECONDS = 900.0
"""IBKR's penalty box lasts 15 minutes (CPAPI; WEBAPI says 10)."""


@dataclass(frozen=True)
class Rule:
    """IBKR allows one request per ``per_seconds`` to ``path``; we keep ``spacing`` between them.

    ``path`` matches exactly (a trailing ``/`` marks a prefix, ``/fyi/``): ``/iserver/account/orders``
    (live orders, paced) is not ``/iserver/account/DU123/orders`` (placing, not paced by an endpoint rule).
    """

    name: str
    path: str
    per_seconds: float
    margin: float | None = None
    """``None``: ``SHORT_MARGIN`` for a limit of a second or less, else ``MARGIN``."""

    @property
    def spacing(self) -> float:
        """Seconds kept between two requests under this rule."""
        margin = self.margin
        if margin is None:
            margin = SHORT_MARGIN if self.per_seconds <= 1.0 else MARGIN
        return self.per_seconds * (1.0 + margin)

    @property
    def key(self) -> str:
        """The rule's row in ``gateway_pacing``."""
        return f"endpoint:{self.name}"

    def matches(self, path: str) -> bool:
        """Tell whether a request to ``path`` falls under this rule."""
        if self.path.endswith("/"):
            return path.startswith(self.path) and path != self.path
        return path == self.path


@dataclass(frozen=True)
class PacingRules:
    """The global limit and the per-endpoint limits."""

    global_per_seconds: float
    endpoints: tuple[Rule, ...]
    global_margin: float = SHORT_MARGIN

    @property
    def global_spacing(self) -> float:
        """Seconds kept between any two requests."""
        return self.global_per_seconds * (1.0 + self.global_margin)

    def rule_for(self, path: str) -> Rule | None:
        """The endpoint rule for ``path`` (its query string and a trailing ``/`` ignored), if any."""
        bare = path.split("?", 1)[0]
        bare = bare.rstrip("/") or "/"
        return next((rule for rule in self.endpoints if rule.matches(bare)), None)


DEFAULT_RULES = PacingRules(
    global_per_seconds=0.1,
    endpoints=(
        Rule("live orders", "/iserver/account/orders", 5.0),
        Rule("trades", "/iserver/account/trades", 5.0),
        Rule("pnl", "/iserver/account/pnl/partitioned", 5.0),
        Rule("portfolio accounts", "/portfolio/accounts", 5.0),
        Rule("portfolio subaccounts", "/portfolio/subaccounts", 5.0),
        Rule("tickle", "/tickle", 1.0),
        Rule("sso validate", "/sso/validate", 60.0),
        Rule("snapshot", "/iserver/marketdata/snapshot", 0.1),
        Rule("scanner run", "/iserver/scanner/run", 1.0),
        Rule("scanner params", "/iserver/scanner/params", 900.0),
        Rule("pa performance", "/pa/performance", 900.0),
        Rule("pa summary", "/pa/summary", 900.0),
        Rule("pa transactions", "/pa/transactions", 900.0),
        Rule("fyi", "/fyi/", 1.0),
    ),
)
"""Reference §7: 10 requests a second in all; per endpoint as listed (each with its margin)."""


@dataclass(frozen=True)
class _Grant:
    slot: float
    now: float
    reserved: bool


class SharedPacer:
    """A ``Pacer`` (``brokers/ibkr/http.py``) whose limits live in the database behind ``engine``.

    ``wall`` is the shared wall clock (epoch seconds) and ``sleep`` waits; both are injected for tests.
    ``penalty_seconds`` is how long every process holds off after a 429.
    """

    def __init__(
        self,
        engine: Engine,
        rules: PacingRules = DEFAULT_RULES,
        *,
        wall: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        penalty_seconds: float = PENALTY_SECONDS,
    ) -> None:
        self._engine = engine
        self._rules = rules
        self._wall = wall
        self._sleep = sleep
        self._penalty_seconds = penalty_seconds
        self._postgres = engine.dialect.name == "postgresql"

    def acquire(self, path: str) -> None:
        """Block until a request to ``path`` may be sent, having taken its slot for every process."""
        rule = self._rules.rule_for(path)
        while True:
            grant = self._reserve(rule)
            wait = grant.slot - grant.now
            if wait > 0:
                self._sleep(wait)
            if not grant.reserved:
                continue
            if wait > 0 and self._blocked_until() > self._wall():
                continue  # a 429 arrived while we slept: the slot is void, wait out the box
            return

    def penalty_remaining(self) -> float:
        """Seconds left in the penalty box after a 429 (0 when there is none)."""
        return max(0.0, self._blocked_until() - self._wall())

    def penalized(self, path: str) -> None:
        """A 429 arrived for ``path``: hold every request of every process for the penalty period."""
        with self._engine.begin() as conn:
            rows = self._locked(conn, [PENALTY_KEY])
            now = self._wall()
            until = max(rows[PENALTY_KEY], now + self._penalty_seconds)
            self._write(conn, {PENALTY_KEY: until}, now)
        log.warning(
            "the IBKR gateway answered 429 (Too Many Requests) for %s: ibflow backs off for %s, "
            "until %s, in every process of this installation",
            path,
            _duration(self._penalty_seconds),
            datetime.fromtimestamp(until, UTC).isoformat(timespec="seconds"),
        )

    def _reserve(self, rule: Rule | None) -> _Grant:
        keys = [GLOBAL_KEY, PENALTY_KEY] + ([rule.key] if rule else [])
        with self._engine.begin() as conn:
            rows = self._locked(conn, keys)
            now = self._wall()  # read once the rows are ours: time spent waiting for the lock is not a gap
            queue = max(now, rows[GLOBAL_KEY])
            held = max(rows[PENALTY_KEY], rows[rule.key] if rule else 0.0)
            if held > queue + self._rules.global_spacing:
                return _Grant(held, now, reserved=False)  # nothing written: come back then
            slot = max(queue, held)
            next_free = {GLOBAL_KEY: slot + self._rules.global_spacing}
            if rule:
                next_free[rule.key] = slot + rule.spacing
            self._write(conn, next_free, now)
        return _Grant(slot, now, reserved=True)

    def _blocked_until(self) -> float:
        with self._engine.connect() as conn:
            value = conn.scalar(select(GatewayPacing.next_free_at).where(GatewayPacing.key == PENALTY_KEY))
            conn.rollback()
        return float(value or 0.0)

    def _locked(self, conn: Connection, keys: Sequence[str]) -> dict[str, float]:
        """The rows of ``keys`` (created at 0 when missing), locked until the transaction ends."""
        ordered = sorted(keys)  # one lock order for everyone: no deadlock between two reservations
        stamp = datetime.fromtimestamp(self._wall(), UTC)
        values = [{"key": key, "next_free_at": 0.0, "updated_at": stamp} for key in ordered]
        if self._postgres:
            conn.execute(postgresql.insert(GatewayPacing).values(values).on_conflict_do_nothing())
        else:
            conn.execute(sqlite.insert(GatewayPacing).values(values).on_conflict_do_nothing())
        query = select(GatewayPacing.key, GatewayPacing.next_free_at).where(GatewayPacing.key.in_(ordered))
        if self._postgres:
            query = query.order_by(GatewayPacing.key).with_for_update()
        return {key: float(value) for key, value in conn.execute(query)}

    def _write(self, conn: Connection, next_free: dict[str, float], now: float) -> None:
        stamp = datetime.fromtimestamp(now, UTC)
        for key, value in next_free.items():
            conn.execute(
                update(GatewayPacing)
                .where(GatewayPacing.key == key)
                .values(next_free_at=value, updated_at=stamp)
            )


def _duration(seconds: float) -> str:
    if seconds >= 60:
        return f"{seconds / 60:g} minutes"
    return f"{seconds:g} seconds"
