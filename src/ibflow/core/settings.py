"""Settings, one frozen pydantic-settings class per area.

Every value comes from an ``IBFLOW_*`` environment variable or a ``.env`` file in the working directory;
secrets are ``SecretStr`` so they never print. ``bootstrap`` reads these once and passes plain values on.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_CONFIG = SettingsConfigDict(
    env_prefix="IBFLOW_",
    env_file=".env",
    env_file_encoding="utf-8",
    extra="ignore",
    frozen=True,
)


SUBMIT_UNKNOWN_GRACE_MIN_SECONDS = 10
"""A shorter grace period would call an order absent before IBKR lists it: the check would be off."""
SUBMIT_UNKNOWN_GRACE_MAX_SECONDS = 24 * 60 * 60


class _Area(BaseSettings):
    model_config = _CONFIG

    data_dir: Path = Field(default=Path("var"), description="Folder for the SQLite file, charts and logs.")


class DatabaseSettings(_Area):
    """Where ibflow keeps its state."""

    database_url: SecretStr | None = Field(
        default=None,
        description="SQLAlchemy URL; default a SQLite file under IBFLOW_DATA_DIR.",
    )
    sqlite_busy_timeout_ms: int = Field(default=30_000, ge=0)
    echo_sql: bool = False

    @property
    def url(self) -> str:
        """Return the database URL to connect to (a secret: do not log it)."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite:///{(self.data_dir / 'ibflow.db').as_posix()}"


class LoggingSettings(_Area):
    """How ibflow logs."""

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["human", "json"] = "human"


class BrokerSettings(_Area):
    """Which broker live-mode strategies use, and the paper broker's simulated market."""

    broker: Literal["paper", "ibkr"] = "paper"
    live_trading_allowed: bool = Field(
        default=False, description="Hard switch: without it no strategy in live mode may place an order."
    )
    paper_account_id: str = "PAPER-1"
    paper_starting_cash: Decimal = Field(default=Decimal("100000"), gt=0)
    paper_seed: int = Field(default=20260101, description="Seed of the simulated market's price paths.")
    paper_calendar: Literal["always", "XNYS"] = Field(
        default="always",
        description="'always': the simulated market trades around the clock; 'XNYS': NYSE sessions only.",
    )
    paper_questions: str = Field(
        default="",
        description="Question ids the paper broker asks on every order until confirmed (o163,o354,o383): "
        "to try confirmations without a gateway.",
    )
    ibkr_base_url: str = Field(
        default="https://localhost:5000/v1/api", description="The Client Portal gateway's API root."
    )
    ibkr_account_id: str | None = Field(default=None, description="The IBKR account (DU... for paper).")
    ibkr_verify_tls: bool = Field(
        default=True, description="Check the gateway's certificate (its own is self-signed: give a CA file)."
    )
    ibkr_ca_file: Path | None = Field(default=None, description="A CA bundle or the gateway's certificate.")
    ibkr_timeout_seconds: float = Field(default=15.0, gt=0, le=120)
    ibkr_live_account_allowed: bool = Field(
        default=False,
        description="Trading a live (non-DU) IBKR account needs this as well as IBFLOW_LIVE_TRADING_ALLOWED.",
    )
    ibkr_take_over_competing: bool = Field(
        default=False,
        description="Take the brokerage session back from another login of the same user (ends that one).",
    )
    ibkr_question_allow_list: str = Field(
        default="p12,o10331,o10152",
        description="Order question ids confirmed without a trader (comma separated); others wait.",
    )
    ibkr_rate_limits: bool = Field(default=True, description="Pace requests to the gateway's limits.")
    ibkr_calendar: Literal["always", "XNYS"] = Field(
        default="XNYS",
        description="Market hours of IBKR strategies; 'always' suits the gateway simulator's market.",
    )


class RiskSettings(_Area):
    """Account-wide risk limits: run-time defaults, and the hard limits an admin cannot exceed.

    The run-time values live in ``app_settings`` (changed by an admin, every change audited); these are
    their defaults and ceilings.
    """

    max_open_positions: int = Field(default=5, ge=0)
    max_open_positions_limit: int = Field(default=50, ge=0)
    max_exposure_fraction: Decimal = Field(
        default=Decimal("0.5"), ge=0, le=1, description="Positions at cost plus working entries over equity."
    )
    max_exposure_fraction_limit: Decimal = Field(default=Decimal(1), ge=0, le=1)
    max_daily_loss_fraction: Decimal = Field(
        default=Decimal("0.03"),
        ge=0,
        le=1,
        description="Halt when the day's loss reaches this share of equity.",
    )
    max_daily_loss_fraction_limit: Decimal = Field(default=Decimal("0.2"), ge=0, le=1)
    loss_streak_length: int = Field(
        default=3, ge=0, description="Losing trades in a row that start a cooldown."
    )
    loss_streak_cooldown_minutes: int = Field(default=60, ge=0)
    broker_error_halt_count: int = Field(
        default=5, ge=1, description="Broker errors in a row that halt trading."
    )
    submit_unknown_grace_seconds: int = Field(
        default=120,
        ge=SUBMIT_UNKNOWN_GRACE_MIN_SECONDS,
        le=SUBMIT_UNKNOWN_GRACE_MAX_SECONDS,
        description="How long an ambiguous order must stay unseen at the broker before it counts as absent.",
    )
    protection_action: Literal["replace", "close"] = Field(
        default="replace", description="What the watchdog does when a position lost its protection."
    )
    halt_cancels_entries: bool = Field(
        default=True, description="Whether `trading halt` cancels unfilled entries (protection stays)."
    )


