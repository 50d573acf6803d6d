"""Cross-process locks per broker account (TRADING-SAFETY rule 4).

Order submission holds the account's lock from the final risk re-check through the intent commit, the
broker call and the outcome commit, while committing its own transactions in between. The lock therefore
lives on a connection of its own, never on the session doing the work:

- PostgreSQL: a session-level advisory lock (``pg_advisory_lock``) on a dedicated connection. It needs no
  lock table and is released by the server if the process dies.
- SQLite: ``BEGIN IMMEDIATE`` held on a small lock database of its own next to the main file (one per
  account), so holding it never blocks writes to the main database. SQLite releases it if the process dies.
- In-memory SQLite (tests only): a process-local lock.

Locks are waited for in real time (they guard real concurrency), never by the injected trading clock.

A lock can be lost while held: a PostgreSQL server releases an advisory lock when its connection drops,
and the process would not notice. ``verify`` asks the server (``pg_locks``) whether this thread still
holds it; senders call it right before every broker call and stop with ``LockLost`` if not.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from ibflow.core.errors import IbflowError


class LockTimeout(IbflowError):
    """The lock was not free within the timeout."""


class LockLost(IbflowError):
    """A lock this thread took is no longer held (its connection dropped, say): stop before acting."""


_LOCAL_LOCKS: dict[str, threading.Lock] = {}
_LOCAL_GUARD = threading.Lock()
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


# A bigint advisory lock shows in pg_locks as classid (high 32 bits), objid (low 32 bits), objsubid 1.
_PG_HELD = text(
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = pg_backend_pid() "
    "AND classid::bigint = :c AND objid::bigint = :o AND objsubid = 1"
)


def _advisory_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def lock_for_transaction(session: Session, name: str, *, shared: bool = False) -> None:
    """Hold the lock called ``name`` until ``session``'s transaction ends (commit or rollback).

    For short guards inside one transaction, where ``NamedLocks.hold`` (a connection of its own, polled) would
    cost more than the work. PostgreSQL: a transaction-level advisory lock, ``shared`` or exclusive, waited
    for by the server: holders of the shared form never wait for each other, the exclusive one waits for
    them all and they for it. SQLite: nothing is taken, the database's one writer is the lock, so the
    session must already have written in this transaction (a flush) before it relies on the guard.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    session.execute(text(f"SELECT {function}(:k)"), {"k": _advisory_key(name)})


class NamedLocks:
    """Named cross-process locks on the database behind ``engine`` (``account:<id>`` and the like)."""

    def __init__(self, engine: Engine, poll_s: float = 0.02) -> None:
        self._engine = engine
        self._poll_s = poll_s
        self._mine = threading.local()

    def _checks(self) -> dict[str, Callable[[], bool]]:
        checks: dict[str, Callable[[], bool]] | None = getattr(self._mine, "checks", None)
        if checks is None:
            checks = self._mine.checks = {}
        return checks

    def verify(self, name: str) -> None:
        """Raise ``LockLost`` unless this thread still holds the lock called ``name``."""
        check = self._checks().get(name)
        if check is None:
            raise LockLost(f"lock {name!r} is not held by this thread")
        try:
            held = check()
        except Exception as exc:
            raise LockLost(f"lock {name!r} may be lost: its connection failed ({exc})") from exc
        if not held:
            raise LockLost(f"lock {name!r} is no longer held (the database released it)")

    @contextmanager
    def _registered(self, name: str, check: Callable[[], bool]) -> Iterator[None]:
        self._checks()[name] = check
        try:
            yield
        finally:
            self._checks().pop(name, None)

    @contextmanager
    def hold(self, name: str, timeout_s: float = 30.0) -> Iterator[None]:
        """Hold the lock called ``name`` for the block; ``LockTimeout`` when not free in ``timeout_s``."""
        backend = self._engine.dialect.name
        if backend == "postgresql":
            with self._hold_postgres(name, timeout_s):
                yield
        elif backend == "sqlite":
            with self._hold_sqlite(name, timeout_s):
                yield
        else:
            raise IbflowError(f"no lock implementation for the {backend} backend")

    @contextmanager
    def _hold_postgres(self, name: str, timeout_s: float) -> Iterator[None]:
        key = _advisory_key(name)
        deadline = time.monotonic() + timeout_s
        conn = self._engine.connect()
        try:
            while not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
                conn.rollback()
                if time.monotonic() >= deadline:
                    raise LockTimeout(f"lock {name!r} still held after {timeout_s:.1f}s")
                time.sleep(self._poll_s)
            conn.commit()

            def still_held() -> bool:
                unsigned = key & 0xFFFFFFFFFFFFFFFF
                found = conn.execute(_PG_HELD, {"c": unsigned >> 32, "o": unsigned & 0xFFFFFFFF}).scalar()
                conn.commit()
                return bool(found)

            try:
                with self._registered(name, still_held):
                    yield
            finally:
                if not conn.closed and not conn.invalidated:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    conn.commit()
        finally:
            conn.close()

    @contextmanager
    def _hold_sqlite(self, name: str, timeout_s: float) -> Iterator[None]:
        database = self._engine.url.database or ""
        if database in ("", ":memory:"):
            with _LOCAL_GUARD:
                lock = _LOCAL_LOCKS.setdefault(name, threading.Lock())
            if not lock.acquire(timeout=timeout_s):
                raise LockTimeout(f"lock {name!r} still held after {timeout_s:.1f}s")
            try:
                with self._registered(name, lock.locked):
                    yield
            finally:
                lock.release()
            return
        folder = Path(database).with_name(Path(database).name + ".locks")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{_SAFE.sub('_', name)}.db"
        conn = sqlite3.connect(path, timeout=timeout_s, isolation_level=None, check_same_thread=False)
        try:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise LockTimeout(f"lock {name!r} still held after {timeout_s:.1f}s") from exc
            try:
                with self._registered(name, lambda: conn.in_transaction):
                    yield
            finally:
                conn.execute("ROLLBACK")
        finally:
            conn.close()
