"""Exits: a signal SELL, a flatten, a watchdog close — never larger than the position, never a short.

``exit_position`` holds the account lock throughout. It first cancels the strategy's unfilled entries on
the contract (a SELL must not leave a buy working that fills hours later against it), then checks the kill
switch (a signal exit is ``SIGNAL_EXIT``, a flatten ``FLATTEN``, a watchdog close ``PROTECTIVE``), cancels
the position's protective children and waits until the broker confirms every cancel (``cancel_and_confirm``
looks at the live orders a bounded number of times). Only then, with the fills that arrived meanwhile
applied, does it send a reduce-only market sell for what is still held, never more than
``sellable_at_broker``: the smaller of ibflow's position and the broker's, less the sells still working at
the broker on that contract. A child that filled during the cancel, or a stop reported filled whose fills
lag, shrinks the exit. If a cancel is not confirmed, no exit is sent (a stop still resting could fill as
well and leave a short). An order of unknown outcome blocks an exit only when it is a sell that could fill
on its own (an exit or a lone stop); a bracket child can only be working if the broker lists it.

``flatten_all`` works whatever state ibflow's rows are in: under the account lock it settles what a
crashed sender left (``submitting`` becomes ``submit_unknown``; a never-sent entry is rejected), syncs,
cancels at the broker every working order ibflow sent — found in the broker's own list by our client order
id or as the child of a parent ibflow sent, unknown outcomes included — and then closes every ibflow
position. Orders ibflow did not send and shares it did not buy are never touched by anything here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from ibflow.brokers.base import Broker, BrokerOrder, BrokerOrderStatus
from ibflow.core.clock import Clock
from ibflow.core.errors import IbflowError, NotFound, TradingHalted, ValidationError, retry_reads
from ibflow.core.faultpoints import EXIT_AFTER_CANCELS, crash_point
from ibflow.core.ids import AccountId, BrokerOrderId
from ibflow.core.money import ZERO
from ibflow.core.settings import BrokerSettings, RiskSettings
from ibflow.db.engine import SessionFactory
from ibflow.db.events.outbox import record_event
from ibflow.db.locks import NamedLocks
from ibflow.db.models import Order, Position
from ibflow.db.states import (
    OrderOrigin,
    OrderRole,
    OrderSide,
    OrderState,
    OrderType,
    PositionStatus,
    TimeInForce,
)
from ibflow.trading.audit import person_actor, record_audit
from ibflow.trading.lifecycle.cancels import Services, Waiting, cancel_and_confirm
from ibflow.trading.lifecycle.client_ids import Purpose, installation_id, is_ours, next_purpose_id
from ibflow.trading.lifecycle.orders import (
    NewOrder,
    create_order,
    hold_account,
    live_orders_of,
    move,
    order_by_broker_id,
    settling,
)
from ibflow.trading.lifecycle.sending import Outcome, send_single
from ibflow.trading.lifecycle.tracking import envs, recover_interrupted
from ibflow.trading.positions.book import position_row
from ibflow.trading.risk.kill_switch import OrderPurpose, require_allowed

KILL_SWITCH_PURPOSE = {
    Purpose.SIGNAL: OrderPurpose.SIGNAL_EXIT,
    Purpose.FLATTEN: OrderPurpose.FLATTEN,
    Purpose.MANUAL: OrderPurpose.FLATTEN,
    Purpose.PROTECT: OrderPurpose.PROTECTIVE,
    Purpose.EXPIRE: OrderPurpose.CANCEL,
    Purpose.REPLACE: OrderPurpose.PROTECTIVE,
}


class ExitStatus(StrEnum):
    """What became of an exit request."""

    SENT = "sent"
    NO_POSITION = "no_position"
    BLOCKED = "blocked"
    CANCEL_UNCONFIRMED = "cancel_unconfirmed"
    CLOSED_MEANWHILE = "closed_meanwhile"
    EXIT_PENDING = "exit_pending"
    UNKNOWN_OUTSTANDING = "unknown_outstanding"
    REJECTED = "rejected"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class ExitResult:
    """The outcome of one exit: the exit order (when sent) and its quantity."""

    status: ExitStatus
    detail: str
    order_id: int | None = None
    quantity: Decimal = ZERO
    position_id: int | None = None


def exit_position(
    sessions: SessionFactory,
    *,
    broker: Broker,
    locks: NamedLocks,
    account_id: str,
    clock: Clock,
    risk_env: RiskSettings | None = None,
    broker_env: BrokerSettings | None = None,
    reason: Purpose | str,
    position_id: int | None = None,
    strategy_id: int | None = None,
    conid: int | None = None,
    waiting: Waiting | None = None,
    execution_id: int | None = None,
    signal_id: int | None = None,
) -> ExitResult:
    """Cancel the position's working orders, wait for the confirmed cancel, then sell what is still held.

    ``execution_id`` and ``signal_id`` link a signal exit to the run that decided it (so its lineage is kept).
    A flatten or a manual close that must wait (a cancel not confirmed yet, an order of unknown outcome) is
    remembered on the position (``exit_requested``) and carried on by tracking (``resume_requested_exits``).
    """
    services = Services(sessions, broker, locks, clock, *envs(risk_env, broker_env), waiting)
    purpose = Purpose(reason)
    which = _Which(position_id, strategy_id, conid, execution_id, signal_id)
    result = _exit(services, account_id, purpose, which)
    if purpose in _CARRIED_ON:
        _remember(services, result, purpose)
    return result


_CARRIED_ON = frozenset({Purpose.FLATTEN, Purpose.MANUAL})
"""Exits a person asked for: one that has to wait is not dropped."""
_WAITING = frozenset({ExitStatus.CANCEL_UNCONFIRMED, ExitStatus.UNKNOWN_OUTSTANDING, ExitStatus.EXIT_PENDING})
"""Outcomes that leave a carried-on exit asked for: an earlier exit still working (or being cancelled) may end
short of the whole position, so the request stays until an exit of its own is sent or nothing is held."""


def _remember(services: Services, result: ExitResult, purpose: Purpose) -> None:
    if result.position_id is None:
        return
    with services.sessions() as session:
        position = session.get(Position, result.position_id)
        if position is None:
            return
        if result.status in _WAITING:
            if position.exit_requested is None:
                position.exit_requested = purpose.value
                position.exit_requested_at = services.clock.now()
        else:
            position.exit_requested = position.exit_requested_at = None
        session.commit()


def resume_requested_exits(services: Services, account_id: str) -> list[ExitResult]:
    """Carry on the flattens and closes that had to wait, once nothing they wait for is pending.

    The caller holds the account lock. A position still waiting on a cancel (``cancel_pending``) or an
    order of unknown outcome is left for the next cycle; the exit itself is ``exit_position``'s, with every
    check it makes (confirmed cancels, never more than the broker holds).
    """
    with services.sessions() as session:
        requested = session.scalars(
            select(Position)
            .where(Position.account_id == account_id, Position.exit_requested.is_not(None))
            .order_by(Position.id)
        ).all()
        due = [
            (position.id, Purpose(position.exit_requested or Purpose.FLATTEN.value))
            for position in requested
            if not _still_waiting(session, position)
        ]
    results: list[ExitResult] = []
    for position_id, purpose in due:
        result = _exit(services, account_id, purpose, _Which(position_id))
        _remember(services, dataclasses.replace(result, position_id=position_id), purpose)
        results.append(result)
    return results


def _still_waiting(session: Session, position: Position) -> bool:
    for order in live_orders_of(session, position.account_id):
        if order.conid != position.conid or order.strategy_id != position.strategy_id:
            continue
        if order.state == OrderState.CANCEL_PENDING or _may_sell_unseen(order):
            return True
    return False


@dataclass(frozen=True)
class _Which:
    """The position to exit: by id, or by (strategy, conid); and the run that decided it, if any."""

    position_id: int | None
    strategy_id: int | None = None
    conid: int | None = None
    execution_id: int | None = None
    signal_id: int | None = None


def _exit(services: Services, account_id: str, purpose: Purpose, which: _Which) -> ExitResult:
    sessions, locks, clock = services.sessions, services.locks, services.clock
    position_id, strategy_id, conid = which.position_id, which.strategy_id, which.conid
    execution_id, signal_id = which.execution_id, which.signal_id
    with hold_account(locks, account_id):
        services.sync(account_id)
        with sessions() as session:
            position = find_position(session, account_id, position_id, strategy_id, conid)
            key = (position.strategy_id, position.conid) if position is not None else (strategy_id, conid)
            entries = [order.id for order in unfilled_entries(session, account_id, *key)]
        if entries and cancel_and_confirm(services, account_id, entries, why=f"{purpose.value} exit"):
            return ExitResult(ExitStatus.CANCEL_UNCONFIRMED, "an unfilled entry's cancel is not confirmed")
        unbooked = ZERO
        if purpose is Purpose.FLATTEN:
            unbooked = unbooked_entry_shares(services, account_id, *key)
        with sessions() as session:
            position = find_position(session, account_id, position_id, *key)
            if position is None or position.quantity + unbooked <= 0:
                detail = "no position is held: nothing to sell"
                if entries:
                    detail += f" (its {len(entries)} unfilled entry order(s) cancelled)"
                return ExitResult(ExitStatus.NO_POSITION, detail)
            refusal = _refusal(session, position, purpose, clock.now())
            session.commit()
            if refusal is not None:
                return refusal
            to_cancel = [order.id for order in working_orders_of(session, position)]
            position_id = position.id
        unconfirmed = cancel_and_confirm(services, account_id, to_cancel, why=f"{purpose.value} exit")
        if unconfirmed:
            return _unconfirmed(services, account_id, position_id, unconfirmed)
        crash_point(EXIT_AFTER_CANCELS)
        return _send_exit(services, account_id, position_id, purpose, link=(execution_id, signal_id))


def unfilled_entries(
    session: Session, account_id: str, strategy_id: int | None, conid: int | None
) -> list[Order]:
    """Return the strategy's entries on ``conid`` that may still buy (settling ones excluded: they ended)."""
    return [
        order
        for order in live_orders_of(session, account_id, roles=[OrderRole.ENTRY])
        if order.strategy_id == strategy_id and order.conid == conid and not settling(order)
    ]


