"""Actions on one thing (trader): cancel an order, close a position — the CLI's services, audited."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from ibflow.api.deps import ContainerDep, RowId
from ibflow.api.roles import Trader
from ibflow.core.errors import InvalidTransition, NotFound, ValidationError
from ibflow.db.models import Position
from ibflow.db.states import PositionStatus
from ibflow.workflow.actions import cancel_order, close_positions, describe_exit

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


@router.post("/positions/{position_id}/close")
def close(caller: Trader, position_id: RowId, app: ContainerDep, body: Why | None = None) -> dict[str, Any]:
    """Close one position as flatten closes all: cancel its protection, then a reduce-only exit."""
    with app.read_sessions() as session:
        position = session.get(Position, position_id)
        if position is None or position.status is not PositionStatus.OPEN:
            raise NotFound(f"position {position_id} is not open (see GET /api/v1/positions)")
    results = close_positions(  # a bare id names the open position (never a strategy: it is open)
        app.deps,
        app.accounts(),
        reference=str(position_id),
        actor=caller.username,
        reason=(body or Why()).reason,
    )
    return {"exits": [describe_exit(result) for result in results]}
