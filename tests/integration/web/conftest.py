"""The pages on the real app (the API's app with ``mount_site``), through Starlette's test client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.integration.api.conftest import PASSWORD, Api, serve_app

__all__ = ["PASSWORD", "Api"]


@pytest.fixture
def site(migrated_sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    yield from serve_app(migrated_sqlite_url, tmp_path, monkeypatch, site=True)
