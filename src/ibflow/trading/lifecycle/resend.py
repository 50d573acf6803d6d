"""Send entry brackets a crash left unsent: rows still in ``intent`` provably never reached the broker.

Run under the account lock at the end of reconciliation (so at start-up, before the first dispatch, after
fills and positions were compared). A bracket is sent once, as it was judged, if its entry has not expired,
the kill switch still allows entries, a live-mode strategy may still trade live and ibflow agrees with the
broker on that contract; otherwise its rows are ``rejected`` with the reason. A row that reached
``submitting`` is never resent: it may be live, and tracking settles it by client order id.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ibflow.brokers.base import Broker
from ibflow.core.clock import Clock
from ibflow.core.settings import BrokerSettings, RiskSettings
from ibflow.db.engine import SessionFactory
from ibflow.db.models import Order, ReconcileMismatch, Strategy
from ibflow.db.states import OrderRole, OrderState, StrategyMode
from ibflow.trading.lifecycle.orders import children_of, move
from ibflow.trading.lifecycle.submission import send_bracket
from ibflow.trading.risk.kill_switch import OrderPurpose, allows, current_state
from ibflow.trading.risk.runtime_settings import get_runtime_settings

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
    """Send (or reject) every never-sent entry bracket of the account; return the parents' client ids."""
    now = clock.now()
    to_send: list[list[Order]] = []
    handled: list[str] = []
    with sessions() as session:
        parents = session.scalars(
            select(Order).where(
                Order.account_id == account_id,
                Order.role == OrderRole.ENTRY,
                Order.state == OrderState.INTENT,
            )
        ).all()
        for parent in parents:
            children = sorted(children_of(session, parent), key=lambda c: _CHILD_ORDER.get(c.role, 9))
            rows = [parent, *children]
            handled.append(parent.client_order_id)
            why_not = _why_not(session, parent, children, now=now, risk_env=risk_env, broker_env=broker_env)
            if why_not is None:
                to_send.append(rows)
            else:
                _reject(session, rows, now, f"never sent before a crash, and {why_not}")
        session.commit()
    for rows in to_send:
        send_bracket(
            sessions, broker=broker, clock=clock, orders=rows, halt_after=risk_env.broker_error_halt_count
        )
    return handled


def _why_not(
    session: Session,
    parent: Order,
    children: list[Order],
    *,
    now: datetime,
    risk_env: RiskSettings,
    broker_env: BrokerSettings,
) -> str | None:
    """Say why a never-sent bracket must not go out now, or None when it may."""
    if parent.expires_at is not None and parent.expires_at <= now:
        return "expired since"
    if [c.role for c in children] != [OrderRole.STOP, OrderRole.TARGET]:
        return "not a complete bracket"
    state = current_state(session, at=now)
    if not allows(state.state, OrderPurpose.ENTRY, reduces_exposure=False):
        return f"trading is now {state.state.value}"
    strategy = session.get(Strategy, parent.strategy_id) if parent.strategy_id is not None else None
    if strategy is not None and strategy.mode is StrategyMode.LIVE:
        runtime = get_runtime_settings(session, risk_env, broker_env)
        if not (broker_env.live_trading_allowed and runtime.live_trading_enabled):
            return "live trading is no longer allowed"
    mismatch = session.scalars(
        select(ReconcileMismatch.id).where(
            ReconcileMismatch.account_id == parent.account_id,
            ReconcileMismatch.conid == parent.conid,
            ReconcileMismatch.resolved_at.is_(None),
        )
    ).first()
    if mismatch is not None:
        return "ibflow and the broker disagree on that contract's position"
    return None


def _reject(session: Session, rows: list[Order], now: datetime, reason: str) -> None:
    for row in rows:
        move(session, row, OrderState.REJECTED, at=now, reason=reason)
