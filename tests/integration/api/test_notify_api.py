"""``/api/v1/notify``: each user's own targets, global ones for admins, URLs masked, a test message."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from tests.integration.api.conftest import Api, problem
from tests.notify_receiver import receiver
from tests.ports import free_port

from ibflow.db.models import AuditLog

pytestmark = pytest.mark.integration
SECRET = "hunter2hunter2"
URL = f"json://me:{SECRET}@127.0.0.1:9/hook"


def test_a_user_manages_their_own_targets_and_an_admin_sees_every_one(api: Api) -> None:
    viewer = api.bearer("viewer")
    mine = api.client.post(
        "/api/v1/notify/targets",
        json={"url": URL, "label": "phone", "notifications": ["exit"]},
        headers=viewer,
    )
    assert mine.status_code == 201, mine.text
    body = mine.json()
    assert (body["owner"], body["url"], body["notifications"]) == ("viewer", "json://127.0.0.1:9/…", ["exit"])
    assert body["deliveries"] == {"pending": 0, "sent": 0, "failed": 0}

    admin = api.bearer("owner")
    shared = api.client.post("/api/v1/notify/targets", json={"url": URL}, headers=admin)
    assert shared.status_code == 201, shared.text
    assert shared.json()["owner"] == "global"
    assert "risk_block" not in shared.json()["notifications"]

    seen_by_viewer = api.client.get("/api/v1/notify/targets", headers=viewer).json()
    seen_by_admin = api.client.get("/api/v1/notify/targets", headers=admin).json()
    assert [t["id"] for t in seen_by_viewer] == [body["id"]]
    assert [t["id"] for t in seen_by_admin] == [body["id"], shared.json()["id"]]

    trader = api.bearer("trader")
    shared_id = shared.json()["id"]
    for method in ("GET", "PATCH", "DELETE"):  # another's target is not theirs to know of
        answer = api.client.request(method, f"/api/v1/notify/targets/{shared_id}", json={}, headers=trader)
        assert answer.status_code == 404, (method, answer.text)

    changed = api.client.patch(
        f"/api/v1/notify/targets/{body['id']}", json={"enabled": False, "label": "old phone"}, headers=viewer
    )
    assert (changed.json()["enabled"], changed.json()["label"]) == (False, "old phone")
    gone = api.client.delete(f"/api/v1/notify/targets/{body['id']}", headers=viewer)
    assert gone.status_code == 204
    assert api.client.get("/api/v1/notify/targets", headers=viewer).json() == []

    with api.container.sessions() as session:
        audit = session.scalars(select(AuditLog).where(AuditLog.action.like("notify.%"))).all()
    assert [(row.actor, row.action) for row in audit] == [
        ("viewer", "notify.target_added"),
        ("owner", "notify.target_added"),
        ("viewer", "notify.target_changed"),
        ("viewer", "notify.target_removed"),
    ]
    everything = repr([(row.before, row.after, row.detail) for row in audit]) + repr(seen_by_admin)
    assert SECRET not in everything


def test_only_an_admin_adds_a_target_for_someone_else(api: Api) -> None:
    refused = api.client.post(
        "/api/v1/notify/targets", json={"url": URL, "owner": "viewer"}, headers=api.bearer("trader")
    )
    assert refused.status_code == 403
    assert "only an admin" in problem(refused)["detail"]
    allowed = api.client.post(
        "/api/v1/notify/targets", json={"url": URL, "owner": "viewer"}, headers=api.bearer("owner")
    )
    assert allowed.status_code == 201
    assert allowed.json()["owner"] == "viewer"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": f"nosuch://me:{SECRET}@example.com"}, "url"),
        ({"url": URL, "notifications": ["fills"]}, "events"),
        ({"url": URL, "owner": "nobody"}, "user"),
        ({"url": URL, "colour": "red"}, "colour"),
    ],
)
def test_a_bad_target_is_a_422_naming_the_field(api: Api, body: dict[str, object], field: str) -> None:
    answer = api.client.post("/api/v1/notify/targets", json=body, headers=api.bearer("viewer"))
    assert answer.status_code == 422
    found = problem(answer)
    assert field in {error["field"] for error in found["errors"]}
    assert SECRET not in answer.text


def test_a_test_message_reaches_the_target_or_says_why_not(api: Api) -> None:
    viewer = api.bearer("viewer")
    with receiver() as http:
        sent = api.client.post(
            "/api/v1/notify/test", json={"url": http.url("t", user=f"me:{SECRET}")}, headers=viewer
        )
        bodies = http.bodies("t")
    assert sent.json() == {"sent": True, "url": f"json://127.0.0.1:{http.port}/…", "error": None}
    assert len(bodies) == 1
    closed = f"json://me:{SECRET}@127.0.0.1:{free_port()}/t"
    failed = api.client.post("/api/v1/notify/test", json={"url": closed}, headers=viewer)
    assert failed.status_code == 200
    assert failed.json()["sent"] is False
    assert "Connection error" in failed.json()["error"]
    assert SECRET not in failed.text
    bad = api.client.post("/api/v1/notify/test", json={"url": "json://"}, headers=viewer)
    assert bad.status_code == 422
