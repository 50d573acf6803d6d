"""The ``ChartStore`` interface (put, get, delete PNG bytes by key) and the key rules every store shares.

Charts are content-addressed: ``content_key`` names a chart by the sha256 of its PNG bytes
(``sha256/ab/abcd….png``), so identical charts (a strategy re-run on unchanged bars, two strategies on the
same symbol) are stored once whatever the store, and every execution's chart rows reference the one key.
Older rows may still hold per-execution keys (``executions/<id>/…``); stores read any valid key.

A key is a relative, ``/``-separated path of names made of ``A-Z a-z 0-9 . _ -``: no empty name, no name
starting with a dot (so no ``.`` or ``..``), no leading ``/``, at most ``MAX_KEY_LENGTH`` characters. Keys
are checked before any store touches its backend, so none can point outside the store. Retention is not a
store's job: the pruning job decides what may be deleted.
"""

from __future__ import annotations

import re
from typing import Protocol

from ibflow.core.errors import ValidationError

MAX_KEY_LENGTH = 512
WRITE_LOCK = "chart-store"
"""The transaction lock (``db.locks.lock_for_transaction``) a render holds shared from storing a chart to
committing its row, and pruning exclusively from its reference check to its commit: a chart being written is
never deleted as unreferenced under it."""
_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
_SHA256 = re.compile(r"[0-9a-f]{64}")


class ChartStore(Protocol):
    """Where rendered charts live, by key."""

    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``, replacing what was there; readers never see a partial write."""
        ...

    def get(self, key: str) -> bytes:
        """Return the bytes stored under ``key``; raise ``NotFound`` if there are none."""
        ...

    def delete(self, key: str) -> None:
        """Remove ``key``; removing a key that is not there is not an error."""
        ...

    def locate(self, key: str) -> str:
        """Say where a person finds ``key``: a file path, or a URL for a remote store (no secrets in it)."""
        ...


def content_key(digest: str) -> str:
    """Return the key of the chart whose PNG bytes have the sha256 ``digest`` (64 lowercase hex digits)."""
    if not _SHA256.fullmatch(digest):
        problem = "must be 64 lowercase hexadecimal digits"
        raise ValidationError(f"invalid chart digest {digest!r}: {problem}", problems={"digest": problem})
    return f"sha256/{digest[:2]}/{digest}.png"


def validate_key(key: str) -> str:
    """Return ``key`` if it is a valid store key, else raise ``ValidationError`` saying why."""
    problem = _key_problem(key)
    if problem is not None:
        raise ValidationError(f"invalid chart key {key!r}: {problem}", problems={"key": problem})
    return key


def _key_problem(key: str) -> str | None:
    names = key.split("/")
    checks = (
        (not key, "must be a non-empty string"),
        (len(key) > MAX_KEY_LENGTH, f"must be at most {MAX_KEY_LENGTH} characters, got {len(key)}"),
        (key.startswith("/"), "must be relative (no leading '/')"),
        ("" in names, "must not contain an empty segment ('//' or a trailing '/')"),
        ("." in names or ".." in names, "must not contain '.' or '..' segments"),
        (
            not all(_NAME.fullmatch(name) for name in names),
            "segments may only use A-Z a-z 0-9 . _ - and must not start with '.'",
        ),
    )
    return next((problem for failed, problem in checks if failed), None)
