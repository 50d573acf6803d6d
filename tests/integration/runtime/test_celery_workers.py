"""The Celery runtime with real processes: ``ibflow worker`` and ``ibflow beat`` on PostgreSQL and a broker.

Each test gets its own migrated PostgreSQL database and its own queues: a private ``redis-server`` for the
module (each test on a database number of its own), or a RabbitMQ vhost created and deleted by the test. The
paper market is deterministic per seed and time: ``_buying_seed`` picks a seed on which the rules analyst
(no indicators: the close against its own 20-bar mean) says BUY now, so runs reach ``place_orders``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from tests.conftest import require_service
from tests.factories import make_strategy
from tests.ports import reachable

from ibflow.brokers.paper.broker import PaperBroker
from ibflow.brokers.paper.market.prices import SimulatedMarket
from ibflow.core.clock import SystemClock
from ibflow.core.faultpoints import AFTER_BROKER_CALL, AFTER_INTENT_COMMIT, ENV
from ibflow.core.ids import Conid, StrategyId
from ibflow.core.settings import BrokerSettings
from ibflow.db.engine import SessionFactory, make_engine, session_factory
from ibflow.db.models import Order, StrategyExecution, WorkflowLineage
from ibflow.db.models.paper import PaperOrder
from ibflow.db.states import ExecutionStatus, OrderRole, OrderState, StepStatus
from ibflow.marketdata.cache import InProcessTtlCache
from ibflow.marketdata.contracts import ContractService
from ibflow.workflow.lineage import STEP_NAMES
from ibflow.workflow.runtime.recovery import INTERRUPTED

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
AAPL = 265598
STRATEGIES = 50
DEAD_AFTER_S = 20  # the minimum the settings allow
UNSETTLED = (OrderState.INTENT, OrderState.SUBMITTING, OrderState.SUBMIT_UNKNOWN)


# --- services ----------------------------------------------------------------------------------------------


@pytest.fixture
def rabbitmq_broker() -> Iterator[str]:
    """A private vhost on the machine's RabbitMQ, deleted afterwards."""
    ctl = shutil.which("rabbitmqctl")
    require_service("RabbitMQ at 127.0.0.1:5672", reachable("127.0.0.1", 5672), "port closed")
    require_service("rabbitmqctl", ctl is not None, "not on PATH")
    assert ctl is not None
    vhost = f"ibflow-test-{os.getpid()}-{time.monotonic_ns()}"

    def ctl_run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([ctl, *args], capture_output=True, text=True, timeout=60, check=False)

    added = ctl_run("add_vhost", vhost)
    require_service("rabbitmqctl add_vhost", added.returncode == 0, (added.stderr or added.stdout)[-300:])
    try:
        granted = ctl_run("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        assert granted.returncode == 0, granted.stderr
        yield f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    finally:
        ctl_run("delete_vhost", vhost)


# --- processes ---------------------------------------------------------------------------------------------


@dataclass
class Procs:
    """The ibflow processes a test started, with their logs; every one is killed at teardown."""

    folder: Path
    env: dict[str, str]
    started: list[tuple[str, subprocess.Popen[bytes], Path]] = field(default_factory=list)

    def start(self, name: str, *args: str, fault: str | None = None) -> subprocess.Popen[bytes]:
        env = dict(self.env)
        if fault:
            env[ENV] = fault
        log = self.folder / f"{name}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-c", "from ibflow.cli import main; main()", *args],
                cwd=self.folder,  # no .env of the checkout is read
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.started.append((name, proc, log))
        return proc

    def worker(self, name: str, *, fault: str | None = None, concurrency: int = 2) -> subprocess.Popen[bytes]:
        return self.start(
            name, "worker", "-Q", "executions,trading,maintenance", "-c", str(concurrency), fault=fault
        )

    def beat(self) -> subprocess.Popen[bytes]:
        return self.start("beat", "beat")

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(15)

    def stop_all(self) -> None:
        for _name, proc, _log in self.started:
            self.stop(proc)

    def check_alive(self) -> None:
        """Fail at once when a process that should run has ended (the logs say why)."""
        for name, proc, _log in self.started:
            if proc.poll() is not None and name != "crashing-worker":
                raise AssertionError(f"{name} ended with {proc.returncode}\n{self.logs()}")

    def logs(self, tail: int = 4000) -> str:
        parts = []
        for name, proc, log in self.started:
            text = log.read_text(errors="replace") if log.exists() else ""
            parts.append(f"----- {name} (pid {proc.pid}, exit {proc.poll()}) -----\n{text[-tail:]}")
        return "\n".join(parts)


