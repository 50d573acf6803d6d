"""Composition root: settings in, ready-made engine, clock, broker, analyst, stores and runner out.

The only module that picks implementations (paper or IBKR broker, rules or LLM analyst, local or S3 chart
store, in-process or Redis cache, inline or Celery runner). Entry points call ``build`` and use what it
returns; nothing else reads settings to choose an implementation.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import SecretStr
from sqlalchemy import Engine

from ibflow.core import metrics
from ibflow.core.api_settings import ApiSettings
from ibflow.core.clock import Clock, ManualClock, SystemClock
from ibflow.core.errors import ConfigurationError, Conflict
from ibflow.core.ids import AccountId, ExecutionId, StrategyId
from ibflow.core.metrics_settings import MetricsSettings
from ibflow.core.settings import (
    BrokerSettings,
    ChartSettings,
    DatabaseSettings,
    LlmSettings,
    LoggingSettings,
    NotifySettings,
    RiskSettings,
    RunnerSettings,
)
from ibflow.db.engine import SessionFactory, make_engine, read_session_factory, session_factory
from ibflow.db.locks import NamedLocks
from ibflow.db.states import StrategyMode
from ibflow.marketdata.cache import InProcessTtlCache, QueryCache

if TYPE_CHECKING:  # the heavy parts (pandas, matplotlib) load only when an entry point uses them
    from ibflow.brokers.base import Broker
    from ibflow.brokers.ibkr.http import Pacer
    from ibflow.brokers.paper.market.history import HistoricalMarket
    from ibflow.charts.store import ChartStore
    from ibflow.llm.analyst import Analyst
    from ibflow.llm.chat import ChatModel
    from ibflow.marketdata.contracts import ContractService
    from ibflow.notify.sender import RetryPolicy
    from ibflow.notify.service import Notifier
    from ibflow.notify.transport import Transport
    from ibflow.workflow.deps import BrokerHandle, ChartRenderer, WorkflowDeps
    from ibflow.workflow.executor import Executor
    from ibflow.workflow.runtime.broker_sync import BrokerSync
    from ibflow.workflow.runtime.flatten import FlattenReport
    from ibflow.workflow.runtime.runner import Runner
    from ibflow.workflow.runtime.service import InlineService, PeriodicJob


@dataclass(frozen=True)
class Settings:
    """Every settings area, read once."""

    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    broker: BrokerSettings = field(default_factory=BrokerSettings)
    risk: RiskSettings = field(default_factory=RiskSettings)
    charts: ChartSettings = field(default_factory=ChartSettings)
    runner: RunnerSettings = field(default_factory=RunnerSettings)
    llm: LlmSettings = field(default_factory=LlmSettings)
    api: ApiSettings = field(default_factory=ApiSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    notify: NotifySettings = field(default_factory=NotifySettings)


def load_settings() -> Settings:
    """Read every settings area from the environment and ``.env``."""
    return Settings()


def load_settings_with_notices() -> tuple[Settings, list[str]]:
    """Read the settings and say what in the environment is likely a mistake, one warning per problem.

    Bad ``.env`` lines, ``IBFLOW_*`` names no setting reads (with the closest valid name) and defaults above
    their hard limit (capped); invalid values still raise, as ``load_settings`` does.
    """
    from ibflow.core.environment import environment_notices, known_names
    from ibflow.trading.risk.runtime_settings import capped_defaults

    logging.getLogger("dotenv.main").setLevel(logging.ERROR)  # its warning is ours, said once, below
    settings = Settings()
    areas = [type(getattr(settings, f.name)) for f in fields(settings)]
    notices = environment_notices(os.environ, known_names(areas))
    return settings, notices + capped_defaults(settings.risk, settings.broker)


SYNC_EXPIRES_S = 60.0
"""A forced sync sent to the workers that none started within this is dropped: the periodic tracking job
(every ``IBFLOW_TRACK_INTERVAL_SECONDS``, at most an hour) does the same work, and clicks cannot pile up."""


class Container:
    """What the entry points need, wired together once per process."""

    def __init__(self, settings: Settings, clock: Clock, engine: Engine) -> None:
        self.settings = settings
        self.clock = clock
        self.engine = engine
        self.sessions: SessionFactory = session_factory(engine)
        self.read_sessions: SessionFactory = read_session_factory(engine)
        self.locks = NamedLocks(engine)
        self.cache: QueryCache = _query_cache(settings.runner)
        self._brokers: dict[StrategyMode, BrokerHandle] = {}
        self._sync_running = threading.Lock()
        """Held while a trader's forced sync runs in this process (a second one is refused, not queued)."""
        self._lock = threading.Lock()
        self.analysts: dict[str, Callable[[], Analyst]] = {
            "rules": _rules_analyst,
            "rules-intraday": _rules_intraday_analyst,
            "openai": _memo(lambda: _openai_analyst(settings.llm)),
            "anthropic": _memo(lambda: _anthropic_analyst(settings.llm)),
        }

    @cached_property
    def chart_store(self) -> ChartStore:
        """The chart store the settings name: the local folder, or the S3 bucket (checked or created)."""
        charts = self.settings.charts
        if charts.chart_store == "s3":
            return _s3_chart_store(charts)
        from ibflow.charts.local_store import LocalChartStore

        return LocalChartStore(charts.folder)

    def broker_for(self, mode: StrategyMode) -> BrokerHandle:
        """Return the broker and account of a strategy mode: paper is built in; live follows IBFLOW_BROKER."""
        with self._lock:
            if mode not in self._brokers:
                self._brokers[mode] = self._make_broker(mode)
            return self._brokers[mode]

    def _make_broker(self, mode: StrategyMode) -> BrokerHandle:
        broker_settings = self.settings.broker
        if mode is StrategyMode.LIVE and broker_settings.broker == "ibkr":
            return self._ibkr_handle()
        # With IBFLOW_BROKER=paper, live mode trades the same paper account (and is still gated by risk).
        paper = self._brokers.get(StrategyMode.PAPER)
        if paper is None:
            from ibflow.brokers.paper.broker import PaperBroker
            from ibflow.workflow.deps import BrokerHandle

            broker = PaperBroker.from_settings(broker_settings, self.sessions, self.clock)
            calendar = broker.market.calendar
            traded: Broker = broker
            questions = tuple(q.strip() for q in broker_settings.paper_questions.split(",") if q.strip())
            if questions:  # a testing aid: every order asks these until a trader confirms them
                from ibflow.brokers.paper.faults import FaultyBroker

                faulty = FaultyBroker(broker)
                try:
                    faulty.ask_always(questions)
                except ValueError as exc:
                    raise ConfigurationError(f"IBFLOW_PAPER_QUESTIONS: {exc}") from exc
                traded = faulty
            paper = BrokerHandle(
                traded,
                AccountId(broker_settings.paper_account_id),
                market_open=lambda at: calendar.span_at(at) is not None,
            )
            self._brokers[StrategyMode.PAPER] = paper
        return paper

    def _ibkr_handle(self) -> BrokerHandle:
        from ibflow.brokers.ibkr.factory import ibkr_broker
        from ibflow.brokers.paper.market.calendar import make_calendar
        from ibflow.workflow.deps import BrokerHandle

        broker = ibkr_broker(
            self.settings.broker,
            clock=self.clock,
            pacer=self.ibkr_pacer,
            allowed_questions=self._question_allow_list,
        )
        calendar = make_calendar(self.settings.broker.ibkr_calendar)
        opened = lambda at: calendar.span_at(at) is not None  # noqa: E731 - the handle takes a callable
        return BrokerHandle(broker, broker.account_id, market_open=opened)

    def _question_allow_list(self) -> frozenset[str]:
        """The run-time setting ``ibkr_question_allow_list`` now (an admin may change it at any time)."""
        from ibflow.brokers.ibkr.factory import question_ids
        from ibflow.trading.risk.runtime_settings import get_runtime_settings

        with self.read_sessions() as session:
            runtime = get_runtime_settings(session, self.settings.risk, self.settings.broker)
        return question_ids(runtime.ibkr_question_allow_list)

    @cached_property
    def ibkr_pacer(self) -> Pacer:
        """The gateway's rate limits, shared through the database by every process of this installation."""
        from ibflow.brokers.ibkr.http import NoPacing
        from ibflow.brokers.ibkr.pacing import SharedPacer

        if not self.settings.broker.ibkr_rate_limits:
            return NoPacing()
        engine = self.engine
        database = engine.url.database
        if engine.dialect.name == "sqlite" and database and database != ":memory:":
            # A file of its own: SQLite has one writer, and a booking must never wait behind an execution's
            # write transaction (the broker call happens inside a step). PostgreSQL locks rows, not the file.
            from ibflow.db.base import Base
            from ibflow.db.models.system import GatewayPacing

            engine = make_engine(f"sqlite:///{Path(database).with_name('gateway-pacing.db').as_posix()}")
            Base.metadata.create_all(engine, tables=[Base.metadata.tables[GatewayPacing.__tablename__]])
        return SharedPacer(engine)

    def analyst_for(self, name: str) -> Analyst:
        """Return the analyst a strategy names (``analysts`` maps names to factories)."""
        factory = self.analysts.get(name)
        if factory is None:
            raise ConfigurationError(f"analyst {name!r} is not available (known: {', '.join(self.analysts)})")
        return factory()

    def contract_service(self) -> ContractService:
        """Symbol search and contract details through the paper broker."""
        from ibflow.marketdata.contracts import ContractService

        return ContractService(self.broker_for(StrategyMode.PAPER).broker, self.cache, self.clock)

    @cached_property
    def deps(self) -> WorkflowDeps:
        """What executions and periodic jobs use."""
        from ibflow.workflow.deps import WorkflowDeps

        return WorkflowDeps(
            sessions=self.sessions,
            clock=self.clock,
            locks=self.locks,
            broker_for=self.broker_for,
            analyst_for=self.analyst_for,
            chart_store=self.chart_store,
            cache=self.cache,
            risk_settings=self.settings.risk,
            broker_settings=self.settings.broker,
            chart_settings=self.settings.charts,
            llm_settings=self.settings.llm,
        )

    def executor(self, chart_renderer: ChartRenderer | None = None) -> Executor:
        """The executor of strategy runs; a backtest may hand it a renderer of charts drawn ahead."""
        from ibflow.workflow.executor import Executor

        deps = self.deps if chart_renderer is None else replace(self.deps, chart_renderer=chart_renderer)
        return Executor(deps)

    def account_ids(self) -> list[str]:
        """The broker accounts ibflow trades in, without connecting to any broker (for read commands)."""
        broker = self.settings.broker
        ibkr = [broker.ibkr_account_id] if broker.broker == "ibkr" and broker.ibkr_account_id else []
        return [broker.paper_account_id, *ibkr]

    def account_kinds(self) -> dict[str, str]:
        """Each account ibflow trades in and what kind it is, from settings alone (no broker call)."""
        broker = self.settings.broker
        kinds = {broker.paper_account_id: "paper broker (simulated market)"}
        if broker.broker == "ibkr" and broker.ibkr_account_id:
            live = not broker.ibkr_account_id.startswith("DU")
            kinds[broker.ibkr_account_id] = "IBKR LIVE account" if live else "IBKR paper account"
        return kinds

    def accounts(self) -> list[BrokerHandle]:
        """Every broker account ibflow trades in (each is tracked and reconciled on its own)."""
        handles = [self.broker_for(StrategyMode.PAPER)]
        if self.settings.broker.broker == "ibkr":
            handles.append(self.broker_for(StrategyMode.LIVE))
        return handles

    def periodic_jobs(self) -> list[PeriodicJob]:
        """The periodic jobs of ARCHITECTURE §5 for every account, with this installation's retention."""
        from ibflow.workflow.runtime.jobs import periodic_jobs

        runner_settings = self.settings.runner
        return periodic_jobs(
            self.deps,
            self.accounts(),
            retention=timedelta(days=runner_settings.retention_days),
            chart_retention=timedelta(hours=runner_settings.chart_retention_no_order_hours),
            notify=self.notifier.run,
            notify_every_s=self.settings.notify.notify_interval_seconds,
            summary_hour_utc=self.settings.notify.notify_daily_summary_hour_utc,
            track_every_s=runner_settings.track_interval_seconds,
            watch_every_s=runner_settings.watch_interval_seconds,
        )

    @cached_property
    def notifier(self) -> Notifier:
        """The ``notify`` job's work: the events outbox to the notification targets, through apprise."""
        from ibflow.notify.service import Notifier

        return Notifier(
            self.sessions,
            self.notify_transport(),
            clock=self.clock,
            policy=self.notify_policy(),
            locks=self.locks,
        )

    def notify_transport(self) -> Transport:
        """Sends notifications through apprise with the configured timeout."""
        from ibflow.notify.transport import AppriseTransport

        return AppriseTransport(timeout_s=self.settings.notify.notify_timeout_seconds)

    def notify_policy(self) -> RetryPolicy:
        """Retries and backoff of notifications (a claim holds a little over two send timeouts)."""
        from ibflow.notify.sender import RetryPolicy

        notify = self.settings.notify
        return RetryPolicy(
            max_attempts=notify.notify_max_attempts,
            first_backoff=timedelta(seconds=notify.notify_backoff_seconds),
            lease=timedelta(seconds=max(60.0, 3 * notify.notify_timeout_seconds)),
        )

    def start_up_tasks(self) -> list[Callable[[], object]]:
        """Orders left mid-submit become ``submit_unknown``, then each account is reconciled."""
        from ibflow.workflow.runtime.jobs import start_up_tasks

        return start_up_tasks(self.deps, self.accounts())

    def service(self) -> InlineService:
        """The in-process scheduler, runner and periodic jobs of ``ibflow serve``."""
        from ibflow.workflow.runtime.runner import InlineRunner
        from ibflow.workflow.runtime.service import InlineService

        runner_settings = self.settings.runner
        if runner_settings.runner == "celery":
            raise ConfigurationError(
                "IBFLOW_RUNNER=celery: run `ibflow web`, `ibflow worker` and one `ibflow beat` instead of "
                "`ibflow serve` (docs/deployment.md), or unset IBFLOW_RUNNER"
            )
        executor = self.executor()
        runner = InlineRunner(executor.run, workers=runner_settings.workers)
        return InlineService(
            sessions=self.sessions,
            clock=self.clock,
            runner=runner,
            start_up=self.start_up_tasks(),
            jobs=self.periodic_jobs(),
            dispatch_interval_s=runner_settings.dispatch_interval_seconds,
            grace=timedelta(seconds=runner_settings.missed_grace_seconds),
            queue_manual=executor.create_manual,
        )

    @cached_property
    def _celery_runner(self) -> Runner:
        from ibflow.tasks.runner import CeleryRunner, celery_app

        return CeleryRunner(celery_app(self))

    def runner(self) -> Runner:
        """Where queued executions go in the production runtime: the Celery workers' queue."""
        if self.settings.runner.runner != "celery":
            raise ConfigurationError("executions are sent to workers only with IBFLOW_RUNNER=celery")
        return self._celery_runner

    def queue_depths(self) -> dict[str, int] | None:
        """Messages waiting in the Celery broker's queues; ``None`` without Celery; raises when away."""
        if self.settings.runner.runner != "celery":
            return None
        from ibflow.tasks.runner import CeleryRunner

        runner = self.runner()
        return runner.queue_depths() if isinstance(runner, CeleryRunner) else None

    def run_now(self, strategy_id: StrategyId) -> ExecutionId:
        """Queue a manual run of ``strategy_id`` for the workers; return its id at once (``ibflow web``)."""
        execution_id = self.executor().create_manual(strategy_id)
        self.runner().submit(execution_id)
        return execution_id

    def start_worker(self, *, queues: list[str], concurrency: int) -> None:
        """Run a Celery worker until stopped (``ibflow worker``)."""
        from ibflow.tasks.runner import start_worker

        self.runner()  # refuses unless IBFLOW_RUNNER=celery
        start_worker(self, queues=queues, concurrency=concurrency)

    def start_beat(self) -> None:
        """Recover, then run Celery beat until stopped (``ibflow beat``)."""
        from ibflow.tasks.runner import start_beat

        self.runner()
        start_beat(self)

    def sync_with_broker(self) -> BrokerSync:
        """Run the tracking job of every account now (orders, fills, protection, the daily-loss check).

        Inline: here, in this thread, under each account's lock, answering what changed. With Celery: the
        tracking jobs go to the workers' ``trading`` queue (``Unavailable`` when its broker is away).
        """
        from ibflow.workflow.runtime.broker_sync import BrokerSync, sync_accounts
        from ibflow.workflow.runtime.jobs import track_job_name

        if self.settings.runner.runner != "celery":
            if not self._sync_running.acquire(blocking=False):  # a second click joins nothing: it is told
                raise Conflict(
                    "a sync with the broker is running already; its changes show on the pages when it ends"
                )
            try:
                return sync_accounts(self.deps, self.accounts())
            finally:
                self._sync_running.release()
        from ibflow.tasks.runner import CeleryRunner

        names = [track_job_name(account_id) for account_id in self.account_ids()]
        runner = self.runner()
        if not isinstance(runner, CeleryRunner):  # pragma: no cover - runner() is Celery's here
            raise ConfigurationError("IBFLOW_RUNNER=celery without the Celery runner")
        runner.run_jobs(names, expires_s=SYNC_EXPIRES_S)
        return BrokerSync(queued=True, jobs=names)

    def halt_everything(self, *, actor: str, reason: str) -> list[str]:
        """Halt trading; return once no send is under way, unfilled entries cancelled per the setting."""
        from ibflow.workflow.runtime.jobs import halt_accounts

        return halt_accounts(self.deps, self.accounts(), actor=actor, reason=reason)

    def flatten_everything(self, *, actor: str, reason: str) -> FlattenReport:
        """Halt new entries, then cancel every working ibflow order and close every ibflow position."""
        from ibflow.workflow.runtime.flatten import flatten_accounts

        return flatten_accounts(self.deps, self.accounts(), actor=actor, reason=reason)


