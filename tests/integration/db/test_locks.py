"""Named locks exclude each other across threads and processes, on SQLite and PostgreSQL."""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from ibflow.db.engine import make_engine
from ibflow.db.locks import LockTimeout, NamedLocks, lock_for_transaction

pytestmark = pytest.mark.integration


def _critical_section(url: str, log_path: str, barrier: threading.Barrier | None, rounds: int) -> None:
    engine = make_engine(url)
    locks = NamedLocks(engine)
    if barrier is not None:
        barrier.wait()
    for _ in range(rounds):
        with locks.hold("account:PAPER-1", timeout_s=30), open(log_path, "a") as log:
            log.write("enter\n")
            log.flush()
            time.sleep(0.005)
            log.write("leave\n")
    engine.dispose()


def test_two_processes_never_hold_the_same_lock_at_once(any_db_url: str, tmp_path: Path) -> None:
    log = tmp_path / "log.txt"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_critical_section, args=(any_db_url, str(log), None, 15)) for _ in range(2)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    lines = log.read_text().splitlines()
    assert len(lines) == 60
    assert lines == ["enter", "leave"] * 30  # strictly alternating: no overlap


def test_a_held_lock_times_out_for_others_and_frees_on_release(any_db_url: str) -> None:
    engine = make_engine(any_db_url)
    locks = NamedLocks(engine)
    held = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with locks.hold("account:X"):
            held.set()
            release.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait(10)
    with pytest.raises(LockTimeout, match="account:X"), locks.hold("account:X", timeout_s=0.2):
        pass
    with locks.hold("account:Y", timeout_s=1):  # another name is independent
        pass
    release.set()
    thread.join(10)
    with locks.hold("account:X", timeout_s=2):
        pass
    engine.dispose()


def test_in_memory_sqlite_uses_a_process_lock() -> None:
    locks = NamedLocks(make_engine("sqlite://"))
    with locks.hold("a"), pytest.raises(LockTimeout), locks.hold("a", timeout_s=0.05):
        pass


def _waiting_for_advisory_locks(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
            ).scalar()
            or 0
        )


def _in_thread(
    engine: Engine, shared: bool, done: threading.Event, release: threading.Event
) -> threading.Thread:
    def run() -> None:
        with Session(engine) as session:
            lock_for_transaction(session, "chart-store", shared=shared)
            done.set()
            release.wait(10)
            session.commit()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _until(condition: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + 10
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_transaction_locks_let_shared_holders_pass_each_other_and_the_exclusive_wait(pg_url: str) -> None:
    """Renders hold the chart store's lock shared (never waiting for each other), pruning exclusively: it
    waits for every render's commit, and a render asking meanwhile waits for the pruning's commit."""
    engine = make_engine(pg_url)
    first, second, pruning = (threading.Event() for _ in range(3))
    release_renders, release_pruning = threading.Event(), threading.Event()
    renders = [_in_thread(engine, True, done, release_renders) for done in (first, second)]
    assert first.wait(10)
    assert second.wait(10)  # the second render did not wait for the first
    prune = _in_thread(engine, False, pruning, release_pruning)
    assert _until(lambda: _waiting_for_advisory_locks(engine) == 1)  # pruning waits for both renders
    assert not pruning.is_set()
    release_renders.set()
    assert pruning.wait(10)  # their commits released it
    late, release_late = threading.Event(), threading.Event()
    render = _in_thread(engine, True, late, release_late)
    assert _until(lambda: _waiting_for_advisory_locks(engine) == 1)  # a render now waits for the pruning
    assert not late.is_set()
    release_pruning.set()
    assert late.wait(10)
    release_late.set()
    for thread in (*renders, prune, render):
        thread.join(10)
    engine.dispose()
