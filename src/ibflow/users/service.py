"""Create users, check passwords, change roles. Passwords are hashed with argon2 and never stored."""

from __future__ import annotations

import re
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from ibflow.core.clock import Clock
from ibflow.core.errors import ValidationError
from ibflow.db.models.users import User
from ibflow.db.states import UserRole

MIN_PASSWORD_LENGTH = 12
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")
_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    """Return the argon2id hash of ``password`` (what ``users.password_hash`` keeps)."""
    return _hasher.hash(password)


def generate_password() -> str:
    """Return a random password that is easy to copy (about 100 bits)."""
    return secrets.token_urlsafe(16)


def create_user(session: Session, *, username: str, password: str, role: UserRole, clock: Clock) -> User:
    """Add a user; the username is lower-cased, the password hashed (argon2id)."""
    name = username.strip().lower()
    problems: dict[str, str] = {}
    if not _USERNAME.match(name):
        problems["username"] = "use 3-64 lower-case letters, digits, dots, dashes or underscores"
    elif session.scalars(select(User.id).where(User.username == name)).first() is not None:
        problems["username"] = f"{name!r} is taken"
    if len(password) < MIN_PASSWORD_LENGTH:
        problems["password"] = f"use at least {MIN_PASSWORD_LENGTH} characters"
    if problems:
        raise ValidationError("cannot create the user", problems)
    user = User(username=name, password_hash=_hasher.hash(password), role=role, created_at=clock.now())
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, *, username: str, password: str, clock: Clock) -> User | None:
    """Return the active user whose password matches, or None; rehash when argon2's parameters changed."""
    user = session.scalars(select(User).where(User.username == username.strip().lower())).one_or_none()
    if user is None or not user.is_active:
        _hasher.hash(password)  # spend the same time whether or not the user exists
        return None
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.last_login_at = clock.now()
    return user


def find_user(session: Session, username: str) -> User | None:
    """Return the user called ``username``."""
    return session.scalars(select(User).where(User.username == username.strip().lower())).one_or_none()
