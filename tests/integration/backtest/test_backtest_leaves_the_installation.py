"""A backtest's charts and figures stay its own, whatever the installation is configured with."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from ibflow import bootstrap
from ibflow.charts.local_store import LocalChartStore
from ibflow.core import metrics
from ibflow.core.settings import ChartSettings

pytestmark = pytest.mark.integration


def test_a_backtest_keeps_charts_in_its_folder_and_counts_nothing_in_the_machines_metrics(
    tmp_path: Path,
) -> None:
    installation = bootstrap.Settings(
        charts=ChartSettings(
            chart_store="s3", s3_bucket="production-charts", s3_endpoint_url="http://127.0.0.1:9"
        )
    )
    metrics.configure(tmp_path / "machine-metrics")  # as bootstrap.build does with IBFLOW_METRICS_DIR
    try:
        container = bootstrap.build_backtest(
            installation,
            tmp_path / "backtests" / "one",
            bootstrap.read_bar_data(None),
            cash=Decimal(100_000),
            start=datetime(2017, 1, 3, tzinfo=UTC),
        )
        store = container.chart_store
        assert isinstance(store, LocalChartStore)  # never the installation's bucket
        store.put("sha256/ab/one.png", b"png")
        assert (
            tmp_path / "backtests" / "one" / "charts" / "sha256" / "ab" / "one.png"
        ).read_bytes() == b"png"
        assert metrics.directory() is None  # the replay's figures stay in this process
        container.engine.dispose()
    finally:
        metrics.configure(None)
