"""Typed identities, kept apart so a broker's id is never mistaken for ours."""

from typing import NewType

AccountId = NewType("AccountId", str)
"""A broker account (``DU1234567`` at IBKR, ``PAPER-1`` at the paper broker)."""

Conid = NewType("Conid", int)
"""A contract id as the broker knows it."""

ClientOrderId = NewType("ClientOrderId", str)
"""Our idempotency key for an order (``ibf-<install>-...``); travels to IBKR as ``cOID``."""

BrokerOrderId = NewType("BrokerOrderId", str)
"""The broker's id for an order."""

BrokerExecId = NewType("BrokerExecId", str)
"""The broker's id for one fill (an execution at the broker)."""

ExecutionId = NewType("ExecutionId", int)
"""One run of a strategy (a ``strategy_executions`` row)."""

StrategyId = NewType("StrategyId", int)
SignalId = NewType("SignalId", int)
OrderId = NewType("OrderId", int)
PositionId = NewType("PositionId", int)
UserId = NewType("UserId", int)
InstallationId = NewType("InstallationId", str)