def unbooked_entry_shares(
    services: Services, account_id: str, strategy_id: int | None, conid: int | None
) -> Decimal:
    """Return the shares the strategy's settling entries on ``conid`` bought beyond the fills applied.

    The broker reports such an entry filled while its executions have not arrived (``orders.settling``): the
    shares are ibflow's, but its position does not show them yet. A flatten sells them too (never more than
    the broker holds beyond the sells working there); otherwise they would stay, their protection cancelled.
    """
    with services.sessions() as session:
        settling_entries = [
            (order.broker_order_id, order.filled_quantity)
            for order in live_orders_of(session, account_id, roles=[OrderRole.ENTRY])
            if order.strategy_id == strategy_id
            and order.conid == conid
            and settling(order)
            and order.broker_order_id is not None
        ]
    unbooked = ZERO
    for broker_order_id, applied in settling_entries:
        try:
            found = retry_reads()(services.broker.order_status)(
                AccountId(account_id), BrokerOrderId(broker_order_id)
            )
        except IbflowError:
            continue  # cannot tell: sell only what is booked
        unbooked += max(found.filled_quantity - applied, ZERO)
    return unbooked


def find_position(
    session: Session, account_id: str, position_id: int | None, strategy_id: int | None, conid: int | None
) -> Position | None:
    """Return the position by id, or by (strategy, conid), in ``account_id``."""
    if position_id is not None:
        position = session.get(Position, position_id)
        return position if position is not None and position.account_id == account_id else None
    if conid is None:
        raise ValueError("name the position: position_id, or strategy_id and conid")
    return session.scalars(
        select(Position).where(
            Position.account_id == account_id, Position.strategy_id == strategy_id, Position.conid == conid
        )
    ).first()


