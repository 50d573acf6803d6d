"""API tokens for scripts: created for a user with a label and an optional expiry, shown once, revocable."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ibflow.core.clock import Clock
from ibflow.core.errors import NotFound, ValidationError
from ibflow.db.models.users import ApiToken, User
from ibflow.users.secrets import TOKEN_PREFIX, new_token, token_hash

MAX_EXPIRY_DAYS = 3_650
USE_RECORDED_EVERY = timedelta(minutes=1)
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._:/-]{0,99}$")


@dataclass(frozen=True)
class Created:
    """A new token: its row and the token itself (printed once, never stored)."""

    row: ApiToken
    token: str


def create_token(
    session: Session, *, user: User, name: str, clock: Clock, expires_days: int | None = None
) -> Created:
    """Create a bearer token for ``user``; the caller commits."""
    problems: dict[str, str] = {}
    label = name.strip()
    if not _LABEL.match(label):
        problems["name"] = "use 1-100 letters, digits, spaces or . _ : / -"
    if expires_days is not None and not 1 <= expires_days <= MAX_EXPIRY_DAYS:
        problems["expires"] = f"give 1 to {MAX_EXPIRY_DAYS} days (or none for no expiry), got {expires_days}"
    if problems:
        raise ValidationError("cannot create the token", problems)
    now = clock.now()
    token = new_token(TOKEN_PREFIX)
    row = ApiToken(
        user_id=user.id,
        name=label,
        token_hash=token_hash(token),
        created_at=now,
        expires_at=now + timedelta(days=expires_days) if expires_days is not None else None,
    )
    session.add(row)
    session.flush()
    return Created(row, token)


def find_token_user(session: Session, *, token: str, clock: Clock) -> tuple[ApiToken, User] | None:
    """Return the live token and its active user; records the use at most once a minute."""
    found = session.execute(
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == token_hash(token))
    ).one_or_none()
    if found is None:
        return None
    row, user = found
    now = clock.now()
    if (
        row.revoked_at is not None
        or (row.expires_at is not None and row.expires_at <= now)
        or not user.is_active
    ):
        return None
    if row.last_used_at is None or now - row.last_used_at >= USE_RECORDED_EVERY:
        row.last_used_at = now
    return row, user


def list_tokens(session: Session, *, user_id: int | None = None) -> list[tuple[ApiToken, str]]:
    """Return tokens (with their user's name), newest first; revoked ones included."""
    query = (
        select(ApiToken, User.username).join(User, User.id == ApiToken.user_id).order_by(ApiToken.id.desc())
    )
    if user_id is not None:
        query = query.where(ApiToken.user_id == user_id)
    return [(row, name) for row, name in session.execute(query)]


def revoke_token(session: Session, *, token_id: int, clock: Clock) -> ApiToken:
    """Revoke a token by id; revoking twice keeps the first time."""
    row = session.get(ApiToken, token_id)
    if row is None:
        raise NotFound(f"no API token with id {token_id}")
    if row.revoked_at is None:
        row.revoked_at = clock.now()
    return row


def revoke_user_tokens(session: Session, *, user_id: int, clock: Clock) -> int:
    """Revoke every live token of a user (a disabled account's tokens must not come back with it)."""
    rows = session.scalars(
        select(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
    ).all()
    for row in rows:
        row.revoked_at = clock.now()
    return len(rows)
