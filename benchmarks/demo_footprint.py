"""The demo's disk footprint: run ``ibflow serve`` on the demo in a fresh data folder and measure its growth.

``python -m benchmarks.demo_footprint [--minutes 60] [--keep DIR]`` migrates a new data folder, seeds the
demo, runs ``ibflow serve`` (the real process, on the wall clock: ibflow has no accelerated clock for serve)
for the given minutes, stops it with SIGTERM, then reads the folder: its growth (database and charts), the
executions, those that placed an order, and the trades closed by a stop or a target in the first hour.
The day's growth is the measured growth per minute times 1,440: an upper bound, since the prune job gives
back the charts of executions without an order once they are older than
``IBFLOW_CHART_RETENTION_NO_ORDER_HOURS`` (and the day's first hour also fills the bars cache, once).

``--analyze DIR`` only reads a folder a run left behind (with ``--keep``). Results go to
``benchmarks/results/demo_footprint.json`` and ``.md``. Exits 1 when the day's figure exceeds 150 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks import RESULTS, free_port

TARGET_MB_PER_DAY = 150.0
MB = 1_000_000
BIN = Path(sys.executable).parent


def folder_bytes(folder: Path) -> int:
    """Return the bytes of every file under ``folder`` (the SQLite file, its journal and the charts)."""
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def _ibflow(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [str(BIN / "ibflow"), *args], env=env, capture_output=True, text=True, check=True, timeout=300
    )
    return done.stdout


def serve(data: Path, minutes: float, log: Path) -> dict[str, object]:
    """Seed the demo in ``data``, run ``ibflow serve`` for ``minutes`` and return the size samples."""
    env = {
        **os.environ,
        "IBFLOW_DATA_DIR": str(data),
        "IBFLOW_LOG_LEVEL": "INFO",
        "IBFLOW_HTTP_PORT": str(free_port()),  # serve binds the API too
    }
    env.pop("IBFLOW_DATABASE_URL", None)
    _ibflow(env, "migrate")
    _ibflow(env, "demo")
    before = folder_bytes(data)
    started = datetime.now(UTC)
    samples: list[tuple[float, int]] = [(0.0, before)]
    with log.open("w", encoding="utf-8") as output:
        process = subprocess.Popen(
            [str(BIN / "ibflow"), "serve"], env=env, stdout=output, stderr=subprocess.STDOUT
        )
        try:
            deadline = time.monotonic() + minutes * 60
            while time.monotonic() < deadline and process.poll() is None:
                time.sleep(min(60.0, max(0.0, deadline - time.monotonic())))
                samples.append(((datetime.now(UTC) - started).total_seconds() / 60, folder_bytes(data)))
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=300)
    return {
        "started_at": started.isoformat(timespec="seconds"),
        "minutes": minutes,
        "bytes_before": before,
        "samples": samples,
    }


def simulate(data: Path, minutes: float, log: Path, start: datetime | None = None) -> dict[str, object]:
    """Like ``serve`` but in-process on a manual clock moved a minute at a time (as the service tests do).

    The same container ``ibflow serve`` builds (scheduler, runner, paper broker, periodic jobs), only the
    clock is a ``ManualClock``: each simulated minute dispatches due strategies, waits for their runs, then
    runs the periodic jobs whose (simulated) interval has passed.
    """
    import logging

    from ibflow import bootstrap
    from ibflow.core.clock import ManualClock
    from ibflow.workflow.strategies.demo import seed_demo

    os.environ["IBFLOW_DATA_DIR"] = str(data)
    os.environ.pop("IBFLOW_DATABASE_URL", None)
    logging.basicConfig(filename=log, level=logging.INFO)
    _ibflow(dict(os.environ), "migrate")
    clock = ManualClock(start or datetime.now(UTC).replace(second=0, microsecond=0))
    container = bootstrap.build(clock=clock)
    seed_demo(container.sessions, contracts=container.contract_service(), clock=clock)
    before = folder_bytes(data)
    started = clock.now()
    service = container.service()
    service.recover()
    samples: list[tuple[float, int]] = [(0.0, before)]
    for minute in range(1, int(minutes) + 1):
        clock.advance(timedelta(minutes=1))
        service.tick()
        _settle(container)
        service.run_jobs(now_s=minute * 60.0)
        samples.append((float(minute), folder_bytes(data)))
    service.stopping.set()
    container.engine.dispose()
    return {
        "started_at": started.isoformat(timespec="seconds"),
        "minutes": minutes,
        "bytes_before": before,
        "samples": samples,
        "clock": "manual (simulated minutes)",
    }


def _settle(container: object) -> None:
    from sqlalchemy import func, select

    from ibflow.db.models.executions import StrategyExecution
    from ibflow.db.states import ExecutionStatus

    busy_states = (ExecutionStatus.QUEUED, ExecutionStatus.RUNNING)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        with container.sessions() as session:  # type: ignore[attr-defined]
            busy = session.scalar(
                select(func.count())
                .select_from(StrategyExecution)
                .where(StrategyExecution.status.in_(busy_states))
            )
        if not busy:
            return
        time.sleep(0.05)


def analyze(data: Path, run: dict[str, object]) -> dict[str, object]:
    """Read the folder after a run: growth, executions, orders, chart bytes and first-hour exits."""
    started = datetime.fromisoformat(str(run["started_at"]))
    minutes = float(str(run["minutes"]))
    after = folder_bytes(data)
    growth = after - int(str(run["bytes_before"]))
    charts_dir = data / "charts"
    database = sqlite3.connect(f"file:{data / 'ibflow.db'}?mode=ro", uri=True)
    try:
        executions = database.execute("select count(*) from strategy_executions").fetchone()[0]
        with_orders = database.execute(
            "select count(distinct execution_id) from orders where execution_id is not null"
        ).fetchone()[0]
        order_charts = database.execute(
            "select store_key from charts where execution_id in (select execution_id from orders)"
        ).fetchall()
        first_hour = (started + timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")
        exits = database.execute(
            "select exit_reason, count(*) from trades where closed_at < ? group by exit_reason", (first_hour,)
        ).fetchall()
    finally:
        database.close()
    order_chart_bytes = sum(
        (charts_dir / key).stat().st_size for (key,) in order_charts if (charts_dir / key).exists()
    )
    chart_bytes = folder_bytes(charts_dir) if charts_dir.exists() else 0
    database_bytes = sum(p.stat().st_size for p in data.glob("ibflow.db*"))
    per_day = growth / minutes * 24 * 60
    # The prune job removes no-order charts once older than the retention, so a day keeps at most that
    # many hours of them; the rest (database, charts of order runs) grows all day.
    retention_h = float(os.environ.get("IBFLOW_CHART_RETENTION_NO_ORDER_HOURS", "6"))
    no_order_charts = chart_bytes - order_chart_bytes
    kept_per_day = (growth - no_order_charts) / minutes * 24 * 60 + no_order_charts / minutes * 60 * min(
        24.0, retention_h
    )
    exit_counts = {str(reason): int(count) for reason, count in exits}
    return {
        "name": "demo_footprint",
        "minutes": minutes,
        "started_at": run["started_at"],
        "growth_bytes": growth,
        "database_bytes": database_bytes,
        "chart_bytes": chart_bytes,
        "order_chart_bytes": order_chart_bytes,
        "executions": executions,
        "executions_with_orders": with_orders,
        "bytes_per_execution": round(growth / executions) if executions else None,
        "clock": run.get("clock", "wall clock (ibflow serve)"),
        "mb_per_day_without_pruning": round(per_day / MB, 1),
        "chart_retention_no_order_hours": retention_h,
        "mb_per_day": round(kept_per_day / MB, 1),
        "first_hour_exits": exit_counts,
        "first_hour_stop_or_target_exits": exit_counts.get("stop", 0) + exit_counts.get("target", 0),
        "target": f"at most {TARGET_MB_PER_DAY:.0f} MB a day",
        "passed": kept_per_day / MB <= TARGET_MB_PER_DAY,
        "samples": run["samples"],
    }


def _mb(value: object) -> str:
    return f"{int(str(value)) / MB:.2f} MB"


def _markdown(result: dict[str, object]) -> str:
    verdict = "met" if result["passed"] else "MISSED"
    return "\n".join(
        [
            "# Demo footprint: the demo served for an hour, extrapolated to a day",
            "",
            f"Run with `.venv/bin/python -m benchmarks.demo_footprint --minutes {result['minutes']:g}"
            f"{' --simulated' if 'manual' in str(result['clock']) else ''}` (started {result['started_at']}, "
            f"clock: {result['clock']}, fresh data folder, default settings).",
            "",
            "| measure | value |",
            "|---|---:|",
            f"| minutes served | {result['minutes']:g} |",
            f"| executions | {result['executions']} |",
            f"| executions that placed an order | {result['executions_with_orders']} |",
            f"| data folder growth | {int(str(result['growth_bytes'])) / MB:.2f} MB |",
            f"| of which charts (all / of order executions) | {_mb(result['chart_bytes'])} / "
            f"{_mb(result['order_chart_bytes'])} |",
            f"| database file | {int(str(result['database_bytes'])) / MB:.2f} MB |",
            f"| bytes per execution | {result['bytes_per_execution']} |",
            f"| growth x 24 h, as if nothing were pruned | {result['mb_per_day_without_pruning']} MB |",
            f"| **growth in a day, no-order charts pruned after "
            f"{result['chart_retention_no_order_hours']:g} h** | **{result['mb_per_day']} MB** |",
            f"| first-hour exits by stop or target | **{result['first_hour_stop_or_target_exits']}** "
            f"({result['first_hour_exits']}) |",
            "",
            f"- target: {result['target']}: **{verdict}**",
            "",
        ]
    )


def main(argv: list[str]) -> int:
    """Run (or only analyse) the footprint measurement and write its results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--keep", type=Path, help="data folder to use and keep (default: a temporary one)")
    parser.add_argument("--analyze", type=Path, help="only read a folder a kept run left")
    parser.add_argument(
        "--simulated", action="store_true", help="in-process on a manual clock: an hour in a few minutes"
    )
    parser.add_argument(
        "--start", type=datetime.fromisoformat, help="with --simulated: the clock's start (default now), UTC"
    )
    args = parser.parse_args(argv)
    if args.analyze is not None:
        run = json.loads((args.analyze / "footprint-run.json").read_text(encoding="utf-8"))
        result = analyze(args.analyze / "var", run)
    else:
        base = args.keep or Path(tempfile.mkdtemp(prefix="ibflow-footprint-"))
        base.mkdir(parents=True, exist_ok=True)
        if args.simulated:
            start = args.start.replace(tzinfo=args.start.tzinfo or UTC) if args.start else None
            run = simulate(base / "var", args.minutes, base / "serve.log", start)
        else:
            run = serve(base / "var", args.minutes, base / "serve.log")
        (base / "footprint-run.json").write_text(json.dumps(run), encoding="utf-8")
        result = analyze(base / "var", run)
        print(f"data folder kept in {base}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "demo_footprint_simulated" if "manual" in str(result["clock"]) else "demo_footprint"
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    (RESULTS / f"{name}.md").write_text(_markdown(result), encoding="utf-8")
    print(_markdown(result))
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
