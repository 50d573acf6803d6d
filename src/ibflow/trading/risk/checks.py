"""Risk before every entry: one reason-code enum, the checks in a fixed order, and the allowed size.

``evaluate_entry`` judges an ``EntryIntent`` against the strategy's limits, the account-wide run-time
settings and the database (orders, positions, trades, reconcile mismatches, the kill switch). It reads the
database only and never calls the broker: the caller gathers a ``MarketSnapshot`` first, so a blocked
entry makes zero broker calls and writes zero order rows. Every check and its setting is described in
``docs/risk.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from ibflow.brokers.base import AccountSummary, Quote, QuoteFlag
from ibflow.core.clock import Clock
from ibflow.core.display import decimal_text, price_text
from ibflow.core.errors import RiskBlocked
from ibflow.core.money import ZERO, money_str, round_to_tick
from ibflow.core.settings import BrokerSettings, RiskSettings
from ibflow.db.models.orders import Order
from ibflow.db.models.positions import Position, ReconcileMismatch, Trade
from ibflow.db.models.strategies import Strategy
from ibflow.db.models.system import TradingState
from ibflow.db.states import OrderRole, OrderState, PositionStatus, StrategyMode, StrategyState
from ibflow.db.states import TradingStateValue as StateValue
from ibflow.marketdata.calendar import day_bounds
from ibflow.trading.intents import EntryIntent, IntentAction, StrategyLimits
from ibflow.trading.risk.kill_switch import (
    GLOBAL_SCOPE,
    OrderPurpose,
    allows,
    daily_loss_status,
    daily_realized_pnl,
)
from ibflow.trading.risk.runtime_settings import RuntimeSettings, get_runtime_settings
from ibflow.trading.risk.sizing import account_exposure, open_position_keys, size_entry

__all__ = [
    "DEFAULT_RISK_ENV",
    "MarketSnapshot",
    "RiskDecision",
    "RiskReason",
    "Written",
    "daily_realized_pnl",
    "evaluate_entry",
    "size_entry",
    "standing_block",
]

DEFAULT_RISK_ENV = RiskSettings.model_construct()
"""The built-in defaults, used only when a caller passes no environment settings (never read from env)."""


class RiskReason(StrEnum):
    """Why an entry was blocked; one member per check, in the order ``evaluate_entry`` runs them."""

    TRADING_HALTED = "TRADING_HALTED"
    TRADING_REDUCING = "TRADING_REDUCING"
    STRATEGY_NOT_ACTIVE = "STRATEGY_NOT_ACTIVE"
    LIVE_TRADING_NOT_ALLOWED = "LIVE_TRADING_NOT_ALLOWED"
    LIVE_TRADING_DISABLED = "LIVE_TRADING_DISABLED"
    LONG_ONLY = "LONG_ONLY"
    MISSING_LEVELS = "MISSING_LEVELS"
    STOP_WRONG_SIDE = "STOP_WRONG_SIDE"
    TARGET_WRONG_SIDE = "TARGET_WRONG_SIDE"
    REWARD_RISK_TOO_LOW = "REWARD_RISK_TOO_LOW"
    CONFIDENCE_TOO_LOW = "CONFIDENCE_TOO_LOW"
    SIGNAL_EXPIRED = "SIGNAL_EXPIRED"
    QUOTE_STALE = "QUOTE_STALE"
    QUOTE_DELAYED = "QUOTE_DELAYED"
    QUOTE_FROZEN = "QUOTE_FROZEN"
    QUOTE_HALTED = "QUOTE_HALTED"
    MISSING_BARS = "MISSING_BARS"
    ENTRY_TOO_FAR_FROM_LAST = "ENTRY_TOO_FAR_FROM_LAST"
    MARKET_CLOSED = "MARKET_CLOSED"
    RECONCILE_MISMATCH = "RECONCILE_MISMATCH"
    UNKNOWN_ORDER_OUTSTANDING = "UNKNOWN_ORDER_OUTSTANDING"
    OPEN_ENTRY_EXISTS = "OPEN_ENTRY_EXISTS"
    BROKER_POSITION_DIFFERS = "BROKER_POSITION_DIFFERS"
    MAX_ENTRIES_PER_DAY = "MAX_ENTRIES_PER_DAY"
    MAX_DAILY_LOSS = "MAX_DAILY_LOSS"
    LOSS_STREAK_COOLDOWN = "LOSS_STREAK_COOLDOWN"
    MAX_OPEN_POSITIONS = "MAX_OPEN_POSITIONS"
    SIZE_ZERO = "SIZE_ZERO"
    SIZE_SHRANK = "SIZE_SHRANK"
    MAX_EXPOSURE = "MAX_EXPOSURE"


_QUOTE_REASONS = {
    QuoteFlag.STALE: RiskReason.QUOTE_STALE,
    QuoteFlag.DELAYED: RiskReason.QUOTE_DELAYED,
    QuoteFlag.FROZEN: RiskReason.QUOTE_FROZEN,
    QuoteFlag.HALTED: RiskReason.QUOTE_HALTED,
}


@dataclass(frozen=True)
class MarketSnapshot:
    """What the broker said just before the checks; gathered by the caller, so risk never calls out."""

    account: AccountSummary
    quote: Quote
    min_tick: Decimal
    bars_available: bool = True
    market_open: bool = True
    broker_position: Decimal | None = None
    """What the broker holds of the contract, read under the account lock by the final re-check."""


@dataclass(frozen=True)
class Written:
    """A bracket already written (left unsent by a crash) judged again before it is sent.

    Its own rows do not count against it (open entries, entries today, exposure), and its quantity is
    fixed: the checks may block it, never resize it.
    """

    order_ids: frozenset[int]
    quantity: Decimal


@dataclass(frozen=True)
class RiskDecision:
    """The verdict on one entry: allowed with a size, or blocked with the first failing reason."""

    allowed: bool
    reason: RiskReason | None
    detail: str
    quantity: Decimal
    entry: Decimal | None
    stop: Decimal | None
    target: Decimal | None
    sizing: dict[str, str] = field(default_factory=dict)

    def raise_if_blocked(self) -> None:
        """Raise ``RiskBlocked`` with the reason code when the entry is blocked."""
        if not self.allowed:
            raise RiskBlocked(str(self.reason), self.detail)

    def as_dict(self) -> dict[str, object]:
        """Return the decision as plain JSON for lineage and the signal's record."""
        return {
            "allowed": self.allowed,
            "reason": None if self.reason is None else self.reason.value,
            "detail": self.detail,
            "quantity": str(self.quantity),
            "entry": None if self.entry is None else str(self.entry),
            "stop": None if self.stop is None else str(self.stop),
            "target": None if self.target is None else str(self.target),
            "sizing": dict(self.sizing),
        }


