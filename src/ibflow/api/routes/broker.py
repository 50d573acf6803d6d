"""``POST /broker/sync`` (trader): sync orders, fills and protection with the broker now, not at a tick."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from ibflow.api.deps import ContainerDep
from ibflow.api.roles import Trader
from ibflow.core.errors import Unavailable

router = APIRouter(prefix="/broker", tags=["actions"])


@router.post("/sync")
def sync(caller: Trader, app: ContainerDep, response: Response) -> dict[str, Any]:
    """Run the tracking job of every account now: orders, fills, protection and the daily-loss check.

    In-process (``IBFLOW_RUNNER=inline``) it runs here under each account's lock and answers what changed
    (200): per account the orders whose state moved and the fills recorded, or why it could not reach the
    broker (``complete`` false); 503 when no account could be synced. With Celery the tracking jobs go to the
    workers' ``trading`` queue and the answer is 202 (``queued``); the pages update as they land.
    """
    del caller
    done = app.sync_with_broker()
    if done.queued:
        response.status_code = 202
    elif done.accounts and all(account.error is not None for account in done.accounts):
        raise Unavailable(done.describe())
    return done.as_dict()
