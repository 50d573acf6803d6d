"""A bad environment ends in one line that says what to fix, or one warning per likely mistake; no traceback.

Each case runs the installed ``ibflow`` command in a subprocess, as a user would, in a folder of its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ibflow.charts.local_store import LocalChartStore
from ibflow.core.errors import ConfigurationError

pytestmark = pytest.mark.integration
IBFLOW = str(Path(sys.executable).with_name("ibflow"))


def _ibflow(folder: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("IBFLOW_")}
    return subprocess.run(
        [IBFLOW, *args],
        cwd=folder,
        env={**base, "COLUMNS": "400", "IBFLOW_DATA_DIR": str(folder / "var"), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _one_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def _warnings(done: subprocess.CompletedProcess[str]) -> list[str]:
    assert done.returncode == 0, done.stdout + done.stderr
    return [line for line in done.stderr.splitlines() if line.startswith("warning: ")]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "not a url",
            "IBFLOW_DATABASE_URL is not a database URL; it looks like sqlite:///PATH or postgresql",
        ),
        ("mysql://trader:hunter2@db.example/ibflow", "IBFLOW_DATABASE_URL names a 'mysql' database"),
        ("postgresql+nosuchdriver://trader:hunter2@db/ibflow", "the driver 'postgresql+nosuchdriver'"),
    ],
)
def test_a_database_url_ibflow_cannot_use_is_named_in_one_line_without_its_password(
    tmp_path: Path, url: str, expected: str
) -> None:
    line = _one_error(_ibflow(tmp_path, "status", IBFLOW_DATABASE_URL=url))
    assert expected in line
    assert "hunter2" not in line


def test_a_data_folder_that_is_a_file_is_named_with_the_file_in_the_way(tmp_path: Path) -> None:
    (tmp_path / "var").write_text("not a folder")
    line = _one_error(_ibflow(tmp_path, "migrate"))
    assert f"{tmp_path / 'var'} cannot be a folder: {tmp_path / 'var'} is a file" in line
    assert "IBFLOW_DATA_DIR" in line


def test_a_data_folder_that_cannot_be_created_says_why(tmp_path: Path) -> None:
    line = _one_error(_ibflow(tmp_path, "migrate", IBFLOW_DATA_DIR="/proc/ibflow-cannot-be-here"))
    assert "cannot create the database folder" in line
    assert "/proc/ibflow-cannot-be-here" in line


def test_a_charts_folder_that_is_a_file_is_a_configuration_error_naming_the_setting(tmp_path: Path) -> None:
    (tmp_path / "charts").write_text("")
    with pytest.raises(ConfigurationError, match=r"IBFLOW_CHARTS_DIR.*is a file"):
        LocalChartStore(tmp_path / "charts" / "daily")


def test_a_database_never_migrated_is_named_by_its_path_with_the_command_to_run(tmp_path: Path) -> None:
    line = _one_error(_ibflow(tmp_path, "status"))
    assert f"the SQLite file {tmp_path / 'var' / 'ibflow.db'} has no ibflow schema yet" in line
    assert "ibflow migrate" in line


def test_a_misspelled_variable_warns_with_the_closest_name_and_the_command_still_runs(tmp_path: Path) -> None:
    done = _ibflow(
        tmp_path,
        "version",
        IBFLOW_MAX_OPEN_POSITION="2",
        IBFLOW_QWERTY="1",
        IBFLOW_FAULTPOINT="nowhere",  # read by fault injection, not settings: a known name
        IBFLOW_SOAK_SECONDS="0",
    )
    assert _warnings(done) == [
        "warning: IBFLOW_MAX_OPEN_POSITION is not an ibflow setting and is ignored; "
        "did you mean IBFLOW_MAX_OPEN_POSITIONS?",
        "warning: IBFLOW_QWERTY is not an ibflow setting and is ignored; "
        "no ibflow setting has a name close to it",
    ]
    assert done.stdout.startswith("ibflow ")


def test_the_new_api_settings_are_known_names(tmp_path: Path) -> None:
    done = _ibflow(tmp_path, "version", IBFLOW_HTTP_PORT="8123", IBFLOW_SESSION_IDLE_MINUTES="30")
    assert _warnings(done) == []


def test_a_limit_above_its_hard_limit_is_capped_and_says_so(tmp_path: Path) -> None:
    assert _ibflow(tmp_path, "migrate").returncode == 0
    done = _ibflow(
        tmp_path,
        "settings",
        "show",
        "--json",
        IBFLOW_MAX_OPEN_POSITIONS="100",
        IBFLOW_MAX_OPEN_POSITIONS_LIMIT="8",
    )
    assert _warnings(done) == [
        "warning: IBFLOW_MAX_OPEN_POSITIONS=100 is above its hard limit "
        "(IBFLOW_MAX_OPEN_POSITIONS_LIMIT = 8); capped to 8"
    ]
    shown = json.loads(done.stdout)["max_open_positions"]
    assert shown == {"value": 8, "accepts": "an integer from 0 to 8"}


def test_a_bad_env_file_line_is_one_warning_naming_the_line_not_its_content(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "IBFLOW_LOG_LEVEL=WARNING\nIBFLOW_OPENAI_API_KEY sk-secret-value\nIBFLOW_WORKER=3\n", encoding="utf-8"
    )
    done = _ibflow(tmp_path, "version")
    assert _warnings(done) == [
        "warning: .env line 2 is not NAME=value and is ignored",
        "warning: IBFLOW_WORKER (in .env) is not an ibflow setting and is ignored; "
        "did you mean IBFLOW_WORKERS?",
    ]
    assert "sk-secret-value" not in done.stderr
    assert "python-dotenv" not in done.stderr
