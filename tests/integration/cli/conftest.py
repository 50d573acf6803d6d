"""A populated ibflow data folder (database and charts), made once per session and copied for each test."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.orm import Session
from tests.integration.cli.populated import Book, env_for, populate
from typer.testing import CliRunner, Result

from ibflow.cli import app
from ibflow.db.engine import make_engine, session_factory


@dataclass
class Day:
    """A copy of the populated folder, the environment that points ibflow at it, and what it holds."""

    folder: Path
    env: dict[str, str]
    book: Book

    def invoke(self, *args: str) -> Result:
        """Run ``ibflow ARGS`` as a user would, in this process."""
        return CliRunner().invoke(app, list(args))

    def read(self, *args: str) -> str:
        """Run a command that must succeed; return what it printed."""
        result = self.invoke(*args)
        assert result.exit_code == 0, result.output
        return result.output

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session on the copy's database, to check what a command wrote."""
        engine = make_engine(self.env["IBFLOW_DATABASE_URL"])
        try:
            with session_factory(engine)() as session:
                yield session
        finally:
            engine.dispose()


@pytest.fixture(scope="session")
def populated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Book]:
    folder = tmp_path_factory.mktemp("populated") / "var"
    folder.mkdir()
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env_for(folder).items():
            patch.setenv(key, value)
        book = populate(folder)
    return folder, book


@pytest.fixture
def day(populated: tuple[Path, Book], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Day:
    source, book = populated
    folder = tmp_path / "var"
    shutil.copytree(source, folder)
    env = {**env_for(folder), "COLUMNS": "200"}  # a wide terminal; the wrapping test narrows it
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    return Day(folder, env, book)
