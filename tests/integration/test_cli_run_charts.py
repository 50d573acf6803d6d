"""``ibflow run`` prints where each chart of the execution was written, and the files are there."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ibflow.cli import app

pytestmark = pytest.mark.integration
runner = CliRunner()


def test_run_prints_the_path_of_each_chart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IBFLOW_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("IBFLOW_DATABASE_URL", f"sqlite:///{tmp_path / 'var' / 'ibflow.db'}")
    monkeypatch.chdir(tmp_path)
    for args in (["migrate"], ["demo"]):
        assert runner.invoke(app, args).exit_code == 0
    result = runner.invoke(app, ["run", "demo-spy-bands"], terminal_width=400)
    assert result.exit_code == 0, result.output
    printed = dict(re.findall(r"^chart (1d|1w): (\S+\.png)$", result.output, flags=re.MULTILINE))
    assert set(printed) == {"1d", "1w"}, result.output
    for path in printed.values():
        assert Path(path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
