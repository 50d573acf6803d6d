"""Fixtures of the production-runtime tests: a private redis-server per test module."""

from __future__ import annotations

import itertools
import shutil
import subprocess
import time
from collections.abc import Iterator

import pytest
from tests.conftest import require_service
from tests.ports import free_port, reachable

_REDIS_DB = itertools.count(1)


@pytest.fixture(scope="module")
def redis_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A private redis-server (nothing on disk) for this module's tests."""
    binary = shutil.which("redis-server")
    require_service("redis-server (the binary)", binary is not None, "not on PATH")
    assert binary is not None
    port = free_port()
    folder = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not reachable("127.0.0.1", port):
            if proc.poll() is not None or time.monotonic() > deadline:
                require_service(f"a private redis-server on port {port}", False, f"exit {proc.poll()}")
            time.sleep(0.05)
        yield port
    finally:
        proc.kill()
        proc.wait(10)


@pytest.fixture
def redis_broker(redis_port: int) -> str:
    """A Redis database of this test's own on the module's private server (no queue shared with others)."""
    return f"redis://127.0.0.1:{redis_port}/{next(_REDIS_DB)}"
