"""SQLite is opened the way ibflow needs it: WAL, busy timeout, BEGIN IMMEDIATE for writes."""

from __future__ import annotations

import threading
import time

from sqlalchemy import text

from ibflow.db.engine import make_engine, read_session_factory, session_factory


def test_sqlite_pragmas(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url, busy_timeout_ms=1234)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 1234
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()


def test_write_sessions_take_the_lock_at_begin_and_readers_do_not_wait(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url, busy_timeout_ms=5000)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (v INTEGER)")
        conn.exec_driver_sql("INSERT INTO t VALUES (1)")
    writes = session_factory(engine)
    reads = read_session_factory(engine)
    order: list[str] = []

    first = writes()
    first.execute(text("SELECT v FROM t")).all()  # a read inside a write session already holds the lock

    def second_writer() -> None:
        with writes() as session:
            session.execute(text("SELECT v FROM t")).all()
            order.append("second writer began")
            session.commit()

    thread = threading.Thread(target=second_writer)
    thread.start()
    with reads() as reader:  # a deferred reader is not blocked by the writer's lock
        assert reader.execute(text("SELECT v FROM t")).scalar() == 1
        order.append("reader read")
    time.sleep(0.3)
    order.append("first writer commits")
    first.commit()
    first.close()
    thread.join(5)
    assert order == ["reader read", "first writer commits", "second writer began"]
    engine.dispose()
