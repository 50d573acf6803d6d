"""One blocking case per ``RiskReason``, as data plus builders, for every test that drives the risk checks.

``base_inputs`` seeds a strategy and returns an entry that passes every check (BUY 200 AAPL at 100.00,
stop 95, target 110 on 100,000 of equity). Each ``RiskCase`` builds the real rows and inputs its reason
needs on top of it. The builders add rows to the session and flush; the caller commits (or not).

Used by ``test_risk_checks.py`` (through ``evaluate_entry``) and by the submission tests (through the order
service, to prove a blocked entry makes zero broker calls).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from ibflow.brokers.base import AccountSummary, Quote, QuoteFlag
from ibflow.core.clock import Clock
from ibflow.core.ids import AccountId, Conid, StrategyId
from ibflow.core.settings import BrokerSettings, RiskSettings
from ibflow.db.models import Order, Position, ReconcileMismatch, Strategy, Trade
from ibflow.db.states import (
    OrderOrigin,
    OrderRole,
    OrderSide,
    OrderState,
    OrderType,
    PositionStatus,
    StrategyMode,
    StrategyState,
    TimeInForce,
    TradingStateValue,
)
from ibflow.trading.intents import EntryIntent, IntentAction, StrategyLimits
from ibflow.trading.lifecycle.final_check import limits_of_strategy
from ibflow.trading.risk.checks import MarketSnapshot, RiskReason, Written
from ibflow.trading.risk.kill_switch import set_state
from ibflow.trading.risk.runtime_settings import set_setting

ACCOUNT = AccountId("PAPER-1")
CONID = Conid(265598)
SYMBOL = "AAPL"
OTHER_CONID = Conid(272093)
OTHER_SYMBOL = "MSFT"
EQUITY = Decimal(100_000)
TICK = Decimal("0.01")


def risk_env(**overrides: Any) -> RiskSettings:
    """Risk settings with the built-in defaults (never this machine's environment) and ``overrides``."""
    values = {name: spec.default for name, spec in RiskSettings.model_fields.items()}
    return RiskSettings(**(values | overrides))


def broker_env(**overrides: Any) -> BrokerSettings:
    """Broker settings with the built-in defaults (live trading not allowed) and ``overrides``."""
    values = {name: spec.default for name, spec in BrokerSettings.model_fields.items()}
    return BrokerSettings(**(values | overrides))


@dataclass(frozen=True)
class RiskInputs:
    """Everything ``evaluate_entry`` (or the order service) is given for one entry."""

    strategy_id: int
    intent: EntryIntent
    limits: StrategyLimits
    snapshot: MarketSnapshot
    risk_env: RiskSettings = field(default_factory=risk_env)
    broker_env: BrokerSettings = field(default_factory=broker_env)
    written: Written | None = None
    """Set for a bracket written before a crash and judged again (only ``resend_unsent`` judges those)."""

    def replace(self, **changes: Any) -> RiskInputs:
        """Return a copy with ``changes``."""
        return dataclasses.replace(self, **changes)

    def with_intent(self, **changes: Any) -> RiskInputs:
        """Return a copy whose intent has ``changes``."""
        return self.replace(intent=dataclasses.replace(self.intent, **changes))

    def with_limits(self, **changes: Any) -> RiskInputs:
        """Return a copy whose strategy limits have ``changes``."""
        return self.replace(limits=dataclasses.replace(self.limits, **changes))

    def with_snapshot(self, **changes: Any) -> RiskInputs:
        """Return a copy whose market snapshot has ``changes``."""
        return self.replace(snapshot=dataclasses.replace(self.snapshot, **changes))

    def with_quote(self, **changes: Any) -> RiskInputs:
        """Return a copy whose quote has ``changes``."""
        return self.with_snapshot(quote=dataclasses.replace(self.snapshot.quote, **changes))

    def with_account(self, **changes: Any) -> RiskInputs:
        """Return a copy whose account summary has ``changes``."""
        return self.with_snapshot(account=dataclasses.replace(self.snapshot.account, **changes))


def seed_strategy(
    session: Session,
    clock: Clock,
    *,
    name: str = "aapl-swing",
    conid: int = CONID,
    symbol: str = SYMBOL,
    mode: StrategyMode = StrategyMode.PAPER,
) -> Strategy:
    """Add a strategy row (orders, positions and trades refer to it)."""
    now = clock.now()
    strategy = Strategy(
        name=name,
        conid=conid,
        symbol=symbol,
        timeframes=["1d"],
        cron="0 15 * * 1-5",
        mode=mode,
        state=StrategyState.ACTIVE,
        risk_per_trade=Decimal("0.01"),
        max_position_value=Decimal(25_000),
        max_quantity=Decimal(1_000),
        max_entries_per_day=2,
        min_reward_risk=Decimal("1.5"),
        min_confidence=Decimal("0.6"),
        max_entry_deviation=Decimal("0.02"),
        created_at=now,
        updated_at=now,
    )
    session.add(strategy)
    session.flush()
    return strategy


def base_inputs(session: Session, clock: Clock) -> RiskInputs:
    """Seed a strategy and return an entry every check allows: BUY 200 AAPL @ 100.00, stop 95, target 110."""
    strategy = seed_strategy(session, clock)
    now = clock.now()
    intent = EntryIntent(
        strategy_id=StrategyId(strategy.id),
        account_id=ACCOUNT,
        conid=CONID,
        symbol=SYMBOL,
        action=IntentAction.BUY,
        created_at=now,
        entry=Decimal("100.00"),
        stop=Decimal("95.00"),
        target=Decimal("110.00"),
        confidence=Decimal("0.8"),
        expires_at=now + timedelta(hours=1),
    )
    snapshot = MarketSnapshot(
        account=AccountSummary(
            account_id=ACCOUNT,
            currency="USD",
            cash=EQUITY,
            net_liquidation=EQUITY,
            buying_power=EQUITY * 2,
        ),
        quote=Quote(conid=CONID, last=Decimal("100.10"), ts=now, flag=QuoteFlag.LIVE),
        min_tick=TICK,
    )
    return RiskInputs(
        strategy_id=strategy.id, intent=intent, limits=limits_of_strategy(strategy), snapshot=snapshot
    )


def add_position(
    session: Session,
    clock: Clock,
    *,
    strategy_id: int,
    conid: int = CONID,
    symbol: str = SYMBOL,
    quantity: Decimal = Decimal(100),
    avg_cost: Decimal = Decimal(100),
    status: PositionStatus = PositionStatus.OPEN,
    realized_pnl: Decimal = Decimal(0),
) -> Position:
    """Add a position row."""
    now = clock.now()
    position = Position(
        account_id=ACCOUNT,
        strategy_id=strategy_id,
        conid=conid,
        symbol=symbol,
        status=status,
        quantity=quantity if status is PositionStatus.OPEN else Decimal(0),
        avg_cost=avg_cost,
        realized_pnl=realized_pnl,
        opened_at=now,
        updated_at=now,
    )
    session.add(position)
    session.flush()
    return position


_order_numbers = iter(range(1, 1_000_000))


def add_order(
    session: Session,
    clock: Clock,
    *,
    strategy_id: int,
    state: OrderState,
    conid: int = CONID,
    symbol: str = SYMBOL,
    role: OrderRole = OrderRole.ENTRY,
    quantity: Decimal = Decimal(100),
    limit_price: Decimal | None = Decimal(100),
    filled_quantity: Decimal = Decimal(0),
    created_at: datetime | None = None,
    send_attempts: int = 1,
) -> Order:
    """Add an order row as the order service would have left it."""
    at = created_at or clock.now()
    order = Order(
        client_order_id=f"ibf-test-{next(_order_numbers)}-entry",
        account_id=ACCOUNT,
        strategy_id=strategy_id,
        role=role,
        origin=OrderOrigin.IBFLOW,
        conid=conid,
        symbol=symbol,
        side=OrderSide.BUY,
        order_type=OrderType.LIMIT,
        tif=TimeInForce.DAY,
        quantity=quantity,
        limit_price=limit_price,
        state=state,
        filled_quantity=filled_quantity,
        send_attempts=send_attempts,
        submitted_at=at if send_attempts else None,
        created_at=at,
        updated_at=at,
    )
    session.add(order)
    session.flush()
    return order


def add_trade(
    session: Session,
    *,
    strategy_id: int | None,
    net_pnl: Decimal,
    closed_at: datetime,
    r_multiple: Decimal | None = None,
    commissions: Decimal = Decimal(2),
    conid: int = CONID,
    symbol: str = SYMBOL,
    account_id: str = ACCOUNT,
) -> Trade:
    """Add a closed round trip of 100 shares whose net P&L is ``net_pnl``."""
    quantity = Decimal(100)
    entry_price = Decimal(100)
    gross = net_pnl + commissions
    trade = Trade(
        account_id=account_id,
        strategy_id=strategy_id,
        conid=conid,
        symbol=symbol,
        quantity=quantity,
        entry_price=entry_price,
        exit_price=entry_price + gross / quantity,
        gross_pnl=gross,
        commissions=commissions,
        net_pnl=net_pnl,
        r_multiple=r_multiple,
        opened_at=closed_at - timedelta(hours=2),
        closed_at=closed_at,
    )
    session.add(trade)
    session.flush()
    return trade


Builder = Callable[[Session, Clock, RiskInputs], RiskInputs]


@dataclass(frozen=True)
class RiskCase:
    """An entry that must be blocked with ``reason``; ``detail`` is a phrase the user must see."""

    reason: RiskReason
    build: Builder
    detail: str


def _halted(session: Session, clock: Clock, inputs: RiskInputs) -> RiskInputs:
    set_state(
        session,
        value=TradingStateValue.HALTED,
        actor="trader-1",
        reason="news pending",
        at=clock.now(),
        actor_is_admin=False,
    )
    return inputs


def _reducing(session: Session, clock: Clock, inputs: RiskInputs) -> RiskInputs:
    set_state(
        session,
        value=TradingStateValue.REDUCING,
        actor="trader-1",
        reason="winding down",
        at=clock.now(),
        actor_is_admin=False,
    )
    return inputs


def _live_mode(_session: Session, _clock: Clock, inputs: RiskInputs) -> RiskInputs:
    return inputs.with_limits(mode=StrategyMode.LIVE)


def _live_mode_not_enabled(_session: Session, _clock: Clock, inputs: RiskInputs) -> RiskInputs:
    # The environment allows live trading, but no admin switched it on.
    live = inputs.with_limits(mode=StrategyMode.LIVE)
    return live.replace(broker_env=broker_env(live_trading_allowed=True))


def _mismatch(session: Session, clock: Clock, inputs: RiskInputs) -> RiskInputs:
    session.add(
        ReconcileMismatch(
            account_id=ACCOUNT,
            conid=CONID,
            ibflow_quantity=Decimal(0),
            broker_quantity=Decimal(50),
            detail="broker holds 50 that ibflow does not know",
            detected_at=clock.now(),
        )
    )
    session.flush()
    return inputs


def _unknown_order(session: Session, clock: Clock, inputs: RiskInputs) -> RiskInputs:
    add_order(session, clock, strategy_id=inputs.strategy_id, state=OrderState.SUBMIT_UNKNOWN)
    return inputs


def _open_position(session: Session, clock: Clock, inputs: RiskInputs) -> RiskInputs:
    add_position(session, clock, strategy_id=inputs.strategy_id)
    return inputs


def _entry_made_today(session: Session, clock: Clock, inputs: RiskInputs) -> RiskInputs:
    add_order(session, clock, strategy_id=inputs.strategy_id, state=OrderState.FILLED)
    add_position(session, clock, strategy_id=inputs.strategy_id, status=PositionStatus.CLOSED)
    return inputs.with_limits(max_entries_per_day=1)


def _daily_loss(session: Session, clock: Clock, inputs: RiskInputs) -> RiskInputs:
    # 3 % of 100,000 is the default limit; this morning's loss reaches it exactly.
    add_trade(session, strategy_id=inputs.strategy_id, net_pnl=Decimal(-3000), closed_at=clock.now())
    return inputs


def _losing_streak(session: Session, clock: Clock, inputs: RiskInputs) -> RiskInputs:
    for minutes_ago in (90, 40, 10):
        closed_at = clock.now() - timedelta(minutes=minutes_ago)
        add_trade(session, strategy_id=inputs.strategy_id, net_pnl=Decimal(-100), closed_at=closed_at)
    return inputs


def _positions_full(session: Session, clock: Clock, inputs: RiskInputs) -> RiskInputs:
    set_setting(
        session,
        key="max_open_positions",
        value=1,
        actor="admin-1",
        at=clock.now(),
        env=inputs.risk_env,
        broker_env=inputs.broker_env,
    )
    add_position(session, clock, strategy_id=inputs.strategy_id, conid=OTHER_CONID, symbol=OTHER_SYMBOL)
    return inputs


def _no_buying_power(_session: Session, _clock: Clock, inputs: RiskInputs) -> RiskInputs:
    return inputs.with_account(buying_power=Decimal(50))


def _exposed(session: Session, clock: Clock, inputs: RiskInputs) -> RiskInputs:
    # 40,000 held + 20,000 new = 60 % of equity; the default limit is 50 %.
    add_position(
        session,
        clock,
        strategy_id=inputs.strategy_id,
        conid=OTHER_CONID,
        symbol=OTHER_SYMBOL,
        quantity=Decimal(400),
        avg_cost=Decimal(100),
    )
    return inputs


def _archived(session: Session, _clock: Clock, inputs: RiskInputs) -> RiskInputs:
    session.get_one(Strategy, inputs.strategy_id).state = StrategyState.ARCHIVED
    session.flush()
    return inputs


def _broker_holds_less(session: Session, clock: Clock, inputs: RiskInputs) -> RiskInputs:
    # Another strategy of ibflow holds 100 AAPL by its fills; the broker (read under the lock) holds none.
    other = seed_strategy(session, clock, name="aapl-other")
    add_position(session, clock, strategy_id=other.id, quantity=Decimal(100))
    return inputs.with_snapshot(broker_position=Decimal(0))


def _shrunk(_session: Session, _clock: Clock, inputs: RiskInputs) -> RiskInputs:
    # A bracket of 300 written before a crash; the limits now allow 200 (1 % of 100,000 over a 5.00 stop).
    return inputs.replace(written=Written(order_ids=frozenset(), quantity=Decimal(300)))


def _inputs(change: Callable[[RiskInputs], RiskInputs]) -> Builder:
    return lambda _session, _clock, inputs: change(inputs)


def _expired(_session: Session, clock: Clock, inputs: RiskInputs) -> RiskInputs:
    return inputs.with_intent(expires_at=clock.now())


CASES: tuple[RiskCase, ...] = (
    RiskCase(RiskReason.TRADING_HALTED, _halted, "trading is HALTED"),
    RiskCase(RiskReason.TRADING_REDUCING, _reducing, "trading is REDUCING"),
    RiskCase(RiskReason.STRATEGY_NOT_ACTIVE, _archived, "is archived"),
    RiskCase(RiskReason.LIVE_TRADING_NOT_ALLOWED, _live_mode, "IBFLOW_LIVE_TRADING_ALLOWED"),
    RiskCase(RiskReason.LIVE_TRADING_DISABLED, _live_mode_not_enabled, "switched off"),
    RiskCase(RiskReason.LONG_ONLY, _inputs(lambda i: i.with_intent(action=IntentAction.SELL)), "long-only"),
    RiskCase(RiskReason.MISSING_LEVELS, _inputs(lambda i: i.with_intent(target=None)), "target"),
    RiskCase(RiskReason.STOP_WRONG_SIDE, _inputs(lambda i: i.with_intent(stop=Decimal(101))), "below entry"),
    RiskCase(
        RiskReason.TARGET_WRONG_SIDE, _inputs(lambda i: i.with_intent(target=Decimal(99))), "above entry"
    ),
    RiskCase(
        RiskReason.REWARD_RISK_TOO_LOW,
        _inputs(lambda i: i.with_intent(target=Decimal(105))),
        "reward/risk 1.00",
    ),
    RiskCase(
        RiskReason.CONFIDENCE_TOO_LOW,
        _inputs(lambda i: i.with_intent(confidence=Decimal("0.5"))),
        "confidence 0.5",
    ),
    RiskCase(RiskReason.SIGNAL_EXPIRED, _expired, "expired"),
    RiskCase(RiskReason.QUOTE_STALE, _inputs(lambda i: i.with_quote(flag=QuoteFlag.STALE)), "stale"),
    RiskCase(RiskReason.QUOTE_DELAYED, _inputs(lambda i: i.with_quote(flag=QuoteFlag.DELAYED)), "delayed"),
    RiskCase(RiskReason.QUOTE_FROZEN, _inputs(lambda i: i.with_quote(flag=QuoteFlag.FROZEN)), "frozen"),
    RiskCase(RiskReason.QUOTE_HALTED, _inputs(lambda i: i.with_quote(flag=QuoteFlag.HALTED)), "halted"),
    RiskCase(RiskReason.MISSING_BARS, _inputs(lambda i: i.with_snapshot(bars_available=False)), "bars"),
    RiskCase(
        RiskReason.ENTRY_TOO_FAR_FROM_LAST,
        _inputs(lambda i: i.with_quote(last=Decimal(97))),
        "3.09% from the last",
    ),
    RiskCase(RiskReason.MARKET_CLOSED, _inputs(lambda i: i.with_snapshot(market_open=False)), "closed"),
    RiskCase(RiskReason.RECONCILE_MISMATCH, _mismatch, "disagree"),
    RiskCase(RiskReason.UNKNOWN_ORDER_OUTSTANDING, _unknown_order, "unknown outcome"),
    RiskCase(RiskReason.OPEN_ENTRY_EXISTS, _open_position, "one open entry per contract"),
    RiskCase(RiskReason.BROKER_POSITION_DIFFERS, _broker_holds_less, "the broker holds 0 AAPL"),
    RiskCase(RiskReason.MAX_ENTRIES_PER_DAY, _entry_made_today, "1 of 1 entries"),
    RiskCase(RiskReason.MAX_DAILY_LOSS, _daily_loss, "3,000.00 reached the limit 3,000.00"),
    RiskCase(RiskReason.LOSS_STREAK_COOLDOWN, _losing_streak, "the last 3 trades all lost"),
    RiskCase(RiskReason.MAX_OPEN_POSITIONS, _positions_full, "1 of 1 positions"),
    RiskCase(RiskReason.SIZE_ZERO, _no_buying_power, "limited by buying_power"),
    RiskCase(RiskReason.SIZE_SHRANK, _shrunk, "fewer than the 300 written before"),
    RiskCase(RiskReason.MAX_EXPOSURE, _exposed, "60.00% of equity"),
)

CASES_BY_REASON: dict[RiskReason, RiskCase] = {case.reason: case for case in CASES}
