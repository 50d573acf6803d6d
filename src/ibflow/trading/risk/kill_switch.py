"""The kill switch: ACTIVE, REDUCING or HALTED, with who, why and when.

What each state allows (TRADING-SAFETY "Trading state"):

=========  =====================================================================================
ACTIVE     everything
REDUCING   only orders that reduce exposure (signal exits included), cancels, protective orders
           and flatten; no entries
HALTED     no entries and no signal-driven orders (a signal exit is blocked too); cancels,
           protective replacements (never larger than the position: the caller guarantees it) and an
           explicit flatten stay allowed, so a trader can always get out
=========  =====================================================================================

Any trader may tighten the state (halt, reduce); only an admin may loosen it (resume to ACTIVE, or go
from HALTED back to REDUCING). Trading halts by itself after ``broker_error_halt_count`` broker errors in
a row and when today's realized loss reaches the daily limit. Every change writes a
``trading.state_changed`` event; a manual change also writes an ``audit_log`` row. Whether a change is
automatic is the caller's explicit ``automatic=True`` (code only), never read from the actor's name: a
manual actor named like a rule (``auto:…``) or ``system`` is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ibflow.core.clock import Clock
from ibflow.core.errors import TradingHalted, ValidationError
from ibflow.core.money import ZERO, money_str
from ibflow.core.settings import BrokerSettings, RiskSettings
from ibflow.db.events.outbox import record_event
from ibflow.db.models.positions import Trade
from ibflow.db.models.system import TradingState
from ibflow.db.states import TradingStateValue
from ibflow.marketdata.calendar import day_bounds
from ibflow.trading.audit import automatic_actor, is_automatic, person_actor, record_audit
from ibflow.trading.risk.runtime_settings import get_runtime_settings

GLOBAL_SCOPE = "global"
AUTO_BROKER_ERRORS = automatic_actor("broker_errors")
AUTO_MAX_DAILY_LOSS = automatic_actor("max_daily_loss")
NEVER_CHANGED = datetime(1970, 1, 1, tzinfo=UTC)
DEFAULT_BROKER_ERROR_HALT_COUNT: int = RiskSettings.model_fields["broker_error_halt_count"].default

_SEVERITY = {TradingStateValue.ACTIVE: 0, TradingStateValue.REDUCING: 1, TradingStateValue.HALTED: 2}


class OrderPurpose(StrEnum):
    """Why an order is being sent, as far as the kill switch cares."""

    ENTRY = "entry"
    SIGNAL_EXIT = "signal_exit"
    PROTECTIVE = "protective"
    CANCEL = "cancel"
    FLATTEN = "flatten"


_ALWAYS_ALLOWED = frozenset({OrderPurpose.CANCEL, OrderPurpose.PROTECTIVE, OrderPurpose.FLATTEN})


def allows(state: TradingStateValue, purpose: OrderPurpose, *, reduces_exposure: bool) -> bool:
    """Tell whether ``state`` lets an order of ``purpose`` go out."""
    if state is TradingStateValue.ACTIVE:
        return True
    if purpose in _ALWAYS_ALLOWED:
        return True
    if state is TradingStateValue.REDUCING:
        # An entry never reduces exposure in a long-only book, whatever the caller claims.
        return purpose is not OrderPurpose.ENTRY and reduces_exposure
    return False


def current_state(session: Session, *, at: datetime | None = None) -> TradingState:
    """Return the ``global`` kill-switch row, creating it ACTIVE on first read (the caller commits).

    ``at`` labels a row created now; without it the row says it was never changed (``NEVER_CHANGED``).
    """
    row = session.scalars(select(TradingState).where(TradingState.scope == GLOBAL_SCOPE)).one_or_none()
    if row is not None:
        return row
    created = TradingState(
        scope=GLOBAL_SCOPE,
        state=TradingStateValue.ACTIVE,
        reason="initial state",
        changed_by="system",
        changed_at=at or NEVER_CHANGED,
        broker_error_streak=0,
    )
    try:
        with session.begin_nested():
            session.add(created)
    except IntegrityError:
        # Another process created it between our read and our insert.
        return session.scalars(select(TradingState).where(TradingState.scope == GLOBAL_SCOPE)).one()
    return created


def require_allowed(
    session: Session, purpose: OrderPurpose, *, reduces_exposure: bool, at: datetime | None = None
) -> None:
    """Raise ``TradingHalted`` (naming the state, who set it and why) unless the state allows the order."""
    row = current_state(session, at=at)
    if not allows(row.state, purpose, reduces_exposure=reduces_exposure):
        raise TradingHalted(
            f"trading is {row.state.value} (by {row.changed_by}: {row.reason or 'no reason given'}); "
            f"a {purpose.value} order is not allowed"
        )


def set_state(
    session: Session,
    *,
    value: TradingStateValue,
    actor: str,
    reason: str,
    at: datetime,
    actor_is_admin: bool,
    automatic: bool = False,
) -> TradingState:
    """Move the kill switch to ``value``; loosening it (towards ACTIVE) needs an admin.

    Setting the state it already has changes nothing. Writes a ``trading.state_changed`` event, and for a
    manual change an ``audit_log`` row. ``automatic=True`` is for ibflow's own rules only (the actor must
    then be ``automatic_actor(rule)``); a manual actor must be a person's name (``person_actor``): a
    reserved name raises ``ValidationError``. Resuming clears the broker error streak, so the next single
    error does not halt again at once.
    """
    if automatic and not is_automatic(actor):
        raise ValueError(f"an automatic change needs an auto:<rule> actor, got {actor!r}")
    if not automatic:
        actor = person_actor(actor)
    if not reason.strip():
        raise ValidationError("a reason is required to change the trading state", {"reason": "required"})
    row = current_state(session, at=at)
    before = row.state
    if value is before:
        return row
    if _SEVERITY[value] < _SEVERITY[before] and not actor_is_admin:
        raise ValidationError(
            f"only an admin may change trading from {before.value} to {value.value}",
            {"state": "admin required to loosen the kill switch"},
        )
    row.state = value
    row.reason = reason
    row.changed_by = actor
    row.changed_at = at
    if value is TradingStateValue.ACTIVE:
        row.broker_error_streak = 0
    record_event(
        session,
        kind="trading.state_changed",
        at=at,
        severity="info" if value is TradingStateValue.ACTIVE else "warning",
        entity_type="trading_state",
        entity_id=row.id,
        message=f"trading {before.value} -> {value.value} by {actor}: {reason}",
        payload={"from": before.value, "to": value.value, "actor": actor, "reason": reason},
    )
    if not automatic:
        record_audit(
            session,
            actor=actor,
            action="trading.state_changed",
            at=at,
            target_type="trading_state",
            target_id=GLOBAL_SCOPE,
            before=before,
            after=value,
            detail=reason,
        )
    session.flush()
    return row


def record_broker_error(
    session: Session,
    *,
    at: datetime,
    detail: str,
    halt_after: int = DEFAULT_BROKER_ERROR_HALT_COUNT,
) -> None:
    """Count one broker error in a row; at ``halt_after`` (``RiskSettings.broker_error_halt_count``) halt."""
    row = _locked_state(session, at)
    row.broker_error_streak += 1
    if row.broker_error_streak >= halt_after and row.state is not TradingStateValue.HALTED:
        set_state(
            session,
            value=TradingStateValue.HALTED,
            actor=AUTO_BROKER_ERRORS,
            reason=f"{row.broker_error_streak} broker errors in a row; last: {detail}",
            at=at,
            actor_is_admin=False,
            automatic=True,
        )
    session.flush()


def record_broker_success(session: Session) -> None:
    """End a run of broker errors."""
    row = current_state(session)
    if row.broker_error_streak:
        row.broker_error_streak = 0
        session.flush()


def check_daily_loss(
    session: Session,
    *,
    account_id: str,
    equity: Decimal,
    clock: Clock,
    max_daily_loss_fraction: Decimal | None = None,
) -> bool:
    """Halt (actor ``auto:max_daily_loss``) when today's realized loss reaches the limit; say if it halted.

    ``equity`` is the broker's net liquidation value. The limit is ``max_daily_loss_fraction`` × equity;
    pass the run-time setting (``get_runtime_settings(...).max_daily_loss_fraction``); without it the
    value stored in ``app_settings`` or else the built-in default applies. Returns False when trading is
    already halted.
    """
    status = daily_loss_status(
        session,
        account_id=account_id,
        equity=equity,
        at=clock.now(),
        max_daily_loss_fraction=max_daily_loss_fraction,
    )
    if not status.limit_reached or current_state(session, at=clock.now()).state is TradingStateValue.HALTED:
        return False
    set_state(
        session,
        value=TradingStateValue.HALTED,
        actor=AUTO_MAX_DAILY_LOSS,
        reason=(
            f"today's realized loss {money_str(status.loss)} reached the limit {money_str(status.limit)} "
            f"on account {account_id}"
        ),
        at=clock.now(),
        actor_is_admin=False,
        automatic=True,
    )
    return True


def _locked_state(session: Session, at: datetime) -> TradingState:
    current_state(session, at=at)
    # FOR UPDATE on PostgreSQL so two processes counting errors do not lose an increment; on SQLite the
    # write transaction (BEGIN IMMEDIATE) already serialises them.
    statement = select(TradingState).where(TradingState.scope == GLOBAL_SCOPE).with_for_update()
    return session.scalars(statement.execution_options(populate_existing=True)).one()


@dataclass(frozen=True)
class DailyLossStatus:
    """Today's realized P&L against the daily loss limit."""

    pnl: Decimal
    loss: Decimal
    limit: Decimal
    limit_reached: bool


