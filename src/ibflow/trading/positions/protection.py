"""Protection: the children always cover exactly what is held, and a watchdog for positions without it.

``align_protection`` resizes protective orders to the position once its entry has stopped working: when a
partly filled parent is cancelled or expires, its stop and target shrink to the filled quantity; when one
child part-fills, the other shrinks by as much. The paper broker (like IBKR) does that OCO reduction
itself and tracking takes the broker's new quantity; for a broker that does not, the modify is ours.
Protection left on a flat position is cancelled. While a partly filled parent still works, a child larger
than what the broker holds (a broker that leaves children at the parent's full size) is shrunk to what is
held, and grows with it. Only settled quantities decide: while an order of the
bracket is *settling* (the broker reports it ended, its fills have not arrived) nothing is resized or
cancelled, and a resize never makes the children larger than what the broker holds.

``watch_protection`` checks every open ibflow position has a live stop; a missing stop (cancelled at the
broker, say) or a stop the price crossed that is still working (no liquidity) raises an event and, per the
run-time ``protection_action``:

- ``close``: the position is closed at market (``exits.exit_position``, purpose ``protect``);
- ``replace``: what is left of the old protection is cancelled (confirmed), then a new GTC stop goes out
  as ``ibf-<install>-replace-<position>-<n>``, sized to the smaller of the position and what the broker
  holds beyond the sells already working there (``exits.sellable_at_broker``); none when that is zero.
  Only the stop is replaced: two orders outside a bracket are not one-cancels-other, and a stop and a
  target both filling would leave a short. A missing target alone is reported, not replaced — the stop
  still protects the position.

A stop the broker reports filled whose fills have not arrived is *settling*, not missing: the watchdog
waits for its fills instead of sending a second stop for shares already sold.

Orders adopted as ``external`` are never touched.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from ibflow.brokers.base import Broker, OrderChange
from ibflow.core.clock import Clock
from ibflow.core.errors import IbflowError, retry_reads
from ibflow.core.faultpoints import WATCHDOG_BEFORE_REPLACE, crash_point
from ibflow.core.ids import AccountId, BrokerOrderId, Conid
from ibflow.core.settings import BrokerSettings, RiskSettings
from ibflow.db.engine import SessionFactory
from ibflow.db.events.outbox import record_event
from ibflow.db.locks import NamedLocks
from ibflow.db.models import Event, Order, Position
from ibflow.db.states import (
    OrderOrigin,
    OrderRole,
    OrderSide,
    OrderState,
    OrderType,
    PositionStatus,
    TimeInForce,
)
from ibflow.trading.lifecycle.cancels import Services, Waiting, cancel_and_confirm
from ibflow.trading.lifecycle.client_ids import Purpose, installation_id, next_purpose_id
from ibflow.trading.lifecycle.orders import (
    PROTECTIVE_ROLES,
    NewOrder,
    create_order,
    hold_account,
    live_orders_of,
    remaining,
    settling,
)
from ibflow.trading.lifecycle.sending import send_single
from ibflow.trading.lifecycle.tracking import envs
from ibflow.trading.positions.exits import exit_position, resume_requested_exits, sellable_at_broker
from ibflow.trading.risk.kill_switch import OrderPurpose, require_allowed
from ibflow.trading.risk.runtime_settings import get_runtime_settings

_ENTRY_WORKING = frozenset(
    {
        OrderState.INTENT,
        OrderState.SUBMITTING,
        OrderState.SUBMIT_UNKNOWN,
        OrderState.NEEDS_CONFIRMATION,
        OrderState.WORKING,
        OrderState.PARTIALLY_FILLED,
        OrderState.CANCEL_PENDING,
    }
)
_COVERING = frozenset({OrderState.WORKING, OrderState.PARTIALLY_FILLED, OrderState.INACTIVE})


@dataclass(frozen=True)
class _Resize:
    order_id: int
    broker_order_id: str
    account_id: str
    conid: int
    before: Decimal
    filled: Decimal
    held: Decimal

    def capped(self, broker_held: Decimal) -> _Resize | None:
        """The resize covering no more than the broker holds; None when that changes nothing."""
        held = min(self.held, max(broker_held, Decimal(0)))
        if held <= 0 or self.filled + held == self.before:
            return None
        return dataclasses.replace(self, held=held)

    @property
    def after(self) -> Decimal:
        """The order's quantity after the resize."""
        return self.filled + self.held


