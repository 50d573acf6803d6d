"""Order tracking: the broker's live orders and executions brought into our books.

``sync_orders`` reads the broker first (no transaction is open while it does: the paper broker writes its
own books on a read), then, under the account lock, in one transaction:

1. learns the broker id of our orders from the executions (a parent that filled and dropped off the live
   list is still named there by our client order id), then matches each broker order to our row by client
   order id, else broker order id, else — for a bracket child, which carries none of ours — by its
   parent's broker id and its role, recording the child's id;
2. applies new executions as fills, once each (``fills.apply_executions``), and replays the positions;
   an execution that names no order goes to the one unlisted order of ours it fits, if exactly one does
   (``attribution``: the fills of an order that ended before the broker's session);
3. moves every matched row to the state the broker reports (``orders.BROKER_STATES``), and takes the
   broker's quantity when it changed (the paper broker shrinks a child when its OCO sibling part-fills);
4. settles ``submit_unknown`` orders: found by client order id, they take the broker's state; absent from
   the live orders (read twice, as IBKR needs) and from the executions for longer than the grace period,
   they are ``rejected`` as proven absent, with their children;
5. settles every live row the broker no longer lists: it was looked up by id (``Broker.order_status``)
   before the transaction; what the broker says is taken (a stop reported filled whose fills lag stays
   *settling*, see ``sending.adopt``); an id the broker does not know is settled as the evidence shows —
   filled when its fills cover it, else cancelled (not listed means not working) with an
   ``order.vanished`` event, so the watchdog sees the protection gap. An id the broker cannot say about
   (IBKR answers 503 for an order that ended before the current brokerage session) is waited on for the
   grace period, counted only while tracking looks (``unlisted_since``, ``unlisted_seen_at``: a gap longer
   than the grace starts it again). Then, since a live-orders answer can miss an order that still works,
   it is cancelled at the broker to be sure (before the transaction): the broker taking the cancel makes
   it ``cancel_pending`` for one more grace, a broker that does not know it makes it ``cancelled`` at once;
   a ``cancel_pending`` row that stays unlisted and unreadable for the grace is ``cancelled``. Its fills are
   the ones the executions show (IBKR keeps 7 days); older fills than that show as a position mismatch in
   reconciliation, and no sell is ever sized above what the broker holds;
6. with ``adopt_external`` (reconciliation), records broker orders nobody here sent as ``origin=external``
   at the state the broker reports; they are shown and never touched. A child of a parent ibflow sent is
   never adopted as external.

Rows in ``intent`` or ``submitting`` belong to a sender holding the lock and are left alone.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ibflow.brokers.base import BracketRole, Broker, BrokerOrder, Execution
from ibflow.core.clock import Clock
from ibflow.core.errors import IbflowError, NotFound, retry_reads
from ibflow.core.ids import AccountId, BrokerOrderId
from ibflow.core.log_context import log_context
from ibflow.core.settings import BrokerSettings, RiskSettings
from ibflow.db.engine import SessionFactory
from ibflow.db.events.outbox import record_event
from ibflow.db.locks import NamedLocks
from ibflow.db.models import Order, Strategy, Symbol
from ibflow.db.states import LIVE_ORDER_STATES, OrderOrigin, OrderRole, OrderState
from ibflow.trading.lifecycle.attribution import unlisted_owners
from ibflow.trading.lifecycle.client_ids import installation_id, is_ours
from ibflow.trading.lifecycle.fills import apply_executions
from ibflow.trading.lifecycle.orders import (
    NewOrder,
    create_order,
    hold_account,
    move,
    move_towards,
    order_by_broker_id,
    order_by_client_id,
    state_for,
)
from ibflow.trading.lifecycle.sending import adopt
from ibflow.trading.positions.book import set_signal_outcome
from ibflow.trading.risk.checks import DEFAULT_RISK_ENV
from ibflow.trading.risk.runtime_settings import get_runtime_settings

_log = logging.getLogger(__name__)

DEFAULT_LOOKBACK = timedelta(days=3)
_SENDER_OWNS = frozenset({OrderState.INTENT, OrderState.SUBMITTING})
_CHILD_ROLES = {BracketRole.STOP: OrderRole.STOP, BracketRole.TARGET: OrderRole.TARGET}
_UNFILLED_END = {
    OrderState.CANCELLED: "cancelled",
    OrderState.EXPIRED: "expired",
    OrderState.REJECTED: "rejected",
}


DEFAULT_BROKER_ENV = BrokerSettings.model_construct()
"""Built-in broker defaults for callers that pass none (never read from the environment)."""


def envs(
    risk_env: RiskSettings | None, broker_env: BrokerSettings | None
) -> tuple[RiskSettings, BrokerSettings]:
    """Return the environment settings given, or the built-in defaults for the ones missing."""
    return risk_env or DEFAULT_RISK_ENV, broker_env or DEFAULT_BROKER_ENV


@dataclass
class SyncReport:
    """What one sync changed."""

    state_changes: int = 0
    new_fills: int = 0
    settled: list[str] = field(default_factory=list)
    proven_absent: list[str] = field(default_factory=list)
    adopted: list[str] = field(default_factory=list)
    unmatched_orders: list[BrokerOrder] = field(default_factory=list)
    unmatched_executions: list[Execution] = field(default_factory=list)


@dataclass
class BrokerView:
    """What one sync read from the broker: live orders (a second read while an order is unknown), fills,
    and the status by id of our live rows the live orders no longer listed (``None``: the broker does not
    know the id; absent from both maps: not looked up)."""

    first: list[BrokerOrder]
    second: list[BrokerOrder] | None
    executions: list[Execution]
    looked_up: dict[str, BrokerOrder | None] = field(default_factory=dict)
    unavailable: set[str] = field(default_factory=set)
    cancels: dict[str, str] = field(default_factory=dict)
    """Unreadable rows past their grace, cancelled to be sure: ``accepted``, ``unknown`` or ``failed``."""
    named: list[BrokerOrder] = field(default_factory=list)
    """Orders off the live list that another source names (an execution, a listed child's parent), looked
    up by id while a row of ours lacks its broker id (a crash before the broker's answer, then downtime)."""

    @property
    def latest(self) -> list[BrokerOrder]:
        """The freshest read of the live orders."""
        return self.second if self.second is not None else self.first


def read_broker(
    sessions: SessionFactory,
    broker: Broker,
    account_id: str,
    since: datetime,
    *,
    at: datetime | None = None,
    grace: timedelta | None = None,
) -> BrokerView:
    """Read live orders (twice while an order is unknown), executions, and the status of unlisted rows;
    with ``at`` and ``grace``, cancel to be sure the unreadable rows whose grace is over (step 5).

    No transaction is open meanwhile (the paper broker writes its own books on a read).
    """
    account = AccountId(account_id)
    read_orders = retry_reads()(broker.live_orders)
    first = read_orders(account)
    with sessions() as session:
        unknown = session.scalars(
            select(Order.id).where(Order.account_id == account_id, Order.state == OrderState.SUBMIT_UNKNOWN)
        ).first()
        rows = session.execute(
            select(Order.broker_order_id, Order.unlisted_since, Order.unlisted_seen_at, Order.state).where(
                Order.account_id == account_id,
                Order.state.in_(list(LIVE_ORDER_STATES - _SENDER_OWNS)),
                Order.broker_order_id.is_not(None),
            )
        ).all()
        ours = {bid: (since_, seen, state) for bid, since_, seen, state in rows}
    # The second look must be a new read: a broker that shares one read between callers (IBKR) offers
    # ``live_orders_fresh``; for the others every read is new.
    read_again = retry_reads()(getattr(broker, "live_orders_fresh", broker.live_orders))
    second = read_again(account) if unknown is not None else None
    executions = retry_reads()(broker.executions)(account, since)
    view = BrokerView(first, second, executions)
    listed = {o.broker_order_id for o in [*first, *(second or [])]}
    for broker_order_id in sorted({bid for bid in ours if bid is not None} - listed):
        # Asked once, not retried, while it has been unreadable before (IBKR's 503 for old orders lasts).
        _look_up(broker, account, broker_order_id, view, retry=ours[broker_order_id][0] is None)
    if at is not None and grace is not None:
        for broker_order_id in sorted(view.unavailable):
            unlisted, seen, state = ours[broker_order_id]
            if state is not OrderState.CANCEL_PENDING and _grace_served(unlisted, seen, at, grace):
                view.cancels[broker_order_id] = _cancel_to_be_sure(broker, account, broker_order_id)
    view.named = _children_named_by_executions(sessions, broker, account, executions, listed)
    view.named += _parents_named_by_children(sessions, broker, account, [*first, *(second or [])])
    return view


def _parents_named_by_children(
    sessions: SessionFactory, broker: Broker, account: AccountId, listed: list[BrokerOrder]
) -> list[BrokerOrder]:
    """Parents that filled and dropped off the live list while their children still work there."""
    listed_ids = {o.broker_order_id for o in listed}
    named = {o.parent_broker_order_id for o in listed if o.parent_broker_order_id is not None} - listed_ids
    if not named:
        return []
    with sessions() as session:
        unknown = session.scalars(
            select(Order.id).where(
                Order.account_id == account,
                Order.parent_id.is_(None),
                Order.broker_order_id.is_(None),
                Order.state == OrderState.SUBMIT_UNKNOWN,
            )
        ).first()
        if unknown is None:
            return []
        known = set(
            session.scalars(
                select(Order.broker_order_id).where(
                    Order.account_id == account, Order.broker_order_id.in_(sorted(named))
                )
            )
        )
    found: list[BrokerOrder] = []
    for broker_order_id in sorted(named - known):
        try:
            found.append(retry_reads()(broker.order_status)(account, BrokerOrderId(broker_order_id)))
        except IbflowError:
            continue  # not known there (any more): the children stay unmatched this time
    return found


def _children_named_by_executions(
    sessions: SessionFactory,
    broker: Broker,
    account: AccountId,
    executions: list[Execution],
    listed: Iterable[str],
) -> list[BrokerOrder]:
    named = {e.broker_order_id for e in executions if e.client_order_id is None and e.broker_order_id}
    with sessions() as session:
        orphan = session.scalars(
            select(Order.id).where(
                Order.account_id == account,
                Order.parent_id.is_not(None),
                Order.broker_order_id.is_(None),
                Order.state == OrderState.SUBMIT_UNKNOWN,
            )
        ).first()
        if orphan is None:
            return []
        known = set(
            session.scalars(
                select(Order.broker_order_id).where(
                    Order.account_id == account, Order.broker_order_id.in_(sorted(named))
                )
            )
        )
    found: list[BrokerOrder] = []
    for broker_order_id in sorted(named - set(listed) - known):
        try:
            order = retry_reads()(broker.order_status)(account, BrokerOrderId(broker_order_id))
        except IbflowError:
            continue  # not known there (any more): nothing to learn from it
        if order.parent_broker_order_id is not None:
            found.append(order)
    return found


def _grace_served(unlisted: datetime | None, seen: datetime | None, at: datetime, grace: timedelta) -> bool:
    """Unlisted and unreadable for ``grace``, looked at all along (no gap in looking longer than it)."""
    if unlisted is None or seen is None or at - seen > grace:
        return False
    return at - unlisted >= grace


def _cancel_to_be_sure(broker: Broker, account: AccountId, broker_order_id: str) -> str:
    try:
        broker.cancel_order(account, BrokerOrderId(broker_order_id))
    except NotFound:
        return "unknown"
    except IbflowError as exc:
        _log.warning("cancel of unreadable order %s failed: %s; asked again next time", broker_order_id, exc)
        return "failed"
    return "accepted"


def _look_up(
    broker: Broker, account: AccountId, broker_order_id: str, view: BrokerView, *, retry: bool = True
) -> None:
    read = retry_reads()(broker.order_status) if retry else broker.order_status
    try:
        view.looked_up[broker_order_id] = read(account, BrokerOrderId(broker_order_id))
    except NotFound:
        view.looked_up[broker_order_id] = None
    except IbflowError:
        view.unavailable.add(broker_order_id)


def sync_orders(
    sessions: SessionFactory,
    *,
    broker: Broker,
    locks: NamedLocks,
    account_id: str,
    clock: Clock,
    risk_env: RiskSettings | None = None,
    broker_env: BrokerSettings | None = None,
    lookback: timedelta = DEFAULT_LOOKBACK,
    adopt_external: bool = False,
) -> SyncReport:
    """Bring the account's orders, fills and positions in line with the broker (see the module doc)."""
    with hold_account(locks, account_id):
        with sessions() as session:
            runtime = get_runtime_settings(session, *envs(risk_env, broker_env))
            grace = timedelta(seconds=runtime.submit_unknown_grace_seconds)
        now = clock.now()
        view = read_broker(sessions, broker, account_id, now - lookback, at=now, grace=grace)
        with sessions() as session:
            report = apply_broker_view(
                session,
                account_id=account_id,
                view=view,
                at=clock.now(),
                grace=grace,
                adopt_external=adopt_external,
            )
            session.commit()
    return report


def apply_broker_view(
    session: Session,
    *,
    account_id: str,
    view: BrokerView,
    at: datetime,
    grace: timedelta,
    adopt_external: bool,
) -> SyncReport:
    """Apply what the broker said to our books in the caller's transaction (steps 1 to 5 above)."""
    report = SyncReport()
    install = installation_id(session)
    _learn_broker_ids(session, account_id, install, view.executions)
    matched = _match(session, account_id, install, [*view.latest, *view.named])
    fills, unmatched = apply_executions(session, account_id=account_id, executions=view.executions, at=at)
    owners = unlisted_owners(session, account_id, unmatched, [*view.first, *(view.second or [])])
    if owners:  # fills of orders the broker no longer lists (ended before its session), naming none
        more, unmatched = apply_executions(
            session, account_id=account_id, executions=unmatched, at=at, owners=owners
        )
        fills += more
    report.new_fills = len(fills)
    filled_now = {fill.order_id for fill in fills}
    for order, found in matched:
        with log_context(client_order_id=order.client_order_id):
            report.state_changes += _follow(
                session, order, found, at=at, filled_now=order.id in filled_now, report=report
            )
    _settle_unknown(session, account_id, view, {o.id for o, _ in matched}, at=at, grace=grace, report=report)
    report.state_changes += _settle_unlisted(
        session, account_id, view, {o.id for o, _ in matched}, at=at, grace=grace
    )
    unmatched_orders = [
        o for o in view.latest if o.broker_order_id not in {f.broker_order_id for _, f in matched}
    ]
    if adopt_external and unmatched_orders:
        _adopt_external(session, account_id, unmatched_orders, at, report)
        more, unmatched = apply_executions(session, account_id=account_id, executions=unmatched, at=at)
        report.new_fills += len(more)
    else:
        report.unmatched_orders = unmatched_orders
    report.unmatched_executions = unmatched
    return report


def _match(
    session: Session, account_id: str, install: str, live: Iterable[BrokerOrder]
) -> list[tuple[Order, BrokerOrder]]:
    pairs: list[tuple[Order, BrokerOrder]] = []
    # Parents before children, so a child finds its parent's broker id already recorded.
    for found in sorted(live, key=lambda o: o.parent_broker_order_id is not None):
        order = _our_row(session, account_id, install, found)
        if order is not None:
            if order.broker_order_id is None:
                order.broker_order_id = found.broker_order_id
            pairs.append((order, found))
    return pairs


def _our_row(session: Session, account_id: str, install: str, found: BrokerOrder) -> Order | None:
    if found.client_order_id is not None and is_ours(found.client_order_id, install):
        order = order_by_client_id(session, found.client_order_id)
        if order is not None and order.account_id == account_id:
            return order
    order = order_by_broker_id(session, account_id, found.broker_order_id)
    if order is not None or found.parent_broker_order_id is None or found.role not in _CHILD_ROLES:
        return order
    parent = order_by_broker_id(session, account_id, found.parent_broker_order_id)
    if parent is None:
        return None
    return session.scalars(
        select(Order).where(Order.parent_id == parent.id, Order.role == _CHILD_ROLES[found.role])
    ).first()


def _follow(
    session: Session, order: Order, found: BrokerOrder, *, at: datetime, filled_now: bool, report: SyncReport
) -> int:
    if order.state in _SENDER_OWNS:
        return 0
    if found.quantity != order.quantity and not order.state.is_terminal:
        _note_quantity(session, order, found, at)
    was_unknown = order.state == OrderState.SUBMIT_UNKNOWN
    order.broker_status = found.status.value
    target = state_for(found.status, found.filled_quantity)
    reason = "settled by client order id" if was_unknown else f"broker: {found.status.value}"
    if found.reason:
        reason += f" ({found.reason})"
    if target == OrderState.PARTIALLY_FILLED and order.state == target and not filled_now:
        return 0
    changed = adopt(session, order, found, at=at, reason=reason)
    if changed and was_unknown:
        report.settled.append(order.client_order_id)
    if changed and order.role == OrderRole.ENTRY and order.filled_quantity == 0:
        outcome = _UNFILLED_END.get(order.state)
        if outcome is not None:
            set_signal_outcome(session, order.signal_id, outcome)
    return int(changed)


def _note_quantity(session: Session, order: Order, found: BrokerOrder, at: datetime) -> None:
    record_event(
        session,
        kind="order.quantity_changed",
        at=at,
        entity_type="order",
        entity_id=order.id,
        execution_id=order.execution_id,
        account_id=order.account_id,
        message=f"{order.symbol} {order.role.value}: quantity {order.quantity.normalize():f} -> "
        f"{found.quantity.normalize():f} at the broker",
        payload={
            "from": str(order.quantity),
            "to": str(found.quantity),
            "client_order_id": order.client_order_id,
        },
    )
    order.quantity = found.quantity
    order.updated_at = at


def _learn_broker_ids(session: Session, account_id: str, install: str, executions: list[Execution]) -> None:
    """Record the broker id of our orders named in the executions, so their children can be matched."""
    for execution in executions:
        if execution.broker_order_id is None or not is_ours(execution.client_order_id, install):
            continue
        order = order_by_client_id(session, execution.client_order_id or "")
        if order is not None and order.account_id == account_id and order.broker_order_id is None:
            order.broker_order_id = execution.broker_order_id


def _settle_unlisted(
    session: Session,
    account_id: str,
    view: BrokerView,
    matched_ids: set[int],
    *,
    at: datetime,
    grace: timedelta,
) -> int:
    """Settle live rows the broker's live orders no longer list (old orders drop off; see the module doc)."""
    changed = 0
    listed = {o.broker_order_id for o in [*view.first, *(view.second or [])]}
    rows = session.scalars(
        select(Order)
        .where(
            Order.account_id == account_id,
            Order.state.in_(list(LIVE_ORDER_STATES - _SENDER_OWNS)),
            Order.broker_order_id.is_not(None),
        )
        .order_by(Order.id)
    ).all()
    for order in rows:
        broker_order_id = order.broker_order_id or ""
        unreadable = broker_order_id in view.unavailable
        if order.unlisted_since is not None and not unreadable:
            # seen again (listed, or its status read): the grace starts anew
            order.unlisted_since = order.unlisted_seen_at = None
        if order.id in matched_ids or broker_order_id in listed:
            continue
        found = view.looked_up.get(broker_order_id)
        if found is not None:
            changed += int(
                adopt(session, order, found, at=at, reason=f"not listed; by id: {found.status.value}")
            )
        elif order.quantity > 0 and order.filled_quantity >= order.quantity:
            changed += int(
                move_towards(session, order, OrderState.FILLED, at=at, reason="filled; no longer listed")
            )
        elif broker_order_id in view.looked_up:  # unknown to the broker
            reason = "no longer listed by the broker, which does not know its id; no fills cover it"
            changed += int(_vanished(session, order, at=at, reason=reason))
        elif unreadable:
            changed += int(
                _unreadable(session, order, at=at, grace=grace, cancel=view.cancels.get(broker_order_id))
            )
    return changed


def _unreadable(
    session: Session, order: Order, *, at: datetime, grace: timedelta, cancel: str | None
) -> bool:
    """An unlisted row whose status the broker cannot give: cancelled to be sure, then ended (step 5)."""
    unlisted, seen = order.unlisted_since, order.unlisted_seen_at
    order.unlisted_seen_at = at
    if unlisted is None or seen is None or at - seen > grace:
        order.unlisted_since = at  # first seen so, or after a gap in looking: the grace starts now
        _log.warning(
            "%s %s %s: not listed by the broker, which cannot give its status; cancelled and taken as "
            "ended if it stays so for %ds",
            order.symbol,
            order.role.value,
            order.client_order_id,
            int(grace.total_seconds()),
        )
        return False
    waited = at - unlisted
    if waited < grace:
        return False
    why = (
        f"not listed by the broker for {int(waited.total_seconds())}s and its status cannot be read (an "
        "order that ended before the brokerage session)"
    )
    if order.state is OrderState.CANCEL_PENDING or cancel == "unknown":
        return _vanished(session, order, at=at, reason=f"{why}; fills as the executions show them")
    if cancel != "accepted":
        return False  # not cancelled yet (the cancel failed, or comes next cycle): no guess
    order.unlisted_since = at  # one more grace for the cancel to show
    return move_towards(
        session, order, OrderState.CANCEL_PENDING, at=at, reason=f"{why}: cancelled at the broker to be sure"
    )


def _vanished(session: Session, order: Order, *, at: datetime, reason: str) -> bool:
    reason += ": taken as ended"
    if not move_towards(session, order, OrderState.CANCELLED, at=at, reason=reason):
        return False
    record_event(
        session,
        kind="order.vanished",
        at=at,
        severity="warning",
        entity_type="order",
        entity_id=order.id,
        execution_id=order.execution_id,
        account_id=order.account_id,
        message=f"{order.symbol} {order.role.value} {order.client_order_id}: {reason}",
        payload={"client_order_id": order.client_order_id, "broker_order_id": order.broker_order_id},
    )
    return True


def _settle_unknown(
    session: Session,
    account_id: str,
    view: BrokerView,
    matched_ids: set[int],
    *,
    at: datetime,
    grace: timedelta,
    report: SyncReport,
) -> None:
    unknown = session.scalars(
        select(Order)
        .where(Order.account_id == account_id, Order.state == OrderState.SUBMIT_UNKNOWN)
        .order_by(Order.id)
    ).all()
    for order in unknown:
        if order.id in matched_ids or order.state != OrderState.SUBMIT_UNKNOWN:
            continue
        if order.parent_id is not None:
            parent = session.get_one(Order, order.parent_id)
            if parent.state == OrderState.REJECTED:
                move(session, order, OrderState.REJECTED, at=at, reason=f"parent rejected: {parent.reason}")
            elif _sibling_closed_the_bracket(session, order):
                reason = "one-cancels-other: its sibling filled, and no execution of its own exists"
                move_towards(session, order, OrderState.CANCELLED, at=at, reason=reason)
                report.settled.append(order.client_order_id)
            continue
        if order.filled_quantity >= order.quantity > 0:
            move(session, order, OrderState.FILLED, at=at, reason="settled by its executions")
            report.settled.append(order.client_order_id)
            continue
        if _seen(order, view) or at - (order.unknown_since or at) < grace:
            continue
        _reject_absent(session, order, at, grace, report)


def _sibling_closed_the_bracket(session: Session, child: Order) -> bool:
    """A child of unknown outcome whose sibling sold all the parent bought: one-cancels-other ended it."""
    if child.broker_order_id is not None or child.filled_quantity > 0 or child.parent_id is None:
        return False
    parent = session.get_one(Order, child.parent_id)
    if not parent.state.is_terminal or parent.filled_quantity <= 0:
        return False
    siblings = session.scalars(
        select(Order).where(Order.parent_id == child.parent_id, Order.id != child.id)
    ).all()
    return any(s.state == OrderState.FILLED and s.filled_quantity >= parent.filled_quantity for s in siblings)


def _seen(order: Order, view: BrokerView) -> bool:
    ids = {order.client_order_id, order.broker_order_id} - {None}
    listed = [*view.first, *(view.second or [])]
    in_orders = any(o.client_order_id in ids or o.broker_order_id in ids for o in listed)
    in_executions = any(e.client_order_id in ids or e.broker_order_id in ids for e in view.executions)
    return in_orders or in_executions or order.filled_quantity > 0


def _reject_absent(
    session: Session, order: Order, at: datetime, grace: timedelta, report: SyncReport
) -> None:
    seconds = int((at - (order.unknown_since or at)).total_seconds())
    reason = (
        f"proven absent: not in the broker's live orders (read twice) nor its executions for {seconds}s "
        f"(grace {int(grace.total_seconds())}s)"
    )
    move(session, order, OrderState.REJECTED, at=at, reason=reason)
    report.proven_absent.append(order.client_order_id)
    if order.role == OrderRole.ENTRY:
        set_signal_outcome(session, order.signal_id, "rejected")
    for child in session.scalars(select(Order).where(Order.parent_id == order.id)):
        if child.state == OrderState.SUBMIT_UNKNOWN:
            move(session, child, OrderState.REJECTED, at=at, reason="parent " + reason)
            report.proven_absent.append(child.client_order_id)


def _adopt_external(
    session: Session, account_id: str, orders: list[BrokerOrder], at: datetime, report: SyncReport
) -> None:
    install = installation_id(session)
    for found in sorted(orders, key=lambda o: o.parent_broker_order_id is not None):
        if order_by_broker_id(session, account_id, found.broker_order_id) is not None:
            continue
        if _sent_by_us(session, account_id, install, found):
            _note_unmatched(session, account_id, found, at)
            continue
        parent = (
            order_by_broker_id(session, account_id, found.parent_broker_order_id)
            if found.parent_broker_order_id
            else None
        )
        order = create_order(
            session,
            NewOrder(
                client_order_id=f"ext-{account_id}-{found.broker_order_id}"[:64],
                account_id=account_id,
                conid=found.conid,
                symbol=_symbol_of(session, found.conid),
                role=OrderRole.MANUAL,
                side=found.side,
                order_type=found.order_type,
                tif=found.tif,
                quantity=found.quantity,
                limit_price=found.limit_price,
                stop_price=found.stop_price,
                parent_id=parent.id if parent is not None else None,
                origin=OrderOrigin.EXTERNAL,
                broker_order_id=found.broker_order_id,
            ),
            at=at,
            state=state_for(found.status, found.filled_quantity),
            reason="adopted: found at the broker, not sent by ibflow; never touched automatically",
        )
        order.broker_status = found.status.value
        report.adopted.append(order.client_order_id)
        record_event(
            session,
            kind="order.adopted_external",
            at=at,
            severity="warning",
            entity_type="order",
            entity_id=order.id,
            account_id=account_id,
            message=f"an order ibflow did not send was found at the broker ({found.broker_order_id}, "
            f"{found.side.value} {found.quantity.normalize():f} of {found.conid}); shown, never touched",
        )


def _sent_by_us(session: Session, account_id: str, install: str, found: BrokerOrder) -> bool:
    if is_ours(found.client_order_id, install):
        return True
    if found.parent_broker_order_id is None:
        return False
    parent = order_by_broker_id(session, account_id, found.parent_broker_order_id)
    return parent is not None and parent.origin == OrderOrigin.IBFLOW


def _note_unmatched(session: Session, account_id: str, found: BrokerOrder, at: datetime) -> None:
    record_event(
        session,
        kind="order.unmatched",
        at=at,
        severity="warning",
        entity_type="order",
        account_id=account_id,
        message=f"the broker lists order {found.broker_order_id} ({found.side.value} "
        f"{found.quantity.normalize():f} of {found.conid}) as ibflow's, but no row of ours matches it; "
        "not adopted as external",
    )


def _symbol_of(session: Session, conid: int) -> str:
    # The contract cache first, then any strategy on it; the conid itself when nothing here knows it.
    for column, key in ((Symbol.symbol, Symbol.conid), (Strategy.symbol, Strategy.conid)):
        known = session.scalars(select(column).where(key == conid).limit(1)).first()
        if known:
            return known
    return str(conid)


def recover_interrupted(session: Session, *, account_id: str, at: datetime) -> list[str]:
    """Settle rows a crashed sender left behind; only call while holding the account lock.

    An entry bracket still in ``intent`` provably never left: it stays for ``resend_unsent`` to send once
    (or reject when it expired). Any other ``intent`` never sent is ``rejected``. A ``submitting`` row may
    have reached the broker: ``submit_unknown``, settled by tracking.
    """
    changed: list[str] = []
    rows = session.scalars(
        select(Order).where(Order.account_id == account_id, Order.state.in_(list(_SENDER_OWNS)))
    ).all()
    unsent_brackets = {o.id for o in rows if o.state == OrderState.INTENT and o.role == OrderRole.ENTRY}
    for order in rows:
        if order.state == OrderState.INTENT:
            if order.id in unsent_brackets or order.parent_id in unsent_brackets:
                continue
            move(session, order, OrderState.REJECTED, at=at, reason="interrupted before it was sent")
        else:
            move(session, order, OrderState.SUBMIT_UNKNOWN, at=at, reason="interrupted while sending")
        changed.append(order.client_order_id)
    return changed
