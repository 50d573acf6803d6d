"""Users, their login sessions and API tokens (tokens are stored only as hashes)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from ibflow.db.base import Base
from ibflow.db.columns import enum_type
from ibflow.db.states import UserRole
from ibflow.db.types import UtcDateTime


class User(Base):
    """A person who logs in to ibflow."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255), doc="argon2 hash")
    role: Mapped[UserRole] = mapped_column(
        enum_type(UserRole),
        doc="admin manages users, settings, live trading; trader manages strategies and orders; viewer reads",
    )
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class UserSession(Base):
    """A browser login session; the cookie holds the token, the table only its hash."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(
        String(128), unique=True, doc="hash of the token; the token itself is never stored"
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    renewed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, doc="last sliding renewal of the expiry")
    last_seen_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(
        UtcDateTime, doc="set on logout or revocation; a revoked session or token never authenticates"
    )
    user_agent: Mapped[str | None] = mapped_column(String(255))
    ip_address: Mapped[str | None] = mapped_column(String(64))


class ApiToken(Base):
    """A bearer token for API clients; only its hash is kept."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(
        String(128), unique=True, doc="hash of the token; the token itself is never stored"
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(
        UtcDateTime, doc="set on logout or revocation; a revoked session or token never authenticates"
    )
