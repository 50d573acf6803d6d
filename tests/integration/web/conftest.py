"""The pages on the real app (the API's app with ``mount_site``), through Starlette's test client."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.integration.api.conftest import PASSWORD, ROLES, Api

from ibflow import bootstrap
from ibflow.api.app import create_app
from ibflow.core.clock import ManualClock
from ibflow.users.service import create_user
from ibflow.web.site import mount_site
from ibflow.workflow.strategies.demo import seed_demo

__all__ = ["PASSWORD", "Api"]


@pytest.fixture
def site(migrated_sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    monkeypatch.setenv("IBFLOW_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("IBFLOW_DATABASE_URL", migrated_sqlite_url)
    clock = ManualClock(datetime(2026, 3, 3, 15, 0, tzinfo=UTC))
    container = bootstrap.build(clock=clock)
    seed_demo(container.sessions, contracts=container.contract_service(), clock=clock)
    with container.sessions() as session:
        for name, role in ROLES.items():
            create_user(session, username=name, password=PASSWORD, role=role, clock=clock)
        session.commit()
    app = create_app(container)
    mount_site(app)
    with TestClient(app, follow_redirects=False) as client:
        yield Api(container, clock, client)
    container.engine.dispose()
