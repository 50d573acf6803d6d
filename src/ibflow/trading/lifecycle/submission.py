"""Entry submission: a judged intent becomes a bracket (parent + stop + target), intent first, broker second.

``submit_entry`` holds the account lock (TRADING-SAFETY rule 4) from the final risk re-check through the
intent commit, the broker call and the outcome commit, so two executions — threads or processes — can
never both pass an account-wide limit. The final re-check reads the broker again first (quote flag,
account summary, position: ``final_check``). A blocked entry leaves its reason code on the signal and an
``events`` row, and writes no order and calls no broker. An allowed one writes three rows in ``intent``
(prices on the tick) and commits them before anything is sent; ``sending`` records the outcome, after a
last look at the kill switch right before the call.

``resend_unsent`` sends the brackets a crash left in ``intent`` (they provably never reached the broker),
at the end of reconciliation under the account lock, through the same final re-check as a first send:
expired since, incomplete, or blocked by any check (the reason code is kept), they end ``rejected``. A row
that reached ``submitting`` is never resent: it may be live, and tracking settles it by client order id.

The parent is a LIMIT DAY buy that expires at the signal's expiry or the end of the New York trading day,
whichever comes first (``expiry.expire_entries`` cancels it then); the children are a STP and a LMT sell,
GTC, covering what the parent fills.
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

from ibflow.brokers.base import BracketRequest, Broker
from ibflow.core.clock import Clock
from ibflow.core.faultpoints import AFTER_INTENT_COMMIT, crash_point
from ibflow.core.ids import AccountId
from ibflow.core.log_context import log_context
from ibflow.core.money import round_to_tick
from ibflow.core.settings import BrokerSettings, RiskSettings
from ibflow.db.engine import SessionFactory
from ibflow.db.events.outbox import record_event
from ibflow.db.locks import NamedLocks
from ibflow.db.models import Order, Strategy, TradingSignal
from ibflow.db.states import OrderRole, OrderSide, OrderState, OrderType, TimeInForce
from ibflow.marketdata.calendar import day_bounds
from ibflow.trading.intents import EntryIntent, StrategyLimits
from ibflow.trading.lifecycle.client_ids import Leg, execution_leg_id, installation_id, manual_execution_key
from ibflow.trading.lifecycle.final_check import (
    entry_refusal,
    fresh_snapshot,
    limits_of_strategy,
    snapshot_now,
    written_intent,
)
from ibflow.trading.lifecycle.orders import (
    NewOrder,
    children_of,
    create_order,
    hold_account,
    move,
    order_by_client_id,
)
from ibflow.trading.lifecycle.sending import Outcome, SendResult, request_for, send
from ibflow.trading.risk.checks import MarketSnapshot, RiskDecision, evaluate_entry


class SubmitStatus(StrEnum):
    """What became of an entry."""

    BLOCKED = "blocked"
    PLACED = "placed"
    REJECTED = "rejected"
    UNKNOWN = "unknown"
    NEEDS_CONFIRMATION = "needs_confirmation"
    ALREADY_SUBMITTED = "already_submitted"


@dataclass(frozen=True)
class SubmitResult:
    """The outcome of ``submit_entry``: the risk decision and the order rows (parent, stop, target)."""

    status: SubmitStatus
    detail: str
    decision: RiskDecision | None = None
    order_ids: tuple[int, ...] = ()

    @property
    def reason(self) -> str | None:
        """The risk reason code when blocked."""
        if self.decision is None or self.decision.reason is None:
            return None
        return self.decision.reason.value

    @property
    def parent_id(self) -> int | None:
        """The entry order's id, when one was written."""
        return self.order_ids[0] if self.order_ids else None


_STATUS_OF_OUTCOME = {
    Outcome.ACKNOWLEDGED: SubmitStatus.PLACED,
    Outcome.REJECTED: SubmitStatus.REJECTED,
    Outcome.UNKNOWN: SubmitStatus.UNKNOWN,
    Outcome.NEEDS_CONFIRMATION: SubmitStatus.NEEDS_CONFIRMATION,
}


def submit_entry(
    sessions: SessionFactory,
    *,
    broker: Broker,
    locks: NamedLocks,
    intent: EntryIntent,
    limits: StrategyLimits,
    snapshot: MarketSnapshot,
    clock: Clock,
    risk_env: RiskSettings,
    broker_env: BrokerSettings,
    lock_timeout_s: float = 30.0,
) -> SubmitResult:
    """Re-check risk under the account lock, write the bracket as intents, send it, record the outcome."""
    with hold_account(locks, intent.account_id, lock_timeout_s):
        snapshot = fresh_snapshot(broker, intent.account_id, intent.conid, snapshot)
        with sessions() as session:
            prepared = _judge_and_write(
                session,
                intent=intent,
                limits=limits,
                snapshot=snapshot,
                clock=clock,
                risk_env=risk_env,
                broker_env=broker_env,
            )
            session.commit()
        if isinstance(prepared, SubmitResult):
            return prepared
        crash_point(AFTER_INTENT_COMMIT)
        decision, orders = prepared
        order_ids = tuple(order.id for order in orders)
        result = send_bracket(
            sessions, broker=broker, clock=clock, orders=orders, halt_after=risk_env.broker_error_halt_count
        )
    return SubmitResult(_STATUS_OF_OUTCOME[result.outcome], result.detail, decision, order_ids)