@dataclass
class WatchReport:
    """What the watchdog found and did, per position id."""

    missing_stop: list[int] = field(default_factory=list)
    missing_target: list[int] = field(default_factory=list)
    stuck_stop: list[int] = field(default_factory=list)
    replaced: list[int] = field(default_factory=list)
    closed: list[int] = field(default_factory=list)


def align_protection(services: Services, account_id: str) -> list[int]:
    """Resize or cancel protective orders so they cover exactly what is held; return the order ids changed."""
    with hold_account(services.locks, account_id):
        services.sync(account_id)
        with services.sessions() as session:
            planned, cancels = _plan(session, account_id)
            early = _while_entry_works(session, account_id)
        resizes = _capped_by_broker(services, account_id, planned, early)
        changed = [_modify(services, resize) for resize in resizes]
        if cancels:
            cancel_and_confirm(services, account_id, cancels, why="no position left to protect")
        if resizes:
            services.sync(account_id)
    return [order_id for order_id in changed if order_id is not None] + cancels


def _plan(session: Session, account_id: str) -> tuple[list[_Resize], list[int]]:
    resizes: list[_Resize] = []
    cancels: list[int] = []
    protective = live_orders_of(session, account_id, roles=PROTECTIVE_ROLES)
    for order in protective:
        if order.broker_order_id is None or order.state not in _COVERING or settling(order):
            continue
        if _entry_working(session, order) or _sibling_settling(session, order):
            continue
        held = _held(session, order)
        if held <= 0:
            cancels.append(order.id)
        elif remaining(order) != held:
            resizes.append(_resize(order, held))
    return resizes, cancels


def _while_entry_works(session: Session, account_id: str) -> list[_Resize]:
    """Working children of a partly filled entry that still works, sized to what is held.

    A broker that sizes children to the parent's fills needs nothing here; one that leaves them at the
    parent's full quantity would let a stop sell more than is held: such children are resized to what
    ibflow holds (never more than the broker holds, ``_capped_by_broker``). With fills arriving late a
    child may briefly cover less than the broker holds; never more.
    """
    early: list[_Resize] = []
    for order in live_orders_of(session, account_id, roles=PROTECTIVE_ROLES):
        if order.broker_order_id is None or order.state is not OrderState.WORKING or settling(order):
            continue
        if not _entry_working(session, order) or _sibling_settling(session, order):
            continue
        held = _held(session, order)
        if held > 0 and remaining(order) != held:
            early.append(_resize(order, held))
    return early


def _resize(order: Order, held: Decimal) -> _Resize:
    return _Resize(
        order.id,
        order.broker_order_id or "",
        order.account_id,
        order.conid,
        order.quantity,
        order.filled_quantity,
        held,
    )


def _capped_by_broker(
    services: Services, account_id: str, planned: list[_Resize], early: list[_Resize]
) -> list[_Resize]:
    if not planned and not early:
        return []
    held: dict[int, Decimal] = {}
    for position in retry_reads()(services.broker.positions)(AccountId(account_id)):
        held[position.conid] = held.get(position.conid, Decimal(0)) + position.quantity
    capped = [resize.capped(held.get(resize.conid, Decimal(0))) for resize in [*planned, *early]]
    return [resize for resize in capped if resize is not None]


def _entry_working(session: Session, child: Order) -> bool:
    if child.parent_id is None:
        return False
    parent = session.get_one(Order, child.parent_id)
    return parent.state in _ENTRY_WORKING


def _sibling_settling(session: Session, child: Order) -> bool:
    if child.parent_id is None:
        return False
    siblings = session.scalars(select(Order).where(Order.parent_id == child.parent_id, Order.id != child.id))
    return any(settling(sibling) for sibling in siblings)


def _held(session: Session, order: Order) -> Decimal:
    if order.position_id is None:
        return Decimal(0)
    position = session.get_one(Position, order.position_id)
    return max(position.quantity, Decimal(0))


def _modify(services: Services, resize: _Resize) -> int | None:
    now = services.clock.now()
    try:
        services.broker.modify_order(
            AccountId(resize.account_id),
            BrokerOrderId(resize.broker_order_id),
            OrderChange(quantity=resize.after),
        )
    except IbflowError as exc:
        with services.sessions() as session:
            order = session.get_one(Order, resize.order_id)
            _event(
                session, order, "protection.resize_failed", f"resize to {resize.after:f} failed: {exc}", now
            )
            session.commit()
        return None
    with services.sessions() as session:
        order = session.get_one(Order, resize.order_id)
        order.quantity = resize.after
        order.updated_at = now
        _event(
            session,
            order,
            "order.resized",
            f"{order.symbol} {order.role.value} resized {resize.before.normalize():f} -> "
            f"{resize.after.normalize():f} to cover the position",
            now,
            severity="info",
        )
        session.commit()
    return resize.order_id


