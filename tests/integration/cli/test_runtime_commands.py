"""The production runtime's commands refuse what cannot work, in one line (no traceback)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.ports import free_port

pytestmark = pytest.mark.integration


def _ibflow(args: list[str], env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).with_name("ibflow")), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "IBFLOW_DATA_DIR": str(tmp_path), "COLUMNS": "250", **env},  # no wrapped lines
        check=False,
    )


def test_serve_under_the_celery_runtime_says_what_to_run_instead(
    migrated_sqlite_url: str, tmp_path: Path
) -> None:
    done = _ibflow(
        ["serve", "--port", str(free_port())],
        {"IBFLOW_RUNNER": "celery", "IBFLOW_DATABASE_URL": migrated_sqlite_url},
        tmp_path,
    )

    assert done.returncode != 0
    assert "ibflow worker" in done.stderr
    assert "ibflow beat" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_worker_on_an_unknown_queue_is_refused(migrated_sqlite_url: str, tmp_path: Path) -> None:
    done = _ibflow(
        ["worker", "-Q", "executions,fast"],
        {"IBFLOW_RUNNER": "celery", "IBFLOW_DATABASE_URL": migrated_sqlite_url},
        tmp_path,
    )

    assert done.returncode == 2
    assert "fast" in done.stderr
    assert "executions, trading, maintenance" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_worker_without_the_celery_runtime_is_refused(migrated_sqlite_url: str, tmp_path: Path) -> None:
    done = _ibflow(["worker"], {"IBFLOW_DATABASE_URL": migrated_sqlite_url}, tmp_path)

    assert done.returncode != 0
    assert "IBFLOW_RUNNER=celery" in done.stderr
    assert "Traceback" not in done.stderr