def _s3_chart_store(charts: ChartSettings) -> ChartStore:
    from ibflow.charts.s3_store import S3ChartStore, s3_client

    def secret(value: SecretStr | None) -> str | None:
        return None if value is None else value.get_secret_value()

    client = s3_client(
        endpoint_url=charts.s3_endpoint_url,
        region=charts.s3_region,
        path_style=charts.s3_path_style,
        access_key_id=secret(charts.s3_access_key_id),
        secret_access_key=secret(charts.s3_secret_access_key),
        timeout_s=charts.s3_timeout_seconds,
    )
    bucket = charts.s3_bucket or ""  # the settings refuse s3 without a bucket
    return S3ChartStore(client, bucket=bucket, prefix=charts.s3_prefix, create_bucket=charts.s3_create_bucket)


def _query_cache(runner: RunnerSettings) -> QueryCache:
    """Redis when ``IBFLOW_REDIS_URL`` is set (shared by every process), else one cache per process."""
    if runner.redis_url is None:
        return InProcessTtlCache()
    from ibflow.marketdata.redis_cache import RedisTtlCache

    return RedisTtlCache(runner.redis_url.get_secret_value())


def _rules_analyst() -> Analyst:
    from ibflow.llm.providers.rules import RulesAnalyst

    return RulesAnalyst()


