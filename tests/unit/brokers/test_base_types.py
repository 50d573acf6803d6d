"""Behaviour carried by the broker-neutral types."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from ibflow.brokers.base import (
    BrokerOrder,
    BrokerOrderStatus,
    OrderSide,
    OrderType,
    SessionStatus,
    TimeInForce,
)
from ibflow.core.ids import AccountId, BrokerOrderId, Conid


@pytest.mark.parametrize(
    ("authenticated", "connected", "competing", "healthy"),
    [
        (True, True, False, True),
        (False, True, False, False),
        (True, False, False, False),
        (True, True, True, False),
    ],
)
def test_a_session_is_healthy_only_when_authenticated_connected_and_alone(
    authenticated: bool, connected: bool, competing: bool, healthy: bool
) -> None:
    assert SessionStatus(authenticated, connected, competing).healthy is healthy


def test_remaining_quantity() -> None:
    order = BrokerOrder(
        account_id=AccountId("PAPER-1"),
        broker_order_id=BrokerOrderId("7"),
        conid=Conid(265598),
        side=OrderSide.BUY,
        order_type=OrderType.LIMIT,
        tif=TimeInForce.DAY,
        quantity=Decimal(100),
        filled_quantity=Decimal(60),
        status=BrokerOrderStatus.SUBMITTED,
        updated_at=datetime(2026, 1, 5, tzinfo=UTC),
    )
    assert order.remaining_quantity == Decimal(40)
