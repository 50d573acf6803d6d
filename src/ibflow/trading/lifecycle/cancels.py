"""Cancelling orders and waiting until the broker confirms it; what every broker-facing service needs.

A cancel acknowledgement does not mean cancelled: ``cancel_and_confirm`` asks for each cancel (moving the
row to ``cancel_pending`` once the broker took the request), then looks at the broker's live
orders through a tracking sync, a bounded number of times, until every order has ended. The fills that
arrived meanwhile are applied by the same looks, so a caller that sells next sees what is really held.
Orders adopted as ``external`` are never cancelled.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ibflow.brokers.base import Broker
from ibflow.core.clock import Clock
from ibflow.core.errors import IbflowError, NotFound
from ibflow.core.faultpoints import CANCEL_AFTER_BROKER_CALL, crash_point
from ibflow.core.ids import AccountId, BrokerOrderId
from ibflow.core.settings import BrokerSettings, RiskSettings
from ibflow.db.engine import SessionFactory
from ibflow.db.events.outbox import record_event
from ibflow.db.locks import NamedLocks
from ibflow.db.models import Order
from ibflow.db.states import LIVE_ORDER_STATES, ORDER_TRANSITIONS, OrderOrigin, OrderState
from ibflow.trading.lifecycle.orders import move
from ibflow.trading.lifecycle.tracking import sync_orders


@dataclass(frozen=True)
class Waiting:
    """How long to wait for a cancel to be confirmed: looks at the live orders, and real seconds between."""

    looks: int = 10
    pause_s: float = 0.5
    sleep: Callable[[float], None] = field(default=time.sleep)

    @classmethod
    def suited_to(cls, broker: Broker) -> Waiting:
        """The default, or for a broker whose live orders may be read only every N seconds (IBKR: 5, it says
        so as ``live_orders_interval_s``) looks that far apart, enough of them to cover a cancel's pending."""
        interval = getattr(broker, "live_orders_interval_s", None)
        if isinstance(interval, int | float) and interval > cls.pause_s:
            return cls(looks=5, pause_s=float(interval))
        return cls()


@dataclass(frozen=True)
class Services:
    """What every broker-facing trading service needs."""

    sessions: SessionFactory
    broker: Broker
    locks: NamedLocks
    clock: Clock
    risk_env: RiskSettings
    broker_env: BrokerSettings
    waiting: Waiting | None = None
    """How to wait for a cancel; ``None``: ``Waiting.suited_to(broker)``."""

    def sync(self, account_id: str) -> None:
        """Bring the account's orders, fills and positions in line with the broker."""
        sync_orders(
            self.sessions,
            broker=self.broker,
            locks=self.locks,
            account_id=account_id,
            clock=self.clock,
            risk_env=self.risk_env,
            broker_env=self.broker_env,
        )


def cancel_and_confirm(
    services: Services, account_id: str, order_ids: Sequence[int], *, why: str
) -> list[int]:
    """Ask the broker to cancel each order and look until each has ended; return the ids still live.

    The caller holds the account lock. A cancel is confirmed when the broker lists the order as cancelled
    (or filled on its way, or expired): the fills that came meanwhile are applied by the same looks.
    """
    for order_id in order_ids:
        _request_cancel(services, account_id, order_id, why)
    waiting = services.waiting or Waiting.suited_to(services.broker)
    for look in range(waiting.looks):
        services.sync(account_id)
        live = _still_live(services.sessions, order_ids)
        if not live:
            return []
        if look + 1 < waiting.looks:
            waiting.sleep(waiting.pause_s)
    return live


def _request_cancel(services: Services, account_id: str, order_id: int, why: str) -> None:
    # The row moves to cancel_pending only once the broker took the request: a refused cancel leaves the
    # order working (cancel_pending has no way back in the state table, and the order is still live).
    with services.sessions() as session:
        order = session.get_one(Order, order_id)
        if order.state.is_terminal or order.broker_order_id is None or order.origin != OrderOrigin.IBFLOW:
            return
        broker_order_id = BrokerOrderId(order.broker_order_id)
    try:
        services.broker.cancel_order(AccountId(account_id), broker_order_id)
    except NotFound:
        return  # already gone at the broker: the next look says how it ended
    except IbflowError as exc:
        with services.sessions() as session:
            order = session.get_one(Order, order_id)
            record_event(
                session,
                kind="order.cancel_failed",
                at=services.clock.now(),
                severity="warning",
                entity_type="order",
                entity_id=order.id,
                account_id=account_id,
                message=f"cancel of {order.client_order_id} failed: {exc}",
            )
            session.commit()
        return
    crash_point(CANCEL_AFTER_BROKER_CALL)
    with services.sessions() as session:
        order = session.get_one(Order, order_id)
        if OrderState.CANCEL_PENDING in ORDER_TRANSITIONS[order.state]:
            move(session, order, OrderState.CANCEL_PENDING, at=services.clock.now(), reason=f"cancel: {why}")
        session.commit()


def _still_live(sessions: SessionFactory, order_ids: Sequence[int]) -> list[int]:
    with sessions() as session:
        orders = [session.get_one(Order, order_id) for order_id in order_ids]
        return [order.id for order in orders if order.state in LIVE_ORDER_STATES]
