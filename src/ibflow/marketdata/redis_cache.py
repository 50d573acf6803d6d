"""The query cache in Redis, shared by every process of an installation (``IBFLOW_REDIS_URL``).

Values are stored as JSON (what the callers cache is JSON already: contract searches), under an
``ibflow:cache:`` prefix, each with its time to live. Redis being away never fails a caller: a read is a
miss and a write is skipped, with one warning per minute at most; the callers then ask the broker.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import redis

log = logging.getLogger(__name__)

PREFIX = "ibflow:cache:"
_WARN_EVERY_S = 60.0


class RedisTtlCache:
    """A ``QueryCache`` in Redis."""

    def __init__(self, url: str, *, socket_timeout_s: float = 2.0) -> None:
        self._client = redis.Redis.from_url(
            url, socket_timeout=socket_timeout_s, socket_connect_timeout=socket_timeout_s
        )
        self._warned_at = float("-inf")

    def get(self, key: str) -> Any | None:
        """Return the value stored under ``key``, or ``None`` when absent, expired or Redis is away."""
        try:
            raw = self._client.get(PREFIX + key)
        except redis.RedisError as exc:
            self._warn(exc)
            return None
        return None if raw is None else json.loads(raw)

    def set(self, key: str, value: Any, ttl_s: float) -> None:
        """Store ``value`` (JSON) under ``key`` for ``ttl_s`` seconds (at least 1 ms)."""
        try:
            self._client.set(PREFIX + key, json.dumps(value), px=max(1, int(ttl_s * 1000)))
        except redis.RedisError as exc:
            self._warn(exc)

    def delete(self, key: str) -> None:
        """Forget ``key``."""
        try:
            self._client.delete(PREFIX + key)
        except redis.RedisError as exc:
            self._warn(exc)

    def _warn(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._warned_at >= _WARN_EVERY_S:
            self._warned_at = now
            log.warning("the Redis cache is not answering (%s); asking the broker instead", exc)
