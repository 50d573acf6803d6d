"""What an admin does to users: list, change a password, disable, change a role; each ends the user's logins.

Every change is audited by the caller's actor name. Disabling or demoting the last active admin is refused,
so an installation can never lock itself out.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ibflow.core.clock import Clock
from ibflow.core.errors import NotFound, ValidationError
from ibflow.db.models.system import AuditLog
from ibflow.db.models.users import User
from ibflow.db.states import UserRole
from ibflow.users.service import MIN_PASSWORD_LENGTH, find_user, hash_password
from ibflow.users.sessions import end_all_sessions
from ibflow.users.tokens import revoke_user_tokens


def list_users(session: Session) -> list[User]:
    """Return every user by name."""
    return list(session.scalars(select(User).order_by(User.username)))


def require_user(session: Session, username: str) -> User:
    """Return the user called ``username``; ``NotFound`` names it."""
    user = find_user(session, username)
    if user is None:
        raise NotFound(f"no user named {username.strip().lower()!r}")
    return user


def set_password(session: Session, *, user: User, password: str, clock: Clock, actor: str) -> int:
    """Change ``user``'s password and end their sessions; return how many sessions ended."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(
            "cannot set the password", {"password": f"use at least {MIN_PASSWORD_LENGTH} characters"}
        )
    user.password_hash = hash_password(password)
    ended = end_all_sessions(session, user_id=user.id, clock=clock)
    _audit(
        session,
        actor=actor,
        action="user.password_changed",
        after={"password": "changed"},
        user=user,
        clock=clock,
        detail=f"{user.username}: password changed; {ended} session(s) ended",
    )
    return ended


def set_active(session: Session, *, user: User, active: bool, clock: Clock, actor: str) -> int:
    """Disable (or enable) ``user``; disabling ends their sessions and revokes their tokens for good (enabling
    the user again does not bring a token back). Return how many sessions ended."""
    if not active and user.is_active and user.role is UserRole.ADMIN:
        _refuse_last_admin(session, user, "disable")
    before = user.is_active
    user.is_active = active
    ended = end_all_sessions(session, user_id=user.id, clock=clock) if not active else 0
    revoked = revoke_user_tokens(session, user_id=user.id, clock=clock) if not active else 0
    if before != active:
        word = "enabled" if active else "disabled"
        _audit(
            session,
            actor=actor,
            action=f"user.{word}",
            user=user,
            clock=clock,
            before={"active": before},
            after={"active": active},
            detail=f"{user.username}: {word}; {ended} session(s) ended, {revoked} token(s) revoked",
        )
    return ended


def set_role(session: Session, *, user: User, role: UserRole, clock: Clock, actor: str) -> int:
    """Change ``user``'s role and end their sessions (a new role takes effect at the next login)."""
    if user.role is UserRole.ADMIN and role is not UserRole.ADMIN and user.is_active:
        _refuse_last_admin(session, user, "demote")
    before = user.role
    if before is role:
        return 0
    user.role = role
    ended = end_all_sessions(session, user_id=user.id, clock=clock)
    _audit(
        session,
        actor=actor,
        action="user.role_changed",
        user=user,
        clock=clock,
        before={"role": before.value},
        after={"role": role.value},
        detail=f"{user.username}: {before.value} -> {role.value}; {ended} session(s) ended",
    )
    return ended


def _refuse_last_admin(session: Session, user: User, verb: str) -> None:
    admins = session.scalar(
        select(func.count()).select_from(User).where(User.role == UserRole.ADMIN, User.is_active.is_(True))
    )
    if (admins or 0) <= 1:
        raise ValidationError(
            f"cannot {verb} {user.username}: it is the last active admin",
            {"user": "make another user admin first"},
        )


def _audit(
    session: Session,
    *,
    actor: str,
    action: str,
    user: User,
    clock: Clock,
    detail: str,
    before: object = None,
    after: object = None,
) -> None:
    session.add(
        AuditLog(
            at=clock.now(),
            actor=actor,
            action=action,
            target_type="user",
            target_id=str(user.id),
            before=before if before is not None else {},  # audit_log.before and .after are NOT NULL
            after=after if after is not None else {},
            detail=detail,
        )
    )
