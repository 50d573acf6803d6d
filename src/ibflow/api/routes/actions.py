"""Actions on one thing (trader): cancel, confirm or reject an order, close a position — the CLI's services,
audited."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from ibflow.api.deps import ContainerDep, RowId
from ibflow.api.roles import Trader
from ibflow.core.errors import InvalidTransition, ValidationError
from ibflow.workflow.actions import (
    POSITION_PREFIX,
    cancel_order,
    close_positions,
    confirm_order,
    describe_exit,
    reject_order,
)

router = APIRouter(tags=["actions"])


class Why(BaseModel):
    """Why; kept in the audit log."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="from the API", min_length=1, max_length=500)


@router.post("/orders/{order_id}/cancel")
def cancel(caller: Trader, order_id: RowId, app: ContainerDep, body: Why | None = None) -> dict[str, Any]:
    """Cancel one working order and wait for the broker's confirmation; ``state`` is how it ended (a fill
    may come first). 409 for a finished order or a live stop or target (close its position instead)."""
    try:
        done = cancel_order(
            app.deps, app.accounts(), order_id=order_id, actor=caller.username, reason=(body or Why()).reason
        )
    except ValidationError as exc:  # finished already, or a live stop: the order's state refuses it (409)
        if "order" not in exc.problems:
            raise
        raise InvalidTransition(str(exc), exc.problems) from exc
    return {
        "order_id": done.order_id,
        "confirmed": done.confirmed,
        "state": done.state,
        "message": done.describe(),
    }


class Answered(BaseModel):
    """An order the broker asked about, after a trader's answer."""

    order_id: int
    client_order_id: str
    state: str
    question: str
    message_ids: list[str]


@router.post("/orders/{order_id}/confirm", response_model=Answered)
def confirm(caller: Trader, order_id: RowId, app: ContainerDep) -> Answered:
    """Confirm the broker's question and send the order again; an entry is risk-checked again first, so
    ``state`` may be ``rejected`` with the reason. 409 when the order does not wait for a confirmation."""
    done = confirm_order(app.deps, app.accounts(), order_id=order_id, actor=caller.username)
    return Answered(**{**done.__dict__, "message_ids": list(done.message_ids)})


@router.post("/orders/{order_id}/reject", response_model=Answered)
def reject(caller: Trader, order_id: RowId, app: ContainerDep, body: Why | None = None) -> Answered:
    """Reject an order waiting for confirmation: it and its children end ``rejected``. 409 otherwise."""
    reason = (body or Why()).reason
    done = reject_order(app.deps, order_id=order_id, actor=caller.username, reason=reason)
    return Answered(**{**done.__dict__, "message_ids": list(done.message_ids)})


@router.post("/positions/{position_id}/close")
def close(caller: Trader, position_id: RowId, app: ContainerDep, body: Why | None = None) -> dict[str, Any]:
    """Close one position as flatten closes all: cancel its protection, then a reduce-only exit."""
    results = (
        close_positions(  # by position id only: a position closed meanwhile is a 404, never a strategy's
            app.deps,
            app.accounts(),
            reference=f"{POSITION_PREFIX}{position_id}",
            actor=caller.username,
            reason=(body or Why()).reason,
        )
    )
    return {"exits": [describe_exit(result) for result in results]}
