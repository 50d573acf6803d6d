"""The ``ChartStore`` interface (put, get, delete PNG bytes by key) and the key rules every store shares.

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
_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")


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
