"""``ibflow prompt list | show | edit | render | diff | stats`` on a migrated database, the demo seeded."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from ibflow.cli import app
from ibflow.db.engine import make_engine, session_factory
from ibflow.db.models import AuditLog, Strategy, TradingSignal
from ibflow.db.states import SignalAction

pytestmark = pytest.mark.integration
runner = CliRunner()


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'var' / 'ibflow.db'}"
    monkeypatch.setenv("IBFLOW_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("IBFLOW_DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "160")  # tables as a wide terminal shows them, one row a line
    _invoke("migrate")
    _invoke("demo")
    return url


def _invoke(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def _refused(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    return lines[0]


def _new_version(tmp_path: Path, extra: str) -> Path:
    shown = _invoke("prompt", "show", "default-analysis-en").splitlines()
    path = tmp_path / "analysis.j2"
    path.write_text("\n".join([*shown[1:], extra]) + "\n", encoding="utf-8")
    return path


def test_list_shows_the_seeded_templates_with_their_roles_and_languages(database: str) -> None:
    out = _invoke("prompt", "list")
    for role in ("system", "analysis", "weekly", "consolidation"):
        for language in ("en", "zh"):
            assert f"default-{role}-{language}" in out
    row = next(line for line in out.splitlines() if "default-analysis-en" in line)
    assert [c.strip() for c in row.strip("│").split("│")][:6] == [
        "default-analysis-en",
        "analysis",
        "en",
        "global",
        "yes",
        "1",
    ]


def test_show_prints_the_text_and_a_missing_template_is_one_line(database: str) -> None:
    out = _invoke("prompt", "show", "default-analysis-en")
    assert out.startswith("# default-analysis-en@1 (id ")
    assert "role analysis, en)" in out.splitlines()[0]
    assert "{{ symbol }}" in out, "show prints the template, not a rendering"
    line = _refused("prompt", "show", "no-such-prompt")
    assert line.startswith("error: no prompt template named 'no-such-prompt' (known: default-analysis-en")


def test_edit_stores_a_new_version_once_and_diff_shows_the_change(database: str, tmp_path: Path) -> None:
    path = _new_version(tmp_path, "Be brief: name the single strongest reason.")
    assert _invoke("prompt", "edit", "default-analysis-en", "--file", str(path)).startswith(
        "stored default-analysis-en@2 (id "
    )
    assert _invoke("prompt", "edit", "default-analysis-en", "--file", str(path)).startswith(
        "unchanged: default-analysis-en@2"
    )
    assert "│ 2 " in next(line for line in _invoke("prompt", "list").splitlines() if "analysis-en" in line)
    assert _invoke("prompt", "show", "default-analysis-en@1").startswith("# default-analysis-en@1")
    assert "Be brief" not in _invoke("prompt", "show", "default-analysis-en@1"), "versions are immutable"

    out = _invoke("prompt", "diff", "default-analysis-en@1", "default-analysis-en@2")
    assert "--- default-analysis-en@1" in out
    assert "+++ default-analysis-en@2" in out
    assert "+Be brief: name the single strongest reason." in out
    assert "no change" in _invoke("prompt", "diff", "default-analysis-en@2", "default-analysis-en@2")

    engine = make_engine(database)
    with session_factory(engine)() as session:
        audit = session.scalars(select(AuditLog).where(AuditLog.action == "prompt.version_added")).all()
        assert [(a.actor, (a.after or {}).get("version")) for a in audit] == [("cli", 2)]
    engine.dispose()


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("Analyse {{ symbol }}.\n{{ secret_sauce }}\n", "line 2: unknown variable 'secret_sauce'"),
        ("{{ ''.__class__ }}\n", "line 1: attribute '__class__' is not allowed"),
        ("Fine.\n\n{{ risk._sa_instance_state }}\n", "line 3: attribute '_sa_instance_state' is not allowed"),
    ],
)
def test_edit_refuses_an_unsafe_or_unknown_template_in_one_line_and_stores_nothing(
    database: str, tmp_path: Path, text: str, says: str
) -> None:
    path = tmp_path / "bad.j2"
    path.write_text(text, encoding="utf-8")
    line = _refused("prompt", "edit", "default-analysis-en", "--file", str(path))
    assert line.startswith("error: the template has 1 problem(s): ")
    assert says in line
    assert "default-analysis-en@1" in _invoke("prompt", "show", "default-analysis-en").splitlines()[0]


def test_render_shows_the_strategy_prompts_filled_in(database: str, tmp_path: Path) -> None:
    out = _invoke("prompt", "render", "--strategy", "demo-aapl-trend")
    assert "--- system ---" in out
    assert "--- analysis ---" in out
    analysis = out.split("--- analysis ---", 1)[1]
    assert "Analyse AAPL for a long entry" in analysis
    assert "{{" not in analysis, "every variable is filled in"
    assert "Allowed actions: BUY, HOLD, NO_SIGNAL." in analysis

    path = _new_version(tmp_path, "Trial line for the render.")
    _invoke("prompt", "edit", "default-analysis-en", "--file", str(path))
    trial = _invoke("prompt", "render", "--strategy", "demo-aapl-trend", "--version", "default-analysis-en@2")
    assert "Trial line for the render." in trial
    line = _refused("prompt", "render", "--strategy", "no-such-strategy")
    assert line == "error: no strategy with id or name 'no-such-strategy'"


def test_stats_compares_two_versions_side_by_side(database: str, tmp_path: Path) -> None:
    _invoke("prompt", "edit", "default-analysis-en", "--file", str(_new_version(tmp_path, "Second.")))
    v1 = int(_invoke("prompt", "show", "default-analysis-en@1").split("(id ")[1].split(",")[0])
    v2 = int(_invoke("prompt", "show", "default-analysis-en@2").split("(id ")[1].split(",")[0])
    engine = make_engine(database)
    at = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)
    with session_factory(engine)() as session:
        strategy = session.scalars(select(Strategy).where(Strategy.name == "demo-aapl-trend")).one()
        for version_id, action in ((v1, SignalAction.BUY), (v1, SignalAction.HOLD), (v2, SignalAction.HOLD)):
            session.add(
                TradingSignal(
                    strategy_id=strategy.id, action=action, created_at=at, prompt_version_id=version_id
                )
            )
        session.commit()
    engine.dispose()

    out = _invoke("prompt", "stats", "default-analysis-en@1", "default-analysis-en@2")
    assert "actionable" in out
    assert "win rate" in out
    rows = {
        cells[0]: cells
        for line in out.splitlines()
        if (cells := [c.strip() for c in line.strip("│").split("│")]) and cells[0].isdigit()
    }
    assert rows[str(v1)][2:4] == ["2", "0.5000"], "two signals, one of them a BUY"
    assert rows[str(v2)][2:4] == ["1", "0.0000"]
    line = _refused("prompt", "stats", "default-analysis-en@7")
    assert line == "error: template 'default-analysis-en' has no version 7"