@dataclass
class _Context:
    session: Session
    intent: EntryIntent
    limits: StrategyLimits
    snapshot: MarketSnapshot
    now: datetime
    runtime: RuntimeSettings
    live_trading_allowed: bool
    written: Written | None = None
    entry: Decimal = ZERO
    stop: Decimal = ZERO
    target: Decimal = ZERO
    quantity: Decimal = ZERO
    levels_known: bool = False
    sizing: dict[str, str] = field(default_factory=dict)
    _held: set[tuple[int | None, int]] | None = field(default=None, init=False, repr=False)

    def held(self) -> set[tuple[int | None, int]]:
        """The account's ``open_position_keys``, read once per evaluation (two checks ask; nothing writes
        between them)."""
        if self._held is None:
            self._held = open_position_keys(self.session, self.intent.account_id, excluding=_excluded(self))
        return self._held

    def decision(self, reason: RiskReason | None, detail: str) -> RiskDecision:
        allowed = reason is None
        return RiskDecision(
            allowed=allowed,
            reason=reason,
            detail=detail,
            quantity=self.quantity if allowed else ZERO,
            entry=self.entry if self.levels_known else None,
            stop=self.stop if self.levels_known else None,
            target=self.target if self.levels_known else None,
            sizing=dict(self.sizing),
        )