def track_orders(
    sessions: SessionFactory,
    *,
    broker: Broker,
    locks: NamedLocks,
    account_id: str,
    clock: Clock,
    risk_env: RiskSettings | None = None,
    broker_env: BrokerSettings | None = None,
    waiting: Waiting | None = None,
) -> list[int]:
    """The periodic tracking job: sync orders and fills, keep the children covering what is held, and carry
    on the flattens and closes that had to wait (``exits.resume_requested_exits``)."""
    services = Services(sessions, broker, locks, clock, *envs(risk_env, broker_env), waiting)
    with hold_account(locks, account_id):
        changed = align_protection(services, account_id)
        resume_requested_exits(services, account_id)
    return changed


def watch_protection(
    sessions: SessionFactory,
    *,
    broker: Broker,
    locks: NamedLocks,
    account_id: str,
    clock: Clock,
    risk_env: RiskSettings | None = None,
    broker_env: BrokerSettings | None = None,
    waiting: Waiting | None = None,
) -> WatchReport:
    """Check every open ibflow position has live protection; replace it or close, per the setting."""
    services = Services(sessions, broker, locks, clock, *envs(risk_env, broker_env), waiting)
    report = WatchReport()
    with hold_account(locks, account_id):
        align_protection(services, account_id)
        with sessions() as session:
            action = get_runtime_settings(session, services.risk_env, services.broker_env).protection_action
            positions = _open_positions(session, account_id)
        for position_id, conid in positions:
            problem = _diagnose(services, account_id, position_id, conid, report)
            if problem is None:
                continue
            if action == "close":
                _close(services, account_id, position_id, report)
            else:
                _replace(services, account_id, position_id, report)
    return report


def _open_positions(session: Session, account_id: str) -> list[tuple[int, int]]:
    rows = session.execute(
        select(Position.id, Position.conid).where(
            Position.account_id == account_id, Position.status == PositionStatus.OPEN
        )
    ).all()
    return [(position_id, conid) for position_id, conid in rows]


def _diagnose(
    services: Services, account_id: str, position_id: int, conid: int, report: WatchReport
) -> str | None:
    now = services.clock.now()
    with services.sessions() as session:
        position = session.get_one(Position, position_id)
        if position.quantity <= 0:
            return None
        guards = _guards(session, position)
        entry_busy = any(_entry_working(session, order) for order in guards)
        selling = _other_sells(session, position)
        stops = [order for order in guards if order.role == OrderRole.STOP]
        targets = [order for order in guards if order.role == OrderRole.TARGET]
        stop_price = stops[0].stop_price if stops else None
        if stops:
            position.stop_price = stop_price
        if targets:
            position.target_price = targets[0].limit_price
        session.commit()
    if not stops and (entry_busy or selling):
        # Shares held without a stop, but a new one now could be wrong: an entry still buys (the stop was
        # cancelled outside, say), or another sell may still fill (an exit, an order of unknown fate, a stop
        # whose cancel is pending) and a new stop could sell the same shares twice. Report it (once an
        # hour); act once the quantities settle.
        report.missing_stop.append(position_id)
        if not _flagged_since(services, position_id, "protection.waiting", now - timedelta(hours=1)):
            why = "its entry still buys" if entry_busy else f"{len(selling)} other sell(s) may still fill"
            _flag(
                services,
                position_id,
                [],
                kind="protection.waiting",
                detail=f"has no live stop, but {why}; not replaced yet",
                at=now,
            )
        return None
    if entry_busy or any(settling(order) for order in stops):
        # An entry still buying, or a stop the broker reports ended whose fills are on their way
        # (settling, not missing): nothing to decide on until the quantities settle.
        return None
    if not stops:
        return _flag(
            services,
            position_id,
            report.missing_stop,
            kind="protection.missing",
            detail="has no live stop",
            at=now,
        )
    if not targets:
        _flag(
            services,
            position_id,
            report.missing_target,
            kind="protection.target_missing",
            detail="has no target",
            at=now,
        )
    quote = retry_reads()(services.broker.quote)(Conid(conid))
    if stop_price is not None and stops[0].state != OrderState.INACTIVE and quote.last <= stop_price:
        detail = f"stop {stop_price.normalize():f} was crossed (last {quote.last}) but has not filled"
        return _flag(
            services, position_id, report.stuck_stop, kind="protection.stop_stuck", detail=detail, at=now
        )
    return None


