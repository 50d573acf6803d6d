"""``/trading``: the kill switch with the CLI's rules (traders halt, reduce and flatten; admins resume)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from ibflow.api.deps import ContainerDep, ReadSessionDep, SessionDep
from ibflow.api.roles import RANK, Admin, Trader, Viewer
from ibflow.core.errors import Forbidden, ValidationError
from ibflow.db.states import TradingStateValue, UserRole
from ibflow.trading.risk.kill_switch import set_state
from ibflow.workflow.queries.status import trading_state

router = APIRouter(prefix="/trading", tags=["trading"])


class Reason(BaseModel):
    """Why; kept in the audit log."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500)


@router.get("")
def state(caller: Viewer, db: ReadSessionDep) -> dict[str, Any]:
    """The trading state, its reason, who set it and when."""
    del caller
    return trading_state(db).as_dict()


@router.post("/halt")
def halt(caller: Trader, body: Reason, app: ContainerDep) -> dict[str, Any]:
    """Stop new entries; returns once no send is under way and unfilled entries are cancelled."""
    lines = app.halt_everything(actor=caller.username, reason=body.reason)
    return {"state": TradingStateValue.HALTED.value, "accounts": lines}


@router.post("/reduce")
def reduce(caller: Trader, body: Reason, db: SessionDep, app: ContainerDep) -> dict[str, Any]:
    """Allow only orders that reduce exposure (from HALTED only for an admin, who may also resume)."""
    admin = RANK[caller.role] >= RANK[UserRole.ADMIN]
    try:
        set_state(
            db,
            value=TradingStateValue.REDUCING,
            actor=caller.username,
            reason=body.reason,
            at=app.clock.now(),
            actor_is_admin=admin,
        )
    except ValidationError as exc:  # loosening HALTED needs an admin: a role refusal, as /resume's (403)
        if "state" not in exc.problems:
            raise
        raise Forbidden(str(exc)) from exc
    db.commit()
    return trading_state(db).as_dict()


@router.post("/resume")
def resume(caller: Admin, body: Reason, db: SessionDep, app: ContainerDep) -> dict[str, Any]:
    """Return to normal trading."""
    set_state(
        db,
        value=TradingStateValue.ACTIVE,
        actor=caller.username,
        reason=body.reason,
        at=app.clock.now(),
        actor_is_admin=True,
    )
    db.commit()
    return trading_state(db).as_dict()


@router.post("/flatten")
def flatten(caller: Trader, body: Reason, app: ContainerDep) -> dict[str, Any]:
    """Halt new entries, cancel every working ibflow order and close every ibflow position at market.

    ``exits`` lists each position's exit (sent, or why not) across the accounts."""
    report = app.flatten_everything(actor=caller.username, reason=body.reason)
    return {
        "complete": report.complete,
        "previous_state": report.previous_state.value,
        "accounts": [
            {"account_id": account.account_id, "error": account.error, "done": account.result is not None}
            for account in report.accounts
        ],
        "exits": [
            {
                "account_id": account.account_id,
                "position_id": done.position_id,
                "status": done.status.value,
                "quantity": str(done.quantity.normalize()),
                "order_id": done.order_id,
                "detail": done.detail,
            }
            for account in report.accounts
            if account.result is not None
            for done in account.result.exits
        ],
    }
