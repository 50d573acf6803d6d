"""IBFLOW_CHART_STORE and the S3 settings: mistakes end in one line naming the variable to fix."""

from __future__ import annotations

import pydantic
import pytest

from ibflow.charts.s3_store import S3ChartStore, s3_client
from ibflow.cli import explain
from ibflow.core.errors import ConfigurationError
from ibflow.core.settings import ChartSettings


def _refused(monkeypatch: pytest.MonkeyPatch, **env: str) -> str:
    for name in list(ChartSettings.model_fields):
        monkeypatch.delenv(f"IBFLOW_{name.upper()}", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(pydantic.ValidationError) as caught:
        ChartSettings(_env_file=None)  # type: ignore[call-arg]
    line = explain(caught.value)
    assert line is not None
    return line


def test_the_local_folder_stays_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IBFLOW_CHART_STORE", raising=False)
    assert ChartSettings(_env_file=None).chart_store == "local"  # type: ignore[call-arg]


def test_s3_without_a_bucket_names_the_bucket_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    line = _refused(monkeypatch, IBFLOW_CHART_STORE="s3")
    assert (
        line
        == "invalid setting: IBFLOW_S3_BUCKET: Value error, must name the bucket when IBFLOW_CHART_STORE=s3"
    )


def test_an_unknown_store_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "IBFLOW_CHART_STORE: Input should be 'local' or 's3'" in _refused(
        monkeypatch, IBFLOW_CHART_STORE="gcs"
    )


def test_half_a_key_pair_is_refused_without_showing_the_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    line = _refused(monkeypatch, IBFLOW_S3_SECRET_ACCESS_KEY="hunter2-secret")
    assert (
        "IBFLOW_S3_ACCESS_KEY_ID: Value error, IBFLOW_S3_ACCESS_KEY_ID and IBFLOW_S3_SECRET_ACCESS_KEY go"
        in line
    )
    assert "hunter2" not in line


@pytest.mark.parametrize("prefix", ["../up", "a//b", "with space", ".hidden"])
def test_a_prefix_that_is_no_key_is_refused_before_any_request(prefix: str) -> None:
    client = s3_client(
        endpoint_url="http://127.0.0.1:9",  # nothing listens: a request would fail differently
        region="us-east-1",
        path_style=True,
        access_key_id="id",
        secret_access_key="secret",
        timeout_s=1,
    )
    with pytest.raises(ConfigurationError, match="IBFLOW_S3_PREFIX"):
        S3ChartStore(client, bucket="charts", prefix=prefix)