def _refusal(session: Session, position: Position, purpose: Purpose, at: datetime) -> ExitResult | None:
    try:
        require_allowed(session, KILL_SWITCH_PURPOSE[purpose], reduces_exposure=True, at=at)
    except TradingHalted as exc:
        _event(
            session, position, "exit.blocked", f"{purpose.value} exit of {position.symbol} blocked: {exc}", at
        )
        return ExitResult(ExitStatus.BLOCKED, str(exc), position_id=position.id)
    same_contract = [
        order
        for order in live_orders_of(session, position.account_id)
        if order.conid == position.conid and order.strategy_id == position.strategy_id
    ]
    if any(order.role == OrderRole.EXIT and order.position_id == position.id for order in same_contract):
        return ExitResult(
            ExitStatus.EXIT_PENDING, "an exit for this position is already working", position_id=position.id
        )
    if any(_may_sell_unseen(order) for order in same_contract):
        detail = "an order on this contract has an unknown outcome; settle it first (it could still sell)"
        _event(session, position, "exit.waiting", f"{position.symbol}: {detail}", at)
        return ExitResult(ExitStatus.UNKNOWN_OUTSTANDING, detail, position_id=position.id)
    return None


def _may_sell_unseen(order: Order) -> bool:
    # A sell of unknown outcome that could fill on its own; a bracket child works only if the broker lists it
    # (and tracking then knows it), so an unknown child cannot sell unseen.
    return (
        order.state == OrderState.SUBMIT_UNKNOWN and order.side == OrderSide.SELL and order.parent_id is None
    )