def daily_realized_pnl(session: Session, account_id: str, clock: Clock) -> Decimal:
    """Sum the net P&L (after commissions) of the account's trades closed today, New York trading day."""
    return realized_pnl_of_day(session, account_id, clock.now())


def realized_pnl_of_day(session: Session, account_id: str, at: datetime) -> Decimal:
    """Sum the net P&L of the account's trades closed on the trading day holding ``at``."""
    start, end = day_bounds(at)
    statement = select(Trade.net_pnl).where(
        Trade.account_id == account_id, Trade.closed_at >= start, Trade.closed_at < end
    )
    # Summed in Python: on SQLite the decimals are text and SQL would add them as floats.
    return sum(session.scalars(statement).all(), ZERO)


def daily_loss_status(
    session: Session,
    *,
    account_id: str,
    equity: Decimal,
    at: datetime,
    max_daily_loss_fraction: Decimal | None = None,
) -> DailyLossStatus:
    """Compare the day's realized loss with ``max_daily_loss_fraction × equity`` (the run-time setting).

    Without ``max_daily_loss_fraction`` the value stored in ``app_settings`` applies, else the built-in
    default (the environment is not read here: pass the run-time setting when you have it).
    """
    if max_daily_loss_fraction is None:
        runtime = get_runtime_settings(
            session, RiskSettings.model_construct(), BrokerSettings.model_construct()
        )
        max_daily_loss_fraction = runtime.max_daily_loss_fraction
    pnl = realized_pnl_of_day(session, account_id, at)
    loss = max(ZERO, -pnl)
    limit = max(ZERO, equity) * max_daily_loss_fraction
    # A zero limit means "no loss at all": the first realized loss reaches it, a flat day does not.
    return DailyLossStatus(pnl=pnl, loss=loss, limit=limit, limit_reached=loss > 0 and loss >= limit)
