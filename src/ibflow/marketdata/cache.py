"""A small cache interface for query results, and its in-process implementation.

Values must be JSON-like (dicts, lists, strings, numbers) so the Redis implementation of the
production runtime (``redis_cache.py``) stores them by the same interface.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol


class QueryCache(Protocol):
    """Key/value cache with a time to live per entry."""

    def get(self, key: str) -> Any | None:
        """Return the value stored under ``key``, or ``None`` when absent or expired."""
        ...

    def set(self, key: str, value: Any, ttl_s: float) -> None:
        """Store ``value`` under ``key`` for ``ttl_s`` seconds."""
        ...

    def delete(self, key: str) -> None:
        """Forget ``key``."""
        ...


class InProcessTtlCache:
    """A bounded, thread-safe LRU cache with per-entry expiry, for one process."""

    def __init__(self, max_entries: int = 4096, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._entries: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        self._max_entries = max_entries
        self._monotonic = monotonic
        self._lock = threading.Lock()

    def get(self, key: str) -> Any | None:
        """Return the value stored under ``key``, or ``None`` when absent or expired."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            expires, value = entry
            if expires <= self._monotonic():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return value

    def set(self, key: str, value: Any, ttl_s: float) -> None:
        """Store ``value`` under ``key`` for ``ttl_s`` seconds, evicting the least recently used."""
        with self._lock:
            self._entries[key] = (self._monotonic() + ttl_s, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)

    def delete(self, key: str) -> None:
        """Forget ``key``."""
        with self._lock:
            self._entries.pop(key, None)
