"""Safety and honesty at the controls: migrate up and down, flatten, reduce from HALTED, negative values."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect, select
from typer.testing import CliRunner, Result

from ibflow.cli import app
from ibflow.db.engine import make_engine, session_factory
from ibflow.db.models import AuditLog, TradingState

pytestmark = pytest.mark.integration


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    value = f"sqlite:///{tmp_path / 'var' / 'ibflow.db'}"
    monkeypatch.setenv("IBFLOW_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("IBFLOW_DATABASE_URL", value)
    monkeypatch.chdir(tmp_path)
    return value


def _ibflow(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(app, list(args), input=stdin)


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def _state(url: str) -> tuple[str, str]:
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            row = session.scalars(select(TradingState)).one()
            return row.state.value, row.changed_by
    finally:
        engine.dispose()


def test_migrate_says_truthfully_whether_it_went_up_or_down(url: str) -> None:
    first = _ibflow("migrate")
    assert first.exit_code == 0, first.output
    assert "database upgraded to" in first.output
    assert "(the newest schema)" in first.output
    again = _ibflow("migrate")
    assert "already at" in again.output
    assert "nothing to do" in again.output

    down = _ibflow("migrate", "--revision", "0002", "--yes")
    assert down.exit_code == 0, down.output
    assert down.output.strip() == "database downgraded to 0002"
    assert "event_cursors" not in _tables(url)

    up = _ibflow("migrate", "--revision", "0003")  # up to a named revision, not past it
    assert up.exit_code == 0, up.output
    assert up.output.strip() == "database upgraded to 0003"
    assert "event_cursors" in _tables(url)
    assert "bar_coverage" not in _tables(url)


def test_a_downgrade_that_drops_tables_with_data_asks_first_and_no_keeps_them(url: str) -> None:
    assert _ibflow("migrate").exit_code == 0
    assert _ibflow("demo").exit_code == 0  # strategies, a user, prompts: rows a downgrade to base drops

    refused = _ibflow("migrate", "--revision", "base", stdin="n\n")
    assert refused.exit_code == 1
    assert "drops tables holding data" in refused.output
    assert "strategies (" in refused.output  # each table named with its row count
    assert "not downgraded; nothing changed" in refused.output
    assert "strategies" in _tables(url)

    no_one_to_ask = _ibflow("migrate", "--revision", "base", stdin="")
    assert no_one_to_ask.exit_code == 1  # end of input is a "no"
    assert "strategies" in _tables(url)

    agreed = _ibflow("migrate", "--revision", "base", stdin="y\n")
    assert agreed.exit_code == 0, agreed.output
    assert "database downgraded to base (no ibflow tables)" in agreed.output
    assert _tables(url) == set()


def test_a_downgrade_of_empty_tables_does_not_ask(url: str) -> None:
    assert _ibflow("migrate").exit_code == 0
    down = _ibflow("migrate", "--revision", "0004", stdin="")  # llm tables are empty on a fresh database
    assert down.exit_code == 0, down.output
    assert "drops tables" not in down.output
    assert down.output.strip() == "database downgraded to 0004"


def test_an_unknown_revision_is_one_line(url: str) -> None:
    assert _ibflow("migrate").exit_code == 0
    from ibflow.cli import explain  # the way `ibflow` (main) turns it into one line

    result = _ibflow("migrate", "--revision", "nope")
    assert result.exit_code != 0
    message = explain(result.exception) if isinstance(result.exception, Exception) else None
    assert message is not None
    assert "nope" in message
    assert len(message.splitlines()) == 1


def test_flatten_halts_new_entries_says_so_and_prints_a_readable_summary(url: str) -> None:
    assert _ibflow("migrate").exit_code == 0
    result = _ibflow("trading", "flatten", "--reason", "end of week", "--actor", "alice")
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[0] == (
        "trading HALTED: no new entries (by alice: end of week); `ibflow trading resume` when you are ready"
    )
    assert lines[1] == "PAPER-1: no open position to close; no order left working"
    assert "FlattenResult" not in result.output  # no Python repr
    assert _state(url) == ("HALTED", "alice")

    again = _ibflow("trading", "flatten", "--reason", "again")
    assert again.output.startswith("trading was already HALTED: no new entries")


def test_reduce_is_allowed_from_halted_and_is_audited(url: str) -> None:
    assert _ibflow("migrate").exit_code == 0
    assert _ibflow("trading", "halt", "--reason", "news").exit_code == 0
    result = _ibflow("trading", "reduce", "--reason", "exits only", "--actor", "bob")
    assert result.exit_code == 0, result.output
    assert _state(url) == ("REDUCING", "bob")
    engine = make_engine(url)
    with session_factory(engine)() as session:
        last = session.scalars(select(AuditLog).order_by(AuditLog.id.desc())).first()
        assert last is not None
        assert (last.actor, last.before, last.after) == ("bob", "HALTED", "REDUCING")
    engine.dispose()


def test_a_negative_value_reaches_the_setting_and_its_error_is_printed_once(url: str) -> None:
    assert _ibflow("migrate").exit_code == 0
    result = _ibflow("settings", "set", "max_open_positions", "-1")  # no `--` needed
    assert result.exit_code == 2
    assert "No such option" not in result.output
    lines = result.output.strip().splitlines()
    assert lines == ["error: max_open_positions: -1 is outside the allowed range: an integer from 0 to 50"]


def test_a_reset_setting_takes_its_environment_default_again_and_is_audited(url: str) -> None:
    assert _ibflow("migrate").exit_code == 0
    assert _ibflow("settings", "set", "max_open_positions", "2").exit_code == 0
    result = _ibflow("settings", "reset", "max_open_positions", "--actor", "carol")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "max_open_positions = 5 (environment default)"
    shown = _ibflow("settings", "show", "--json")
    assert '"value": 5' in shown.output.split('"max_open_positions"', 1)[1].split("}", 1)[0]
    engine = make_engine(url)
    with session_factory(engine)() as session:
        last = session.scalars(select(AuditLog).order_by(AuditLog.id.desc())).first()
        assert last is not None
        assert (last.actor, last.action, last.before, last.after) == ("carol", "setting.reset", 2, 5)
    engine.dispose()
    unknown = _ibflow("settings", "reset", "warp_speed")
    assert unknown.exit_code == 2
    assert len(unknown.output.strip().splitlines()) == 1
    assert unknown.output.startswith("error: ")
