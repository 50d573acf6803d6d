"""A trader's actions on one thing: cancel one order, close one position (as flatten closes them all),
confirm or reject an order the broker asked a question about.

Both are audited under the acting person's name before anything reaches the broker, and both hold the
account's order lock through the trading services they call, as every other order path does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ibflow.core.errors import NotFound, ValidationError
from ibflow.db.models.orders import Order
from ibflow.db.models.positions import Position
from ibflow.db.states import OrderRole, OrderState, PositionStatus
from ibflow.trading.audit import person_actor, record_audit
from ibflow.trading.lifecycle.cancels import Services, cancel_and_confirm
from ibflow.trading.lifecycle.client_ids import Purpose
from ibflow.trading.lifecycle.confirmations import Confirmation
from ibflow.trading.lifecycle.orders import hold_account
from ibflow.trading.lifecycle.tracking import envs
from ibflow.trading.positions.exits import ExitResult, ExitStatus, exit_position
from ibflow.workflow.deps import BrokerHandle, WorkflowDeps
from ibflow.workflow.strategies.lookup import find_strategy

_PROTECTION = frozenset({OrderRole.STOP, OrderRole.TARGET})
POSITION_PREFIX = "position:"


@dataclass(frozen=True)
class CancelOutcome:
    """What cancelling one order did."""

    order_id: int
    client_order_id: str
    confirmed: bool
    state: str | None = None
    """How the order ended up: ``cancelled``, or ``filled`` when a fill reached the broker first."""

    def describe(self) -> str:
        """One line for a person."""
        if self.confirmed and self.state not in (None, OrderState.CANCELLED.value):
            who = f"order {self.order_id} ({self.client_order_id})"
            return f"{who} was {self.state} before the cancel reached it"
        if self.confirmed:
            return f"order {self.order_id} ({self.client_order_id}) cancelled"
        return (
            f"order {self.order_id} ({self.client_order_id}): cancel requested, not confirmed yet; "
            "order tracking keeps looking (see `ibflow orders`)"
        )


def _handle(accounts: Sequence[BrokerHandle], account_id: str) -> BrokerHandle:
    for handle in accounts:
        if handle.account_id == account_id:
            return handle
    raise NotFound(f"account {account_id} is not one ibflow trades in now")


def cancel_order(
    deps: WorkflowDeps, accounts: Sequence[BrokerHandle], *, order_id: int, actor: str, reason: str
) -> CancelOutcome:
    """Cancel one working ibflow order and wait for the broker to confirm it.

    A stop or target that protects an open position is refused: cancelling it would leave the position
    unprotected (close the position instead, which cancels its protection first).
    """
    actor = person_actor(actor)
    with deps.sessions() as session:
        order = session.get(Order, order_id)
        if order is None:
            raise NotFound(f"order {order_id} does not exist (see `ibflow orders`)")
        if order.state.is_terminal:
            raise ValidationError(
                f"order {order_id} is {order.state.value} already; nothing to cancel",
                {"order": f"{order.state.value} already"},  # in the message: the CLI prints one line
            )
        if order.role in _PROTECTION and _protects_open_position(session, order):
            raise ValidationError(
                f"order {order_id} is the {order.role.value} of an open position; cancelling it would "
                "leave the position unprotected: close the position instead with "
                f"`ibflow position close {order.position_id}`",
                {"order": f"the {order.role.value} of an open position"},
            )
        account_id, client_order_id = order.account_id, order.client_order_id
        record_audit(
            session,
            actor=actor,
            action="order.cancel",
            at=deps.clock.now(),
            target_type="order",
            target_id=order_id,
            before={"state": order.state.value},
            after={"state": OrderState.CANCELLED.value},  # audit_log.after is NOT NULL: say what was asked
            detail=reason,
        )
        session.commit()
    handle = _handle(accounts, account_id)
    services = Services(
        deps.sessions, handle.broker, deps.locks, deps.clock, *envs(deps.risk_settings, deps.broker_settings)
    )
    with hold_account(deps.locks, account_id):
        unconfirmed = cancel_and_confirm(
            services, account_id, [order_id], why=f"cancelled by {actor}: {reason}"
        )
    with deps.sessions() as session:  # a fill may have come first: say how the order ended
        ended = session.get(Order, order_id)
        state = ended.state.value if ended is not None else None
    return CancelOutcome(order_id, client_order_id, confirmed=not unconfirmed, state=state)


def _protects_open_position(session: Session, order: Order) -> bool:
    if order.position_id is None:
        return False
    position = session.get(Position, order.position_id)
    return position is not None and position.status is PositionStatus.OPEN


def find_open_positions(session: Session, reference: str) -> list[Position]:
    """Return the open positions ``reference`` names: a position id, or a strategy (id or name).

    ``position:N`` names position N only: when it is no longer open the answer is empty, never the
    positions of a strategy that happens to have id N (the API closes by position id this way).
    """
    text = reference.strip()
    if text.startswith(POSITION_PREFIX):
        number = text.removeprefix(POSITION_PREFIX)
        position = session.get(Position, int(number)) if number.isdigit() else None
        return [position] if position is not None and position.status is PositionStatus.OPEN else []
    if text.isdigit():
        position = session.get(Position, int(text))
        if position is not None and position.status is PositionStatus.OPEN:
            return [position]
    try:
        strategy = find_strategy(session, text)
    except NotFound:
        raise NotFound(f"no open position or strategy {reference!r} (see `ibflow positions`)") from None
    return list(
        session.scalars(
            select(Position)
            .where(Position.strategy_id == strategy.id, Position.status == PositionStatus.OPEN)
            .order_by(Position.id)
        )
    )


def close_positions(
    deps: WorkflowDeps, accounts: Sequence[BrokerHandle], *, reference: str, actor: str, reason: str
) -> list[ExitResult]:
    """Close the open positions ``reference`` names: cancel their protection, then a reduce-only exit each."""
    actor = person_actor(actor)
    with deps.sessions() as session:
        positions = find_open_positions(session, reference)
        if not positions:
            raise NotFound(f"{reference!r} holds no open position (see `ibflow positions`)")
        targets = [(position.id, position.account_id) for position in positions]
        for position in positions:
            record_audit(
                session,
                actor=actor,
                action="position.close",
                at=deps.clock.now(),
                target_type="position",
                target_id=position.id,
                before={"quantity": str(position.quantity), "symbol": position.symbol},
                after={"quantity": "0"},
                detail=reason,
            )
        session.commit()
    results = []
    for position_id, account_id in targets:
        handle = _handle(accounts, account_id)
        results.append(
            exit_position(
                deps.sessions,
                broker=handle.broker,
                locks=deps.locks,
                account_id=account_id,
                clock=deps.clock,
                risk_env=deps.risk_settings,
                broker_env=deps.broker_settings,
                reason=Purpose.MANUAL,
                position_id=position_id,
            )
        )
    return results


def describe_exit(result: ExitResult) -> str:
    """One line for a person about one exit."""
    which = f"position {result.position_id}" if result.position_id is not None else "position"
    if result.status is ExitStatus.SENT:
        sent = f"{which}: exit order {result.order_id} sent for {result.quantity.normalize():f}"
        return f"{sent} ({result.detail})"
    return f"{which}: {result.status.value}: {result.detail}"


def confirm_order(
    deps: WorkflowDeps, accounts: Sequence[BrokerHandle], *, order_id: int, actor: str
) -> Confirmation:
    """Confirm the broker's question for a waiting order and send it again (an entry is judged again)."""
    from ibflow.trading.lifecycle.confirmations import confirm_order as confirm

    actor = person_actor(actor)
    with deps.sessions() as session:
        order = session.get(Order, order_id)
        if order is None:
            raise NotFound(f"order {order_id} does not exist (see `ibflow orders`)")
        account_id = order.account_id
    handle = _handle(accounts, account_id)
    return confirm(
        deps.sessions,
        broker=handle.broker,
        locks=deps.locks,
        clock=deps.clock,
        order_id=order_id,
        actor=actor,
        risk_env=deps.risk_settings,
        broker_env=deps.broker_settings,
    )


def reject_order(deps: WorkflowDeps, *, order_id: int, actor: str, reason: str) -> Confirmation:
    """Reject a waiting order: it and its children end ``rejected``; the broker never held them."""
    from ibflow.trading.lifecycle.confirmations import reject_order as reject

    return reject(
        deps.sessions,
        locks=deps.locks,
        clock=deps.clock,
        order_id=order_id,
        actor=person_actor(actor),
        reason=reason,
    )
