"""``PaperBroker``: the ``Broker`` protocol over the simulated market, with its own books.

Every call that names an account first takes the account's lock and brings its books up to the clock's
now (``evaluation``), then does its own work and commits, so any number of processes can share the books
through the database. Refusals (``OrderRejected``, ``DuplicateClientOrderId``, ``NotFound``) are decided
before anything is written; the evaluation done before them is still committed.

Behaviour worth knowing (see docs/paper-broker.md):

- ``place_order`` answers ``SUBMITTED``; the order fills on the next look at the prices the path had.
- ``cancel_order`` marks the order ``PENDING_CANCEL``; the next look reports ``CANCELLED``, or ``FILLED``
  when the fill came first. Cancelling an ended order is acknowledged and changes nothing.
- ``live_orders`` lists open orders and those that ended in the last ``recent`` (24 hours by default).
- Buying power is cash minus what working buy orders reserve (remaining quantity at their limit or stop
  price, market orders at the last price); it is reported, not enforced. A sell beyond the position opens
  a short.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ibflow.brokers.base import (
    AccountSummary,
    BarData,
    BracketRequest,
    BracketRole,
    BrokerOrder,
    BrokerOrderStatus,
    BrokerPosition,
    Contract,
    Execution,
    OrderChange,
    OrderRequest,
    PlacedOrder,
    Quote,
    SessionStatus,
)
from ibflow.brokers.paper.books import lock_account
from ibflow.brokers.paper.market.prices import SimulatedMarket
from ibflow.brokers.paper.market.universe import Instrument
from ibflow.brokers.paper.matching.evaluation import evaluate
from ibflow.brokers.paper.matching.validation import (
    bracket_side_problems,
    check_bracket,
    check_change,
    check_order,
)
from ibflow.brokers.paper.orders import (
    apply_change,
    bracket_legs,
    find_order,
    refuse_duplicate,
    require_client_id,
)
from ibflow.brokers.paper.views import broker_order_id, execution_view, order_view, position_view
from ibflow.core.clock import Clock, ensure_utc
from ibflow.core.errors import BrokerRejected, NotFound, OrderOutcome, OrderRejected
from ibflow.core.ids import AccountId, BrokerOrderId, Conid
from ibflow.core.money import ZERO, quantize
from ibflow.core.settings import BrokerSettings
from ibflow.db.engine import SessionFactory
from ibflow.db.models.paper import (
    OPEN_PAPER_STATUSES,
    PaperAccount,
    PaperFill,
    PaperLeg,
    PaperOrder,
    PaperOrderStatus,
    PaperPosition,
)
from ibflow.db.states import OrderSide, OrderType, TimeInForce

DAILY = "1d"
_MODIFIABLE = frozenset({PaperOrderStatus.WORKING, PaperOrderStatus.INACTIVE})


@dataclass(frozen=True)
class _Books:
    session: Session
    account: PaperAccount
    now: datetime


class PaperBroker:
    """The built-in paper broker: a ``Broker`` on a ``SimulatedMarket`` with books in ``paper_*``."""

    name = "paper"

    def __init__(
        self,
        sessions: SessionFactory,
        clock: Clock,
        market: SimulatedMarket,
        *,
        starting_cash: Decimal = Decimal(100_000),
        currency: str = "USD",
        recent: timedelta = timedelta(hours=24),
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self.market = market
        self._starting_cash = starting_cash
        self._currency = currency
        self._recent = recent

    @classmethod
    def from_settings(cls, settings: BrokerSettings, sessions: SessionFactory, clock: Clock) -> PaperBroker:
        """Build the paper broker and its market from the broker settings."""
        return cls(
            sessions,
            clock,
            SimulatedMarket.from_settings(settings),
            starting_cash=settings.paper_starting_cash,
        )

    def session_status(self) -> SessionStatus:
        """Report the session: healthy unless a test switch (``market.controls``) says otherwise."""
        return self.market.controls.session

    def search_contracts(self, query: str) -> list[Contract]:
        """Return the universe's contracts matching ``query``, best match first."""
        return self.market.universe.search(query)

    def contract_details(self, conid: Conid) -> Contract:
        """Return the contract with its minimum tick; ``NotFound`` for an unknown conid."""
        return self.market.instrument(conid).contract

    def historical_bars(self, conid: Conid, bar_size: str, start: datetime, end: datetime) -> list[BarData]:
        """Return daily bars begun in ``[start, end)``, never past the clock; only ``1d`` is served."""
        if bar_size != DAILY:
            raise BrokerRejected(f"the paper broker serves only {DAILY!r} bars, not {bar_size!r}")
        end = min(ensure_utc(end), ensure_utc(self._clock.now()))
        return self.market.daily_bars(conid, ensure_utc(start), end) if start < end else []

    def quote(self, conid: Conid) -> Quote:
        """Return the last price of ``conid`` now, flagged by the calendar and the test switches."""
        return self.market.quote(conid, self._clock.now())

    def account_summary(self, account_id: AccountId) -> AccountSummary:
        """Return cash, net liquidation (cash + positions at the last price) and buying power."""
        with self._books(account_id) as books:
            value = sum(
                (row.quantity * self._mark(row.conid, books.now) for row in self._positions(books)), ZERO
            )
            reserved = sum((self._reserved(row, books.now) for row in self._open_orders(books)), ZERO)
            cash = books.account.cash
            return AccountSummary(
                account_id=account_id,
                currency=books.account.currency,
                cash=cash,
                net_liquidation=quantize(cash + value),
                buying_power=quantize(cash - reserved),
            )

    def place_order(self, account_id: AccountId, order: OrderRequest) -> PlacedOrder:
        """Accept one order (it works from now); ``OrderRejected`` or ``DuplicateClientOrderId`` otherwise."""
        instrument = check_order(order, self.market.universe)
        require_client_id(order)
        with self._books(account_id) as books:
            refuse_duplicate(books.session, books.account, order)
            row = self._new_order(books, order, instrument, leg=None, parent_id=None)
            return PlacedOrder(broker_order_id(row.id), BrokerOrderStatus.SUBMITTED, order.client_order_id)

    def place_bracket(self, account_id: AccountId, bracket: BracketRequest) -> list[PlacedOrder]:
        """Accept parent, stop-loss and take-profit; the children wait ``INACTIVE`` for the parent's fills."""
        now = self._clock.now()
        instrument = check_bracket(
            bracket, self.market.universe, lambda: self.market.last_trade(bracket.parent.conid, now)[0]
        )
        require_client_id(bracket.parent)
        with self._books(account_id) as books:
            refuse_duplicate(books.session, books.account, bracket.parent)
            parent = self._new_order(books, bracket.parent, instrument, leg=PaperLeg.PARENT, parent_id=None)
            stop = self._new_order(
                books, bracket.stop_loss, instrument, leg=PaperLeg.STOP, parent_id=parent.id
            )
            target = self._new_order(
                books, bracket.take_profit, instrument, leg=PaperLeg.TARGET, parent_id=parent.id
            )
            return [
                PlacedOrder(
                    broker_order_id(parent.id),
                    BrokerOrderStatus.SUBMITTED,
                    bracket.parent.client_order_id,
                    BracketRole.PARENT,
                ),
                PlacedOrder(broker_order_id(stop.id), BrokerOrderStatus.INACTIVE, None, BracketRole.STOP),
                PlacedOrder(broker_order_id(target.id), BrokerOrderStatus.INACTIVE, None, BracketRole.TARGET),
            ]

    def modify_order(
        self, account_id: AccountId, broker_order_id: BrokerOrderId, change: OrderChange
    ) -> BrokerOrder:
        """Change quantity and/or prices of a working order from now on; ``OrderRejected`` when refused."""
        with self._books(account_id) as books:
            row = find_order(books.session, books.account, broker_order_id)
            label = f"order {broker_order_id}"
            if row.status not in _MODIFIABLE:
                raise OrderRejected(f"{label} is {row.status.value}: it can no longer be modified")
            check_change(
                change,
                order_type=row.order_type,
                tick=self.market.instrument(row.conid).min_tick,
                filled=row.filled_quantity,
                is_child=row.leg in (PaperLeg.STOP, PaperLeg.TARGET)
                and self.market.controls.children_follow_fills,
                label=label,
            )
            self._check_bracket_change(books, row, change, label)
            apply_change(books.session, row, change, books.now)
            return order_view(books.account.account_id, row)

    def cancel_order(self, account_id: AccountId, broker_order_id: BrokerOrderId) -> None:
        """Ask to cancel: the next look reports ``CANCELLED`` (or ``FILLED`` when the fill came first)."""
        with self._books(account_id) as books:
            row = find_order(books.session, books.account, broker_order_id)
            if row.status in _MODIFIABLE:
                row.status = PaperOrderStatus.PENDING_CANCEL
                row.cancel_requested_at = books.now
                row.updated_at = books.now

    def cancel_from_outside(self, account_id: AccountId, broker_order_id: BrokerOrderId) -> None:
        """Cancel as a trader in another front end would: ibflow is not told (a test control)."""
        self.cancel_order(account_id, broker_order_id)

    def order_status(self, account_id: AccountId, broker_order_id: BrokerOrderId) -> BrokerOrder:
        """Return one order as it is now, however long ago it ended; ``NotFound`` for an unknown id."""
        with self._books(account_id) as books:
            return order_view(
                books.account.account_id, find_order(books.session, books.account, broker_order_id)
            )

    def live_orders(self, account_id: AccountId) -> list[BrokerOrder]:
        """Return open orders and those that ended within ``recent`` (or the test switch), oldest first."""
        listed_for = self.market.controls.ended_orders_listed_for
        recent = self._recent if listed_for is None else listed_for
        with self._books(account_id) as books:
            rows = books.session.scalars(
                select(PaperOrder)
                .where(
                    PaperOrder.paper_account_id == books.account.id,
                    or_(
                        PaperOrder.status.in_(OPEN_PAPER_STATUSES),
                        PaperOrder.ended_at > books.now - recent,
                    ),
                )
                .order_by(PaperOrder.id)
            )
            return [order_view(books.account.account_id, row) for row in rows]

    def executions(self, account_id: AccountId, since: datetime) -> list[Execution]:
        """Return fills executed at or after ``since``, oldest first (minus the lag a test switch sets)."""
        lag = self.market.controls.executions_lag
        with self._books(account_id) as books:
            rows = books.session.execute(
                select(PaperFill, PaperOrder)
                .join(PaperOrder, PaperFill.order_id == PaperOrder.id)
                .where(
                    PaperFill.paper_account_id == books.account.id,
                    PaperFill.executed_at >= ensure_utc(since),
                    PaperFill.executed_at <= books.now - lag,
                )
                .order_by(PaperFill.executed_at, PaperFill.id)
            )
            return [execution_view(books.account.account_id, fill, order) for fill, order in rows]

    def positions(self, account_id: AccountId) -> list[BrokerPosition]:
        """Return the non-zero positions valued at the last price."""
        with self._books(account_id) as books:
            return [
                position_view(books.account.account_id, row, self._mark(row.conid, books.now))
                for row in self._positions(books)
            ]

    @contextmanager
    def _books(self, account_id: str) -> Iterator[_Books]:
        now = ensure_utc(self._clock.now())
        refusal: OrderOutcome | NotFound | None = None
        with self._sessions() as session:
            with session.begin():
                account = lock_account(
                    session, account_id, now=now, starting_cash=self._starting_cash, currency=self._currency
                )
                evaluate(session, account, self.market, now)
                # a clock behind the books (another process's, read before the lock) acts at the watermark
                now = max(now, account.evaluated_until)
                try:
                    yield _Books(session, account, now)
                except (OrderOutcome, NotFound) as exc:
                    refusal = exc
            if refusal is not None:
                raise refusal

    def _new_order(
        self,
        books: _Books,
        request: OrderRequest,
        instrument: Instrument,
        *,
        leg: PaperLeg | None,
        parent_id: int | None,
    ) -> PaperOrder:
        active = leg in (None, PaperLeg.PARENT)
        row = PaperOrder(
            paper_account_id=books.account.id,
            client_order_id=request.client_order_id if active else None,
            parent_id=parent_id,
            leg=leg,
            conid=instrument.conid,
            symbol=instrument.symbol,
            side=request.side,
            order_type=request.order_type,
            tif=request.tif,
            quantity=request.quantity,
            limit_price=request.limit_price,
            stop_price=request.stop_price,
            status=PaperOrderStatus.WORKING if active else PaperOrderStatus.INACTIVE,
            filled_quantity=ZERO,
            filled_value=ZERO,
            commission=ZERO,
            fill_count=0,
            active_from=books.now if active else None,
            expires_at=self.market.calendar.day_end(books.now) if request.tif is TimeInForce.DAY else None,
            reason="",
            created_at=books.now,
            updated_at=books.now,
        )
        books.session.add(row)
        books.session.flush()
        return row

    def _check_bracket_change(self, books: _Books, row: PaperOrder, change: OrderChange, label: str) -> None:
        if row.leg is None:
            return
        legs = bracket_legs(books.session, row.parent_id or row.id)
        parent = legs[PaperLeg.PARENT]
        if parent.filled_quantity > 0:
            return
        prices = {leg: (o.limit_price, o.stop_price) for leg, o in legs.items()}
        prices[row.leg] = (
            change.limit_price if change.limit_price is not None else row.limit_price,
            change.stop_price if change.stop_price is not None else row.stop_price,
        )
        entry = prices[PaperLeg.PARENT][0]
        if entry is None:
            entry = self.market.last_trade(parent.conid, books.now)[0]
        problems = bracket_side_problems(
            parent.side, entry, prices[PaperLeg.STOP][1], prices[PaperLeg.TARGET][0]
        )
        if problems:
            raise OrderRejected(f"{label} modification refused: " + "; ".join(problems))

    def _mark(self, conid: int, now: datetime) -> Decimal:
        return self.market.last_trade(conid, now)[0]

    def _reserved(self, row: PaperOrder, now: datetime) -> Decimal:
        if row.side is not OrderSide.BUY or row.status is PaperOrderStatus.INACTIVE:
            return ZERO
        if row.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT) and row.limit_price is not None:
            price = row.limit_price
        elif row.order_type is OrderType.STOP and row.stop_price is not None:
            price = row.stop_price
        else:
            price = self._mark(row.conid, now)
        return (row.quantity - row.filled_quantity) * price

    def _positions(self, books: _Books) -> list[PaperPosition]:
        rows = books.session.scalars(
            select(PaperPosition)
            .where(PaperPosition.paper_account_id == books.account.id)
            .order_by(PaperPosition.conid)
        )
        return [row for row in rows if row.quantity != 0]

    def _open_orders(self, books: _Books) -> list[PaperOrder]:
        return list(
            books.session.scalars(
                select(PaperOrder).where(
                    PaperOrder.paper_account_id == books.account.id,
                    PaperOrder.status.in_(OPEN_PAPER_STATUSES),
                )
            )
        )
