"""``ibflow notify ...`` on a migrated SQLite database, against a target on this machine."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from tests.notify_receiver import receiver
from tests.ports import free_port
from typer.testing import CliRunner, Result

from ibflow.cli import app
from ibflow.db.engine import make_engine, session_factory
from ibflow.db.models import AuditLog
from ibflow.db.models.notify import NotificationTarget

pytestmark = pytest.mark.integration
runner = CliRunner()
SECRET = "hunter2hunter2"


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'var' / 'ibflow.db'}"
    monkeypatch.setenv("IBFLOW_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("IBFLOW_DATABASE_URL", url)
    monkeypatch.setenv("IBFLOW_NOTIFY_TIMEOUT_SECONDS", "5")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(tmp_path)
    assert _invoke("migrate").exit_code == 0
    return url


def _invoke(*args: str) -> Result:
    return runner.invoke(app, list(args))


def test_notify_test_sends_one_message_and_says_so_in_one_line(database: str) -> None:
    with receiver() as http:
        result = _invoke("notify", "test", http.url("hook", user=f"me:{SECRET}"))
        bodies = http.bodies("hook")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"sent a test message to json://127.0.0.1:{http.port}/…"
    assert len(bodies) == 1
    assert "test notification from ibflow" in bodies[0]


@pytest.mark.parametrize(
    ("url", "says"),
    [
        (f"nosuch://me:{SECRET}@example.com", "not an apprise URL"),
        ("json://", "not an apprise URL"),
        (f"json://me:{SECRET}@127.0.0.1:{{port}}/hook", "Connection error"),
    ],
)
def test_notify_test_with_a_bad_or_unreachable_url_is_one_line_without_the_secret(
    database: str, url: str, says: str
) -> None:
    result = _invoke("notify", "test", url.replace("{port}", str(free_port())))
    assert result.exit_code == 2
    assert says in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert SECRET not in result.output
    assert "Traceback" not in result.output


def test_targets_are_added_listed_masked_switched_and_removed_with_an_audit_trail(database: str) -> None:
    url = f"json://me:{SECRET}@127.0.0.1:9/hook"
    added = _invoke("notify", "add", url, "--events", "exit,order_filled", "--label", "desk")
    assert added.exit_code == 0, added.output
    assert "added notification target 1 (global): json://127.0.0.1:9/… for order_filled, exit" in added.output
    listed = _invoke("notify", "list")
    assert "desk" in listed.output
    assert "json://127.0.0.1:9/…" in listed.output
    assert "0/0/0" in listed.output
    assert _invoke("notify", "disable", "1").output.strip() == "notification target 1 disabled"
    assert '"enabled": false' in _invoke("notify", "list", "--json").output
    assert _invoke("notify", "enable", "1").exit_code == 0
    assert _invoke("notify", "remove", "1").output.strip() == "removed notification target 1"
    assert "no notification targets" in _invoke("notify", "list").output

    engine = make_engine(database)
    with session_factory(engine)() as session:
        audit = session.scalars(select(AuditLog).order_by(AuditLog.id)).all()
        left = session.scalars(select(NotificationTarget)).all()
    engine.dispose()
    assert [row.action for row in audit] == [
        "notify.target_added",
        "notify.target_disabled",
        "notify.target_enabled",
        "notify.target_removed",
    ]
    assert all(SECRET not in repr((row.before, row.after, row.detail)) for row in audit)
    assert left == []
    for output in (added.output, listed.output):
        assert SECRET not in output


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--events", "fills"), "unknown notification(s) fills"),
        (("--user", "nobody"), "no user named 'nobody'"),
    ],
)
def test_a_bad_add_is_one_clear_error(database: str, args: tuple[str, ...], says: str) -> None:
    result = _invoke("notify", "add", "json://127.0.0.1:9/", *args)
    assert result.exit_code == 2
    assert says in result.output


def test_an_unknown_target_id_is_an_error_not_a_traceback(database: str) -> None:
    for command in ("enable", "disable", "remove"):
        result = _invoke("notify", command, "42")
        assert result.exit_code == 2
        assert "no notification target 42" in result.output