def send_bracket(
    sessions: SessionFactory, *, broker: Broker, clock: Clock, orders: Sequence[Order], halt_after: int
) -> SendResult:
    """Send committed bracket rows (parent, stop, target), record the outcome; the caller holds the lock."""
    bracket = BracketRequest(*(request_for(order) for order in orders))
    account = AccountId(orders[0].account_id)
    with log_context(client_order_id=bracket.parent.client_order_id):
        return send(
            sessions,
            broker=broker,
            clock=clock,
            order_ids=tuple(order.id for order in orders),
            place=lambda: broker.place_bracket(account, bracket),
            halt_after=halt_after,
            guard=lambda: entry_refusal(sessions, orders[0].strategy_id),
        )


_CHILD_ORDER = {OrderRole.STOP: 0, OrderRole.TARGET: 1}


def resend_unsent(
    sessions: SessionFactory,
    *,
    broker: Broker,
    account_id: str,
    clock: Clock,
    risk_env: RiskSettings,
    broker_env: BrokerSettings,
) -> list[str]:
    """Send (or reject) every never-sent entry bracket of the account; return the parents' client ids.

    The caller holds the account lock. Each bracket is judged again as a first send is (see the module doc).
    """
    with sessions() as session:
        parent_ids = session.scalars(
            select(Order.id)
            .where(
                Order.account_id == account_id,
                Order.role == OrderRole.ENTRY,
                Order.state == OrderState.INTENT,
            )
            .order_by(Order.id)
        ).all()
    handled: list[str] = []
    for parent_id in parent_ids:
        handled.append(
            resend_bracket(
                sessions,
                broker=broker,
                parent_id=parent_id,
                clock=clock,
                risk_env=risk_env,
                broker_env=broker_env,
                context="never sent before a crash",
            )
        )
    return handled


def resend_bracket(
    sessions: SessionFactory,
    *,
    broker: Broker,
    parent_id: int,
    clock: Clock,
    risk_env: RiskSettings,
    broker_env: BrokerSettings,
    context: str,
) -> str:
    """Judge a written, unsent bracket again as a first send is, then send it or reject it (``context, and
    why``); return the parent's client id. The caller holds the account lock."""
    with sessions() as session:
        parent = session.get_one(Order, parent_id)
        account_id, conid = parent.account_id, parent.conid
    snapshot = snapshot_now(broker, account_id, conid)
    with sessions() as session:
        parent = session.get_one(Order, parent_id)
        rows = [parent, *sorted(children_of(session, parent), key=lambda c: _CHILD_ORDER.get(c.role, 9))]
        why_not = _why_not_resend(
            session, rows, snapshot, clock=clock, risk_env=risk_env, broker_env=broker_env
        )
        if why_not is not None:
            for row in rows:
                reason = f"{context}, and {why_not}"
                move(session, row, OrderState.REJECTED, at=clock.now(), reason=reason)
        session.commit()
    if why_not is None:
        send_bracket(
            sessions, broker=broker, clock=clock, orders=rows, halt_after=risk_env.broker_error_halt_count
        )
    return rows[0].client_order_id


def _why_not_resend(
    session: Session,
    rows: list[Order],
    snapshot: MarketSnapshot,
    *,
    clock: Clock,
    risk_env: RiskSettings,
    broker_env: BrokerSettings,
) -> str | None:
    """Say why a never-sent bracket must not go out now (a risk block keeps its reason code), or None."""
    parent, children = rows[0], rows[1:]
    if parent.expires_at is not None and parent.expires_at <= clock.now():
        return "expired since"
    if [c.role for c in children] != [OrderRole.STOP, OrderRole.TARGET]:
        return "not a complete bracket"
    strategy = session.get(Strategy, parent.strategy_id) if parent.strategy_id is not None else None
    if strategy is None:
        return "its strategy no longer exists"
    intent, written = written_intent(session, parent, children)
    decision = evaluate_entry(
        session,
        intent=intent,
        limits=limits_of_strategy(strategy),
        snapshot=snapshot,
        clock=clock,
        live_trading_allowed=broker_env.live_trading_allowed,
        risk_env=risk_env,
        written=written,
    )
    if decision.allowed:
        return None
    _record_block(session, intent, decision, clock.now())
    return f"{decision.reason.value if decision.reason else 'blocked'}: {decision.detail}"


