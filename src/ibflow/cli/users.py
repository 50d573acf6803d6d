"""``ibflow user ...`` and ``ibflow token ...``: people, roles, passwords and API tokens (owner's rights)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from ibflow import bootstrap
from ibflow.cli.common import ActorOption, console, fail
from ibflow.cli.render import JsonOption, print_json, table
from ibflow.cli.root import app
from ibflow.core.errors import IbflowError, ValidationError

if TYPE_CHECKING:
    from ibflow.db.states import UserRole

user_app = typer.Typer(
    help="Users: create, list, set-password, disable, enable, set-role.", no_args_is_help=True
)
token_app = typer.Typer(
    help="API tokens for scripts: create (shown once), list, revoke.", no_args_is_help=True
)
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")

NameArgument = Annotated[str, typer.Argument(help="The user name.", show_default=False)]
RoleOption = Annotated[str, typer.Option("--role", help="admin, trader or viewer.")]
StdinOption = Annotated[
    bool,
    typer.Option("--password-stdin", help="Read the password from standard input (else one is generated)."),
]


def _role(text: str) -> UserRole:
    from ibflow.db.states import UserRole

    try:
        return UserRole(text.strip().lower())
    except ValueError:
        raise ValidationError(
            f"role must be admin, trader or viewer, got {text!r}", {"--role": "admin, trader or viewer"}
        ) from None


def _password(from_stdin: bool) -> tuple[str, bool]:
    from ibflow.users.service import generate_password

    if not from_stdin:
        return generate_password(), True
    return sys.stdin.readline().rstrip("\r\n"), False  # a line from a Windows-edited file ends "\r\n"


@user_app.command("create")
def user_create(name: NameArgument, role: RoleOption = "viewer", password_stdin: StdinOption = False) -> None:
    """Create a user; without --password-stdin a password is generated and printed once."""
    from ibflow.users.service import create_user

    container = bootstrap.build()
    try:
        chosen = _role(role)
        password, generated = _password(password_stdin)
        with container.sessions() as session:
            user = create_user(session, username=name, password=password, role=chosen, clock=container.clock)
            username = user.username
            session.commit()
    except IbflowError as exc:
        raise fail(exc) from exc
    console.print(f"created user {escape(username)} ({chosen.value})", highlight=False)
    if generated:
        console.print(f"password (shown once): {escape(password)}", highlight=False)


@user_app.command("list")
def user_list(as_json: JsonOption = False) -> None:
    """List the users with their role and last login."""
    from ibflow.users.admin import list_users

    container = bootstrap.build()
    with container.read_sessions() as session:
        rows = [
            {
                "username": u.username,
                "role": u.role.value,
                "active": u.is_active,
                "last_login_at": u.last_login_at.isoformat() if u.last_login_at else None,
            }
            for u in list_users(session)
        ]
    if as_json:
        print_json(rows)
        return
    grid = table("users", "name", "role", "active", "last login (UTC)")
    for row in rows:
        grid.add_row(
            str(row["username"]),
            str(row["role"]),
            "yes" if row["active"] else "no",
            str(row["last_login_at"] or "-"),
        )
    console.print(grid if rows else "no users yet: `ibflow user create NAME --role admin`")


def _change(name: str, actor: str, what: str, value: str | UserRole | None = None) -> None:
    from ibflow.db.states import UserRole
    from ibflow.users.admin import require_user, set_active, set_password, set_role

    container = bootstrap.build()
    try:
        with container.sessions() as session:
            user = require_user(session, name)
            if what == "password":
                ended = set_password(
                    session, user=user, password=str(value), clock=container.clock, actor=actor
                )
            elif what == "role" and isinstance(value, UserRole):
                ended = set_role(session, user=user, role=value, clock=container.clock, actor=actor)
            else:
                ended = set_active(
                    session, user=user, active=what == "enable", clock=container.clock, actor=actor
                )
            username = user.username
            session.commit()
    except IbflowError as exc:
        raise fail(exc) from exc
    done = {"password": "password changed", "role": f"role is {getattr(value, 'value', value)}"}.get(
        what, f"{what}d"
    )
    console.print(f"{escape(username)}: {done}; {ended} session(s) ended", highlight=False)


@user_app.command("set-password")
def user_set_password(
    name: NameArgument, password_stdin: StdinOption = False, actor: ActorOption = "cli"
) -> None:
    """Set a user's password (generated and printed once without --password-stdin); ends their sessions."""
    password, generated = _password(password_stdin)
    _change(name, actor, "password", password)
    if generated:
        console.print(f"password (shown once): {escape(password)}", highlight=False)


