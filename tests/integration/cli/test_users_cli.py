"""``ibflow user ...`` and ``ibflow token ...`` on a migrated SQLite database, checked against its rows."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from ibflow.cli import app
from ibflow.core.clock import SystemClock
from ibflow.db.engine import make_engine, session_factory
from ibflow.db.models import AuditLog
from ibflow.db.models.users import UserSession
from ibflow.users.service import authenticate, find_user
from ibflow.users.sessions import SessionPolicy, find_session, start_session
from ibflow.users.tokens import find_token_user

pytestmark = pytest.mark.integration
runner = CliRunner()
clock = SystemClock()
policy = SessionPolicy(idle=timedelta(hours=1), lifetime=timedelta(days=1))
PASSWORD = "correct-horse-1"


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "var" / "ibflow.db"
    monkeypatch.setenv("IBFLOW_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("IBFLOW_DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")  # tables as a wide terminal shows them, one row a line
    _invoke("migrate")
    return path


@contextmanager
def _db(path: Path) -> Iterator[Session]:
    engine = make_engine(f"sqlite:///{path}")
    try:
        with session_factory(engine)() as session:
            yield session
    finally:
        engine.dispose()


def _invoke(*args: str, stdin: str | None = None) -> str:
    result = runner.invoke(app, list(args), input=stdin)
    assert result.exit_code == 0, result.output
    return result.output


def _refused(*args: str, stdin: str | None = None) -> str:
    """The command exits 2 with one ``error:`` line (a ValidationError adds one indented line per field)."""
    result = runner.invoke(app, list(args), input=stdin)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert lines[0].startswith("error: "), result.output
    assert all(line.startswith("  ") for line in lines[1:]), result.output
    return result.output


def _users() -> dict[str, dict[str, object]]:
    return {row["username"]: row for row in json.loads(_invoke("user", "list", "--json"))}


def _tokens() -> list[dict[str, object]]:
    return list(json.loads(_invoke("token", "list", "--json")))


def _login(path: Path, name: str) -> str:
    with _db(path) as session:
        user = find_user(session, name)
        assert user is not None
        token = start_session(session, user=user, clock=clock, policy=policy).token
        session.commit()
    return token


def _alive(path: Path, token: str) -> bool:
    with _db(path) as session:
        return find_session(session, token=token, clock=clock, policy=policy) is not None


def _password_works(path: Path, name: str, password: str) -> bool:
    with _db(path) as session:
        return authenticate(session, username=name, password=password, clock=clock) is not None


def test_create_with_a_password_on_stdin_is_listed_by_name_role_and_state(database: Path) -> None:
    out = _invoke("user", "create", "alice", "--role", "trader", "--password-stdin", stdin=PASSWORD + "\n")
    assert out == "created user alice (trader)\n", "a password the user chose is never echoed"
    assert _password_works(database, "alice", PASSWORD)
    row = next(line for line in _invoke("user", "list").splitlines() if line.startswith("alice"))
    assert row.split() == ["alice", "trader", "yes", "-"]
    assert _users()["alice"] == {"username": "alice", "role": "trader", "active": True, "last_login_at": None}
    assert list(_users()) == ["alice"]


def test_create_refuses_a_bad_role_a_taken_name_and_a_short_or_empty_password(database: Path) -> None:
    _invoke("user", "create", "alice", "--password-stdin", stdin=PASSWORD + "\n")
    bad_role = _refused("user", "create", "bob", "--role", "boss", "--password-stdin", stdin=PASSWORD)
    assert bad_role == "error: role must be admin, trader or viewer, got 'boss'\n"
    taken = _refused("user", "create", "Alice", "--password-stdin", stdin="another-password-2\n")
    assert "'alice' is taken" in taken
    for short in ("short\n", "\n", ""):
        refused = _refused("user", "create", "carol", "--password-stdin", stdin=short)
        assert "password: use at least 12 characters" in refused
    assert list(_users()) == ["alice"], "nothing refused was created"
    assert _password_works(database, "alice", PASSWORD), "a refused duplicate changes nothing"


def test_create_without_stdin_prints_a_generated_password_once_and_it_logs_in(database: Path) -> None:
    out = _invoke("user", "create", "bob")
    first, second = out.splitlines()
    assert first == "created user bob (viewer)", "viewer is the default role"
    assert second.startswith("password (shown once): ")
    password = second.removeprefix("password (shown once): ")
    assert len(password) >= 12
    assert out.count(password) == 1
    assert _password_works(database, "bob", password)
    with _db(database) as session:
        user = find_user(session, "bob")
        assert user is not None
        assert password not in user.password_hash


def test_role_and_state_changes_show_in_the_list_and_are_audited_with_the_actor(database: Path) -> None:
    _invoke("user", "create", "alice", "--role", "trader")
    assert _invoke("user", "set-role", "alice", "--role", "VIEWER", "--actor", "ops") == (
        "alice: role is viewer; 0 session(s) ended\n"
    )
    assert _users()["alice"]["role"] == "viewer"
    assert _invoke("user", "disable", "alice", "--actor", "ops") == "alice: disabled; 0 session(s) ended\n"
    assert _users()["alice"]["active"] is False
    assert not _password_works(database, "alice", PASSWORD)
    assert _invoke("user", "enable", "alice") == "alice: enabled; 0 session(s) ended\n"
    assert _users()["alice"] == {"username": "alice", "role": "viewer", "active": True, "last_login_at": None}
    assert _refused("user", "set-role", "alice", "--role", "boss").startswith("error: role must be admin")
    assert _refused("user", "disable", "nobody") == "error: no user named 'nobody'\n"
    with _db(database) as session:
        user = find_user(session, "alice")
        assert user is not None
        audit = session.scalars(select(AuditLog).where(AuditLog.target_type == "user").order_by(AuditLog.id))
        rows = [(a.action, a.actor, a.target_id, a.before, a.after) for a in audit]
    assert rows == [
        ("user.role_changed", "ops", str(user.id), {"role": "trader"}, {"role": "viewer"}),
        ("user.disabled", "ops", str(user.id), {"active": True}, {"active": False}),
        ("user.enabled", "cli", str(user.id), {"active": False}, {"active": True}),
    ]


def test_disabling_or_changing_the_password_ends_the_users_sessions(database: Path) -> None:
    _invoke("user", "create", "alice", "--role", "trader", "--password-stdin", stdin=PASSWORD + "\n")
    first, second = _login(database, "alice"), _login(database, "alice")
    assert _alive(database, first)
    assert _alive(database, second)
    assert _invoke("user", "disable", "alice") == "alice: disabled; 2 session(s) ended\n"
    _invoke("user", "enable", "alice")
    assert not _alive(database, first), "enabling does not bring logins back"
    assert not _alive(database, second)
    with _db(database) as session:
        assert all(s.revoked_at is not None for s in session.scalars(select(UserSession)))

    third = _login(database, "alice")
    new = "a-new-password-3"
    out = _invoke("user", "set-password", "alice", "--password-stdin", "--actor", "ops", stdin=new + "\r\n")
    assert out == "alice: password changed; 1 session(s) ended\n"
    assert not _alive(database, third)
    assert _password_works(database, "alice", new)
    assert not _password_works(database, "alice", PASSWORD)

    fourth = _login(database, "alice")
    refused = _refused("user", "set-password", "alice", "--password-stdin", stdin="short\n")
    assert "password: use at least 12 characters" in refused
    assert _alive(database, fourth), "a refusal changes nothing"
    assert _password_works(database, "alice", new)
    out = _invoke("user", "set-password", "alice")
    generated = out.splitlines()[1].removeprefix("password (shown once): ")
    assert out.splitlines()[0] == "alice: password changed; 1 session(s) ended"
    assert _password_works(database, "alice", generated)
    assert not _alive(database, fourth)
    with _db(database) as session:
        audit = list(session.scalars(select(AuditLog).where(AuditLog.action == "user.password_changed")))
    assert [a.actor for a in audit] == ["ops", "cli"]
    assert all(new not in f"{a.before}{a.after}{a.detail}" for a in audit), "the audit never holds a password"


def test_a_token_is_printed_once_and_stored_only_as_its_hash(database: Path) -> None:
    _invoke("user", "create", "alice", "--role", "trader")
    out = _invoke("token", "create", "--user", "Alice", "--name", " nightly.py ", "--expires", "30")
    heading, token = out.splitlines()
    assert heading == "token 1 for alice (nightly.py); shown once:"
    assert token.startswith("ibt_")
    assert len(token) > 40
    listed = _invoke("token", "list")
    assert token not in listed
    assert token not in json.dumps(_tokens())
    row = next(line for line in listed.splitlines() if "nightly.py" in line).split()
    assert row[:3] == ["1", "alice", "nightly.py"]
    assert row[-2:] == ["-", "no"]
    (entry,) = _tokens()
    assert {k: entry[k] for k in ("id", "user", "name", "revoked")} == {
        "id": 1, "user": "alice", "name": "nightly.py", "revoked": False,
    }  # fmt: skip
    expires = datetime.fromisoformat(str(entry["expires_at"]))
    assert abs(expires - (datetime.now(UTC) + timedelta(days=30))) < timedelta(hours=1)
    with sqlite3.connect(database) as raw:
        cells = [str(cell) for r in raw.execute("SELECT * FROM api_tokens") for cell in r]
        stored_hash = raw.execute("SELECT token_hash FROM api_tokens").fetchone()[0]
    assert cells
    assert not any(token in cell or token[4:] in cell for cell in cells)
    assert stored_hash == hashlib.sha256(token.encode()).hexdigest()
    with _db(database) as session:
        found = find_token_user(session, token=token, clock=clock)
        assert found is not None, "the printed token authenticates"
        assert found[1].username == "alice"


def test_revoke_marks_the_token_revoked_and_bad_ids_or_expiries_are_refused(database: Path) -> None:
    _invoke("user", "create", "alice")
    token = _invoke("token", "create", "--user", "alice", "--name", "script").splitlines()[1]
    assert _tokens()[0]["expires_at"] is None
    assert "never" in _invoke("token", "list")
    assert _invoke("token", "revoke", "1") == "token 1 revoked\n"
    assert _tokens()[0]["revoked"] is True
    row = next(line for line in _invoke("token", "list").splitlines() if "script" in line)
    assert row.split()[-1] == "yes"
    with _db(database) as session:
        assert find_token_user(session, token=token, clock=clock) is None, "a revoked token never works"
    assert _refused("token", "revoke", "99") == "error: no API token with id 99\n"
    for days in ("0", "3651", "-1"):
        refused = _refused("token", "create", "--user", "alice", "--name", "x", "--expires", days)
        assert f"expires: give 1 to 3650 days (or none for no expiry), got {days}" in refused
    assert _refused("token", "create", "--user", "nobody", "--name", "x") == "error: no user named 'nobody'\n"
    assert "name: use 1-100 letters" in _refused("token", "create", "--user", "alice", "--name", "  ")
    assert len(_tokens()) == 1, "nothing refused was created"


def test_the_installed_command_reads_stdin_and_bad_input_never_shows_a_traceback(database: Path) -> None:
    ibflow = str(Path(sys.executable).with_name("ibflow"))

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        command = [ibflow, *args]
        return subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=60, check=False)

    made = run("user", "create", "erin", "--role", "trader", "--password-stdin", stdin=PASSWORD + "\r\n")
    assert (made.returncode, made.stdout) == (0, "created user erin (trader)\n"), made.stderr
    assert _password_works(database, "erin", PASSWORD), "a line ending in CRLF is the password without it"
    for args in (("token", "revoke", "abc"), ("user", "create", "x", "--role", "boss"), ("user", "nope")):
        bad = run(*args)
        assert bad.returncode == 2, bad.stderr
        assert "Traceback" not in bad.stdout + bad.stderr
    assert run("user", "create", "zed", "--role", "boss").stderr == (
        "error: role must be admin, trader or viewer, got 'boss'\n"
    )


def test_the_demo_admin_is_listed_and_cannot_be_locked_out(database: Path) -> None:
    out = _invoke("demo")
    line = next(line for line in out.splitlines() if line.startswith("admin user: "))
    password = line.split("password: ")[1].strip()
    assert _users()["admin"] == {"username": "admin", "role": "admin", "active": True, "last_login_at": None}
    assert _password_works(database, "admin", password)
    assert "last active admin" in _refused("user", "disable", "admin")
    assert "last active admin" in _refused("user", "set-role", "admin", "--role", "viewer")
    assert _users()["admin"]["role"] == "admin"
    assert _users()["admin"]["active"] is True
    _invoke("user", "create", "root2", "--role", "admin")
    out = _invoke("user", "set-role", "admin", "--role", "trader")
    assert out == "admin: role is trader; 0 session(s) ended\n"
    assert _users()["admin"]["role"] == "trader", "with a second admin the first may step down"