def _rules_intraday_analyst() -> Analyst:
    from ibflow.llm.providers.rules import RulesAnalyst

    return RulesAnalyst.intraday()


def _memo(factory: Callable[[], Analyst]) -> Callable[[], Analyst]:
    made: list[Analyst] = []

    def get() -> Analyst:
        if not made:  # one SDK client (and its connection pool) per process
            made.append(factory())
        return made[0]

    return get


def _llm_analyst(chat: ChatModel, llm: LlmSettings) -> Analyst:
    from ibflow.llm.costs import PriceTable
    from ibflow.llm.llm_analyst import LlmAnalyst

    return LlmAnalyst(
        chat,
        PriceTable.from_settings(llm.llm_prices, llm.llm_default_price),
        max_output_tokens=llm.llm_max_output_tokens,
        temperature=llm.llm_temperature,
        timeout_s=llm.llm_timeout_seconds,
    )


def _openai_analyst(llm: LlmSettings) -> Analyst:
    from ibflow.llm.providers.openai import OpenAIChat

    if llm.openai_api_key is None and llm.openai_base_url is None:
        raise ConfigurationError("the openai analyst needs IBFLOW_OPENAI_API_KEY (or IBFLOW_OPENAI_BASE_URL)")
    chat = OpenAIChat(
        api_key=llm.openai_api_key,
        model=llm.openai_model,
        base_url=llm.openai_base_url,
        structured_mode=llm.openai_structured_output,
        max_retries=llm.llm_max_retries,
    )
    return _llm_analyst(chat, llm)