def working_orders_of(session: Session, position: Position) -> list[Order]:
    """Return the position's working entry remainder and protective orders (ibflow's; settling ones ended)."""
    return [
        order
        for order in live_orders_of(session, position.account_id)
        if order.conid == position.conid
        and order.strategy_id == position.strategy_id
        and (order.role == OrderRole.ENTRY or order.position_id == position.id)
        and order.role != OrderRole.EXIT
        and order.state != OrderState.SUBMIT_UNKNOWN
        and not settling(order)
    ]


def _unconfirmed(services: Services, account_id: str, position_id: int, live: list[int]) -> ExitResult:
    with services.sessions() as session:
        position = session.get_one(Position, position_id)
        names = ", ".join(session.get_one(Order, order_id).client_order_id for order_id in live)
        detail = f"the broker has not confirmed the cancel of {names}; no exit sent (it could oversell)"
        _event(
            session, position, "exit.cancel_unconfirmed", f"{position.symbol}: {detail}", services.clock.now()
        )
        session.commit()
    return ExitResult(ExitStatus.CANCEL_UNCONFIRMED, detail, position_id=position_id)


def _send_exit(
    services: Services,
    account_id: str,
    position_id: int,
    purpose: Purpose,
    link: tuple[int | None, int | None] = (None, None),
) -> ExitResult:
    with services.sessions() as session:
        held = session.get_one(Position, position_id)
        strategy_id, conid = held.strategy_id, held.conid
    # Read after the cancels' syncs, right before the position: fills that arrived meanwhile count once.
    unbooked = ZERO
    if purpose is Purpose.FLATTEN:
        unbooked = unbooked_entry_shares(services, account_id, strategy_id, conid)
    broker_sellable = sellable_at_broker(services.broker, account_id, conid)
    now = services.clock.now()
    with services.sessions() as session:
        position = session.get_one(Position, position_id)
        quantity = min(position.quantity + unbooked, broker_sellable)
        if quantity <= 0:
            detail = (
                f"nothing left to sell (ibflow holds {position.quantity.normalize():f}, the broker "
                f"{broker_sellable.normalize():f} not already covered by working sells)"
            )
            return ExitResult(ExitStatus.CLOSED_MEANWHILE, detail, position_id=position_id)
        order = create_order(
            session,
            NewOrder(
                client_order_id=next_purpose_id(session, installation_id(session), purpose, position.id),
                account_id=account_id,
                conid=position.conid,
                symbol=position.symbol,
                role=OrderRole.EXIT,
                side=OrderSide.SELL,
                order_type=OrderType.MARKET,
                tif=TimeInForce.DAY,
                quantity=quantity,
                strategy_id=position.strategy_id,
                signal_id=link[1] or position.signal_id,
                execution_id=link[0],
                position_id=position.id,
                reduce_only=True,
            ),
            at=now,
        )
        session.commit()
        order_id = order.id
    sent = send_single(
        services.sessions,
        broker=services.broker,
        clock=services.clock,
        order_id=order_id,
        halt_after=services.risk_env.broker_error_halt_count,
    )
    services.sync(account_id)
    status = {Outcome.ACKNOWLEDGED: ExitStatus.SENT, Outcome.REJECTED: ExitStatus.REJECTED}
    return ExitResult(
        status.get(sent.outcome, ExitStatus.UNKNOWN), sent.detail, order_id, quantity, position_id
    )


