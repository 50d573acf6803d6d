"""Named locks exclude each other across threads and processes, on SQLite and PostgreSQL."""

from __future__ import annotations

import multiprocessing
import threading
import time
from pathlib import Path

import pytest

from ibflow.db.engine import make_engine
from ibflow.db.locks import LockTimeout, NamedLocks

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