def _anthropic_analyst(llm: LlmSettings) -> Analyst:
    from ibflow.llm.providers.anthropic import AnthropicChat

    if llm.anthropic_api_key is None:
        raise ConfigurationError("the anthropic analyst needs IBFLOW_ANTHROPIC_API_KEY")
    chat = AnthropicChat(
        api_key=llm.anthropic_api_key,
        model=llm.anthropic_model,
        base_url=llm.anthropic_base_url,
        structured_mode=llm.anthropic_structured_output,
        max_retries=llm.llm_max_retries,
    )
    return _llm_analyst(chat, llm)


def build(settings: Settings | None = None, clock: Clock | None = None) -> Container:
    """Wire the application for ``settings`` (read from the environment when omitted)."""
    settings = settings or load_settings()
    metrics.configure(settings.metrics.metrics_dir)
    engine = make_engine(
        settings.database.url,
        busy_timeout_ms=settings.database.sqlite_busy_timeout_ms,
        echo=settings.database.echo_sql,
    )
    return Container(settings, clock or SystemClock(), engine)


class BacktestContainer(Container):
    """A container on a backtest's own database whose paper broker trades a historical market.

    Both strategy modes trade its one paper account (a backtest never reaches a live broker), the query
    cache is this process's own (never the installation's Redis), and the market counts as open for orders
    at every decision time: a daily decision is made after the close and its orders work from the next
    session, as orders sent after hours do.
    """

    def __init__(
        self, settings: Settings, clock: ManualClock, engine: Engine, market: HistoricalMarket
    ) -> None:
        from ibflow.llm.run_cap import RunCap

        super().__init__(settings, clock, engine)
        self.manual_clock = clock
        self.market = market
        self.llm_cache_engine: Engine | None = None
        """The LLM response cache shared by every backtest (``backtests/cache.db``), once opened."""
        self.run_cap = RunCap(None)

    @cached_property
    def deps(self) -> WorkflowDeps:
        """The container's, with the shared response cache (always on) and the run's LLM budget."""
        from ibflow.workflow.backtest.bar_mirror import mirrored_bars

        cache = None if self.llm_cache_engine is None else session_factory(self.llm_cache_engine)
        return replace(
            super().deps, llm_cache_sessions=cache, llm_run_cap=self.run_cap, bar_service=mirrored_bars()
        )

    def _make_broker(self, mode: StrategyMode) -> BrokerHandle:
        from ibflow.brokers.paper.broker import PaperBroker
        from ibflow.workflow.backtest.instant_reads import InstantReads
        from ibflow.workflow.deps import BrokerHandle

        paper = self._brokers.get(StrategyMode.PAPER)
        if paper is None:
            books = PaperBroker(
                self.sessions, self.clock, self.market, starting_cash=self.settings.broker.paper_starting_cash
            )
            broker = InstantReads(books, self.clock)
            paper = BrokerHandle(
                broker, AccountId(self.settings.broker.paper_account_id), market_open=_always
            )
            self._brokers[StrategyMode.PAPER] = paper
        return paper

    def accounts(self) -> list[BrokerHandle]:
        """The backtest's one paper account."""
        return [self.broker_for(StrategyMode.PAPER)]


