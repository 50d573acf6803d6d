"""Run-time settings (viewer reads, admin writes, audited), the audit log (admin) and the broker session.

The same services as ``ibflow settings show | set``; the audit log lists every recorded change newest first.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from ibflow.api.deps import ContainerDep, ReadSessionDep, SessionDep
from ibflow.api.roles import Admin, Viewer
from ibflow.db.models.system import AuditLog
from ibflow.trading.audit import jsonable
from ibflow.trading.risk.runtime_settings import (
    SPECS,
    allowed_range,
    default_value,
    get_runtime_settings,
    reset_setting,
    set_setting,
    stored_keys,
)

router = APIRouter(tags=["settings and audit"])


class SettingValue(BaseModel):
    """The new value of one setting (a number, a boolean or a choice, as ``allowed`` says)."""

    model_config = ConfigDict(extra="forbid")

    value: bool | int | float | str


@router.get("/settings")
def read_settings(caller: Viewer, db: ReadSessionDep, app: ContainerDep) -> dict[str, Any]:
    """Every run-time setting in effect with what it accepts under this environment."""
    del caller
    return _settings(db, app)


@router.put("/settings/{key}")
def change_setting(
    caller: Admin, db: SessionDep, app: ContainerDep, key: str, body: SettingValue
) -> dict[str, Any]:
    """Change one run-time setting (audited with its value before and after); 422 names what is allowed."""
    set_setting(
        db,
        key=key,
        value=str(body.value).lower() if isinstance(body.value, bool) else str(body.value),
        actor=caller.username,
        at=app.clock.now(),
        env=app.settings.risk,
        broker_env=app.settings.broker,
    )
    db.commit()
    return _settings(db, app)


@router.delete("/settings/{key}")
def reset_to_default(caller: Admin, db: SessionDep, app: ContainerDep, key: str) -> dict[str, Any]:
    """Return one run-time setting to its environment default (audited); 422 for an unknown setting."""
    reset_setting(
        db,
        key=key,
        actor=caller.username,
        at=app.clock.now(),
        env=app.settings.risk,
        broker_env=app.settings.broker,
    )
    db.commit()
    return _settings(db, app)


@router.get("/audit")
def audit_log(
    *,
    caller: Admin,
    db: ReadSessionDep,
    action: Annotated[str | None, Query(max_length=64)] = None,
    actor: Annotated[str | None, Query(max_length=64)] = None,
    since: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[dict[str, Any]]:
    """Recorded changes, newest first: who, what, when, the value before and after."""
    del caller
    query = select(AuditLog).order_by(AuditLog.id.desc()).limit(limit)
    if action:
        query = query.where(AuditLog.action == action)
    if actor:
        query = query.where(AuditLog.actor == actor)
    if since is not None:
        query = query.where(AuditLog.at >= since)
    return [
        {
            "id": row.id,
            "at": row.at,
            "actor": row.actor,
            "action": row.action,
            "target_type": row.target_type,
            "target_id": row.target_id,
            "before": jsonable(row.before),
            "after": jsonable(row.after),
            "detail": row.detail,
        }
        for row in db.scalars(query)
    ]


@router.get("/broker/session")
def broker_session(caller: Viewer, app: ContainerDep) -> list[dict[str, Any]]:
    """Each broker account's session as the broker reports it now."""
    del caller
    answers = []
    for handle in app.accounts():
        status = handle.broker.session_status()
        answers.append(
            {
                "broker": handle.broker.name,
                "account_id": handle.account_id,
                **asdict(status),
                "healthy": status.healthy,
            }
        )
    return answers


def _settings(db: Any, app: Any) -> dict[str, Any]:
    risk, broker = app.settings.risk, app.settings.broker
    current = asdict(get_runtime_settings(db, risk, broker))
    changed = stored_keys(db)
    return {
        key: {
            "value": _exact(current[key]),
            "default": _exact(default_value(key, risk, broker)),
            "changed": key in changed,
            "accepts": allowed_range(key, risk, broker),
            "description": SPECS[key].description,
        }
        for key in SPECS
    }


def _exact(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value
