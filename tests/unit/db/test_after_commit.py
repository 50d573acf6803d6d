"""Work after commit: run once the outermost transaction commits, never after a rollback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session

from ibflow.db.after_commit import on_commit


@pytest.fixture
def engine() -> Iterator[Engine]:
    made = create_engine("sqlite://")
    yield made
    made.dispose()


def test_a_callback_runs_once_after_the_commit(engine: Engine) -> None:
    ran: list[str] = []
    with Session(engine) as session:
        session.execute(text("SELECT 1"))
        on_commit(session, lambda: ran.append("counted"))
        assert ran == []
        session.commit()
        session.commit()
    assert ran == ["counted"]


def test_a_rolled_back_transaction_runs_nothing(engine: Engine) -> None:
    ran: list[str] = []
    with Session(engine) as session:
        session.execute(text("SELECT 1"))
        on_commit(session, lambda: ran.append("counted"))
        session.rollback()
        session.execute(text("SELECT 1"))
        session.commit()
    with Session(engine) as session:  # closed without a commit
        session.execute(text("SELECT 1"))
        on_commit(session, lambda: ran.append("closed"))
    assert ran == []


def test_a_savepoint_neither_runs_nor_drops_the_callbacks_of_its_transaction(engine: Engine) -> None:
    ran: list[str] = []
    with Session(engine) as session:
        session.execute(text("SELECT 1"))
        on_commit(session, lambda: ran.append("outer"))
        with session.begin_nested():
            session.execute(text("SELECT 1"))
        assert ran == []
        try:
            with session.begin_nested():
                raise LookupError("a duplicate, say")
        except LookupError:
            pass
        session.commit()
    assert ran == ["outer"]


def test_a_failing_callback_does_not_break_the_commit(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    ran: list[str] = []

    def broken() -> None:
        raise RuntimeError("boom")

    with Session(engine) as session:
        session.execute(text("SELECT 1"))
        on_commit(session, broken)
        on_commit(session, lambda: ran.append("after"))
        session.commit()
    assert ran == ["after"]
    assert "after-commit callback failed" in caplog.text
