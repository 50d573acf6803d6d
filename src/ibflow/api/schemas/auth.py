"""Login, the caller, users and tokens."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from ibflow.db.states import UserRole


class Login(BaseModel):
    """``POST /auth/login``."""

    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1_024)


class PasswordChange(BaseModel):
    """``POST /auth/password``: the caller's own password, changed with the current one."""

    model_config = ConfigDict(extra="forbid")

    current: str = Field(min_length=1, max_length=1_024)
    new: str = Field(min_length=1, max_length=1_024)


class Me(BaseModel):
    """Who is logged in; ``csrf_token`` goes in the ``X-CSRF-Token`` header of every cookie write."""

    username: str
    role: UserRole
    via: str
    csrf_token: str | None = None


class Ended(BaseModel):
    """How many sessions a logout ended."""

    ended: int


class UserOut(BaseModel):
    """A user as an admin sees it (never the password hash)."""

    id: int
    username: str
    role: UserRole
    is_active: bool
    created_at: datetime
    last_login_at: datetime | None


class UserCreate(BaseModel):
    """``POST /users``."""

    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1_024)
    role: UserRole


class UserChange(BaseModel):
    """``PATCH /users/{name}``: any of role, active, password."""

    model_config = ConfigDict(extra="forbid")

    role: UserRole | None = None
    is_active: bool | None = None
    password: str | None = Field(default=None, min_length=1, max_length=1_024)


class TokenCreate(BaseModel):
    """``POST /tokens``."""

    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=100)
    expires_days: int | None = Field(default=None, ge=1, le=3_650)


class TokenOut(BaseModel):
    """A token without its secret."""

    id: int
    username: str
    name: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(TokenOut):
    """A new token: ``token`` is shown this once."""

    token: str
