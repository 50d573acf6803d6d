"""``POST /api/v1/broker/sync``: a trader syncs with the broker now instead of waiting for the tracking tick.

The entry of a scripted marketable buy fills at the paper broker as soon as its clock moves on; ibflow learns
of it only when the tracking job runs, which the request runs at once (in this process, the inline runner)
and answers what changed. With Celery it sends the tracking job to the workers' queue (202).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import select
from tests.integration.api.conftest import Api, problem, serve_app
from tests.integration.api.test_resources import _as, _buying, _run, _v1
from typer.testing import CliRunner

from ibflow import bootstrap
from ibflow.cli import app as cli
from ibflow.core.errors import SessionUnavailable
from ibflow.db.models import AuditLog, Fill, Order
from ibflow.db.states import OrderRole, OrderState

pytestmark = pytest.mark.integration


def _entry(api: Api, strategy_id: int) -> Order:
    with api.container.read_sessions() as session:
        return session.scalars(
            select(Order).where(Order.strategy_id == strategy_id, Order.role == OrderRole.ENTRY)
        ).one()


def test_a_trader_syncs_and_the_fill_made_at_the_paper_broker_is_recorded_and_reported(api: Api) -> None:
    spy = _buying(api)
    _run(api, spy)
    entry = _entry(api, spy)
    assert entry.state == OrderState.WORKING  # the executor does not sync after sending
    api.clock.advance(timedelta(minutes=1))  # the paper broker fills the marketable entry

    answer = _as(api, "trader").post("/broker/sync")

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["queued"], body["complete"], body["trading_state"]) == (False, True, "ACTIVE")
    (account,) = body["accounts"]
    assert account["error"] is None
    moved = {move["order_id"]: (move["before"], move["after"]) for move in account["orders"]}
    assert moved[entry.id] == ("working", "filled")
    (fill,) = account["fills"]
    assert (fill["order_id"], fill["side"], fill["quantity"]) == (
        entry.id,
        "BUY",
        f"{entry.quantity.normalize():f}",
    )
    assert f"#{entry.id} SPY entry working -> filled" in body["message"]
    assert "1 new fill" in body["message"]
    assert _entry(api, spy).state == OrderState.FILLED
    with api.container.read_sessions() as session:
        recorded = session.scalars(select(Fill).where(Fill.order_id == entry.id)).one()
    assert f"{recorded.price.normalize():f}" == fill["price"]

    again = _as(api, "trader").post("/broker/sync").json()
    assert again["accounts"][0]["orders"] == []
    assert again["accounts"][0]["fills"] == []
    assert again["message"].endswith("nothing changed")


def test_a_viewer_is_refused_and_nobody_syncs_without_logging_in(api: Api) -> None:
    spy = _buying(api)
    _run(api, spy)
    api.clock.advance(timedelta(minutes=1))

    refused = _as(api, "viewer").post("/broker/sync")
    anonymous = _v1(api.fresh()).post("/broker/sync")

    assert (refused.status_code, anonymous.status_code) == (403, 401)
    assert problem(refused)["status"] == 403
    assert problem(anonymous)["status"] == 401
    assert _entry(api, spy).state == OrderState.WORKING  # nothing was synced


def test_the_cli_syncs_in_one_line(api: Api) -> None:
    account_id = api.container.account_ids()[0]

    result = CliRunner().invoke(cli, ["order", "sync"])  # on the fixture's database (its environment)

    assert result.exit_code == 0, result.output
    assert result.output == f"synced with the broker: {account_id}: nothing changed\n"


@pytest.fixture
def celery_api(migrated_sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    monkeypatch.setenv("IBFLOW_RUNNER", "celery")
    monkeypatch.setenv("IBFLOW_CELERY_BROKER_URL", "memory://")
    yield from serve_app(migrated_sqlite_url, tmp_path, monkeypatch)


def test_with_celery_the_tracking_job_goes_to_the_trading_queue(celery_api: Api) -> None:
    spy = _buying(celery_api)
    _run(celery_api, spy)
    account_id = celery_api.container.account_ids()[0]

    answer = _as(celery_api, "trader").post("/broker/sync")

    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert (body["queued"], body["jobs"]) == (True, [f"track_orders[{account_id}]"])
    assert "trading queue" in body["message"]
    assert celery_api.container.queue_depths() == {"executions": 0, "trading": 1, "maintenance": 0}
    assert _entry(celery_api, spy).state == OrderState.WORKING  # a worker syncs it, not the API


def test_a_client_without_csrf_token_is_refused(api: Api) -> None:
    browser = api.login("trader")
    del browser.headers["X-CSRF-Token"]
    answer = browser.post("/api/v1/broker/sync")
    assert answer.status_code == 403, answer.text


def test_a_broker_that_cannot_be_reached_is_a_503_that_says_so(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    handle = api.container.accounts()[0]

    def away(*_args: object) -> None:
        raise SessionUnavailable("the broker session is not authenticated")

    monkeypatch.setattr(handle.broker, "live_orders", away)

    answer = _as(api, "trader").post("/broker/sync")

    assert answer.status_code == 503, answer.text
    detail = problem(answer)["detail"]
    assert f"{handle.account_id}: not synced: the broker session is not authenticated" in detail
    assert "Traceback" not in answer.text


def test_the_tracking_and_watch_intervals_follow_the_environment_within_their_limits(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    account_id = api.container.account_ids()[0]
    defaults = {job.name: job.interval_s for job in api.container.periodic_jobs()}
    monkeypatch.setenv("IBFLOW_TRACK_INTERVAL_SECONDS", "3600")
    monkeypatch.setenv("IBFLOW_WATCH_INTERVAL_SECONDS", "300")
    quiet = bootstrap.build(clock=api.clock)
    try:
        chosen = {job.name: job.interval_s for job in quiet.periodic_jobs()}
    finally:
        quiet.engine.dispose()

    assert defaults[f"track_orders[{account_id}]"] == 10
    assert defaults[f"watch_protection[{account_id}]"] == 30
    assert chosen[f"track_orders[{account_id}]"] == 3600
    assert chosen[f"watch_protection[{account_id}]"] == chosen[f"expire_entries[{account_id}]"] == 300
    monkeypatch.setenv("IBFLOW_TRACK_INTERVAL_SECONDS", "0")
    with pytest.raises(ValidationError, match="track_interval_seconds"):
        bootstrap.load_settings()


def test_an_unexpected_broker_failure_is_a_503_naming_its_kind_not_a_500(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    handle = api.container.accounts()[0]

    def broken(*_args: object) -> None:
        raise KeyError("conid")  # a defect, not a broker error: still this account's answer

    monkeypatch.setattr(handle.broker, "live_orders", broken)

    answer = _as(api, "trader").post("/broker/sync")

    assert answer.status_code == 503, answer.text
    detail = problem(answer)["detail"]
    assert f"{handle.account_id}: not synced: unexpected KeyError (details in the server log)" in detail


def test_a_sync_that_stops_after_recording_a_fill_still_reports_the_fill(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = _buying(api)
    _run(api, spy)
    entry = _entry(api, spy)
    api.clock.advance(timedelta(minutes=1))
    handle = api.container.accounts()[0]

    def away(*_args: object) -> None:
        raise SessionUnavailable("gateway session dropped")

    monkeypatch.setattr(handle.broker, "account_summary", away)  # read after the orders were synced

    answer = _as(api, "trader").post("/broker/sync")

    assert answer.status_code == 200, answer.text  # not "not synced": the fill is in the books
    (account,) = answer.json()["accounts"]
    assert account["error"] == "gateway session dropped"
    assert [fill["order_id"] for fill in account["fills"]] == [entry.id]
    assert f"#{entry.id} SPY entry working -> filled" in answer.json()["message"]
    assert "then stopped: gateway session dropped" in answer.json()["message"]


def test_a_second_sync_while_one_runs_is_refused_with_409_and_each_is_audited(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    handle = api.container.accounts()[0]
    inner = handle.broker.live_orders
    seen: list[int] = []

    def live_orders(account_id: str) -> object:
        if not seen:  # inside the first sync: a trader clicks again
            seen.append(_as(api, "trader").post("/broker/sync").status_code)
        return inner(account_id)  # type: ignore[arg-type]

    monkeypatch.setattr(handle.broker, "live_orders", live_orders)

    first = _as(api, "trader").post("/broker/sync")

    assert first.status_code == 200, first.text
    assert seen == [409]
    with api.container.read_sessions() as session:
        rows = session.scalars(select(AuditLog).where(AuditLog.action == "broker.sync")).all()
    assert [(row.actor, row.detail.startswith("synced with the broker")) for row in rows] == [
        ("trader", True)
    ]