_WORKING_AT_BROKER = frozenset(
    {BrokerOrderStatus.PENDING_SUBMIT, BrokerOrderStatus.SUBMITTED, BrokerOrderStatus.PENDING_CANCEL}
)


def sellable_at_broker(broker: Broker, account_id: str, conid: int) -> Decimal:
    """Return what may still be sold of ``conid``: the broker's position less the sells working there.

    A protective or exit order is never larger than this (nor than ibflow's own position), so whatever
    fills — the new order and every sell already working, ibflow's or not — the account never goes short.
    A sell waiting for its cancel may still fill and counts as working.
    """
    account = AccountId(account_id)
    held = sum((p.quantity for p in retry_reads()(broker.positions)(account) if p.conid == conid), ZERO)
    working = sum(
        (
            o.remaining_quantity
            for o in retry_reads()(broker.live_orders)(account)
            if o.conid == conid and o.side == OrderSide.SELL and o.status in _WORKING_AT_BROKER
        ),
        ZERO,
    )
    return max(held - working, ZERO)


def _event(
    session: Session,
    position: Position | None,
    kind: str,
    message: str,
    at: datetime,
    *,
    account_id: str | None = None,
    order: Order | None = None,
) -> None:
    record_event(
        session,
        kind=kind,
        at=at,
        severity="warning",
        entity_type="order" if order is not None else "position",
        entity_id=order.id if order is not None else (position.id if position is not None else None),
        account_id=account_id or (position.account_id if position is not None else None),
        message=message,
    )


@dataclass(frozen=True)
class FlattenResult:
    """What ``flatten_all`` did: cancels still unconfirmed, and one exit result per position."""

    unconfirmed_cancels: list[int]
    exits: list[ExitResult]


def flatten_all(
    sessions: SessionFactory,
    *,
    actor: str,
    reason: str,
    broker: Broker,
    locks: NamedLocks,
    account_id: str,
    clock: Clock,
    risk_env: RiskSettings | None = None,
    broker_env: BrokerSettings | None = None,
    waiting: Waiting | None = None,
) -> FlattenResult:
    """Cancel every working ibflow order of the account and close every ibflow position at market.

    A flatten is a manual action: ``actor`` (a person, see ``person_actor``) and ``reason`` go to the
    ``audit_log``, committed before anything is cancelled or sold.
    """
    actor = person_actor(actor)
    if not reason.strip():
        raise ValidationError("a reason is required to flatten", {"reason": "required"})
    services = Services(sessions, broker, locks, clock, *envs(risk_env, broker_env), waiting)
    with hold_account(locks, account_id):
        with sessions() as session:
            require_allowed(session, OrderPurpose.FLATTEN, reduces_exposure=True, at=clock.now())
            # Under the lock no sender of ours is alive: what it left is settled first, never resent.
            recover_interrupted(session, account_id=account_id, at=clock.now())
            _reject_unsent(session, account_id, clock.now())
            _request_exits(session, account_id, clock.now())
            record_audit(
                session,
                actor=actor,
                action="trading.flatten",
                at=clock.now(),
                target_type="account",
                target_id=account_id,
                before={"open_positions": _open_position_ids(session, account_id)},
                after={"open_positions": []},
                detail=reason,
            )
            session.commit()
        services.sync(account_id)
        unconfirmed = _cancel_ours_at_broker(services, account_id)
        with sessions() as session:
            open_ids = _open_position_ids(session, account_id)
            open_ids = [
                *open_ids,
                *_positions_of_settling_entries(session, account_id, clock.now(), open_ids),
            ]
            session.commit()
        exits = [
            exit_position(
                sessions,
                broker=broker,
                locks=locks,
                account_id=account_id,
                clock=clock,
                risk_env=risk_env,
                broker_env=broker_env,
                reason=Purpose.FLATTEN,
                position_id=position_id,
                waiting=services.waiting,
            )
            for position_id in open_ids
        ]
    return FlattenResult(unconfirmed, exits)


