"""``ibflow serve`` in a child process, with a scripted analyst registered (for the crash tests)."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

from tests.workflow_support import MarketableBuy

from ibflow import bootstrap
from ibflow.core.settings import BrokerSettings, ChartSettings, DatabaseSettings, RunnerSettings

ACCOUNT = "PAPER-CRASH"


def settings(url: str, folder: Path) -> bootstrap.Settings:
    """The settings both the test and the child use."""
    return bootstrap.Settings(
        database=DatabaseSettings(database_url=url),
        broker=BrokerSettings(paper_account_id=ACCOUNT),
        charts=ChartSettings(charts_dir=folder / "charts"),
        runner=RunnerSettings(workers=1, dispatch_interval_seconds=0.2),
    )


def main(url: str, folder: str, seconds: float) -> None:
    """Serve like ``ibflow serve`` for ``seconds`` (or until killed)."""
    container = bootstrap.build(settings(url, Path(folder)))
    container.analysts["marketable-buy"] = MarketableBuy
    service = container.service()
    signal.signal(signal.SIGTERM, lambda *_: service.stopping.set())
    threading.Timer(seconds, service.stopping.set).start()
    service.serve()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]))