def _env(url: str, broker: str, folder: Path, seed: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IBFLOW_")}
    env.update(
        {
            # This tree's src first: in a git worktree the venv's editable install may point elsewhere.
            "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
            "IBFLOW_RUNNER": "celery",
            "IBFLOW_DATABASE_URL": url,
            "IBFLOW_CELERY_BROKER_URL": broker,
            "IBFLOW_DATA_DIR": str(folder / "data"),
            "IBFLOW_PAPER_SEED": str(seed),
            "IBFLOW_DISPATCH_INTERVAL_SECONDS": "1",
            "IBFLOW_WORKER_HEARTBEAT_SECONDS": "1",
            "IBFLOW_WORKER_DEAD_AFTER_SECONDS": str(DEAD_AFTER_S),
            "IBFLOW_REQUEUE_AFTER_SECONDS": "10",
            "IBFLOW_SUBMIT_UNKNOWN_GRACE_SECONDS": "10",
            "IBFLOW_LOG_LEVEL": "INFO",
        }
    )
    return env


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], Procs]]:
    made: list[Procs] = []

    def make(env: dict[str, str]) -> Procs:
        made.append(Procs(tmp_path, env))
        return made[-1]

    try:
        yield make
    finally:
        for group in made:
            group.stop_all()


@pytest.fixture
def database(migrated_pg_url: str) -> Iterator[SessionFactory]:
    engine = make_engine(migrated_pg_url)
    try:
        yield session_factory(engine)
    finally:
        engine.dispose()


# --- helpers -----------------------------------------------------------------------------------------------


def _buying_seed(now: datetime) -> int:
    """A paper seed on which AAPL closes well above its 20-bar mean now: the rules analyst buys for a bit."""
    for seed in range(20260101, 20260101 + 200):
        market = SimulatedMarket(seed=seed)
        closes = [float(bar.close) for bar in market.daily_bars(AAPL, now - timedelta(days=1100), now)]
        if len(closes) >= 20 and closes[-1] > 1.015 * sum(closes[-20:]) / 20:
            return seed
    raise AssertionError("no seed among 200 makes the rules analyst buy AAPL now")