Block = tuple[RiskReason, str] | None


def evaluate_entry(
    session: Session,
    *,
    intent: EntryIntent,
    limits: StrategyLimits,
    snapshot: MarketSnapshot,
    clock: Clock,
    live_trading_allowed: bool,
    risk_env: RiskSettings | None = None,
    written: Written | None = None,
) -> RiskDecision:
    """Run every check in a fixed order and return the first block, or the allowed size.

    Reads the database only (orders, positions, trades, reconcile_mismatches, trading_state, and
    app_settings through ``runtime_settings``); never the broker; never writes. ``risk_env`` gives the
    environment's defaults and hard limits for the run-time settings (``DEFAULT_RISK_ENV`` when omitted).
    Levels are rounded to ``snapshot.min_tick`` before they are judged, so what is checked is what would
    be sent. Order of the checks: ``RiskReason``'s member order. ``written`` judges a bracket whose rows
    exist already (see ``Written``).
    """
    if snapshot.quote.conid != intent.conid:
        raise ValueError(f"quote for conid {snapshot.quote.conid} given for an entry on {intent.conid}")
    broker_env = BrokerSettings.model_construct(live_trading_allowed=live_trading_allowed)
    context = _Context(
        session=session,
        intent=intent,
        limits=limits,
        snapshot=snapshot,
        now=clock.now(),
        runtime=get_runtime_settings(session, risk_env or DEFAULT_RISK_ENV, broker_env),
        live_trading_allowed=live_trading_allowed,
        written=written,
    )
    for check in _CHECKS:
        block = check(context)
        if block is not None:
            return context.decision(*block)
    return context.decision(None, _allowed_detail(context))


def _allowed_detail(context: _Context) -> str:
    risk = money_str(context.quantity * (context.entry - context.stop))
    budget = money_str(Decimal(context.sizing["budget"]))
    tick = context.snapshot.min_tick
    entry, stop, target = (price_text(p, tick) for p in (context.entry, context.stop, context.target))
    return (
        f"BUY {context.quantity.normalize():f} {context.intent.symbol} @ {entry} (stop {stop}, "
        f"target {target}); risking {risk} of a {budget} budget"
    )


def standing_block(session: Session, strategy_id: int | None) -> Block:
    """The kill switch, then the strategy's state: what may change between the risk check and the send.

    ``evaluate_entry`` runs these first; the sender asks again right before the broker call.
    """
    return _kill_switch_block(session) or _strategy_block(session, strategy_id)


def _check_trading_state(context: _Context) -> Block:
    return _kill_switch_block(context.session)


def _kill_switch_block(session: Session) -> Block:
    # Read without creating the row: risk never writes (a missing row means ACTIVE).
    statement = select(TradingState).where(TradingState.scope == GLOBAL_SCOPE)
    row = session.scalars(statement).one_or_none()
    if row is None or allows(row.state, OrderPurpose.ENTRY, reduces_exposure=False):
        return None
    why = f"trading is {row.state.value} (by {row.changed_by}: {row.reason or 'no reason given'})"
    if row.state is StateValue.HALTED:
        return RiskReason.TRADING_HALTED, why
    return RiskReason.TRADING_REDUCING, why + "; only orders that reduce exposure are allowed"


def _check_strategy(context: _Context) -> Block:
    return _strategy_block(context.session, context.intent.strategy_id)


