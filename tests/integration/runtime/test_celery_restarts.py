"""The Celery runtime survives its services restarting: PostgreSQL under running executions, Redis emptied.

Each test runs its own services, never the shared ones: a private PostgreSQL (``initdb`` in a temporary
folder, as the ``postgres`` user when the tests run as root, since initdb refuses root) and a private
``redis-server`` keeping nothing on disk, both on free ports. Two ``ibflow worker`` processes and one
``ibflow beat`` run against them; every process started here is killed in teardown.

Run as a module, this file is a worker with the ``marketable-buy`` analyst registered (every run places a
bracket, so the Redis test has orders to count): ``python -m tests.integration.runtime.test_celery_restarts``.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from tests.conftest import require_service
from tests.factories import make_strategy
from tests.ports import free_port

from ibflow.db import migrate
from ibflow.db.engine import make_engine, session_factory
from ibflow.db.models import Order, StrategyExecution, WorkflowLineage
from ibflow.db.models.paper import PaperOrder
from ibflow.db.states import ExecutionStatus, ExecutionTrigger, OrderRole, StrategyState

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
PG_BINS = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
SYMBOLS = [  # (symbol, conid) of the paper market's universe: one symbol per strategy, no risk clash
    ("AAPL", 265598),
    ("MSFT", 272093),
    ("AMZN", 3691937),
    ("TSLA", 76792991),
    ("NVDA", 4815747),
    ("META", 107113386),
    ("GOOGL", 208813719),
    ("NFLX", 15124833),
    ("AMD", 4391),
    ("INTC", 270639),
    ("IBM", 8314),
    ("ADBE", 265768),
]
FINISHED = (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED, ExecutionStatus.INTERRUPTED)


def _as_postgres() -> list[str]:
    """The prefix that runs a PostgreSQL tool as ``postgres`` when we are root (initdb refuses root)."""
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


class PrivatePostgres:
    """A PostgreSQL cluster of this test's own in a temporary folder, on a free port, trust auth."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="ibflow-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        self._options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c max_connections=200"
        )
        if os.geteuid() == 0:
            os.chmod(self.folder, 0o755)  # noqa: S103 - postgres must enter it
            entry = pwd.getpwnam("postgres")
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)

    def _tool(self, name: str, *args: str, timeout: float = 60) -> None:
        done = subprocess.run(
            [*_as_postgres(), f"{PG_BINS[-1]}/{name}", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert done.returncode == 0, f"{name} failed: {done.stdout}{done.stderr}"

    def start(self) -> None:
        self._tool(
            "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"
        )
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c max_connections=200"
        self._tool(
            "pg_ctl", "-D", str(self.data), "-l", str(self.folder / "log"), "-o", options, "-w", "start"
        )

    def restart(self, down_s: float) -> None:
        """Stop fast (every session cut, a clean checkpoint), stay down ``down_s``, start on the same port."""
        self._tool("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        time.sleep(down_s)
        self._tool(
            "pg_ctl", "-D", str(self.data), "-l", str(self.folder / "log"), "-o", self._options, "-w", "start"
        )

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(Exception):
                self._tool("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", timeout=30)
        shutil.rmtree(self.folder, ignore_errors=True)

    def log(self) -> str:
        path = self.folder / "log"
        return path.read_text(errors="replace") if path.exists() else ""


class PrivateRedis:
    """A ``redis-server`` of this test's own that keeps nothing on disk; killing it loses every message."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            cwd=self.folder,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            ping = subprocess.run(
                ["redis-cli", "-p", str(self.port), "ping"], capture_output=True, text=True, check=False
            )
            if ping.stdout.strip() == "PONG":
                return
            time.sleep(0.1)
        raise AssertionError(f"redis-server on port {self.port} did not start")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None


@dataclass
class Runtime:
    """The services and the ibflow processes of one test."""

    folder: Path
    pg: PrivatePostgres
    redis: PrivateRedis
    env: dict[str, str]
    engine: Engine
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str, *argv: str) -> None:
        """Start an ibflow process (``worker`` or ``beat``, or this module as a worker), output to a file."""
        out = (self.folder / f"{name}.log").open("ab")
        self.procs[name] = subprocess.Popen(
            list(argv), cwd=self.folder, env=self.env, stdout=out, stderr=subprocess.STDOUT
        )
        out.close()

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(20)

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name)

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}"
            for path in sorted(self.folder.glob("*.log"))
        )

    def statuses(self) -> dict[int, ExecutionStatus]:
        with session_factory(self.engine)() as session:
            rows = session.execute(select(StrategyExecution.id, StrategyExecution.status)).all()
        return {int(execution_id): status for execution_id, status in rows}

    def wait_for(self, what: str, ok: Callable[[], bool], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):  # the database may be restarting
                if ok():
                    return
            time.sleep(0.25)
        raise AssertionError(f"{what} not within {timeout_s:g}s\n{self.executions()}\n{self.logs()}")

    def executions(self) -> str:
        """Every execution, one a line (for a failure's message)."""
        columns = (
            StrategyExecution.id,
            StrategyExecution.strategy_id,
            StrategyExecution.trigger,
            StrategyExecution.scheduled_for,
            StrategyExecution.status,
            StrategyExecution.created_at,
            StrategyExecution.started_at,
            StrategyExecution.finished_at,
            StrategyExecution.owner,
            StrategyExecution.summary,
            StrategyExecution.error,
        )
        try:
            with session_factory(self.engine)() as session:
                rows = session.execute(select(*columns).order_by(StrategyExecution.id)).all()
        except Exception as exc:
            return f"(no executions: {exc})"
        return "\n".join(" | ".join(str(value)[:160] for value in row) for row in rows)


IBFLOW = (str(Path(sys.executable).parent / "ibflow"),)
WORKER_WITH_BUYER = (sys.executable, "-m", "tests.integration.runtime.test_celery_restarts")


@pytest.fixture
def runtime() -> Iterator[Runtime]:
    """A private PostgreSQL (migrated) and Redis, the environment of the ibflow processes, and teardown."""
    require_service("initdb (PostgreSQL server binaries)", bool(PG_BINS), "no /usr/lib/postgresql/*/bin")
    require_service("redis-server", shutil.which("redis-server") is not None, "not on PATH")
    if os.geteuid() == 0:
        require_service("runuser and a postgres user", _has_postgres_user(), "needed to run initdb as root")
    folder = Path(tempfile.mkdtemp(prefix="ibflow-celery-restarts-"))
    pg, redis = PrivatePostgres(), PrivateRedis(folder)
    engine: Engine | None = None
    runtime: Runtime | None = None
    try:
        pg.start()
        redis.start()
        migrate.upgrade(pg.url)
        engine = make_engine(pg.url)
        env = {key: value for key, value in os.environ.items() if not key.startswith("IBFLOW_")}
        env.update(
            {
                "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
                "IBFLOW_RUNNER": "celery",
                "IBFLOW_DATABASE_URL": pg.url,
                "IBFLOW_CELERY_BROKER_URL": redis.url,
                "IBFLOW_DATA_DIR": str(folder / "var"),
                "IBFLOW_DISPATCH_INTERVAL_SECONDS": "1",
                "IBFLOW_REQUEUE_AFTER_SECONDS": "10",
                "IBFLOW_WORKER_HEARTBEAT_SECONDS": "2",
                "IBFLOW_WORKER_DEAD_AFTER_SECONDS": "30",
                "IBFLOW_PAPER_STARTING_CASH": "10000000",
                "IBFLOW_MAX_OPEN_POSITIONS": "50",
                "IBFLOW_MAX_EXPOSURE_FRACTION": "1",
            }
        )
        runtime = Runtime(folder, pg, redis, env, engine)
        yield runtime
    finally:
        if runtime is not None:
            runtime.stop_all()
        redis.kill()
        if engine is not None:
            engine.dispose()
        pg.stop()
        shutil.rmtree(folder, ignore_errors=True)


def _has_postgres_user() -> bool:
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return False
    return shutil.which("runuser") is not None


def _strategies(engine: Engine, count: int, *, due: datetime, **overrides: Any) -> list[int]:
    with session_factory(engine)() as session:
        ids = [
            make_strategy(
                session, now=due, symbol=symbol, conid=conid, name=f"restart-{symbol}", **overrides
            ).id
            for symbol, conid in SYMBOLS[:count]
        ]
        session.commit()
    return ids


def _count(engine: Engine, model: Any) -> int:
    with session_factory(engine)() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_workers_reconnect_after_postgres_restarts_under_running_executions(runtime: Runtime) -> None:
    engine = runtime.engine
    now = datetime.now(UTC)
    strategy_ids = _strategies(engine, 12, due=now, timeframes=["1d", "1w"])
    for n in (1, 2):
        runtime.start(f"worker-{n}", *IBFLOW, "worker", "-c", "2")
    runtime.start("beat", *IBFLOW, "beat")

    # the first slot is dispatched at once; restart PostgreSQL while its runs are going
    def running() -> bool:
        return ExecutionStatus.RUNNING in runtime.statuses().values()

    runtime.wait_for("an execution running", running, 60)
    with session_factory(engine)() as session:
        committed = {
            "executions": _count(engine, StrategyExecution),
            "lineage": _count(engine, WorkflowLineage),
            "succeeded": len(
                session.scalars(
                    select(StrategyExecution.id).where(StrategyExecution.status == ExecutionStatus.SUCCEEDED)
                ).all()
            ),
        }
        before_ids = set(session.scalars(select(StrategyExecution.id)).all())
        before_lineage = set(
            session.execute(select(WorkflowLineage.execution_id, WorkflowLineage.step_index)).all()
        )
    restarted_at = datetime.now(UTC)
    runtime.pg.restart(down_s=3)  # a restart that takes a few seconds, as a real one does
    engine.dispose()  # our own pooled connections died with the server

    # nothing committed before the restart is lost
    with session_factory(engine)() as session:
        assert before_ids <= set(session.scalars(select(StrategyExecution.id)).all())
        after_lineage = set(
            session.execute(select(WorkflowLineage.execution_id, WorkflowLineage.step_index)).all()
        )
        assert before_lineage <= after_lineage
    assert _count(engine, StrategyExecution) >= committed["executions"]
    assert _count(engine, WorkflowLineage) >= committed["lineage"]

    # the workers reconnect: a later slot of every strategy runs to succeeded
    def later_slots_succeeded() -> bool:
        with session_factory(engine)() as session:
            done = session.scalars(
                select(StrategyExecution.strategy_id).where(
                    StrategyExecution.status == ExecutionStatus.SUCCEEDED,
                    StrategyExecution.scheduled_for > restarted_at,
                )
            ).all()
        return set(done) == set(strategy_ids)

    runtime.wait_for("a later slot of every strategy succeeded", later_slots_succeeded, 110)

    # and nothing stays running: the runs the restart cut ended one way or another
    def none_running() -> bool:
        return ExecutionStatus.RUNNING not in runtime.statuses().values()

    runtime.wait_for("no execution left running", none_running, 30)
    with session_factory(engine)() as session:
        slots = session.execute(select(StrategyExecution.strategy_id, StrategyExecution.scheduled_for)).all()
    assert len(slots) == len(set(slots))  # one execution per strategy and slot
    for name, proc in runtime.procs.items():
        assert proc.poll() is None, f"{name} exited with {proc.returncode}\n{runtime.logs()}"


def test_queued_executions_lost_with_redis_come_back_and_run_exactly_once(runtime: Runtime) -> None:
    from ibflow import bootstrap

    engine = runtime.engine
    strategy_ids = _strategies(
        engine,
        8,
        due=datetime.now(UTC) + timedelta(days=1),
        analyst="marketable-buy",
        state=StrategyState.ACTIVE,
    )
    # queue manual runs with no worker up: the messages sit in Redis only
    with _environment(runtime.env):
        container = bootstrap.build()
        try:
            execution_ids = [container.run_now(strategy_id) for strategy_id in strategy_ids]  # type: ignore[arg-type]
        finally:
            container.engine.dispose()
    queued = subprocess.run(
        ["redis-cli", "-p", str(runtime.redis.port), "llen", "executions"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert int(queued.stdout.strip()) == len(execution_ids)

    runtime.redis.kill()  # every message is lost: nothing was on disk
    runtime.redis.start()
    emptied = subprocess.run(
        ["redis-cli", "-p", str(runtime.redis.port), "dbsize"], capture_output=True, text=True, check=True
    )
    assert emptied.stdout.strip() == "0"
    assert set(runtime.statuses().values()) == {ExecutionStatus.QUEUED}

    time.sleep(10)  # older than IBFLOW_REQUEUE_AFTER_SECONDS: the re-queueing task sends them again too
    for n in (1, 2):
        runtime.start(f"worker-{n}", *WORKER_WITH_BUYER)
    runtime.start("beat", *IBFLOW, "beat")

    def all_finished() -> bool:
        statuses = runtime.statuses()
        return all(statuses[execution_id] in FINISHED for execution_id in execution_ids)

    runtime.wait_for("every queued execution finished", all_finished, 90)
    time.sleep(12)  # a second re-queueing pass and its duplicate messages get their chance to do harm

    with session_factory(engine)() as session:
        executions = session.scalars(select(StrategyExecution).order_by(StrategyExecution.id)).all()
        assert [e.id for e in executions] == sorted(execution_ids)  # no new execution was created
        assert all(e.trigger is ExecutionTrigger.MANUAL for e in executions)
        assert [e.status for e in executions] == [ExecutionStatus.SUCCEEDED] * len(execution_ids), [
            (e.id, e.status, e.error) for e in executions
        ]
        lineage = session.execute(
            select(WorkflowLineage.execution_id, func.count()).group_by(WorkflowLineage.execution_id)
        ).all()
        assert dict(lineage) == dict.fromkeys(execution_ids, 11)  # each ran once
        orders = session.scalars(select(Order.client_order_id)).all()
        at_broker = session.scalars(  # bracket children carry no client id at the broker
            select(PaperOrder.client_order_id).where(PaperOrder.client_order_id.is_not(None))
        ).all()
        entries = session.scalars(select(Order.strategy_id).where(Order.role == OrderRole.ENTRY)).all()
    assert orders, "no run placed an order: the marketable-buy analyst was not used"
    assert len(orders) == len(set(orders))
    assert len(at_broker) == len(set(at_broker))
    assert set(at_broker) <= set(orders)
    assert sorted(entries) == sorted(strategy_ids)  # one bracket per strategy: none ran twice


@contextlib.contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _worker_with_buyer() -> None:
    """``ibflow worker`` on every queue, with the ``marketable-buy`` analyst registered."""
    from tests.workflow_support import MarketableBuy

    from ibflow import bootstrap

    container = bootstrap.build()
    container.analysts["marketable-buy"] = MarketableBuy
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    container.start_worker(queues=["executions", "trading", "maintenance"], concurrency=2)


if __name__ == "__main__":
    _worker_with_buyer()