def _always(at: datetime) -> bool:
    return True


def read_bar_data(source: str | None) -> HistoricalMarket:
    """Build the historical market of ``--data``: ``files:PATH`` (a CSV file or a folder of them), or the
    bundled sample data when ``source`` is ``None``; ``ConfigurationError`` names a bad file and line."""
    from ibflow.brokers.paper.market.bar_files import read_bar_folder, sample_bars
    from ibflow.brokers.paper.market.history import HistoricalMarket

    if source is None:
        return HistoricalMarket(sample_bars())
    kind, _, path = source.partition(":")
    if kind != "files" or not path:
        raise ConfigurationError(f"--data {source!r}: give files:PATH (a CSV file or a folder of CSV files)")
    return HistoricalMarket(read_bar_folder(Path(path)))


def build_backtest(
    settings: Settings,
    folder: Path,
    market: HistoricalMarket,
    *,
    cash: Decimal,
    start: datetime,
    own_process: bool = True,
) -> BacktestContainer:
    """Create a backtest's own SQLite database (migrated) and chart folder under ``folder`` and wire it.

    Nothing of the main installation is reachable from the result: its settings name only the new file,
    charts go to the backtest's own folder (never the installation's S3 bucket), and this process counts
    its figures in memory from here on, so a replay never adds to the machine's ``/metrics``. Inside a serving
    process (``own_process=False``, the API's backtests) the process keeps its metrics as they are: the
    replay runs under ``metrics.counted_apart`` there instead.
    """
    from ibflow.db import migrate

    if own_process:
        metrics.configure(None)

    folder.mkdir(parents=True, exist_ok=False)
    url = f"sqlite:///{(folder / 'backtest.db').as_posix()}"
    migrate.upgrade(url)
    own = replace(
        settings,
        database=settings.database.model_copy(update={"database_url": SecretStr(url), "data_dir": folder}),
        charts=settings.charts.model_copy(
            update={"chart_store": "local", "charts_dir": folder / "charts", "data_dir": folder}
        ),
        broker=settings.broker.model_copy(update={"broker": "paper", "paper_starting_cash": cash}),
        runner=settings.runner.model_copy(update={"redis_url": None, "runner": "inline"}),
    )
    engine = make_engine(url, busy_timeout_ms=settings.database.sqlite_busy_timeout_ms, disposable=True)
    return BacktestContainer(own, ManualClock(start), engine, market)


