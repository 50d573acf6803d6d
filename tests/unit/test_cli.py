"""The ``ibflow`` command: version and migrate."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect
from typer.testing import CliRunner

import ibflow
from ibflow.cli import app
from ibflow.db.base import Base
from ibflow.db.engine import make_engine

runner = CliRunner()


def test_version() -> None:
    result = runner.invoke(app, ["version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"ibflow {ibflow.__version__}"


def test_migrate_creates_every_table_then_downgrades(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    monkeypatch.setenv("IBFLOW_DATABASE_URL", url)
    result = runner.invoke(app, ["migrate"])
    assert result.exit_code == 0, result.output
    assert "database upgraded to" in result.output
    engine = make_engine(url)
    try:
        tables = set(inspect(engine).get_table_names())
        expected = {t for t in Base.metadata.tables if not t.startswith("paper_")}
        assert expected <= tables
        result = runner.invoke(app, ["migrate", "--revision", "base"])
        assert result.exit_code == 0, result.output
        assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    finally:
        engine.dispose()
