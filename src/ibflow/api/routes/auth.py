"""``/auth``: log in, who am I, change my password, log out, log out everywhere."""

from __future__ import annotations

import threading

from fastapi import APIRouter, Request, Response

from ibflow.api.auth import COOKIE, policy
from ibflow.api.deps import ContainerDep, SessionDep
from ibflow.api.roles import Viewer
from ibflow.api.schemas.auth import Ended, Login, Me, PasswordChange
from ibflow.core.errors import NotAuthenticated, ValidationError
from ibflow.users.admin import set_password
from ibflow.users.secrets import csrf_token
from ibflow.users.service import authenticate as check_password
from ibflow.users.sessions import end_all_sessions, end_session, start_session

router = APIRouter(prefix="/auth", tags=["auth"])
PASSWORD_CHECKS = threading.BoundedSemaphore(4)
"""argon2 takes 64 MiB a check: at most four at once, whatever the number of parallel logins."""
WRONG = "unknown user name or wrong password"


@router.post("/login", response_model=Me)
def login(body: Login, request: Request, response: Response, db: SessionDep, app: ContainerDep) -> Me:
    """Log in with a user name and password; sets the session cookie and answers the CSRF token."""
    address = request.client.host if request.client else "?"
    throttle = request.app.state.throttle
    mark = throttle.attempt(body.username, address)  # counted as failed until the password is right
    with PASSWORD_CHECKS:
        user = check_password(db, username=body.username, password=body.password, clock=app.clock)
    if user is None:
        db.commit()
        raise NotAuthenticated(WRONG)  # the same answer for an unknown, disabled or wrongly typed user
    throttle.succeeded(body.username, address, mark)
    started = start_session(
        db,
        user=user,
        clock=app.clock,
        policy=policy(app),
        user_agent=request.headers.get("User-Agent"),
        address=address,
    )
    db.commit()
    lifetime = int(policy(app).lifetime.total_seconds())
    response.set_cookie(
        COOKIE,
        started.token,
        max_age=lifetime,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )
    return Me(username=user.username, role=user.role, via="session", csrf_token=csrf_token(started.token))


@router.get("/me", response_model=Me)
def me(caller: Viewer) -> Me:
    """Return who is calling (and, for a session, its CSRF token)."""
    token = caller.session_token
    return Me(
        username=caller.username,
        role=caller.role,
        via=caller.via,
        csrf_token=csrf_token(token) if token else None,
    )


@router.post("/password", response_model=Ended)
def change_password(
    caller: Viewer, body: PasswordChange, response: Response, db: SessionDep, app: ContainerDep
) -> Ended:
    """Change the caller's own password (the current one is checked); ends every session of the caller."""
    with PASSWORD_CHECKS:
        user = check_password(db, username=caller.username, password=body.current, clock=app.clock)
    if user is None:
        raise ValidationError("cannot change the password", {"current": "this is not your current password"})
    ended = set_password(db, user=user, password=body.new, clock=app.clock, actor=caller.username)
    db.commit()
    response.delete_cookie(COOKIE, path="/")
    return Ended(ended=ended)


@router.post("/logout", response_model=Ended)
def logout(caller: Viewer, response: Response, db: SessionDep, app: ContainerDep) -> Ended:
    """End this session (a bearer token stays valid: revoke it with ``DELETE /tokens/{id}``)."""
    ended = end_session(db, token=caller.session_token, clock=app.clock) if caller.session_token else False
    db.commit()
    response.delete_cookie(COOKIE, path="/")
    return Ended(ended=int(ended))


@router.post("/logout-everywhere", response_model=Ended)
def logout_everywhere(caller: Viewer, response: Response, db: SessionDep, app: ContainerDep) -> Ended:
    """End every session of the caller, on every device."""
    ended = end_all_sessions(db, user_id=caller.user_id, clock=app.clock)
    db.commit()
    response.delete_cookie(COOKIE, path="/")
    return Ended(ended=ended)
