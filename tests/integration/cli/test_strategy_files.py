"""Strategies as files through the CLI on a migrated SQLite database: apply, change, validate, show."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from typer.testing import CliRunner, Result

from ibflow.cli import app
from ibflow.db.engine import make_engine, session_factory
from ibflow.db.models import AuditLog, PromptVersion, Strategy

pytestmark = pytest.mark.integration

NEW_YORK = ZoneInfo("America/New_York")

FILE = """\
name = "my-aapl"
description = "Pullbacks in the AAPL uptrend"
symbol = "AAPL"

[schedule]
cron = "30 10 * * 1-5"
timezone = "America/New_York"

[analyst]
provider = "openai"
model = "gpt-4.1-mini"
analysis_mode = "chain"
prompt = "Read the {{ symbol }} charts; the last price is {{ last_price }}."

[risk]
risk_per_trade = 0.005
max_position_value = 12000

[[indicators]]
type = "rsi"
params = { period = 14 }

[[indicators]]
type = "bbands"
params = { period = 20, width = 2 }
"""

FIVE_BAD_FIELDS = """\
name = "five-bad"
symbol = "AAPL"
mode = "paperish"

[schedule]
cron = "61 * * * *"
timezone = "Mars/Olympus"

[risk]
risk_per_trade = 0.9