@user_app.command("set-role")
def user_set_role(name: NameArgument, role: RoleOption, actor: ActorOption = "cli") -> None:
    """Change a user's role; ends their sessions (the last active admin cannot be demoted)."""
    try:
        chosen = _role(role)
    except IbflowError as exc:
        raise fail(exc) from exc
    _change(name, actor, "role", chosen)


@user_app.command("disable")
def user_disable(name: NameArgument, actor: ActorOption = "cli") -> None:
    """Disable a user: no login, sessions ended (the last active admin cannot be disabled)."""
    _change(name, actor, "disable")


@user_app.command("enable")
def user_enable(name: NameArgument, actor: ActorOption = "cli") -> None:
    """Enable a disabled user again."""
    _change(name, actor, "enable")


@token_app.command("create")
def token_create(
    user: Annotated[str, typer.Option("--user", help="Whose token it is (it acts with their role).")],
    name: Annotated[str, typer.Option("--name", help="A label, e.g. the script that uses it.")],
    expires: Annotated[
        int | None, typer.Option("--expires", help="Days until it expires (none: never).")
    ] = None,
) -> None:
    """Create an API token and print it once (send it as `Authorization: Bearer TOKEN`)."""
    from ibflow.users.admin import require_user
    from ibflow.users.tokens import create_token

    container = bootstrap.build()
    try:
        with container.sessions() as session:
            owner = require_user(session, user)
            created = create_token(
                session, user=owner, name=name, clock=container.clock, expires_days=expires
            )
            token_id, token = created.row.id, created.token
            owner_name, label = owner.username, created.row.name  # as stored and listed, not as typed
            session.commit()
    except IbflowError as exc:
        raise fail(exc) from exc
    console.print(
        f"token {token_id} for {escape(owner_name)} ({escape(label)}); shown once:", highlight=False
    )
    console.print(token, highlight=False, soft_wrap=True)


@token_app.command("list")
def token_list(as_json: JsonOption = False) -> None:
    """List the API tokens (never the tokens themselves)."""
    from ibflow.users.tokens import list_tokens

    container = bootstrap.build()
    with container.read_sessions() as session:
        rows = [
            {
                "id": row.id,
                "user": username,
                "name": row.name,
                "expires_at": row.expires_at.isoformat() if row.expires_at else None,
                "last_used_at": row.last_used_at.isoformat() if row.last_used_at else None,
                "revoked": row.revoked_at is not None,
            }
            for row, username in list_tokens(session)
        ]
    if as_json:
        print_json(rows)
        return
    grid = table("API tokens", "id", "user", "name", "expires", "last used", "revoked", numeric=("id",))
    for row in rows:
        grid.add_row(
            str(row["id"]),
            str(row["user"]),
            str(row["name"]),
            str(row["expires_at"] or "never"),
            str(row["last_used_at"] or "-"),
            "yes" if row["revoked"] else "no",
        )
    console.print(grid if rows else "no tokens yet: `ibflow token create --user NAME --name LABEL`")


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[int, typer.Argument(help="The token's id (see `ibflow token list`).")],
) -> None:
    """Revoke a token: it never authenticates again."""
    from ibflow.users.tokens import revoke_token

    container = bootstrap.build()
    try:
        with container.sessions() as session:
            revoke_token(session, token_id=token_id, clock=container.clock)
            session.commit()
    except IbflowError as exc:
        raise fail(exc) from exc
    console.print(f"token {token_id} revoked")
