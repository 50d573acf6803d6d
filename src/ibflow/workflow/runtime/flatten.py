"""Flatten every account: halt new entries first, then cancel ibflow's orders and close its positions.

The halt comes first so no entry can start between the cancels and the exits; trading stays HALTED
afterwards until someone who may resume does so. Each account is flattened (and audited) on its own: a
failure in one is reported and the others still flatten.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ibflow.core.errors import IbflowError
from ibflow.db.states import TradingStateValue
from ibflow.trading.positions.exits import FlattenResult, flatten_all
from ibflow.trading.risk.kill_switch import current_state, set_state
from ibflow.workflow.deps import BrokerHandle, WorkflowDeps


@dataclass(frozen=True)
class AccountFlatten:
    """What flattening one account did, or why it could not."""

    account_id: str
    result: FlattenResult | None = None
    error: str | None = None


@dataclass(frozen=True)
class FlattenReport:
    """The halt that came with the flatten, and each account's outcome."""

    previous_state: TradingStateValue
    accounts: list[AccountFlatten]

    @property
    def complete(self) -> bool:
        """True when every account flattened without an error or an unconfirmed cancel."""
        return all(
            a.result is not None and not a.result.unconfirmed_cancels and a.error is None
            for a in self.accounts
        )


def flatten_accounts(
    deps: WorkflowDeps, accounts: Sequence[BrokerHandle], *, actor: str, reason: str
) -> FlattenReport:
    """Halt trading (audited, by ``actor``), then flatten every account; a refused actor changes nothing."""
    with deps.sessions() as session:
        previous = current_state(session, at=deps.clock.now()).state
        set_state(
            session,
            value=TradingStateValue.HALTED,
            actor=actor,
            reason=f"flatten: {reason}" if reason.strip() else reason,
            at=deps.clock.now(),
            actor_is_admin=False,
        )
        session.commit()
    outcomes: list[AccountFlatten] = []
    for handle in accounts:
        try:
            result = flatten_all(
                deps.sessions,
                actor=actor,
                reason=reason,
                broker=handle.broker,
                locks=deps.locks,
                account_id=handle.account_id,
                clock=deps.clock,
                risk_env=deps.risk_settings,
                broker_env=deps.broker_settings,
            )
        except IbflowError as exc:  # trading is halted already; say what could not be flattened, go on
            outcomes.append(AccountFlatten(handle.account_id, error=str(exc)))
            continue
        outcomes.append(AccountFlatten(handle.account_id, result=result))
    return FlattenReport(previous, outcomes)
