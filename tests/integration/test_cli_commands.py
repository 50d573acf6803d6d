"""The ibflow command end to end on a fresh database: demo, run, executions, settings, serve + SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.ports import free_port
from typer.testing import CliRunner

from ibflow.cli import app
from ibflow.db.engine import make_engine, session_factory
from ibflow.db.models import AuditLog, Strategy, StrategyExecution, TradingState
from ibflow.db.states import ExecutionStatus, StrategyState

pytestmark = pytest.mark.integration
runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {
        "IBFLOW_DATA_DIR": str(tmp_path / "var"),
        "IBFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'var' / 'ibflow.db'}",
        "IBFLOW_DISPATCH_INTERVAL_SECONDS": "0.2",
        "IBFLOW_HTTP_PORT": str(free_port()),
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    return values


def _invoke(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_demo_run_executions_and_settings(env: dict[str, str]) -> None:
    _invoke("migrate")
    out = _invoke("demo")
    assert "admin user: admin  password:" in out
    assert "demo-aapl-trend" in out
    assert "nothing to do" in _invoke("demo")  # once only; the password is never shown again
    out = _invoke("run", "demo-spy-bands")
    for step in ("load_strategy", "render_charts", "record_portfolio"):
        assert step in out
    assert "signal:" in out
    missing = runner.invoke(app, ["run", "no-such-strategy"])
    assert missing.exit_code == 2
    assert "no strategy with id or name 'no-such-strategy'" in missing.output
    out = _invoke("executions")
    assert "demo-spy-bands" in out
    assert "manual" in out
    assert "max_open_positions" in _invoke("settings", "show")
    assert "max_open_positions = 7" in _invoke("settings", "set", "max_open_positions", "7")
    refused = runner.invoke(app, ["settings", "set", "max_open_positions", "999"])
    assert refused.exit_code == 2
    assert "allowed range" in refused.output
    assert "trading is HALTED" in _invoke("trading", "halt", "--reason", "checking")
    assert "trading is ACTIVE" in _invoke("trading", "resume")


def test_serve_stops_cleanly_on_sigterm_with_nothing_left_running(env: dict[str, str]) -> None:
    _invoke("migrate")
    _invoke("demo")
    engine = make_engine(env["IBFLOW_DATABASE_URL"])
    sessions = session_factory(engine)
    with sessions() as session:  # every demo strategy is due now, so the first tick runs them
        for strategy in session.scalars(select(Strategy)):
            strategy.next_run_at = datetime.now(UTC) - timedelta(seconds=1)
            strategy.state = StrategyState.ACTIVE
        session.commit()
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("ibflow")), "serve"],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with sessions() as session:
            started = session.scalars(
                select(StrategyExecution).where(StrategyExecution.started_at.is_not(None))
            )
            if started.first() is not None:
                break
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
    assert "stopped cleanly" in output
    with sessions() as session:
        statuses = session.scalars(select(StrategyExecution.status)).all()
    assert statuses
    assert ExecutionStatus.RUNNING not in statuses
    engine.dispose()


@pytest.mark.parametrize(
    ("args", "extra_env", "message"),
    [
        (["executions"], {}, "run `ibflow migrate` first"),
        (["version"], {"IBFLOW_WORKERS": "abc"}, "invalid setting: IBFLOW_WORKERS"),
        (["migrate", "--revision", "bogus"], {}, "Can't locate revision identified by 'bogus'"),
    ],
)
def test_mistakes_a_user_can_fix_end_in_one_line_not_a_traceback(
    env: dict[str, str], args: list[str], extra_env: dict[str, str], message: str
) -> None:
    done = subprocess.run(
        [str(Path(sys.executable).with_name("ibflow")), *args],
        env={**os.environ, **env, **extra_env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert message in " ".join(done.stderr.split())
    assert "Traceback" not in done.stderr


def _audit_rows(env: dict[str, str]) -> list[tuple[str, str, str]]:
    engine = make_engine(env["IBFLOW_DATABASE_URL"])
    with session_factory(engine)() as session:
        rows = [
            (a.actor, a.action, a.detail) for a in session.scalars(select(AuditLog).order_by(AuditLog.id))
        ]
    engine.dispose()
    return rows


def _trading_state(env: dict[str, str]) -> str:
    engine = make_engine(env["IBFLOW_DATABASE_URL"])
    with session_factory(engine)() as session:
        state = session.scalars(select(TradingState.state)).one()
    engine.dispose()
    return state.value


def test_flatten_from_the_cli_leaves_an_audit_row(env: dict[str, str]) -> None:
    _invoke("migrate")
    _invoke("trading", "flatten", "--reason", "closing for the weekend", "--actor", "alice")
    assert ("alice", "trading.flatten", "closing for the weekend") in _audit_rows(env)


@pytest.mark.parametrize("actor", ["auto:x", "AUTO:max_daily_loss", "system", ""])
def test_an_actor_name_reserved_for_ibflow_is_refused_and_changes_nothing(
    env: dict[str, str], actor: str
) -> None:
    _invoke("migrate")
    _invoke("trading", "halt", "--reason", "checking")
    refused = runner.invoke(app, ["trading", "resume", "--actor", actor, "--reason", "hidden"])
    assert refused.exit_code == 2
    assert "actor" in refused.output
    assert len(refused.output.strip().splitlines()) == 1, refused.output
    assert "Traceback" not in refused.output
    assert _trading_state(env) == "HALTED"
    assert [action for _actor, action, _detail in _audit_rows(env)] == ["trading.state_changed"]


def _ibflow(env: dict[str, str], *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).with_name("ibflow")), *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


# The old parser hung inside one C call (a Decimal with ten million digits turned into an int), which
# no in-process timeout can interrupt: the subprocess timeout bounds it, the marker bounds the rest.
@pytest.mark.timeout(90)
def test_settings_set_refuses_a_huge_number_at_once_in_one_line(env: dict[str, str]) -> None:
    _invoke("migrate")
    started = time.monotonic()
    done = _ibflow(env, "settings", "set", "max_open_positions", "1E+9999999", timeout=60)
    assert time.monotonic() - started < 60
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: max_open_positions: 1E+9999999 is outside the allowed range: an integer from 0 to 50"
    ]
    refused = runner.invoke(app, ["settings", "set", "submit_unknown_grace_seconds", "0"])
    assert refused.exit_code == 2
    assert "an integer from 10 to 86400" in refused.output


def test_a_strategy_argument_that_is_one_strategy_s_id_and_another_s_name_is_refused(
    env: dict[str, str],
) -> None:
    _invoke("migrate")
    _invoke("demo")
    engine = make_engine(env["IBFLOW_DATABASE_URL"])
    with session_factory(engine)() as session:
        first, second = session.scalars(select(Strategy).order_by(Strategy.id).limit(2)).all()
        second.name = str(first.id)
        first_id, first_name, second_id = first.id, first.name, second.id
        session.commit()
    engine.dispose()
    refused = runner.invoke(app, ["run", str(first_id)])
    assert refused.exit_code == 2
    assert len(refused.output.strip().splitlines()) == 1, refused.output
    assert f"id:{first_id}" in refused.output
    assert f"name:{first_id}" in refused.output
    assert first_name in refused.output
    assert f"id {second_id}" in refused.output
    assert "no execution yet" in _invoke("executions", "--strategy", f"name:{first_id}")
    refused = runner.invoke(app, ["executions", "--strategy", str(first_id)])
    assert refused.exit_code == 2