def _strategy_block(session: Session, strategy_id: int | None) -> Block:
    strategy = session.get(Strategy, strategy_id) if strategy_id is not None else None
    if strategy is None:
        return RiskReason.STRATEGY_NOT_ACTIVE, f"strategy {strategy_id} does not exist"
    if strategy.state is StrategyState.ACTIVE:
        return None
    return (
        RiskReason.STRATEGY_NOT_ACTIVE,
        f"strategy {strategy.name!r} is {strategy.state.value}; only an active strategy opens positions",
    )


def _excluded(context: _Context) -> frozenset[int]:
    return context.written.order_ids if context.written is not None else frozenset()


def _check_mode(context: _Context) -> Block:
    if context.limits.mode is not StrategyMode.LIVE:
        return None
    if not context.live_trading_allowed:
        return (
            RiskReason.LIVE_TRADING_NOT_ALLOWED,
            "live mode needs IBFLOW_LIVE_TRADING_ALLOWED=true in the environment",
        )
    if not context.runtime.live_trading_enabled:
        return RiskReason.LIVE_TRADING_DISABLED, "live trading is switched off (an admin can enable it)"
    return None


def _check_long_only(context: _Context) -> Block:
    if context.intent.action is IntentAction.BUY:
        return None
    return RiskReason.LONG_ONLY, f"v1 is long-only: a {context.intent.action.value} never opens a position"


def _check_levels(context: _Context) -> Block:
    intent = context.intent
    tick = context.snapshot.min_tick
    levels = {"entry": intent.entry, "stop": intent.stop, "target": intent.target}
    # Judged on the tick: a stop of 0.004 is a stop of 0.00 once rounded, which no broker accepts.
    rounded = {name: None if value is None else round_to_tick(value, tick) for name, value in levels.items()}
    missing = [name for name, value in rounded.items() if value is None or value <= 0]
    if missing:
        return RiskReason.MISSING_LEVELS, f"no positive {', '.join(missing)} given (on the {tick} tick)"
    context.entry, context.stop, context.target = (value for value in rounded.values() if value is not None)
    context.levels_known = True
    return None


def _check_sides(context: _Context) -> Block:
    entry, stop, target = context.entry, context.stop, context.target
    shown = {
        name: price_text(value, context.snapshot.min_tick)
        for name, value in zip(("entry", "stop", "target"), (entry, stop, target), strict=True)
    }
    if stop >= entry:
        return (
            RiskReason.STOP_WRONG_SIDE,
            f"stop {shown['stop']} must be below entry {shown['entry']} for a BUY",
        )
    if target <= entry:
        return (
            RiskReason.TARGET_WRONG_SIDE,
            f"target {shown['target']} must be above entry {shown['entry']} for a BUY",
        )
    ratio = (target - entry) / (entry - stop)
    if ratio < context.limits.min_reward_risk:
        minimum = decimal_text(context.limits.min_reward_risk)
        return RiskReason.REWARD_RISK_TOO_LOW, f"reward/risk {ratio:.2f} is below the minimum {minimum}"
    return None


def _check_confidence(context: _Context) -> Block:
    confidence = context.intent.confidence
    if confidence is not None and confidence >= context.limits.min_confidence:
        return None
    shown = "none given" if confidence is None else decimal_text(confidence)
    return (
        RiskReason.CONFIDENCE_TOO_LOW,
        f"confidence {shown} is below the strategy's minimum {decimal_text(context.limits.min_confidence)}",
    )


def _check_expiry(context: _Context) -> Block:
    expires_at = context.intent.expires_at
    if expires_at is None or expires_at > context.now:
        return None
    return RiskReason.SIGNAL_EXPIRED, f"the signal expired at {expires_at.isoformat()}"


