"""``GatewaySimulator``: one simulated gateway - clock, session, limits, faults and the paper broker behind.

It holds the state the routes share; the order desk (``desk``) and the market data desk (``market``) do
the work. A ``GatewayError`` carries the HTTP status and the body IBKR would answer.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime

from ibflow.brokers.ibkr.simulator.clock import SimClock
from ibflow.brokers.ibkr.simulator.config import SimulatorConfig
from ibflow.brokers.ibkr.simulator.faults import Faults
from ibflow.brokers.ibkr.simulator.pacing import Gate, RateLimiter
from ibflow.brokers.ibkr.simulator.questions import ReplyBook
from ibflow.brokers.ibkr.simulator.session import Brokerage, SessionMachine, SessionState
from ibflow.brokers.paper.broker import PaperBroker
from ibflow.brokers.paper.market.prices import SimulatedMarket
from ibflow.brokers.paper.market.universe import Instrument
from ibflow.core.clock import Clock
from ibflow.core.ids import AccountId
from ibflow.db.engine import SessionFactory

NOT_AUTHENTICATED = {"error": "not authenticated", "statusCode": 401}
NO_SESSION = {"error": "no session", "statusCode": 401}
QUERY_ACCOUNTS_FIRST = {"error": "Please query /accounts first"}
SESSION_PATHS = ("/iserver/auth/status", "/iserver/auth/ssodh/init", "/iserver/reauthenticate")


class GatewayError(Exception):
    """An answer other than success: the HTTP status and IBKR's body."""

    def __init__(self, status: int, body: object) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body


@dataclass
class OrderMeta:
    """What the gateway remembers of an order it was sent (lost on a restart, as IBKR's cache is)."""

    placed_at: datetime
    cancel_requested_at: datetime | None = None


class GatewaySimulator:
    """A simulated Client Portal gateway over a ``PaperBroker`` on its own books and clock."""

    def __init__(
        self, config: SimulatorConfig, sessions: SessionFactory, *, wall: Clock | None = None
    ) -> None:
        self.config = config
        self.account_id = AccountId(config.account_id)
        self.clock = SimClock(config.start, scale=config.time_scale, wall=wall)
        self.market = SimulatedMarket(seed=config.seed, calendar=config.calendar)
        self.broker = PaperBroker(sessions, self.clock, self.market, starting_cash=config.starting_cash)
        self.session = SessionMachine(
            self.clock,
            idle_timeout=config.idle_timeout,
            sso_lifetime=config.sso_lifetime,
            reset_hour_new_york=config.reset_hour_new_york,
            logged_in=config.logged_in,
        )
        self.limiter = RateLimiter(
            self.clock,
            enabled=config.rate_limits,
            global_per_second=config.global_rate_per_second,
            penalty_box=config.penalty_box,
        )
        self.faults = Faults()
        self.replies = ReplyBook(self.clock, config.reply_timeout)
        self.replies.chain = list(config.questions)
        self.history_gate = Gate(5)
        self.orders: dict[str, OrderMeta] = {}
        self.positions_cache: tuple[datetime, list[dict[str, object]]] | None = None
        self.lock = threading.RLock()
        self.opened_at = self.clock.now()

    @property
    def brokerage(self) -> Brokerage:
        """Return what the current brokerage session has primed."""
        return self.session.brokerage

    def gate(self, path: str) -> GatewayError | None:
        """Record an API request and say why the session refuses it (``None``: it may pass)."""
        state = self.session.touch()
        if state is SessionState.NO_SESSION:
            return GatewayError(401, NO_SESSION)
        if state is SessionState.AUTHENTICATED:
            return None
        if path.startswith("/iserver") and not path.startswith(SESSION_PATHS):
            return GatewayError(401, NOT_AUTHENTICATED)
        return None

    def require_accounts(self) -> None:
        """Refuse until ``/iserver/accounts`` was called in this brokerage session."""
        if not self.brokerage.accounts_queried:
            raise GatewayError(500, QUERY_ACCOUNTS_FIRST)

    def require_portfolio(self) -> None:
        """Refuse ``/portfolio/{acct}/...`` until ``/portfolio/accounts`` was called in this session."""
        if not self.brokerage.portfolio_queried:
            raise GatewayError(500, {"error": "Please query /portfolio/accounts first"})

    def require_account(self, account_id: str) -> None:
        """Refuse an account other than the simulator's."""
        if account_id != self.account_id:
            raise GatewayError(400, {"error": f"Account {account_id} is not available", "statusCode": 400})

    def session_id(self) -> str:
        """Return the ``sessionId`` of ``/iserver/accounts`` (new with each login)."""
        token = self.session.token
        return f"{token[:7]}.{int(token[7:15], 16) % 100_000_000:08d}" if token else ""

    def instrument(self, conid: int) -> Instrument | None:
        """Return the instrument with ``conid``, or ``None``."""
        return self.market.universe.get(conid)

    def auth_flags(self) -> dict[str, bool]:
        """Return ``authenticated``, ``competing`` and ``connected`` as the gateway reports them."""
        state = self.session.state
        return {
            "authenticated": state is SessionState.AUTHENTICATED,
            "competing": state is SessionState.COMPETING,
            "connected": state is not SessionState.NO_SESSION,
        }
