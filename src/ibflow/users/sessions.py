"""Login sessions: start, find (with sliding renewal), end one, end all of a user's.

A session ends ``idle`` after its last renewal and never later than ``lifetime`` after it began. Renewal
writes the row at most once a minute (SQLite has one writer; a page polls far more often than that).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ibflow.core.clock import Clock
from ibflow.db.models.users import User, UserSession
from ibflow.users.secrets import SESSION_PREFIX, new_token, token_hash

RENEW_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class SessionPolicy:
    """How long a login lasts."""

    idle: timedelta
    lifetime: timedelta


@dataclass(frozen=True)
class Started:
    """A new login: its row and the token for the cookie (never stored)."""

    row: UserSession
    token: str


def start_session(
    session: Session,
    *,
    user: User,
    clock: Clock,
    policy: SessionPolicy,
    user_agent: str | None = None,
    address: str | None = None,
) -> Started:
    """Open a login session for ``user``; the caller commits."""
    now = clock.now()
    token = new_token(SESSION_PREFIX)
    row = UserSession(
        user_id=user.id,
        token_hash=token_hash(token),
        created_at=now,
        expires_at=min(now + policy.idle, now + policy.lifetime),
        renewed_at=now,
        last_seen_at=now,
        user_agent=(user_agent or "")[:255] or None,
        ip_address=(address or "")[:64] or None,
    )
    session.add(row)
    session.flush()
    return Started(row, token)


def find_session(
    session: Session, *, token: str, clock: Clock, policy: SessionPolicy
) -> tuple[UserSession, User] | None:
    """Return the live session of ``token`` and its active user, renewing it (at most once a minute)."""
    found = session.execute(
        select(UserSession, User)
        .join(User, User.id == UserSession.user_id)
        .where(UserSession.token_hash == token_hash(token))
    ).one_or_none()
    if found is None:
        return None
    row, user = found
    now = clock.now()
    if row.revoked_at is not None or row.expires_at <= now or not user.is_active:
        return None
    if row.renewed_at is None or now - row.renewed_at >= RENEW_EVERY:
        row.expires_at = min(now + policy.idle, row.created_at + policy.lifetime)
        row.renewed_at = now
        row.last_seen_at = now
    return row, user


def end_session(session: Session, *, token: str, clock: Clock) -> bool:
    """Log one session out; False when there was none to end."""
    done = session.execute(
        update(UserSession)
        .where(UserSession.token_hash == token_hash(token), UserSession.revoked_at.is_(None))
        .values(revoked_at=clock.now())
    )
    return bool(getattr(done, "rowcount", 0))


def end_all_sessions(session: Session, *, user_id: int, clock: Clock) -> int:
    """Log every session of a user out ("log out everywhere"); return how many ended."""
    done = session.execute(
        update(UserSession)
        .where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
        .values(revoked_at=clock.now())
    )
    return int(getattr(done, "rowcount", 0))


def live_sessions(session: Session, *, user_id: int, now: datetime) -> list[UserSession]:
    """Return a user's sessions that still authenticate, newest first."""
    return list(
        session.scalars(
            select(UserSession)
            .where(
                UserSession.user_id == user_id,
                UserSession.revoked_at.is_(None),
                UserSession.expires_at > now,
            )
            .order_by(UserSession.id.desc())
        )
    )
