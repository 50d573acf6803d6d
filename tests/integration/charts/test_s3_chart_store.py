"""The S3 chart store against moto's S3 server over HTTP on loopback: real charts in, the same bytes out.

The store is built the way ``ibflow`` builds it (``bootstrap`` from ``IBFLOW_*`` settings), so the settings,
the client's path-style addressing and the bucket check are what a deployment gets.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select
from tests.ports import free_port
from tests.s3_server import (
    DUMMY_SECRET,
    bucket_name,
    dummy_credentials,
    object_keys,
    plain_client,
    s3_server,
)
from tests.workflow_support import MarketableBuy, Rig, ScriptedAnalyst, add_strategy, make_rig

from ibflow import bootstrap
from ibflow.charts.render import ChartSpec, render_chart
from ibflow.charts.store import ChartStore, content_key
from ibflow.core.clock import ManualClock, SystemClock
from ibflow.core.errors import ConfigurationError, NotFound, Unavailable
from ibflow.core.ids import StrategyId
from ibflow.db.engine import SessionFactory, make_engine, session_factory
from ibflow.db.locks import NamedLocks
from ibflow.db.models import Chart, Strategy
from ibflow.indicators.compute import IndicatorConfig, compute_all
from ibflow.workflow.executor import Executor
from ibflow.workflow.runtime.prune import prune

pytestmark = pytest.mark.integration
OHLCV = Path(__file__).resolve().parents[2] / "data" / "ohlcv"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with s3_server() as url:
        yield url


@pytest.fixture
def s3_env(endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """Settings of an S3 chart store on the moto server, path-style, bucket created; return the bucket."""
    dummy_credentials(monkeypatch, tmp_path)
    bucket = bucket_name()
    for name, value in {
        "IBFLOW_DATA_DIR": str(tmp_path / "var"),
        "IBFLOW_CHART_STORE": "s3",
        "IBFLOW_S3_ENDPOINT_URL": endpoint,
        "IBFLOW_S3_REGION": "eu-central-1",
        "IBFLOW_S3_BUCKET": bucket,
        "IBFLOW_S3_PREFIX": "ibflow/charts",
        "IBFLOW_S3_PATH_STYLE": "true",
        "IBFLOW_S3_CREATE_BUCKET": "true",
    }.items():
        monkeypatch.setenv(name, value)
    return bucket


def _store_from_settings() -> ChartStore:
    settings = bootstrap.load_settings()
    container = bootstrap.Container(settings, SystemClock(), make_engine("sqlite://"))
    try:
        return container.chart_store
    finally:
        container.engine.dispose()


@pytest.fixture
def store(s3_env: str) -> ChartStore:
    return _store_from_settings()


def _real_chart(days: int = 200) -> bytes:
    raw = pd.read_csv(next(OHLCV.glob("AAPL-*.csv")), parse_dates=["Date"]).tail(days)
    index = pd.DatetimeIndex(raw["Date"], name="ts").tz_localize("UTC")
    bars = pd.DataFrame(
        {c.lower(): raw[c].to_numpy(dtype=np.float64) for c in ("Open", "High", "Low", "Close", "Volume")},
        index=index,
    )
    configs = [
        IndicatorConfig("sma_20", "sma", {"period": 20}),
        IndicatorConfig("rsi_14", "rsi", {"period": 14}),
    ]
    outputs = compute_all(bars, configs)
    return render_chart(bars, [(c, outputs[c.key]) for c in configs], ChartSpec("AAPL", "1d"))


def test_a_rendered_chart_reads_back_byte_identical_from_the_bucket_under_its_content_key(
    store: ChartStore, s3_env: str, endpoint: str
) -> None:
    png = _real_chart()
    key = content_key(hashlib.sha256(png).hexdigest())
    store.put(key, png)

    assert store.get(key) == png
    assert object_keys(endpoint, s3_env) == [f"ibflow/charts/{key}"]
    stored = plain_client(endpoint).get_object(Bucket=s3_env, Key=f"ibflow/charts/{key}")
    assert stored["ContentType"] == "image/png"
    assert stored["Body"].read() == png
    assert store.locate(key) == f"s3://{s3_env}/ibflow/charts/{key}"  # no URL anyone could fetch
    store.delete(key)
    store.delete(key)  # deleting what is gone is fine
    with pytest.raises(NotFound, match="no chart under key"):
        store.get(key)
    assert object_keys(endpoint, s3_env) == []


def test_a_duplicate_chart_is_stored_once(store: ChartStore, s3_env: str, endpoint: str) -> None:
    first, other = _real_chart(), _real_chart(days=150)
    for png in (first, first, other, first):
        store.put(content_key(hashlib.sha256(png).hexdigest()), png)
    assert len(object_keys(endpoint, s3_env)) == 2


def test_a_missing_bucket_is_created_only_when_the_setting_says_so(
    s3_env: str, endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IBFLOW_S3_CREATE_BUCKET", "false")
    with pytest.raises(ConfigurationError) as refused:
        _store_from_settings()
    message = str(refused.value)
    assert f"the S3 bucket {s3_env!r} at {endpoint} does not exist" in message
    assert "IBFLOW_S3_CREATE_BUCKET=true" in message
    names = [b["Name"] for b in plain_client(endpoint).list_buckets()["Buckets"]]
    assert s3_env not in names

    monkeypatch.setenv("IBFLOW_S3_CREATE_BUCKET", "true")
    created = _store_from_settings()
    region = plain_client(endpoint).get_bucket_location(Bucket=s3_env)["LocationConstraint"]
    assert region == "eu-central-1"
    created.put("sha256/ab/one.png", b"png")
    monkeypatch.setenv("IBFLOW_S3_CREATE_BUCKET", "false")  # it exists now: no setting needed
    assert _store_from_settings().get("sha256/ab/one.png") == b"png"


def test_an_unreachable_endpoint_is_unavailable_and_says_where(
    s3_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("IBFLOW_S3_ENDPOINT_URL", nowhere)
    monkeypatch.setenv("IBFLOW_S3_TIMEOUT_SECONDS", "2")
    with pytest.raises(Unavailable, match=f"the S3 bucket '{s3_env}' at {nowhere} is unreachable"):
        _store_from_settings()


def test_secret_credentials_from_the_settings_reach_no_message_and_no_log(
    s3_env: str, endpoint: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("IBFLOW_S3_ACCESS_KEY_ID", "settings-key-id")
    monkeypatch.setenv("IBFLOW_S3_SECRET_ACCESS_KEY", "settings-secret-hunter2")
    caplog.set_level(logging.DEBUG)
    store = _store_from_settings()  # the bucket is created with the settings' credentials
    store.put("sha256/cd/two.png", b"png")
    assert store.get("sha256/cd/two.png") == b"png"
    monkeypatch.setenv("IBFLOW_S3_BUCKET", bucket_name())
    monkeypatch.setenv("IBFLOW_S3_CREATE_BUCKET", "false")
    with pytest.raises(ConfigurationError) as refused:
        _store_from_settings()
    shown = str(bootstrap.load_settings().charts) + str(refused.value) + store.locate("sha256/cd/two.png")
    for secret in ("settings-secret-hunter2", DUMMY_SECRET):
        assert secret not in shown
        assert secret not in caplog.text


def _with_store(rig: Rig, store: ChartStore) -> Rig:
    deps = replace(rig.deps, chart_store=store)
    return replace(rig, deps=deps, executor=Executor(deps))


def _run(rig: Rig, sessions: SessionFactory, name: str, analyst: str, symbol: str = "AAPL") -> int:
    strategy_id = add_strategy(rig, name=name, symbol=symbol)
    with sessions() as session:
        session.get_one(Strategy, strategy_id).analyst = analyst
        session.commit()
    execution_id = rig.executor.create_manual(StrategyId(strategy_id))
    assert rig.executor.run(execution_id).status.value == "succeeded"
    return execution_id


def _keys(sessions: SessionFactory, execution_id: int) -> set[str]:
    with sessions() as session:
        return set(session.scalars(select(Chart.store_key).where(Chart.execution_id == execution_id)))


@pytest.fixture(params=["sqlite", "postgresql"])
def rig(
    request: pytest.FixtureRequest, clock: ManualClock, tmp_path: Path, store: ChartStore
) -> Iterator[Rig]:
    """The workflow rig on the paper broker, its charts in the S3 store, on SQLite and on PostgreSQL."""
    url = request.getfixturevalue("migrated_sqlite_url" if request.param == "sqlite" else "migrated_pg_url")
    engine = make_engine(url)
    sessions = session_factory(engine)
    yield _with_store(make_rig(sessions, clock, tmp_path / "unused", NamedLocks(engine)), store)
    engine.dispose()


def test_executions_store_identical_charts_once_and_pruning_deletes_them_when_no_kept_run_needs_them(
    rig: Rig, s3_env: str, endpoint: str
) -> None:
    sessions, store = rig.sessions, rig.deps.chart_store
    rig.analysts["buy"] = MarketableBuy()
    rig.analysts["hold"] = ScriptedAnalyst('{"action": "HOLD"}')
    bought = _run(rig, sessions, "buyer", "buy")
    held = _run(rig, sessions, "holder", "hold")  # the same symbol and bars: the same charts
    other = _run(rig, sessions, "other", "hold", symbol="MSFT")
    shared, own = _keys(sessions, bought), _keys(sessions, other)
    assert _keys(sessions, held) == shared
    assert not shared & own
    assert object_keys(endpoint, s3_env) == sorted(f"ibflow/charts/{key}" for key in shared | own)
    with sessions() as session:  # every row's bytes are the stored object's
        for chart in session.scalars(select(Chart)):
            assert hashlib.sha256(store.get(chart.store_key)).hexdigest() == chart.sha256

    rig.clock.advance(timedelta(hours=7))
    report = prune(sessions, store=store, clock=rig.clock, keep=timedelta(days=30))

    assert report.charts == len(shared) + len(own)  # the rows of both runs without an order
    assert _keys(sessions, held) == set()
    assert _keys(sessions, other) == set()
    # The holder's charts are the buyer's too: they stay; the other symbol's went with its only rows.
    assert object_keys(endpoint, s3_env) == sorted(f"ibflow/charts/{key}" for key in shared)
