"""The real API app over HTTP (Starlette's test client) on a migrated SQLite copy, on a manual clock.

Three users (``owner`` an admin, ``trader``, ``viewer``) with known passwords; ``login`` opens a cookie
session and remembers its CSRF token; ``bearer`` makes a token. The demo is seeded so reads have data.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ibflow import bootstrap
from ibflow.api.app import create_app
from ibflow.core.clock import ManualClock
from ibflow.db.states import UserRole
from ibflow.users.admin import require_user
from ibflow.users.service import create_user
from ibflow.users.tokens import create_token
from ibflow.web.site import mount_site
from ibflow.workflow.strategies.demo import seed_demo

PASSWORD = "correct horse battery staple"
ROLES = {"owner": UserRole.ADMIN, "trader": UserRole.TRADER, "viewer": UserRole.VIEWER}
"""The demo seeds its own ``admin`` (random password) too."""


@dataclass
class Api:
    """The app, its container and clock, and helpers to call it as someone."""

    container: bootstrap.Container
    clock: ManualClock
    client: TestClient

    def fresh(self) -> TestClient:
        """Another client (another browser) on the same app."""
        return TestClient(self.client.app)

    def login(self, username: str, password: str = PASSWORD, client: TestClient | None = None) -> TestClient:
        """Log ``client`` (a new one by default) in; its writes carry the CSRF token."""
        browser = client or self.fresh()
        answer = browser.post("/api/v1/auth/login", json={"username": username, "password": password})
        assert answer.status_code == 200, answer.text
        browser.headers["X-CSRF-Token"] = answer.json()["csrf_token"]
        return browser

    def bearer(self, username: str, name: str = "tests", expires_days: int | None = None) -> dict[str, str]:
        """Return the Authorization header of a new token of ``username``."""
        with self.container.sessions() as session:
            made = create_token(
                session,
                user=require_user(session, username),
                name=name,
                clock=self.clock,
                expires_days=expires_days,
            )
            session.commit()
        return {"Authorization": f"Bearer {made.token}"}


@pytest.fixture
def api(migrated_sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    yield from serve_app(migrated_sqlite_url, tmp_path, monkeypatch)


def serve_app(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, site: bool = False
) -> Iterator[Api]:
    """The app (with the web pages when ``site``) on the demo and the three users, as a test client."""
    monkeypatch.setenv("IBFLOW_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("IBFLOW_DATABASE_URL", url)
    clock = ManualClock(datetime(2026, 3, 3, 15, 0, tzinfo=UTC))
    container = bootstrap.build(clock=clock)
    seed_demo(container.sessions, contracts=container.contract_service(), clock=clock)
    with container.sessions() as session:
        for name, role in ROLES.items():
            create_user(session, username=name, password=PASSWORD, role=role, clock=clock)
        session.commit()
    app = create_app(container)
    if site:
        mount_site(app)
    with TestClient(app, follow_redirects=not site) as client:
        yield Api(container, clock, client)
    container.engine.dispose()


def problem(answer: Any) -> dict[str, Any]:
    """Return a problem document, checking its media type."""
    assert answer.headers["content-type"].startswith("application/problem+json"), answer.headers
    body: dict[str, Any] = answer.json()
    assert body["status"] == answer.status_code
    return body


def field_errors(answer: Any) -> dict[str, str]:
    """Return a 422's bad fields and their messages."""
    assert answer.status_code == 422, answer.text
    return {item["field"]: item["problem"] for item in problem(answer)["errors"]}