def _judge_and_write(
    session: Session,
    *,
    intent: EntryIntent,
    limits: StrategyLimits,
    snapshot: MarketSnapshot,
    clock: Clock,
    risk_env: RiskSettings,
    broker_env: BrokerSettings,
) -> SubmitResult | tuple[RiskDecision, list[Order]]:
    install = installation_id(session)
    earlier = _earlier_bracket(session, install, intent)
    if earlier is not None:
        return earlier
    decision = evaluate_entry(
        session,
        intent=intent,
        limits=limits,
        snapshot=snapshot,
        clock=clock,
        live_trading_allowed=broker_env.live_trading_allowed,
        risk_env=risk_env,
    )
    levels = _levels(decision, snapshot.min_tick)
    if not decision.allowed or decision.quantity <= 0 or levels is None:
        _record_block(session, intent, decision, clock.now())
        return SubmitResult(SubmitStatus.BLOCKED, decision.detail, decision)
    return decision, _write_bracket(session, install, intent, decision, levels=levels, now=clock.now())


def _earlier_bracket(session: Session, install: str, intent: EntryIntent) -> SubmitResult | None:
    # An execution places one bracket: a second call (a retried step) reports the first, never sends again.
    if intent.execution_id is None:
        return None
    parent = order_by_client_id(session, execution_leg_id(install, intent.execution_id, Leg.ENTRY))
    if parent is None:
        return None
    ids = (parent.id, *(child.id for child in children_of(session, parent)))
    return SubmitResult(
        SubmitStatus.ALREADY_SUBMITTED,
        f"execution {intent.execution_id} already placed {parent.client_order_id} ({parent.state.value})",
        None,
        ids,
    )


def _record_block(session: Session, intent: EntryIntent, decision: RiskDecision, at: datetime) -> None:
    code = decision.reason.value if decision.reason is not None else "SIZE_ZERO"
    if intent.signal_id is not None:
        signal = session.get(TradingSignal, intent.signal_id)
        if signal is not None:
            signal.is_valid = False
            signal.reason = code
            signal.reason_detail = decision.detail
            signal.outcome = "no_order"
    record_event(
        session,
        kind="risk.blocked",
        at=at,
        severity="warning",
        entity_type="signal" if intent.signal_id is not None else "strategy",
        entity_id=intent.signal_id if intent.signal_id is not None else intent.strategy_id,
        execution_id=intent.execution_id,
        account_id=intent.account_id,
        message=f"{intent.symbol}: entry blocked, {code}: {decision.detail}",
        payload=decision.as_dict(),
    )


def entry_expiry(intent: EntryIntent, now: datetime) -> datetime:
    """Return when an unfilled entry is cancelled: the signal's expiry or the end of the trading day."""
    _, day_end = day_bounds(now)
    if intent.expires_at is None:
        return day_end
    return min(intent.expires_at, day_end)


@dataclass(frozen=True)
class _Levels:
    entry: Decimal
    stop: Decimal
    target: Decimal


def _levels(decision: RiskDecision, tick: Decimal) -> _Levels | None:
    if decision.entry is None or decision.stop is None or decision.target is None:
        return None
    return _Levels(
        entry=round_to_tick(decision.entry, tick),
        stop=round_to_tick(decision.stop, tick),
        target=round_to_tick(decision.target, tick),
    )


def _write_bracket(
    session: Session,
    install: str,
    intent: EntryIntent,
    decision: RiskDecision,
    *,
    levels: _Levels,
    now: datetime,
) -> list[Order]:
    key = intent.execution_id if intent.execution_id is not None else manual_execution_key(session, install)

    entry = NewOrder(
        client_order_id=execution_leg_id(install, key, Leg.ENTRY),
        account_id=intent.account_id,
        conid=intent.conid,
        symbol=intent.symbol,
        role=OrderRole.ENTRY,
        side=OrderSide.BUY,
        order_type=OrderType.LIMIT,
        tif=TimeInForce.DAY,
        quantity=decision.quantity,
        limit_price=levels.entry,
        strategy_id=intent.strategy_id,
        execution_id=intent.execution_id,
        signal_id=intent.signal_id,
        expires_at=entry_expiry(intent, now),
    )
    parent = create_order(session, entry, at=now)
    child = dataclasses.replace(
        entry,
        side=OrderSide.SELL,
        tif=TimeInForce.GTC,
        limit_price=None,
        expires_at=None,
        parent_id=parent.id,
    )
    stop = dataclasses.replace(
        child,
        client_order_id=execution_leg_id(install, key, Leg.STOP),
        role=OrderRole.STOP,
        order_type=OrderType.STOP,
        stop_price=levels.stop,
    )
    target = dataclasses.replace(
        child,
        client_order_id=execution_leg_id(install, key, Leg.TARGET),
        role=OrderRole.TARGET,
        limit_price=levels.target,
    )
    children = [create_order(session, leg, at=now) for leg in (stop, target)]
    if intent.signal_id is not None:
        signal = session.get(TradingSignal, intent.signal_id)
        if signal is not None:
            signal.is_valid, signal.reason, signal.outcome = True, None, "ordered"
    return [parent, *children]
