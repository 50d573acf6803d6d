"""Settings of the HTTP API and its login sessions (``IBFLOW_HTTP_*``, ``IBFLOW_SESSION_*``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiSettings(BaseSettings):
    """Where the API listens and how long a login lasts."""

    model_config = SettingsConfigDict(
        env_prefix="IBFLOW_", env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True
    )

    http_host: str = Field(default="127.0.0.1", description="Address `ibflow serve` / `ibflow web` bind.")
    http_trusted_proxies: str = Field(
        default="",
        description=(
            "Addresses of the TLS proxy in front (comma-separated); their X-Forwarded-For/-Proto name the"
            " client and the scheme, so cookies are Secure and logins throttled per real client. Empty: none."
        ),
    )
    http_port: int = Field(default=8000, ge=1, le=65535, description="Port of the API (and the pages).")
    session_idle_minutes: int = Field(
        default=720, ge=5, le=10_080, description="A login ends after this long without a request (sliding)."
    )
    session_lifetime_hours: int = Field(
        default=168, ge=1, le=2_160, description="A login ends this long after it began, whatever its use."
    )
    login_failures_per_user: int = Field(
        default=5, ge=1, le=1_000, description="Failed logins per user name in the window before 429."
    )
    login_failures_per_address: int = Field(
        default=20, ge=1, le=10_000, description="Failed logins per client address in the window before 429."
    )
    login_window_minutes: int = Field(default=15, ge=1, le=1_440, description="The login throttling window.")
    max_body_bytes: int = Field(
        default=1_000_000, ge=1_024, le=50_000_000, description="Largest request body the API reads."
    )
