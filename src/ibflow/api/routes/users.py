"""``/users`` and ``/tokens`` (admin): users, roles, passwords, and bearer tokens for scripts."""

from __future__ import annotations

from fastapi import APIRouter

from ibflow.api.deps import ContainerDep, ReadSessionDep, RowId, SessionDep
from ibflow.api.roles import Admin
from ibflow.api.schemas.auth import TokenCreate, TokenCreated, TokenOut, UserChange, UserCreate, UserOut
from ibflow.db.models.users import ApiToken, User
from ibflow.users.admin import list_users, require_user, set_active, set_password, set_role
from ibflow.users.service import create_user
from ibflow.users.tokens import create_token, list_tokens, revoke_token

router = APIRouter(tags=["users"])


def _user(user: User) -> UserOut:
    return UserOut(
        id=user.id,
        username=user.username,
        role=user.role,
        is_active=user.is_active,
        created_at=user.created_at,
        last_login_at=user.last_login_at,
    )


def _token(row: ApiToken, username: str) -> TokenOut:
    return TokenOut(
        id=row.id,
        username=username,
        name=row.name,
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


@router.get("/users", response_model=list[UserOut])
def users(caller: Admin, db: ReadSessionDep) -> list[UserOut]:
    """Every user."""
    del caller
    return [_user(user) for user in list_users(db)]


@router.post("/users", response_model=UserOut, status_code=201)
def add_user(caller: Admin, body: UserCreate, db: SessionDep, app: ContainerDep) -> UserOut:
    """Create a user (422 names each bad field)."""
    del caller
    user = create_user(db, username=body.username, password=body.password, role=body.role, clock=app.clock)
    db.commit()
    return _user(user)


@router.patch("/users/{username}", response_model=UserOut)
def change_user(caller: Admin, username: str, body: UserChange, db: SessionDep, app: ContainerDep) -> UserOut:
    """Change a user's role, password or active flag; each ends the user's sessions (audited)."""
    user = require_user(db, username)
    if body.password is not None:
        set_password(db, user=user, password=body.password, clock=app.clock, actor=caller.username)
    if body.role is not None:
        set_role(db, user=user, role=body.role, clock=app.clock, actor=caller.username)
    if body.is_active is not None:
        set_active(db, user=user, active=body.is_active, clock=app.clock, actor=caller.username)
    db.commit()
    return _user(user)


@router.get("/tokens", response_model=list[TokenOut])
def tokens(caller: Admin, db: ReadSessionDep) -> list[TokenOut]:
    """Every API token (without its secret)."""
    del caller
    return [_token(row, name) for row, name in list_tokens(db)]


@router.post("/tokens", response_model=TokenCreated, status_code=201)
def add_token(caller: Admin, body: TokenCreate, db: SessionDep, app: ContainerDep) -> TokenCreated:
    """Create a bearer token for a user; the answer shows it this once."""
    del caller
    user = require_user(db, body.username)
    created = create_token(db, user=user, name=body.name, clock=app.clock, expires_days=body.expires_days)
    db.commit()
    return TokenCreated(**_token(created.row, user.username).model_dump(), token=created.token)


@router.delete("/tokens/{token_id}", response_model=TokenOut)
def remove_token(caller: Admin, token_id: RowId, db: SessionDep, app: ContainerDep) -> TokenOut:
    """Revoke a token: it never authenticates again."""
    del caller
    row = revoke_token(db, token_id=token_id, clock=app.clock)
    db.commit()
    user = db.get(User, row.user_id)
    return _token(row, user.username if user else "")
