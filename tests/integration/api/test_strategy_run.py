"""``POST /strategies/{id}/run``: a run now on the service's workers, answered at once, then its lineage."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.integration.api.conftest import Api, problem

from ibflow.api.app import create_app
from ibflow.db.models import Strategy
from ibflow.workflow.runtime.runner import InlineRunner
from ibflow.workflow.runtime.service import InlineService

pytestmark = pytest.mark.integration


@pytest.fixture
def served(api: Api) -> Iterator[tuple[TestClient, InlineService]]:
    """The app as ``ibflow serve`` builds it: run requests go to a runner's worker threads."""
    executor = api.container.executor()
    runner = InlineRunner(executor.run, workers=1)
    service = InlineService(
        sessions=api.container.sessions, clock=api.clock, runner=runner, queue_manual=executor.create_manual
    )
    with TestClient(create_app(api.container, run_now=service.run_now)) as client:
        yield client, service
    runner.shutdown()


def _strategy_id(api: Api, name: str) -> int:
    with api.container.read_sessions() as session:
        found: int = session.scalars(select(Strategy.id).where(Strategy.name == name)).one()
    return found


def _finished(client: TestClient, path: str, headers: dict[str, str]) -> dict[str, object]:
    deadline = time.monotonic() + 120  # a bound on the wait, not a speed check
    while time.monotonic() < deadline:
        detail: dict[str, object] = client.get(path, headers=headers).json()
        if detail["status"] in ("succeeded", "failed"):
            return detail
        time.sleep(0.1)
    raise AssertionError(f"{path} did not finish")


def test_a_trader_runs_a_strategy_and_reads_its_eleven_steps(
    api: Api, served: tuple[TestClient, InlineService]
) -> None:
    client, _ = served
    trader = api.bearer("trader")
    strategy_id = _strategy_id(api, "demo-spy-bands")
    answer = client.post(f"/api/v1/strategies/{strategy_id}/run", headers=trader)
    assert answer.status_code == 202, answer.text
    started = answer.json()
    assert (started["strategy_id"], started["status"]) == (strategy_id, "queued")
    detail = _finished(client, started["lineage"], trader)
    assert (detail["id"], detail["trigger"], detail["status"]) == (
        started["execution_id"],
        "manual",
        "succeeded",
    )
    steps = detail["steps"]
    assert isinstance(steps, list)
    assert len(steps) == 11
    assert steps[0]["name"] == "load_strategy"
    listed = client.get(f"/api/v1/executions?strategy_id={strategy_id}", headers=trader).json()
    assert started["execution_id"] in [row["id"] for row in listed]


def test_running_an_unknown_strategy_is_404_and_a_viewer_is_refused(
    api: Api, served: tuple[TestClient, InlineService]
) -> None:
    client, _ = served
    assert (
        problem(client.post("/api/v1/strategies/987654/run", headers=api.bearer("trader")))["status"] == 404
    )
    refused = client.post(
        f"/api/v1/strategies/{_strategy_id(api, 'demo-spy-bands')}/run", headers=api.bearer("viewer")
    )
    assert problem(refused)["status"] == 403


def test_a_stopping_service_and_a_process_without_one_answer_503_and_queue_nothing(
    api: Api, served: tuple[TestClient, InlineService]
) -> None:
    client, service = served
    trader = api.bearer("trader")
    strategy_id = _strategy_id(api, "demo-spy-bands")
    service.stopping.set()
    stopping = client.post(f"/api/v1/strategies/{strategy_id}/run", headers=trader)
    assert problem(stopping)["status"] == 503
    assert "stopping" in problem(stopping)["detail"]
    web_only = api.client.post(f"/api/v1/strategies/{strategy_id}/run", headers=trader)  # as `ibflow web`
    assert problem(web_only)["status"] == 503
    assert "ibflow serve" in problem(web_only)["detail"]
    assert client.get(f"/api/v1/executions?strategy_id={strategy_id}", headers=trader).json() == []
