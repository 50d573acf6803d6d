"""Logins, sessions and tokens over HTTP: what a browser and a script see, and what ends a login."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.integration.api.conftest import PASSWORD, Api, problem

from ibflow.db.models.users import UserSession

pytestmark = pytest.mark.integration
LOGIN = "/api/v1/auth/login"


def test_login_sets_an_http_only_lax_cookie_and_answers_the_csrf_token(api: Api) -> None:
    browser = api.fresh()
    answer = browser.post(LOGIN, json={"username": "Trader", "password": PASSWORD})
    assert answer.status_code == 200
    me = answer.json()
    assert (me["username"], me["role"], me["via"]) == ("trader", "trader", "session")
    cookie = answer.headers["set-cookie"]
    assert "ibflow_session=ibs_" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Secure" not in cookie  # plain HTTP here; HTTPS adds it
    assert browser.get("/api/v1/auth/me").json()["csrf_token"] == me["csrf_token"]
    with api.container.read_sessions() as session:  # only the hash is stored
        stored = session.query(UserSession.token_hash).all()
    token = browser.cookies["ibflow_session"]
    assert stored
    assert all(token not in row.token_hash for row in stored)


def test_unknown_user_disabled_user_and_wrong_password_get_the_same_answer(api: Api) -> None:
    owner = api.login("owner")
    assert owner.patch("/api/v1/users/viewer", json={"is_active": False}).status_code == 200
    answers = [
        api.fresh().post(LOGIN, json={"username": name, "password": password})
        for name, password in (("nobody", PASSWORD), ("viewer", PASSWORD), ("trader", "wrong password here"))
    ]
    assert {a.status_code for a in answers} == {401}
    assert len({a.json()["detail"] for a in answers}) == 1


def test_failed_logins_are_throttled_per_user_name_with_retry_after(api: Api) -> None:
    client = api.fresh()
    for _ in range(5):
        assert (
            client.post(LOGIN, json={"username": "trader", "password": "not the password"}).status_code == 401
        )
    throttled = client.post(LOGIN, json={"username": "trader", "password": PASSWORD})  # even the right one
    assert throttled.status_code == 429
    assert int(throttled.headers["Retry-After"]) > 0
    assert problem(throttled)["retry_after"] == int(throttled.headers["Retry-After"])
    assert (
        client.post(LOGIN, json={"username": "viewer", "password": PASSWORD}).status_code == 200
    )  # another name
    api.clock.advance(timedelta(minutes=16))
    assert client.post(LOGIN, json={"username": "trader", "password": PASSWORD}).status_code == 200


def test_a_session_expires_when_idle_renews_when_used_and_ends_at_its_lifetime(api: Api) -> None:
    settings = api.container.settings.api
    idle = timedelta(minutes=settings.session_idle_minutes)
    lifetime = timedelta(hours=settings.session_lifetime_hours)
    browser = api.login("viewer")
    start = api.clock.now()
    while api.clock.now() - start + idle < lifetime:
        api.clock.advance(idle - timedelta(minutes=1))
        assert browser.get("/api/v1/status").status_code == 200  # used in time: the expiry slides
    api.clock.set(start + lifetime + timedelta(seconds=1))
    assert browser.get("/api/v1/status").status_code == 401  # used all along, it still ends at its lifetime

    idler = api.login("viewer")
    api.clock.advance(idle + timedelta(seconds=1))
    assert problem(idler.get("/api/v1/status"))["detail"] == "the session ended; log in again"


def test_renewal_writes_the_session_row_at_most_once_a_minute(api: Api) -> None:
    browser = api.login("viewer")

    def renewed() -> object:
        with api.container.read_sessions() as session:
            return session.query(UserSession.renewed_at).one().renewed_at

    first = renewed()
    for _ in range(5):
        api.clock.advance(timedelta(seconds=5))
        assert browser.get("/api/v1/auth/me").status_code == 200
    assert renewed() == first
    api.clock.advance(timedelta(seconds=40))
    browser.get("/api/v1/auth/me")
    assert renewed() != first


def test_logout_and_logout_everywhere(api: Api) -> None:
    laptop, phone, tablet = api.login("trader"), api.login("trader"), api.login("trader")
    assert laptop.post("/api/v1/auth/logout").json() == {"ended": 1}
    assert laptop.get("/api/v1/status").status_code == 401
    assert phone.get("/api/v1/status").status_code == 200  # another session of the same user lives on
    assert phone.post("/api/v1/auth/logout-everywhere").json() == {"ended": 2}
    assert tablet.get("/api/v1/status").status_code == 401


def test_a_cookie_write_without_the_csrf_token_is_refused_and_bearer_needs_none(api: Api) -> None:
    browser = api.login("trader")
    token = browser.headers.pop("X-CSRF-Token")
    refused = browser.post("/api/v1/strategies/1/pause")
    assert refused.status_code == 403
    assert "CSRF" in problem(refused)["detail"]
    altered = token[:-1] + ("1" if token.endswith("0") else "0")  # always a different token
    wrong = browser.post("/api/v1/strategies/1/pause", headers={"X-CSRF-Token": altered})
    assert wrong.status_code == 403
    assert browser.get("/api/v1/strategies/1").json()["state"] == "active"  # nothing changed
    script = api.fresh()
    paused = script.post("/api/v1/strategies/1/pause", headers=api.bearer("trader"))
    assert paused.json()["state"] == "paused"


def test_disabling_a_user_or_changing_password_or_role_ends_their_sessions(api: Api) -> None:
    owner = api.login("owner")
    changes = (
        ({"password": "another long password"}, {"password": PASSWORD}),
        ({"role": "viewer"}, {"role": "trader"}),
        ({"is_active": False}, {"is_active": True}),
    )
    for change, undo in changes:
        victim = api.login("trader")
        assert victim.get("/api/v1/status").status_code == 200
        assert owner.patch("/api/v1/users/trader", json=change).status_code == 200
        assert victim.get("/api/v1/status").status_code == 401, change
        assert owner.patch("/api/v1/users/trader", json=undo).status_code == 200
    assert api.fresh().post(LOGIN, json={"username": "trader", "password": PASSWORD}).status_code == 200


def test_a_revoked_or_expired_token_never_authenticates(api: Api) -> None:
    script = api.fresh()
    header = api.bearer("viewer", expires_days=1)
    assert script.get("/api/v1/status", headers=header).status_code == 200
    api.clock.advance(timedelta(days=1, seconds=1))
    assert script.get("/api/v1/status", headers=header).status_code == 401
    other = api.bearer("viewer", name="cron job")
    owner = api.login("owner")
    listed = owner.get("/api/v1/tokens").json()
    token_id = next(t["id"] for t in listed if t["name"] == "cron job")
    assert "token" not in listed[0]
    assert owner.delete(f"/api/v1/tokens/{token_id}").json()["revoked_at"] is not None
    assert problem(script.get("/api/v1/status", headers=other))["status"] == 401


def test_a_new_token_is_shown_once_and_acts_with_its_users_role(api: Api) -> None:
    owner = api.login("owner")
    made = owner.post("/api/v1/tokens", json={"username": "viewer", "name": "dashboard"})
    assert made.status_code == 201
    token = made.json()["token"]
    assert token.startswith("ibt_")
    script = api.fresh()
    headers = {"Authorization": f"Bearer {token}"}
    assert script.get("/api/v1/auth/me", headers=headers).json()["username"] == "viewer"
    assert script.post("/api/v1/trading/halt", json={"reason": "x"}, headers=headers).status_code == 403
    assert all("token" not in item for item in owner.get("/api/v1/tokens").json())


def test_a_body_over_the_limit_is_413_declared_or_streamed_in_chunks(api: Api) -> None:
    limit = api.container.settings.api.max_body_bytes
    declared = api.fresh().post(
        LOGIN, content=b"x" * (limit + 1), headers={"content-type": "application/json"}
    )
    streamed = api.fresh().post(
        LOGIN,
        content=(b"x" * 1000 for _ in range(limit // 1000 + 2)),  # no Content-Length: chunked
        headers={"content-type": "application/json"},
    )
    for answer in (declared, streamed):
        assert answer.status_code == 413
        assert problem(answer)["detail"] == f"at most {limit} bytes"


def test_parallel_wrong_passwords_cannot_outrun_the_throttle(api: Api) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def attempt(_: int) -> int:
        answer = api.fresh().post(LOGIN, json={"username": "owner", "password": "wrong password here"})
        return answer.status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        codes = list(pool.map(attempt, range(32)))
    allowed = api.container.settings.api.login_failures_per_user
    assert codes.count(401) == allowed, codes  # every attempt beyond the limit is refused before argon2
    assert codes.count(429) == 32 - allowed


def test_a_disabled_users_tokens_stay_revoked_when_the_user_is_enabled_again(api: Api) -> None:
    token = api.bearer("trader")
    owner = api.login("owner")
    assert api.fresh().get("/api/v1/auth/me", headers=token).status_code == 200
    assert owner.patch("/api/v1/users/trader", json={"is_active": False}).status_code == 200
    assert owner.patch("/api/v1/users/trader", json={"is_active": True}).status_code == 200
    assert api.fresh().get("/api/v1/auth/me", headers=token).status_code == 401


@pytest.mark.parametrize(("trusted", "secure"), [("127.0.0.1", True), ("", False)])
def test_behind_a_trusted_tls_proxy_the_cookie_is_secure_and_only_then(
    api: Api, monkeypatch: pytest.MonkeyPatch, trusted: str, secure: bool
) -> None:
    import httpx2
    from tests.ports import free_port

    from ibflow import bootstrap
    from ibflow.api.server import ApiServer

    monkeypatch.setenv("IBFLOW_HTTP_TRUSTED_PROXIES", trusted)
    container = bootstrap.build(clock=api.clock)
    server = ApiServer(container, host="127.0.0.1", port=free_port())
    server.start()
    try:
        answer = httpx2.post(
            f"{server.url}{LOGIN}",
            json={"username": "owner", "password": PASSWORD},
            headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"},
            timeout=10,
        )
    finally:
        server.stop()
        container.engine.dispose()
    assert answer.status_code == 200, answer.text
    assert ("Secure" in answer.headers["set-cookie"]) is secure