class ChartSettings(_Area):
    """Where charts are kept (a local folder or an S3 bucket) and how big they are drawn."""

    chart_store: Literal["local", "s3"] = Field(
        default="local",
        description="'local': the folder IBFLOW_CHARTS_DIR; 's3': the bucket IBFLOW_S3_BUCKET.",
    )
    charts_dir: Path | None = Field(default=None, description="Default: IBFLOW_DATA_DIR/charts.")
    chart_width_px: int = Field(default=1200, ge=400, le=1568)
    chart_height_px: int = Field(default=800, ge=300, le=1568)
    s3_endpoint_url: str | None = Field(
        default=None, description="The S3 API's URL (MinIO, Ceph: http://host:9000); none: AWS S3."
    )
    s3_region: str | None = Field(default=None, description="The bucket's region; none: boto3's default.")
    s3_bucket: str | None = Field(
        default=None,
        validate_default=True,
        description="The bucket of charts; needed for IBFLOW_CHART_STORE=s3.",
    )
    s3_prefix: str = Field(default="", description="Key prefix inside the bucket, e.g. ibflow/charts.")
    s3_path_style: bool = Field(
        default=False,
        description="Path-style addressing (endpoint/bucket/key), as MinIO and Ceph often need.",
    )
    s3_create_bucket: bool = Field(default=False, description="Create the bucket if it does not exist.")
    s3_secret_access_key: SecretStr | None = Field(
        default=None, description="With IBFLOW_S3_ACCESS_KEY_ID; none: boto3's credential chain."
    )
    s3_access_key_id: SecretStr | None = Field(default=None, validate_default=True)
    s3_timeout_seconds: float = Field(default=10.0, gt=0, le=120, description="Connect and read timeouts.")

    @field_validator("s3_bucket")
    @classmethod
    def _bucket_for_s3(cls, value: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("chart_store") == "s3" and not value:
            raise ValueError("must name the bucket when IBFLOW_CHART_STORE=s3")
        return value

    @field_validator("s3_access_key_id")
    @classmethod
    def _key_pair(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        # On the key id, declared after the secret: an error then shows the id, never the secret.
        if (value is None) != (info.data.get("s3_secret_access_key") is None):
            raise ValueError(
                "IBFLOW_S3_ACCESS_KEY_ID and IBFLOW_S3_SECRET_ACCESS_KEY go together: set both or neither"
            )
        return value

    @property
    def folder(self) -> Path:
        """Return the local chart folder."""
        return self.charts_dir or self.data_dir / "charts"


class RunnerSettings(_Area):
    """Where executions run: in-process (the default) or on Celery workers, and the scheduler's timings."""

    runner: Literal["inline", "celery"] = Field(
        default="inline",
        description="inline: `ibflow serve` runs everything; celery: `ibflow worker`s and one `ibflow beat`.",
    )
    celery_broker_url: SecretStr = Field(
        default=SecretStr("redis://127.0.0.1:6379/0"),
        description="Celery's message broker: Redis by default, RabbitMQ as amqp://user:password@host//.",
    )
    redis_url: SecretStr | None = Field(
        default=None, description="Redis for the caches shared by every process; none: one cache per process."
    )
    celery_visibility_timeout_seconds: int = Field(
        default=7200,
        ge=600,
        le=86_400,
        description="Redis redelivers a task not acknowledged after this; above the longest execution.",
    )
    worker_heartbeat_seconds: float = Field(default=10.0, gt=0, le=60, description="How often workers beat.")
    worker_dead_after_seconds: int = Field(
        default=60, ge=20, le=3600, description="A worker silent this long is dead; its runs are interrupted."
    )
    requeue_after_seconds: int = Field(
        default=60,
        ge=10,
        le=3600,
        description="A queued run no worker took by then is sent to the queue again.",
    )
    workers: int = Field(default=2, ge=1, le=16, description="Worker threads running executions.")
    dispatch_interval_seconds: float = Field(default=5.0, gt=0)
    track_interval_seconds: float = Field(
        default=10.0,
        ge=1,
        le=3600,
        description="How often orders, fills and protection are synced with the broker (the tracking job); "
        "a trader can sync at once from the orders pages, the API or `ibflow orders sync`.",
    )
    watch_interval_seconds: float = Field(
        default=30.0,
        ge=5,
        le=300,
        description="How often the protection watchdog and the entry expiry run (each syncs orders first).",
    )
    missed_grace_seconds: int = Field(default=120, ge=0, description="Older slots are recorded as missed.")
    retention_days: int = Field(
        default=30,
        ge=1,
        description="Lineage, charts and LLM calls of runs without orders are pruned after this.",
    )
    chart_retention_no_order_hours: int = Field(
        default=6,
        ge=1,
        description="Charts of runs without orders are pruned after this (runs with orders keep theirs).",
    )


class NotifySettings(_Area):
    """Notifications: how often the outbox is read and sent, each send's timeout, retries and backoff."""

    notify_interval_seconds: float = Field(
        default=10.0,
        gt=0,
        le=3600,
        description="How often new events are turned into notifications and sent.",
    )
    notify_timeout_seconds: float = Field(
        default=10.0, gt=0, le=120, description="Connect and read timeout of one send to one target."
    )
    notify_max_attempts: int = Field(
        default=5, ge=1, le=50, description="Sends tried per event and target before it is recorded failed."
    )
    notify_backoff_seconds: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="Wait after the first failed send; doubles each time, to 1 h.",
    )
    notify_daily_summary_hour_utc: int = Field(
        default=21,
        ge=0,
        le=23,
        description="The daily summary of each account is written once this hour (UTC) has begun: 21 is "
        "after the NYSE close all year.",
    )


class LlmSettings(_Area):
    """The LLM analysts: each provider's endpoint, key and model, prices, budgets and the response cache.

    ``llm_prices`` maps a model name to USD per million input and output tokens, e.g.
    ``{"gpt-4o": {"input": "2.50", "output": "10.00"}}``; a model not listed costs ``llm_default_price``.
    """

    openai_api_key: SecretStr | None = Field(default=None, description="Key of the OpenAI-compatible API.")
    openai_base_url: str | None = Field(
        default=None, description="Chat-completions endpoint (Azure, Gemini, Ollama, vLLM); none: OpenAI."
    )
    openai_model: str = "gpt-4o"
    openai_structured_output: Literal["json_schema", "json_object", "text"] = Field(
        default="json_schema", description="How the signal's shape is asked for; 'text' extracts JSON."
    )
    anthropic_api_key: SecretStr | None = Field(default=None, description="Key of the Anthropic API.")
    anthropic_base_url: str | None = None
    anthropic_model: str = "claude-sonnet-4-5"
    anthropic_structured_output: Literal["tool", "text"] = Field(
        default="tool",
        description="'tool': a forced tool call with the signal as input; 'text': JSON in text.",
    )
    llm_timeout_seconds: float = Field(default=60.0, gt=0, le=600)
    llm_max_retries: int = Field(default=2, ge=0, le=10, description="SDK retries on 429, 5xx, connection.")
    llm_max_output_tokens: int = Field(default=1500, ge=64, le=32_000)
    llm_temperature: float = Field(default=0.2, ge=0, le=2)
    llm_prices: dict[str, dict[str, Decimal]] = Field(
        default_factory=lambda: {
            "gpt-4o": {"input": Decimal("2.50"), "output": Decimal("10.00")},
            "gpt-4o-mini": {"input": Decimal("0.15"), "output": Decimal("0.60")},
            "claude-sonnet-4-5": {"input": Decimal("3.00"), "output": Decimal("15.00")},
        }
    )
    llm_default_price: dict[str, Decimal] = Field(
        default_factory=lambda: {"input": Decimal("5.00"), "output": Decimal("20.00")},
        description="USD per million tokens for a model missing from IBFLOW_LLM_PRICES (0 for local models).",
    )
    llm_execution_max_tokens: int = Field(default=60_000, ge=0, description="Tokens one execution may use.")
    llm_execution_max_cost: Decimal = Field(default=Decimal("0.50"), ge=0, description="USD per execution.")
    llm_execution_max_seconds: float = Field(default=300.0, ge=0, description="LLM seconds per execution.")
    llm_daily_max_cost: Decimal = Field(default=Decimal("10"), ge=0, description="USD per UTC day, all runs.")
    llm_cache: Literal["off", "on"] = Field(
        default="off", description="Answer a repeated identical request from the response cache."
    )