BACKTEST_LLM_CACHE = "cache.db"
"""The response cache every backtest shares, next to their folders: ``IBFLOW_DATA_DIR/backtests/cache.db``."""


def open_backtest_llm_cache(
    settings: Settings, container: BacktestContainer, *, budget: Decimal | None
) -> Path:
    """Give ``container``'s LLM analysts the shared response cache (migrated to head) and a run budget.

    The cache outlives each backtest's own database, so a re-run of the same requests makes no new call;
    it never lives in the main database, which a backtest does not write to while it runs.
    """
    from ibflow.db import migrate

    path = settings.database.data_dir / "backtests" / BACKTEST_LLM_CACHE
    path.parent.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{path.as_posix()}"
    migrate.upgrade(url)
    container.llm_cache_engine = make_engine(url, busy_timeout_ms=settings.database.sqlite_busy_timeout_ms)
    container.run_cap.limit = budget
    return path


@dataclass(frozen=True)
class GatewaySimOptions:
    """What ``ibflow gateway-sim`` was asked for (plain values; the simulator's own types stay inside)."""

    host: str = "127.0.0.1"
    port: int = 5000
    database_url: str = ""
    account_id: str = "DU1234567"
    time_scale: float = 1.0
    seed: int = 20260101
    logged_in: bool = True
    rate_limits: bool = True
    penalty_box_seconds: float = 0.0
    idle_timeout_seconds: float = 360.0
    questions: tuple[str, ...] = ()
    tls: bool = False
    certfile: str | None = None
    keyfile: str | None = None
    tls_folder: str = "var"
    fail_calls: int = 0
    delay_seconds: float = 0.0
    drop_after_orders: int = 0
    reject_orders: int = 0
    executions_lag_seconds: float = 0.0
    competing: bool = False
    ended_orders_listed_for_seconds: float | None = None