def _guards(session: Session, position: Position) -> list[Order]:
    return [
        order
        for order in live_orders_of(session, position.account_id, roles=PROTECTIVE_ROLES)
        if order.position_id == position.id and order.state not in (OrderState.CANCEL_PENDING,)
    ]


def _flagged_since(services: Services, position_id: int, kind: str, since: datetime) -> bool:
    with services.sessions() as session:
        found = session.scalars(
            select(Event.id).where(
                Event.kind == kind,
                Event.entity_type == "position",
                Event.entity_id == position_id,
                Event.created_at >= since,
            )
        ).first()
    return found is not None


def _other_sells(session: Session, position: Position) -> list[Order]:
    """Live sells of this position other than its working stop and target."""
    return [
        order
        for order in live_orders_of(session, position.account_id)
        if order.side == OrderSide.SELL
        and order.conid == position.conid
        and (order.position_id == position.id or order.strategy_id == position.strategy_id)
        and not (order.role in PROTECTIVE_ROLES and order.state != OrderState.CANCEL_PENDING)
    ]


def _flag(
    services: Services, position_id: int, found: list[int], *, kind: str, detail: str, at: datetime
) -> str:
    found.append(position_id)
    with services.sessions() as session:
        position = session.get_one(Position, position_id)
        record_event(
            session,
            kind=kind,
            at=at,
            severity="info" if kind == "protection.target_missing" else "error",
            entity_type="position",
            entity_id=position.id,
            account_id=position.account_id,
            message=f"{position.symbol} ({position.quantity.normalize():f} held) {detail}",
        )
        session.commit()
    return detail


def _close(services: Services, account_id: str, position_id: int, report: WatchReport) -> None:
    result = exit_position(
        services.sessions,
        broker=services.broker,
        locks=services.locks,
        account_id=account_id,
        clock=services.clock,
        risk_env=services.risk_env,
        broker_env=services.broker_env,
        reason=Purpose.PROTECT,
        position_id=position_id,
        waiting=services.waiting,
    )
    if result.order_id is not None:
        report.closed.append(position_id)


def _replace(services: Services, account_id: str, position_id: int, report: WatchReport) -> None:
    with services.sessions() as session:
        position = session.get_one(Position, position_id)
        require_allowed(session, OrderPurpose.PROTECTIVE, reduces_exposure=True, at=services.clock.now())
        leftovers = [order.id for order in _guards(session, position)]
        session.commit()
    if cancel_and_confirm(services, account_id, leftovers, why="protection replaced"):
        return
    crash_point(WATCHDOG_BEFORE_REPLACE)
    with services.sessions() as session:
        conid = session.get_one(Position, position_id).conid
    sellable = sellable_at_broker(services.broker, account_id, conid)
    now = services.clock.now()
    with services.sessions() as session:
        position = session.get_one(Position, position_id)
        stop = position.stop_price or position.initial_stop
        quantity = min(position.quantity, sellable)
        short_of_shares = quantity <= 0 < position.quantity
        if quantity <= 0 or stop is None:
            session.rollback()
            if short_of_shares:
                detail = (
                    f"not replaced: the broker holds nothing beyond the sells working there ({sellable:f})"
                )
                _flag(services, position_id, [], kind="protection.not_replaced", detail=detail, at=now)
            return
        order = create_order(
            session,
            NewOrder(
                client_order_id=next_purpose_id(
                    session, installation_id(session), Purpose.REPLACE, position.id
                ),
                account_id=account_id,
                conid=position.conid,
                symbol=position.symbol,
                role=OrderRole.STOP,
                side=OrderSide.SELL,
                order_type=OrderType.STOP,
                tif=TimeInForce.GTC,
                quantity=quantity,
                stop_price=stop,
                strategy_id=position.strategy_id,
                signal_id=position.signal_id,
                position_id=position.id,
                reduce_only=True,
                origin=OrderOrigin.IBFLOW,
            ),
            at=services.clock.now(),
        )
        session.commit()
        order_id = order.id
    send_single(
        services.sessions,
        broker=services.broker,
        clock=services.clock,
        order_id=order_id,
        halt_after=services.risk_env.broker_error_halt_count,
    )
    report.replaced.append(position_id)
    services.sync(account_id)


def _event(
    session: Session, order: Order, kind: str, message: str, at: datetime, *, severity: str = "warning"
) -> None:
    record_event(
        session,
        kind=kind,
        at=at,
        severity=severity,
        entity_type="order",
        entity_id=order.id,
        execution_id=order.execution_id,
        account_id=order.account_id,
        message=message,
    )