def _check_market_data(context: _Context) -> Block:
    quote, symbol = context.snapshot.quote, context.intent.symbol
    if quote.flag in _QUOTE_REASONS:
        return _QUOTE_REASONS[quote.flag], f"the last price of {symbol} is {quote.flag.value}"
    if quote.last <= 0:
        return RiskReason.QUOTE_STALE, f"no usable last price for {symbol} ({quote.last})"
    if not context.snapshot.bars_available:
        return RiskReason.MISSING_BARS, f"no recent bars for {symbol}"
    deviation = abs(context.entry - quote.last) / quote.last
    if deviation > context.limits.max_entry_deviation:
        allowed = context.limits.max_entry_deviation
        return (
            RiskReason.ENTRY_TOO_FAR_FROM_LAST,
            f"entry {price_text(context.entry, context.snapshot.min_tick)} is {deviation:.2%} from the last "
            f"{price_text(quote.last, context.snapshot.min_tick)}; allowed {allowed:.2%}",
        )
    if not context.snapshot.market_open:
        return RiskReason.MARKET_CLOSED, f"the market for {symbol} is closed"
    return None


def _exists(context: _Context, statement: Select[int]) -> bool:
    return context.session.scalars(statement.limit(1)).first() is not None


def _check_reconcile(context: _Context) -> Block:
    intent = context.intent
    unresolved = select(ReconcileMismatch.id).where(
        ReconcileMismatch.account_id == intent.account_id,
        ReconcileMismatch.conid == intent.conid,
        ReconcileMismatch.resolved_at.is_(None),
    )
    if not _exists(context, unresolved):
        return None
    return (
        RiskReason.RECONCILE_MISMATCH,
        f"ibflow and the broker disagree on {intent.symbol} in {intent.account_id}; resolve it first",
    )


def _check_broker_position(context: _Context) -> Block:
    theirs = context.snapshot.broker_position
    if theirs is None:
        return None
    intent = context.intent
    held = context.session.scalars(
        select(Position.quantity).where(
            Position.account_id == intent.account_id,
            Position.conid == intent.conid,
            Position.status == PositionStatus.OPEN,
        )
    ).all()
    ours = sum(held, ZERO)
    if ours == theirs:
        return None
    return (
        RiskReason.BROKER_POSITION_DIFFERS,
        f"the broker holds {theirs.normalize():f} {intent.symbol}, ibflow's positions {ours.normalize():f}; "
        "no entry until they agree (fills may still be arriving; reconciliation settles it)",
    )


def _check_unknown_order(context: _Context) -> Block:
    intent = context.intent
    unknown = select(Order.id).where(
        Order.strategy_id == intent.strategy_id,
        Order.conid == intent.conid,
        Order.state == OrderState.SUBMIT_UNKNOWN,
    )
    if not _exists(context, unknown):
        return None
    return (
        RiskReason.UNKNOWN_ORDER_OUTSTANDING,
        f"an order of this strategy on {intent.symbol} has an unknown outcome; it must be settled first",
    )


def _check_open_entry(context: _Context) -> Block:
    intent = context.intent
    if (intent.strategy_id, intent.conid) not in context.held():
        return None
    return (
        RiskReason.OPEN_ENTRY_EXISTS,
        f"this strategy already holds or is entering {intent.symbol}; one open entry per contract",
    )


def _check_entries_today(context: _Context) -> Block:
    start, end = day_bounds(context.now)
    rows = context.session.execute(
        select(Order.state, Order.send_attempts, Order.submitted_at).where(
            Order.strategy_id == context.intent.strategy_id,
            Order.role == OrderRole.ENTRY,
            Order.created_at >= start,
            Order.created_at < end,
            Order.id.not_in(_excluded(context)),
        )
    ).all()
    # An entry refused before it was ever sent (a final re-check block) did not use up the day's quota.
    count = sum(
        1
        for state, attempts, submitted_at in rows
        if not (state is OrderState.REJECTED and not attempts and submitted_at is None)
    )
    if count < context.limits.max_entries_per_day:
        return None
    return (
        RiskReason.MAX_ENTRIES_PER_DAY,
        f"{count} of {context.limits.max_entries_per_day} entries already made today (New York day)",
    )


