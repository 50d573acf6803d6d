"""``POST /broker/sync`` (trader): sync orders, fills and protection with the broker now, not at a tick."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from ibflow.api.deps import ContainerDep, SessionDep
from ibflow.api.roles import Trader
from ibflow.core.errors import Unavailable
from ibflow.trading.audit import record_audit

router = APIRouter(prefix="/broker", tags=["actions"])


@router.post("/sync")
def sync(caller: Trader, app: ContainerDep, db: SessionDep, response: Response) -> dict[str, Any]:
    """Run the tracking job of every account now: orders, fills, protection and the daily-loss check.

    In-process (``IBFLOW_RUNNER=inline``) it runs here under each account's lock and answers what changed
    (200): per account the orders whose state moved and the fills recorded, or why it could not reach the
    broker (``complete`` false); 503 when no account was synced at all. With Celery the tracking jobs go to
    the workers' ``trading`` queue and the answer is 202 (``queued``); the pages update as they land. A sync
    already running in this process answers 409; who asked, and what it changed, is in the audit log.
    """
    done = app.sync_with_broker()
    record_audit(
        db,
        actor=caller.username,
        action="broker.sync",
        at=app.clock.now(),
        before={},
        after={"queued": done.queued, "complete": done.complete, "trading_state": done.trading_state},
        detail=done.describe()[:1000],
    )
    db.commit()
    if done.queued:
        response.status_code = 202
    elif done.accounts and not any(account.changed_anything for account in done.accounts):
        raise Unavailable(done.describe())
    return done.as_dict()