def _positions_of_settling_entries(
    session: Session, account_id: str, at: datetime, known: Sequence[int]
) -> list[int]:
    """Return the positions (made now when missing) of entries the broker reports filled, fills pending."""
    found: list[int] = []
    for order in live_orders_of(session, account_id, roles=[OrderRole.ENTRY]):
        if not settling(order):
            continue
        position = position_row(session, (account_id, order.strategy_id, order.conid), order.symbol, at)
        if position.id not in known and position.id not in found:
            found.append(position.id)
    return found


def _request_exits(session: Session, account_id: str, at: datetime) -> None:
    """Remember the flatten on every open position before anything is cancelled: a crash between the cancels
    and the sells (or a cancel the broker confirms late) leaves the request, and tracking carries it on."""
    for position in session.scalars(
        select(Position).where(Position.account_id == account_id, Position.status == PositionStatus.OPEN)
    ):
        position.exit_requested = Purpose.FLATTEN.value
        position.exit_requested_at = at


def _open_position_ids(session: Session, account_id: str) -> list[int]:
    statement = select(Position.id).where(
        Position.account_id == account_id, Position.status == PositionStatus.OPEN
    )
    return list(session.scalars(statement.order_by(Position.id)))


def _reject_unsent(session: Session, account_id: str, at: datetime) -> None:
    for order in session.scalars(
        select(Order).where(Order.account_id == account_id, Order.state == OrderState.INTENT)
    ):
        move(session, order, OrderState.REJECTED, at=at, reason="flattened before it was sent")


def _cancel_ours_at_broker(services: Services, account_id: str) -> list[int]:
    """Cancel every order ibflow sent that works at the broker; return the rows still unconfirmed.

    Our rows may lag (unknown outcome, a child never matched): the broker's own list decides what is
    working, and our client order id or a parent of ours decides what is ibflow's.
    """
    live = retry_reads()(services.broker.live_orders)(AccountId(account_id))
    with services.sessions() as session:
        install = installation_id(session)
        ours = [o for o in live if o.status not in _ENDED and _sent_by_us(session, account_id, install, o)]
        rows = {o.broker_order_id: order_by_broker_id(session, account_id, o.broker_order_id) for o in ours}
        candidates = [row for row in rows.values() if row is not None]
        candidates += [o for o in live_orders_of(session, account_id) if o.broker_order_id is not None]
        row_ids = sorted({row.id for row in candidates if not settling(row)})
    for found in ours:
        if rows[found.broker_order_id] is None:
            _cancel_unmatched(services, account_id, found)
    return cancel_and_confirm(services, account_id, row_ids, why="flatten")


_ENDED = frozenset(
    {
        BrokerOrderStatus.FILLED,
        BrokerOrderStatus.CANCELLED,
        BrokerOrderStatus.EXPIRED,
        BrokerOrderStatus.REJECTED,
    }
)


def _sent_by_us(session: Session, account_id: str, install: str, found: BrokerOrder) -> bool:
    if is_ours(found.client_order_id, install):
        return True
    row = order_by_broker_id(session, account_id, found.broker_order_id)
    if row is not None:
        return row.origin == OrderOrigin.IBFLOW
    if found.parent_broker_order_id is None:
        return False
    parent = order_by_broker_id(session, account_id, found.parent_broker_order_id)
    return parent is not None and parent.origin == OrderOrigin.IBFLOW


def _cancel_unmatched(services: Services, account_id: str, found: BrokerOrder) -> None:
    try:
        services.broker.cancel_order(AccountId(account_id), BrokerOrderId(found.broker_order_id))
    except NotFound:
        return
    except IbflowError as exc:
        with services.sessions() as session:
            _event(
                session,
                None,
                "order.cancel_failed",
                f"flatten: cancel of broker order {found.broker_order_id} failed: {exc}",
                services.clock.now(),
                account_id=account_id,
            )
            session.commit()