def _check_daily_loss(context: _Context) -> Block:
    status = daily_loss_status(
        context.session,
        account_id=context.intent.account_id,
        equity=context.snapshot.account.net_liquidation,
        at=context.now,
        max_daily_loss_fraction=context.runtime.max_daily_loss_fraction,
    )
    if not status.limit_reached:
        return None
    return (
        RiskReason.MAX_DAILY_LOSS,
        f"today's realized loss {money_str(status.loss)} reached the limit {money_str(status.limit)} "
        f"({context.runtime.max_daily_loss_fraction:.2%} of equity)",
    )


def _check_loss_streak(context: _Context) -> Block:
    length = context.runtime.loss_streak_length
    cooldown = timedelta(minutes=context.runtime.loss_streak_cooldown_minutes)
    if length <= 0 or cooldown <= timedelta(0):
        return None
    latest = context.session.scalars(
        select(Trade)
        .where(Trade.account_id == context.intent.account_id)
        .order_by(Trade.closed_at.desc(), Trade.id.desc())
        .limit(length)
    ).all()
    if len(latest) < length or any(trade.net_pnl >= 0 for trade in latest):
        return None
    until = latest[0].closed_at + cooldown
    if context.now >= until:
        return None
    return (
        RiskReason.LOSS_STREAK_COOLDOWN,
        f"the last {length} trades all lost; no new entries until {until.isoformat()}",
    )


def _check_open_positions(context: _Context) -> Block:
    held = len(context.held())
    limit = context.runtime.max_open_positions
    if held < limit:
        return None
    return (
        RiskReason.MAX_OPEN_POSITIONS,
        f"{held} of {limit} positions open or being entered in {context.intent.account_id}",
    )


def _check_size(context: _Context) -> Block:
    account, limits = context.snapshot.account, context.limits
    context.quantity, context.sizing = size_entry(
        equity=account.net_liquidation,
        risk_per_trade=limits.risk_per_trade,
        entry=context.entry,
        stop=context.stop,
        max_position_value=limits.max_position_value,
        buying_power=account.buying_power,
        max_quantity=limits.max_quantity,
    )
    written = context.written
    if written is not None and context.quantity > 0:
        if context.quantity < written.quantity:
            return (
                RiskReason.SIZE_SHRANK,
                f"the limits now allow {context.quantity} shares, fewer than the {written.quantity} written "
                "before; nothing is sent",
            )
        context.quantity = written.quantity
    if context.quantity > 0:
        return None
    return (
        RiskReason.SIZE_ZERO,
        f"the size rounds down to 0 shares (limited by {context.sizing['limited_by']}); nothing is placed",
    )


def _check_exposure(context: _Context) -> Block:
    equity = context.snapshot.account.net_liquidation
    current = account_exposure(context.session, context.intent.account_id, excluding=_excluded(context))
    new_value = context.quantity * context.entry
    total = current + new_value
    limit = context.runtime.max_exposure_fraction
    context.sizing.update(exposure_before=str(current), exposure_after=str(total))
    if equity > 0 and total / equity <= limit:
        return None
    shown = f"{total / equity:.2%}" if equity > 0 else "unbounded (no equity)"
    return (
        RiskReason.MAX_EXPOSURE,
        f"exposure would be {money_str(total)} = {shown} of equity {money_str(equity)}; limit {limit:.2%}",
    )


_CHECKS: tuple[Callable[[_Context], Block], ...] = (
    _check_trading_state,
    _check_strategy,
    _check_mode,
    _check_long_only,
    _check_levels,
    _check_sides,
    _check_confidence,
    _check_expiry,
    _check_market_data,
    _check_reconcile,
    _check_unknown_order,
    _check_open_entry,
    _check_broker_position,
    _check_entries_today,
    _check_daily_loss,
    _check_loss_streak,
    _check_open_positions,
    _check_size,
    _check_exposure,
)