def serve_gateway_simulator(options: GatewaySimOptions, *, started: Callable[[str], None]) -> None:
    """Serve the IBKR gateway simulator until Ctrl-C / SIGTERM; ``started`` gets its base URL first."""
    from ibflow.brokers.ibkr.simulator.config import SimulatorConfig
    from ibflow.brokers.ibkr.simulator.server import Tls, build_simulator, self_signed, server

    config = SimulatorConfig(
        account_id=options.account_id,
        seed=options.seed,
        time_scale=options.time_scale,
        logged_in=options.logged_in,
        rate_limits=options.rate_limits,
        penalty_box=timedelta(seconds=options.penalty_box_seconds),
        idle_timeout=timedelta(seconds=options.idle_timeout_seconds),
        questions=options.questions,
    )
    sim = build_simulator(config, options.database_url)
    if options.fail_calls:
        sim.faults.fail_calls(options.fail_calls)
    sim.faults.delay_seconds = options.delay_seconds
    if options.drop_after_orders:
        sim.faults.drop_after_orders(options.drop_after_orders)
    if options.reject_orders:
        sim.faults.reject_orders(options.reject_orders)
    sim.market.controls.lag_executions(timedelta(seconds=options.executions_lag_seconds))
    if options.ended_orders_listed_for_seconds is not None:
        sim.market.controls.forget_ended_orders(timedelta(seconds=options.ended_orders_listed_for_seconds))
    if options.competing:
        sim.session.compete()
    tls: Tls | None = None
    if options.certfile and options.keyfile:
        tls = Tls(Path(options.certfile), Path(options.keyfile))
    elif options.tls:
        tls = self_signed(Path(options.tls_folder))
    scheme = "https" if tls else "http"
    started(f"{scheme}://{options.host}:{options.port}/v1/api")
    if threading.current_thread() is threading.main_thread():
        # uvicorn stops gracefully on Ctrl-C / SIGTERM, then re-raises the signal to the handler it found:
        # make that one a no-op so the command returns (and says it stopped) instead of dying by the signal
        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, _stopped_by_signal)
    server(sim, options.host, options.port, tls).run()


def _stopped_by_signal(number: int, frame: object) -> None:
    """Nothing to do: the server already stopped on ``number``."""