[[indicators]]
type = "rsi"
params = { period = 0 }
"""


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    value = f"sqlite:///{tmp_path / 'var' / 'ibflow.db'}"
    monkeypatch.setenv("IBFLOW_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("IBFLOW_DATABASE_URL", value)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(tmp_path)
    assert _ibflow("migrate").exit_code == 0
    return value


def _ibflow(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(app, list(args), input=stdin)


def _ok(*args: str) -> str:
    result = _ibflow(*args)
    assert result.exit_code == 0, result.output
    return result.output


def _write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


def _strategy(url: str, name: str) -> Strategy | None:
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            found = session.scalars(select(Strategy).where(Strategy.name == name)).one_or_none()
            if found is not None:
                session.expunge(found)
            return found
    finally:
        engine.dispose()


def _audit(url: str) -> list[AuditLog]:
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            rows = list(session.scalars(select(AuditLog).order_by(AuditLog.id)))
            session.expunge_all()
            return rows
    finally:
        engine.dispose()


def _prompt_versions(url: str, template_id: int | None) -> list[tuple[int, str]]:
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            rows = session.scalars(
                select(PromptVersion)
                .where(PromptVersion.template_id == template_id)
                .order_by(PromptVersion.id)
            )
            return [(row.version, row.body) for row in rows]
    finally:
        engine.dispose()


def test_apply_change_one_field_and_reapply(url: str, tmp_path: Path) -> None:
    path = _write(tmp_path / "my-aapl.toml", FILE)

    created = _ok("strategy", "apply", path)
    assert "created strategy my-aapl" in created
    assert "risk.risk_per_trade = 0.005" in created
    first = _strategy(url, "my-aapl")
    assert first is not None
    assert first.next_run_at is not None
    local = first.next_run_at.astimezone(NEW_YORK)
    assert (local.hour, local.minute, local.weekday() < 5) == (10, 30, True)
    assert [row.action for row in _audit(url)] == ["strategy.created"]

    path = _write(tmp_path / "my-aapl.toml", FILE.replace('cron = "30 10 * * 1-5"', 'cron = "45 15 * * 1-5"'))
    updated = _ok("strategy", "apply", path)
    assert "updated my-aapl" in updated
    assert "1 change" in updated
    assert "schedule.cron: 30 10 * * 1-5 -> 45 15 * * 1-5" in updated

    second = _strategy(url, "my-aapl")
    assert second is not None
    assert second.id == first.id
    assert second.cron == "45 15 * * 1-5"
    assert second.next_run_at is not None
    local = second.next_run_at.astimezone(NEW_YORK)
    assert (local.hour, local.minute, local.weekday() < 5) == (15, 45, True)
    assert datetime.now(UTC) < second.next_run_at < datetime.now(UTC) + timedelta(days=4)
    assert f"next run: {local:%a %Y-%m-%d %H:%M}" in updated
    assert second.risk_per_trade == first.risk_per_trade  # only the one field changed

    audit = _audit(url)[-1]
    assert (audit.action, audit.actor, audit.target_id) == ("strategy.updated", "cli", str(first.id))
    assert (audit.before, audit.after) == (
        {"schedule.cron": "30 10 * * 1-5"},
        {"schedule.cron": "45 15 * * 1-5"},
    )

    again = _ok("strategy", "apply", path)
    assert "unchanged" in again
    assert len(_audit(url)) == 2


def test_five_bad_fields_get_five_messages_and_nothing_is_written(url: str, tmp_path: Path) -> None:
    path = _write(tmp_path / "bad.toml", FIVE_BAD_FIELDS)
    for command in ("validate", "apply"):
        result = _ibflow("strategy", command, path)
        assert result.exit_code == 2
        lines = result.output.strip().splitlines()
        assert lines[0] == "error: the strategy file has 5 invalid fields"
        fields = sorted(line.split(":")[0].strip() for line in lines[1:])
        assert fields == [
            "indicators[0].period",
            "mode",
            "risk.risk_per_trade",
            "schedule.cron",
            "schedule.timezone",
        ]
        assert "between 0.0001 and 0.05" in result.output  # the allowed range, not only "invalid"
        assert "between 2 and 200" in result.output
        assert "choose paper or live" in result.output
        assert "Traceback" not in result.output
    assert _strategy(url, "five-bad") is None
    assert _audit(url) == []


def test_validate_prints_the_schedule_in_words_and_five_runs_and_writes_nothing(
    url: str, tmp_path: Path
) -> None:
    path = _write(tmp_path / "my-aapl.toml", FILE)
    out = _ok("strategy", "validate", path)
    assert "is valid: strategy my-aapl on AAPL" in out
    assert "schedule: At 10:30 AM, Monday through Friday (America/New_York)" in out
    runs = [line.strip() for line in out.splitlines() if line.startswith("  ") and "EST" in line]
    assert len(runs) == 5
    assert all(" 10:30 EST (15:30 UTC)" in run for run in runs)
    assert not any(run.startswith(("Sat", "Sun")) for run in runs)
    assert "apply would create the strategy" in out
    assert _strategy(url, "my-aapl") is None
    assert _audit(url) == []


@pytest.mark.parametrize("fmt", ["toml", "yaml"])
def test_show_file_prints_a_file_apply_accepts_unchanged(url: str, tmp_path: Path, fmt: str) -> None:
    _ok("strategy", "apply", _write(tmp_path / "my-aapl.toml", FILE))
    text = _ok("strategy", "show", "my-aapl", "--file", "--format", fmt)
    assert "provider" in text
    assert "gpt-4.1-mini" in text
    back = _write(tmp_path / f"back.{fmt}", text)
    assert "unchanged" in _ok("strategy", "apply", back)
    assert "apply would change nothing" in _ok("strategy", "validate", back)
    assert len(_audit(url)) == 1


def test_show_json_matches_what_was_applied(url: str, tmp_path: Path) -> None:
    _ok("strategy", "apply", _write(tmp_path / "my-aapl.toml", FILE))
    shown = json.loads(_ok("strategy", "show", "my-aapl", "--json"))
    assert shown["name"] == "my-aapl"
    assert shown["state"] == "active"
    assert shown["schedule"]["cron"] == "30 10 * * 1-5"
    assert shown["risk"]["risk_per_trade"] == "0.005"
    assert [i["type"] for i in shown["indicators"]] == ["rsi", "bbands"]
    table = _ok("strategy", "show", "my-aapl")
    assert "At 10:30 AM, Monday through Friday" in table
    assert "gpt-4.1-mini" in table


def test_an_inline_prompt_becomes_a_prompt_version_and_a_new_text_a_new_one(url: str, tmp_path: Path) -> None:
    _ok("strategy", "apply", _write(tmp_path / "my-aapl.toml", FILE))
    first = _strategy(url, "my-aapl")
    assert first is not None
    assert first.prompt_template_id is not None
    old = "Read the {{ symbol }} charts; the last price is {{ last_price }}."
    assert _prompt_versions(url, first.prompt_template_id) == [(1, old)]

    new = "Read the {{ symbol }} charts; it last traded at {{ last_price }}."
    out = _ok("strategy", "apply", _write(tmp_path / "my-aapl.toml", FILE.replace(old, new)))
    assert "analyst.prompt:" in out
    second = _strategy(url, "my-aapl")
    assert second is not None
    assert second.prompt_template_id == first.prompt_template_id
    # the old version is kept: lineage of past executions names it
    assert _prompt_versions(url, first.prompt_template_id) == [(1, old), (2, new)]
    assert new in _ok("strategy", "show", "my-aapl", "--file")


def test_a_prompt_with_an_unknown_variable_is_refused_naming_its_line(url: str, tmp_path: Path) -> None:
    bad = FILE.replace("{{ last_price }}", "{{ last_close }}")
    result = _ibflow("strategy", "apply", _write(tmp_path / "my-aapl.toml", bad))
    assert result.exit_code == 2
    assert "analyst.prompt: line 1: unknown variable 'last_close'" in result.output
    assert _strategy(url, "my-aapl") is None


def test_pause_resume_archive_are_audited_and_list_hides_the_archived(url: str, tmp_path: Path) -> None:
    _ok("strategy", "apply", _write(tmp_path / "my-aapl.toml", FILE))
    assert "my-aapl: active -> paused" in _ok("strategy", "pause", "my-aapl", "--reason", "earnings week")
    paused = _strategy(url, "my-aapl")
    assert paused is not None
    assert paused.state.value == "paused"
    assert paused.next_run_at is None
    assert "already paused" in _ok("strategy", "pause", "my-aapl")

    assert "my-aapl: paused -> archived" in _ok("strategy", "archive", "my-aapl")
    assert "my-aapl" not in _ok("strategy", "list")
    listed = json.loads(_ok("strategy", "list", "--all", "--json"))
    assert [(row["name"], row["state"]) for row in listed] == [("my-aapl", "archived")]
    assert json.loads(_ok("strategy", "list", "--json")) == []

    resumed = _ok("strategy", "resume", "my-aapl")
    assert "my-aapl: archived -> active" in resumed
    assert "next run:" in resumed
    active = _strategy(url, "my-aapl")
    assert active is not None
    assert active.next_run_at is not None
    listed = json.loads(_ok("strategy", "list", "--json"))
    assert [(row["name"], row["state"]) for row in listed] == [("my-aapl", "active")]

    changes = [(row.action, row.detail) for row in _audit(url)[1:]]
    assert [action for action, _ in changes] == ["strategy.paused", "strategy.archived", "strategy.resumed"]
    assert "earnings week" in changes[0][1]


def test_a_yaml_file_from_stdin_and_a_missing_file(url: str, tmp_path: Path) -> None:
    yaml_file = (
        "name: spy-bands\nsymbol: SPY\nschedule:\n  cron: '0 15 * * 1-5'\n  market_hours_only: true\n"
        "indicators:\n  - type: bbands\n    params: {period: 20, width: 2}\n"
    )
    out = CliRunner().invoke(app, ["strategy", "apply", "-", "--format", "yaml"], input=yaml_file)
    assert out.exit_code == 0, out.output
    assert "created strategy spy-bands" in out.output
    stored = _strategy(url, "spy-bands")
    assert stored is not None
    assert stored.market_hours_only
    assert stored.analyst == "rules"

    missing = _ibflow("strategy", "apply", str(tmp_path / "nope.toml"))
    assert missing.exit_code == 2
    assert "nope.toml: no such file" in missing.output
    unknown = _ibflow("strategy", "show", "no-such-strategy")
    assert unknown.exit_code != 0
    assert "no-such-strategy" in unknown.output
    assert "Traceback" not in unknown.output


def test_a_default_template_pinned_to_a_version_on_a_database_only_migrated(url: str, tmp_path: Path) -> None:
    pinned = (
        'name = "pinned"\nsymbol = "AAPL"\n[analyst]\nprovider = "anthropic"\n'
        'prompt_template = "default-analysis-en"\nprompt_version = 1\n'
    )
    out = _ok("strategy", "apply", _write(tmp_path / "pinned.toml", pinned))
    assert "analyst.prompt_version = 1" in out
    assert 'prompt_template = "default-analysis-en"' in _ok("strategy", "show", "pinned", "--file")

    wrong = _ibflow("strategy", "validate", _write(tmp_path / "v7.toml", pinned.replace("= 1", "= 7")))
    assert wrong.exit_code == 2
    assert "analyst.prompt_version: template 'default-analysis-en' has no version 7" in wrong.output
