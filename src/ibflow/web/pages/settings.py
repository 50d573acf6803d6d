"""The settings pages: broker sessions and the kill switch (everyone), run-time settings and the IBKR
question allow-list, users and API tokens, and the audit log (admins).

Reads go through the services the API uses (``workflow.queries.status``, ``runtime_settings``,
``users.admin``, ``users.tokens``, the audit table); every write is a call to the API from
``static/app.js``, so its roles (a trader halts, reduces and flattens, only an admin resumes or changes a
setting, a user or a token), validation and audit apply. A token's secret is in the API's answer to its
creation only, shown once by the browser; no page ever renders one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from ibflow.api.auth import Principal, container
from ibflow.api.deps import ReadSessionDep
from ibflow.db.models.system import AuditLog
from ibflow.db.states import UserRole
from ibflow.trading.risk.runtime_settings import (
    SPECS,
    allowed_range,
    default_value,
    get_runtime_settings,
    stored_keys,
)
from ibflow.users.admin import list_users
from ibflow.users.tokens import list_tokens
from ibflow.web.layout import page_context
from ibflow.web.pages import shell
from ibflow.web.session import PageCaller
from ibflow.web.templating import templates
from ibflow.workflow.queries.status import status_report

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
ALLOW_LIST = "ibkr_question_allow_list"
AUDIT_PAGE = 50
Text = Annotated[str, Query(max_length=64)]


@router.get("/settings")
def settings(request: Request, caller: PageCaller, db: ReadSessionDep) -> Response:
    """Broker sessions and the kill switch; for an admin also the run-time settings and the allow-list."""
    values: dict[str, Any] = {**_trading(request, db), "section": "general"}
    if caller.role is UserRole.ADMIN:
        values["settings"] = _runtime_settings(request, db)
    return templates.TemplateResponse(
        request, "settings/page.html", page_context(request, caller, db, title="Settings", **values)
    )


@router.get("/settings/users")
def users(request: Request, caller: PageCaller, db: ReadSessionDep) -> Response:
    """Users with their roles, and API tokens (never their secrets): admins only."""
    if caller.role is not UserRole.ADMIN:
        return _admins_only(request, caller, db, "Users and tokens")
    people = list_users(db)
    values = {"section": "users", "users": people, "tokens": list_tokens(db), "roles": list(UserRole)}
    return templates.TemplateResponse(
        request, "settings/users.html", page_context(request, caller, db, title="Users and tokens", **values)
    )


@router.get("/settings/audit")
def audit(
    request: Request,
    caller: PageCaller,
    db: ReadSessionDep,
    *,
    action: Text = "",
    actor: Text = "",
    since: Text = "",
    before: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    """The audit log, newest first, filtered by action, actor and time, a page at a time: admins only."""
    if caller.role is not UserRole.ADMIN:
        return _admins_only(request, caller, db, "Audit log")
    query = select(AuditLog).order_by(AuditLog.id.desc()).limit(AUDIT_PAGE + 1)
    if action.strip():
        query = query.where(AuditLog.action == action.strip())
    if actor.strip():
        query = query.where(AuditLog.actor == actor.strip())
    start, since_problem = _since(since)
    if start is not None:
        query = query.where(AuditLog.at >= start)
    if before is not None:
        query = query.where(AuditLog.id < before)
    rows = list(db.scalars(query))
    older = rows[AUDIT_PAGE - 1].id if len(rows) > AUDIT_PAGE else None
    actions = sorted(set(db.scalars(select(AuditLog.action).distinct())))
    values = {
        "section": "audit",
        "rows": rows[:AUDIT_PAGE],
        "older": older,
        "actions": actions,
        "filters": {"action": action.strip(), "actor": actor.strip(), "since": start},
        "since_problem": since_problem,
        "first_page": before is None,
    }
    return templates.TemplateResponse(
        request, "settings/audit.html", page_context(request, caller, db, title="Audit log", **values)
    )


def _since(text: str) -> tuple[datetime | None, str]:
    """The filter's start time (the form's local time is UTC), or the problem with ``text``."""
    if not text.strip():
        return None, ""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return None, f"not a date and time: {text.strip()!r} (as 2026-03-04T15:00)"
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)), ""


def _admins_only(request: Request, caller: Principal, db: Session, title: str) -> Response:
    return templates.TemplateResponse(
        request,
        "settings/admins-only.html",
        page_context(request, caller, db, title=title, section=""),
        status_code=403,
    )


def _trading(request: Request, db: Session) -> dict[str, Any]:
    app = container(request)
    return {"report": status_report(db, accounts=app.account_kinds(), clock=app.clock)}


def _runtime_settings(request: Request, db: Session) -> list[dict[str, Any]]:
    app = container(request)
    risk, broker = app.settings.risk, app.settings.broker
    current = get_runtime_settings(db, risk, broker)
    changed = stored_keys(db)
    return [
        {
            "key": key,
            "kind": spec.kind.__name__,
            "value": getattr(current, key),
            "accepts": allowed_range(key, risk, broker),
            "description": spec.description,
            "choices": spec.choices,
            "changed": key in changed,
            "default": default_value(key, risk, broker),
        }
        for key, spec in SPECS.items()
    ]


shell.FRAGMENTS["settings-trading"] = _trading
