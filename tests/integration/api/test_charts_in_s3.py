"""A full execution on the paper broker with IBFLOW_CHART_STORE=s3 (moto's server over HTTP on loopback):
its charts land in the bucket by content and users fetch them only through the authorised API route."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.integration.api.conftest import Api, problem
from tests.s3_server import bucket_name, dummy_credentials, object_keys, s3_server

from ibflow.core.ids import StrategyId
from ibflow.db.models import Strategy
from ibflow.db.models.executions import Chart

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with s3_server() as url:
        yield url


@pytest.fixture
def bucket(endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    dummy_credentials(monkeypatch, tmp_path)
    name = bucket_name()
    for variable, value in {
        "IBFLOW_CHART_STORE": "s3",
        "IBFLOW_S3_ENDPOINT_URL": endpoint,
        "IBFLOW_S3_BUCKET": name,
        "IBFLOW_S3_PATH_STYLE": "true",
        "IBFLOW_S3_CREATE_BUCKET": "true",
    }.items():
        monkeypatch.setenv(variable, value)
    return name


@pytest.fixture
def s3_api(bucket: str, api: Api) -> Api:  # ``bucket`` first: the app is built with the S3 settings
    return api


def test_the_charts_of_an_execution_are_in_the_bucket_and_served_only_to_users(
    s3_api: Api, bucket: str, endpoint: str
) -> None:
    api = s3_api
    with api.container.read_sessions() as session:
        strategy_id = session.scalars(select(Strategy.id).where(Strategy.name == "demo-spy-bands")).one()
    executor = api.container.executor()
    assert executor.run(executor.create_manual(StrategyId(strategy_id))).status.value == "succeeded"
    with api.container.read_sessions() as session:
        charts = list(session.scalars(select(Chart).order_by(Chart.id)))
    assert charts
    assert object_keys(endpoint, bucket) == sorted({chart.store_key for chart in charts})
    assert not api.container.settings.charts.folder.exists()  # nothing went to the local folder

    viewer = api.bearer("viewer")
    for chart in charts:
        assert chart.store_key == f"sha256/{chart.sha256[:2]}/{chart.sha256}.png"
        answer = api.fresh().get(f"/api/v1/charts/{chart.id}.png", headers=viewer)
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "image/png"
        assert answer.headers["cache-control"].startswith("private")
        assert hashlib.sha256(answer.content).hexdigest() == chart.sha256
        assert len(answer.content) == chart.size_bytes
        assert "location" not in answer.headers  # the bytes themselves, no redirect to the bucket
        assert endpoint not in str(answer.headers)
        anonymous = api.fresh().get(f"/api/v1/charts/{chart.id}.png")
        assert problem(anonymous)["status"] == 401