def _wait(what: str, done: Callable[[], Any], procs: Procs, timeout: float, every: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = done()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{procs.logs()}")
        procs.check_alive()
        time.sleep(every)


def _execution_counts(sessions: SessionFactory, slot: datetime) -> dict[ExecutionStatus, int]:
    with sessions() as session:
        rows = session.execute(
            select(StrategyExecution.status, func.count())
            .where(StrategyExecution.scheduled_for == slot)
            .group_by(StrategyExecution.status)
        ).all()
    return {ExecutionStatus(status): int(count) for status, count in rows}


def _assert_no_duplicate_order(sessions: SessionFactory) -> None:
    with sessions() as session:
        ours = session.execute(
            select(Order.client_order_id, func.count())
            .group_by(Order.client_order_id)
            .having(func.count() > 1)
        ).all()
        at_broker = session.execute(
            select(PaperOrder.client_order_id, func.count())
            .where(PaperOrder.client_order_id.is_not(None))
            .group_by(PaperOrder.client_order_id)
            .having(func.count() > 1)
        ).all()
    assert ours == [], f"client order ids twice in orders: {ours}"
    assert at_broker == [], f"client order ids twice at the paper broker: {at_broker}"


def _contracts(sessions: SessionFactory) -> ContractService:
    broker = PaperBroker.from_settings(BrokerSettings(), sessions, SystemClock())
    return ContractService(broker, InProcessTtlCache(), SystemClock())


def _failed_rows(session: Session, execution_id: int) -> list[WorkflowLineage]:
    return list(
        session.scalars(
            select(WorkflowLineage).where(
                WorkflowLineage.execution_id == execution_id, WorkflowLineage.status == StepStatus.FAILED
            )
        )
    )


# --- tests -------------------------------------------------------------------------------------------------


def test_two_workers_and_a_beat_run_fifty_strategies_due_in_the_same_minute_once_each(
    *,
    migrated_pg_url: str,
    database: SessionFactory,
    redis_broker: str,
    tmp_path: Path,
    procs: Callable[[dict[str, str]], Procs],
) -> None:
    now = datetime.now(UTC)
    slot = now.replace(second=0, microsecond=0)
    seed = _buying_seed(now)
    with database() as session:
        ids = [make_strategy(session, now=slot, analyst="rules").id for _ in range(STRATEGIES)]
        session.commit()
    group = procs(_env(migrated_pg_url, redis_broker, tmp_path, seed))
    started = time.monotonic()
    group.beat()
    group.worker("worker-1")
    group.worker("worker-2")

    def all_done() -> bool:
        counts = _execution_counts(database, slot)
        finished = sum(
            n for s, n in counts.items() if s not in (ExecutionStatus.QUEUED, ExecutionStatus.RUNNING)
        )
        return finished >= STRATEGIES

    _wait(f"{STRATEGIES} executions of slot {slot:%H:%M}", all_done, group, timeout=120)
    elapsed = time.monotonic() - started
    group.stop_all()
    print(f"{STRATEGIES} executions on two workers in {elapsed:.1f} s (seed {seed})")

    with database() as session:
        executions = session.scalars(
            select(StrategyExecution).where(StrategyExecution.scheduled_for == slot)
        ).all()
        per_strategy = sorted(e.strategy_id for e in executions)
        statuses = {e.status for e in executions}
        lineage = dict(
            session.execute(
                select(WorkflowLineage.execution_id, func.count())
                .where(WorkflowLineage.execution_id.in_([e.id for e in executions]))
                .group_by(WorkflowLineage.execution_id)
            ).all()
        )
        every_slot = session.execute(
            select(StrategyExecution.strategy_id, StrategyExecution.scheduled_for, func.count())
            .where(StrategyExecution.scheduled_for.is_not(None))
            .group_by(StrategyExecution.strategy_id, StrategyExecution.scheduled_for)
            .having(func.count() > 1)
        ).all()
        orders = session.scalar(select(func.count()).select_from(Order).where(Order.role == OrderRole.ENTRY))
        owners = {e.owner for e in executions}
        failures = [
            (e.id, e.status.value, e.error, [(r.step_name, r.error) for r in _failed_rows(session, e.id)])
            for e in executions
            if e.status is not ExecutionStatus.SUCCEEDED
        ]
    assert per_strategy == sorted(ids), group.logs()
    assert statuses == {ExecutionStatus.SUCCEEDED}, f"{failures}\n{group.logs()}"
    assert all(lineage.get(e.id) == len(STEP_NAMES) for e in executions), lineage
    assert every_slot == []
    assert len(owners) == 2, f"both workers should have run some: {owners}"
    assert orders, "the rules analyst bought on this seed: some entries were placed"
    _assert_no_duplicate_order(database)


@pytest.mark.parametrize("fault", [AFTER_INTENT_COMMIT, AFTER_BROKER_CALL])
def test_a_worker_killed_mid_submit_leaves_one_broker_order_and_an_interrupted_run(
    *,
    fault: str,
    migrated_pg_url: str,
    database: SessionFactory,
    redis_broker: str,
    tmp_path: Path,
    procs: Callable[[dict[str, str]], Procs],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = datetime.now(UTC)
    seed = _buying_seed(now)
    with database() as session:  # not due by schedule: the one run is queued by hand
        strategy_id = make_strategy(session, now=now, analyst="rules", next_run_at=now + timedelta(days=1)).id
        session.commit()
    env = _env(migrated_pg_url, redis_broker, tmp_path, seed)
    group = procs(env)
    crashing = group.worker("crashing-worker", fault=fault, concurrency=1)
    execution_id = _run_now(env, monkeypatch, strategy_id)
    started = time.monotonic()
    try:
        crashing.wait(90)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"the worker did not crash at {fault}\n{group.logs()}") from None
    assert crashing.returncode == -signal.SIGKILL, group.logs()
    with database() as session:
        entry = session.scalars(select(Order).where(Order.role == OrderRole.ENTRY)).one()
        assert entry.state is (OrderState.INTENT if fault == AFTER_INTENT_COMMIT else OrderState.SUBMITTING)
        assert session.get_one(StrategyExecution, execution_id).status is ExecutionStatus.RUNNING

    group.worker("fresh-worker")
    group.beat()

    def settled() -> bool:
        with database() as session:
            execution = session.get_one(StrategyExecution, execution_id)
            left = session.scalar(select(func.count()).select_from(Order).where(Order.state.in_(UNSETTLED)))
        return execution.status is not ExecutionStatus.RUNNING and left == 0

    _wait(
        "the dead worker's run interrupted and its orders settled", settled, group, timeout=DEAD_AFTER_S + 60
    )
    print(f"{fault}: interrupted and settled {time.monotonic() - started:.1f} s after the run was queued")
    diagnostics = group.logs()
    group.stop_all()

    with database() as session:
        execution = session.get_one(StrategyExecution, execution_id)
        rows = session.scalars(
            select(WorkflowLineage)
            .where(WorkflowLineage.execution_id == execution_id)
            .order_by(WorkflowLineage.step_index)
        ).all()
        orders = session.scalars(select(Order).where(Order.execution_id == execution_id)).all()
        at_broker = session.execute(
            select(PaperOrder.client_order_id, func.count())
            .where(PaperOrder.client_order_id.is_not(None))  # bracket children carry none
            .group_by(PaperOrder.client_order_id)
        ).all()
        submitting = session.scalar(
            select(func.count()).select_from(Order).where(Order.state == OrderState.SUBMITTING)
        )
        settled_entry = session.get_one(Order, entry.id)
    assert execution.status is ExecutionStatus.INTERRUPTED, diagnostics
    assert [r.step_name for r in rows] == list(STEP_NAMES)
    interrupted = [r for r in rows if r.status is StepStatus.SKIPPED and r.output == {"reason": INTERRUPTED}]
    assert interrupted, [(r.step_name, r.status, r.output) for r in rows]
    assert rows[STEP_NAMES.index("place_orders")] in interrupted  # it died inside place_orders
    assert orders, "the run's orders are recorded"
    assert all(count == 1 for _client_id, count in at_broker), at_broker
    assert submitting == 0
    assert settled_entry.state not in UNSETTLED, settled_entry.state
    if fault == AFTER_BROKER_CALL:  # the broker had it: found again, not lost
        assert dict(at_broker).get(entry.client_order_id) == 1
        assert settled_entry.broker_order_id is not None
    _assert_no_duplicate_order(database)


def _run_now(env: dict[str, str], monkeypatch: pytest.MonkeyPatch, strategy_id: int) -> int:
    """Queue a manual run the way ``ibflow web`` does: through the runner ``bootstrap`` gives."""
    from ibflow import bootstrap

    for key in [k for k in os.environ if k.startswith("IBFLOW_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        if key.startswith("IBFLOW_"):
            monkeypatch.setenv(key, value)
    monkeypatch.chdir(Path(env["IBFLOW_DATA_DIR"]).parent)
    container = bootstrap.build()
    try:
        return int(container.run_now(StrategyId(strategy_id)))
    finally:
        container.engine.dispose()


def test_a_worker_on_rabbitmq_runs_a_manual_run(
    *,
    migrated_pg_url: str,
    database: SessionFactory,
    rabbitmq_broker: str,
    tmp_path: Path,
    procs: Callable[[dict[str, str]], Procs],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = datetime.now(UTC)
    with database() as session:
        strategy_id = make_strategy(session, now=now, analyst="rules", next_run_at=now + timedelta(days=1)).id
        session.commit()
    env = _env(migrated_pg_url, rabbitmq_broker, tmp_path, 20260101)
    group = procs(env)
    group.worker("rabbitmq-worker")
    started = time.monotonic()
    execution_id = _run_now(env, monkeypatch, strategy_id)

    def finished() -> ExecutionStatus | None:
        with database() as session:
            status = session.get_one(StrategyExecution, execution_id).status
        return None if status in (ExecutionStatus.QUEUED, ExecutionStatus.RUNNING) else status

    status = _wait("the manual run on RabbitMQ", finished, group, timeout=60)
    print(f"manual run over RabbitMQ done in {time.monotonic() - started:.1f} s")
    assert status is ExecutionStatus.SUCCEEDED, group.logs()
    with database() as session:
        rows = session.scalar(
            select(func.count())
            .select_from(WorkflowLineage)
            .where(WorkflowLineage.execution_id == execution_id)
        )
    assert rows == len(STEP_NAMES)


def test_two_workers_resolving_a_new_contract_at_once_both_get_it(*, database: SessionFactory) -> None:
    """The first look-up of a contract by two workers at the same moment: both runs must go on."""
    first, second = database(), database()
    errors: list[BaseException] = []

    def other_worker() -> None:
        try:
            _contracts(database).details(second, Conid(AAPL))  # sees no row yet; its insert waits for ours
            second.commit()
        except BaseException as exc:  # handed to the test's thread
            errors.append(exc)

    try:
        _contracts(database).details(first, Conid(AAPL))  # inserted, not committed yet
        thread = threading.Thread(target=other_worker)
        thread.start()
        time.sleep(0.5)  # the other's select saw nothing; its insert now waits on the unique index
        first.commit()
        thread.join(30)
        assert not thread.is_alive()
    finally:
        first.close()
        second.close()
    assert errors == []


def test_ibflow_run_under_the_celery_runtime_queues_the_run_for_the_workers_and_shows_it(
    *,
    migrated_pg_url: str,
    database: SessionFactory,
    redis_broker: str,
    tmp_path: Path,
    procs: Callable[[dict[str, str]], Procs],
) -> None:
    now = datetime.now(UTC)
    with database() as session:
        strategy = make_strategy(session, now=now, analyst="rules", next_run_at=now + timedelta(days=1))
        strategy_id, name = strategy.id, strategy.name
        session.commit()
    env = _env(migrated_pg_url, redis_broker, tmp_path, 20260101)
    group = procs(env)
    worker = group.worker("cli-worker")

    done = subprocess.run(
        [sys.executable, "-c", "from ibflow.cli import main; main()", "run", name],
        cwd=tmp_path,
        env={**env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stdout + done.stderr + group.logs()
    with database() as session:
        [execution] = session.scalars(
            select(StrategyExecution).where(StrategyExecution.strategy_id == strategy_id)
        ).all()
        assert execution.status is ExecutionStatus.SUCCEEDED
        assert execution.owner is not None
        assert execution.owner.endswith(f":{worker.pid}")  # the worker ran it, not the CLI process
    assert f"execution {execution.id}: succeeded" in done.stdout
