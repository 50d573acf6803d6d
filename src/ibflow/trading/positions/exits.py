"""Exits: a signal SELL, a flatten, a watchdog close — never larger than the position, never a short.

``exit_position`` holds the account lock throughout. It checks the kill switch first (a signal exit is
``SIGNAL_EXIT``, a flatten ``FLATTEN``, a watchdog close ``PROTECTIVE``), then cancels the entry's working
remainder and the position's protective children and waits until the broker confirms every cancel
(``cancel_and_confirm`` looks at the live orders a bounded number of times). Only then, with the fills that
arrived meanwhile applied, does it send a reduce-only market sell for what is still held — the smaller of
ibflow's position and the broker's — so a child that filled during the cancel shrinks the exit. If a
cancel is not confirmed, no exit is sent (a stop still resting could fill as well and leave a short).

``flatten_all`` cancels every working ibflow order of the account and closes every ibflow position.
Orders adopted as ``external`` are never cancelled, resized or closed by anything here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from ibflow.brokers.base import Broker
from ibflow.core.clock import Clock
from ibflow.core.errors import TradingHalted, retry_reads
from ibflow.core.faultpoints import EXIT_AFTER_CANCELS, crash_point
from ibflow.core.ids import AccountId
from ibflow.core.money import ZERO
from ibflow.core.settings import BrokerSettings, RiskSettings
from ibflow.db.engine import SessionFactory
from ibflow.db.locks import NamedLocks
from ibflow.db.models import Order, Position
from ibflow.db.outbox import record_event
from ibflow.db.states import (
    OrderRole,
    OrderSide,
    OrderState,
    OrderType,
    PositionStatus,
    TimeInForce,
)
from ibflow.trading.lifecycle.cancels import Services, Waiting, cancel_and_confirm
from ibflow.trading.lifecycle.client_ids import Purpose, installation_id, next_purpose_id
from ibflow.trading.lifecycle.orders import NewOrder, create_order, hold_account, live_orders_of
from ibflow.trading.lifecycle.sending import Outcome, send_single
from ibflow.trading.lifecycle.tracking import envs
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
    """
    services = Services(sessions, broker, locks, clock, *envs(risk_env, broker_env), waiting or Waiting())
    purpose = Purpose(reason)
    with hold_account(locks, account_id):
        services.sync(account_id)
        with sessions() as session:
            position = find_position(session, account_id, position_id, strategy_id, conid)
            if position is None or position.quantity <= 0:
                return ExitResult(ExitStatus.NO_POSITION, "no position is held: nothing to sell")
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
        return ExitResult(ExitStatus.EXIT_PENDING, "an exit for this position is already working", None)
    if any(order.state == OrderState.SUBMIT_UNKNOWN for order in same_contract):
        detail = "an order on this contract has an unknown outcome; settle it first (it could still sell)"
        _event(session, position, "exit.waiting", f"{position.symbol}: {detail}", at)
        return ExitResult(ExitStatus.UNKNOWN_OUTSTANDING, detail, position_id=position.id)
    return None


def working_orders_of(session: Session, position: Position) -> list[Order]:
    """Return the position's working entry remainder and protective orders (ibflow's only)."""
    return [
        order
        for order in live_orders_of(session, position.account_id)
        if order.conid == position.conid
        and order.strategy_id == position.strategy_id
        and (order.role == OrderRole.ENTRY or order.position_id == position.id)
        and order.role != OrderRole.EXIT
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
    broker_held = _broker_quantity(services, account_id, position_id)
    now = services.clock.now()
    with services.sessions() as session:
        position = session.get_one(Position, position_id)
        quantity = min(position.quantity, broker_held)
        if quantity <= 0:
            detail = f"nothing left to sell (ibflow holds {position.quantity:f}, the broker {broker_held:f})"
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


def _broker_quantity(services: Services, account_id: str, position_id: int) -> Decimal:
    with services.sessions() as session:
        conid = session.get_one(Position, position_id).conid
    held = retry_reads()(services.broker.positions)(AccountId(account_id))
    return sum((p.quantity for p in held if p.conid == conid), ZERO)


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
    broker: Broker,
    locks: NamedLocks,
    account_id: str,
    clock: Clock,
    risk_env: RiskSettings | None = None,
    broker_env: BrokerSettings | None = None,
    waiting: Waiting | None = None,
) -> FlattenResult:
    """Cancel every working ibflow order of the account and close every ibflow position at market."""
    services = Services(sessions, broker, locks, clock, *envs(risk_env, broker_env), waiting or Waiting())
    with hold_account(locks, account_id):
        services.sync(account_id)
        with sessions() as session:
            require_allowed(session, OrderPurpose.FLATTEN, reduces_exposure=True, at=clock.now())
            working = [order.id for order in live_orders_of(session, account_id)]
            session.commit()
        unconfirmed = cancel_and_confirm(services, account_id, working, why="flatten")
        with sessions() as session:
            open_ids = session.scalars(
                select(Position.id).where(
                    Position.account_id == account_id, Position.status == PositionStatus.OPEN
                )
            ).all()
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
