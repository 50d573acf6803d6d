"""Who is calling: a session cookie (browsers, with CSRF on writes) or a bearer token (scripts).

Sessions renew as they are used (at most one write a minute); a bearer request needs no CSRF token because
a browser never adds the header by itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from sqlalchemy.orm import Session

from ibflow import bootstrap
from ibflow.core.errors import Forbidden, NotAuthenticated
from ibflow.db.states import UserRole
from ibflow.users.secrets import csrf_token, same
from ibflow.users.sessions import SessionPolicy, find_session
from ibflow.users.tokens import find_token_user

COOKIE = "ibflow_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Principal:
    """The authenticated caller."""

    user_id: int
    username: str
    role: UserRole
    via: str
    """``session`` or ``token``."""
    session_token: str | None = None


def container(request: Request) -> bootstrap.Container:
    """Return the app's container."""
    found: bootstrap.Container = request.app.state.container
    return found


def policy(app_container: bootstrap.Container) -> SessionPolicy:
    """Return the session lifetimes of the settings."""
    from datetime import timedelta

    api = app_container.settings.api
    return SessionPolicy(
        idle=timedelta(minutes=api.session_idle_minutes), lifetime=timedelta(hours=api.session_lifetime_hours)
    )


def authenticate(request: Request) -> Principal:
    """Return the caller, or raise ``NotAuthenticated``; a cookie write without the CSRF token is refused.

    The look-up reads in a read transaction, so a request takes SQLite's write lock only when the session's
    renewal or the token's last use is due (at most once a minute), in a short transaction of its own.
    """
    cached: Principal | None = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    app_container = container(request)
    with app_container.read_sessions() as session:
        principal = _identify(session, request, app_container)
        due = bool(session.dirty)
        session.rollback()
    if due:
        with app_container.sessions() as session:
            principal = _identify(session, request, app_container)
            session.commit()  # the sliding renewal or the token's last use
    request.state.principal = principal
    return principal


def _identify(session: Session, request: Request, app_container: bootstrap.Container) -> Principal:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        found_token = find_token_user(session, token=header[7:].strip(), clock=app_container.clock)
        if found_token is None:
            raise NotAuthenticated("the bearer token is unknown, expired or revoked")
        _, user = found_token
        return Principal(user.id, user.username, user.role, "token")
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        raise NotAuthenticated("log in first (POST /api/v1/auth/login) or send a bearer token")
    found = find_session(session, token=cookie, clock=app_container.clock, policy=policy(app_container))
    if found is None:
        raise NotAuthenticated("the session ended; log in again")
    _, user = found
    if request.method not in SAFE_METHODS and not same(
        request.headers.get(CSRF_HEADER, ""), csrf_token(cookie)
    ):
        raise Forbidden(f"a write with the session cookie needs the {CSRF_HEADER} header (CSRF)")
    return Principal(user.id, user.username, user.role, "session", cookie)
