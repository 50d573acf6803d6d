"""The query cache in Redis (``IBFLOW_REDIS_URL``): shared by processes, expiring, never failing a caller."""

from __future__ import annotations

import secrets
import time

import pytest
from tests.conftest import require_service
from tests.ports import free_port

from ibflow.marketdata.redis_cache import RedisTtlCache

REDIS_URL = "redis://127.0.0.1:6379/3"


@pytest.fixture
def redis_url() -> str:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
        reachable, detail = True, ""
    except redis.RedisError as exc:
        reachable, detail = False, str(exc)
    require_service("Redis at 127.0.0.1:6379", reachable, detail)
    return REDIS_URL


pytestmark = pytest.mark.integration


def test_what_one_process_caches_another_reads(redis_url: str) -> None:
    key = f"contracts:search:test:{secrets.token_hex(4)}"
    value = [{"conid": 265598, "symbol": "AAPL", "min_tick": "0.01"}]
    RedisTtlCache(redis_url).set(key, value, ttl_s=30)

    assert RedisTtlCache(redis_url).get(key) == value  # another client: another process


def test_an_entry_expires_and_can_be_forgotten(redis_url: str) -> None:
    cache = RedisTtlCache(redis_url)
    short, kept = f"t:{secrets.token_hex(4)}", f"t:{secrets.token_hex(4)}"
    cache.set(short, {"a": 1}, ttl_s=0.05)
    cache.set(kept, {"b": 2}, ttl_s=30)
    time.sleep(0.2)

    assert cache.get(short) is None
    assert cache.get(kept) == {"b": 2}
    cache.delete(kept)
    assert cache.get(kept) is None


def test_redis_away_is_a_miss_not_an_error(caplog: pytest.LogCaptureFixture) -> None:
    cache = RedisTtlCache(f"redis://127.0.0.1:{free_port()}/0", socket_timeout_s=0.5)  # nothing listens

    cache.set("k", [1], ttl_s=10)
    assert cache.get("k") is None
    cache.delete("k")
    assert "the Redis cache is not answering" in caplog.text
