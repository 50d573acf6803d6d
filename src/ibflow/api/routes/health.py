"""``/healthz`` (the process answers) and ``/readyz`` (database, broker session, scheduler)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from ibflow.api.auth import container

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """Answer while the process runs (no authentication)."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    """Answer 200 when the database answers, the broker session is up and the scheduler (if any) runs."""
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
    ready = all(value == "ok" for value in checks.values())
    body = {"status": "ready" if ready else "not ready", "checks": checks, "accounts": app.account_kinds()}
    return JSONResponse(body, status_code=200 if ready else 503)
