"""``/healthz`` (the process answers) and ``/readyz`` (database, broker session, scheduler; with Celery, the
beat's heartbeat and the broker carrying the queues)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import func, select, text

from ibflow.api.auth import container
from ibflow.bootstrap import Container
from ibflow.db.models import WorkerHeartbeat

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """Answer while the process runs (no authentication)."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    """Answer 200 when the database answers, the broker session is up, the scheduler (if any) runs and, with
    Celery, a beat process beats and the queues' broker answers."""
    app = container(request)
    checks: dict[str, Any] = {}
    try:
        with app.read_sessions() as session:
            session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"unreachable: {type(exc).__name__}"
    try:
        unhealthy = [h.account_id for h in app.accounts() if not h.broker.session_status().healthy]
        checks["broker"] = "ok" if not unhealthy else f"{len(unhealthy)} session(s) not authenticated"
    except Exception as exc:
        checks["broker"] = f"unavailable: {type(exc).__name__}"
    alive = getattr(request.app.state, "scheduler_alive", None)
    if alive is not None:
        checks["scheduler"] = "ok" if alive() else "stopped"
    if app.settings.runner.runner == "celery":
        checks["beat"] = _beat(app)
        try:
            app.queue_depths()
            checks["queue"] = "ok"
        except Exception as exc:
            checks["queue"] = f"broker unreachable: {type(exc).__name__}"
    ready = all(value == "ok" for value in checks.values())
    body = {"status": "ready" if ready else "not ready", "checks": checks, "accounts": app.account_kinds()}
    return JSONResponse(body, status_code=200 if ready else 503)


def _beat(app: Container) -> str:
    """``ok`` when a beat process has written a heartbeat within the dead-worker window."""
    dead_after = timedelta(seconds=app.settings.runner.worker_dead_after_seconds)
    try:
        with app.read_sessions() as session:
            seen = session.scalar(
                select(func.max(WorkerHeartbeat.seen_at)).where(WorkerHeartbeat.role == "beat")
            )
    except Exception as exc:
        return f"unknown: {type(exc).__name__}"
    if seen is None:
        return "no beat process has a heartbeat (run `ibflow beat`)"
    silent = app.clock.now() - seen
    if silent > dead_after:
        return f"silent for {int(silent.total_seconds())} s"
    return "ok"
