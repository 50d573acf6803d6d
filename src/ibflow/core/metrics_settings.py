"""Settings of ``/metrics`` (``IBFLOW_METRICS_*``): where processes keep their figures, and who may scrape."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class MetricsSettings(BaseSettings):
    """The metrics folder of a machine's processes and the scraper's token."""

    model_config = SettingsConfigDict(
        env_prefix="IBFLOW_", env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True
    )

    metrics_dir: Path | None = Field(
        default=None,
        description=(
            "A folder the web, worker and beat processes of one machine share (a tmpfs emptied at boot):"
            " each writes its counters there and /metrics sums them. Unset: each process counts its own."
        ),
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="When set, /metrics answers only `Authorization: Bearer <token>`. Unset: open.",
    )
