"""Settings come from IBFLOW_* and .env, are frozen, and keep secrets out of logs."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from pydantic import ValidationError

from ibflow.core.logging import JsonFormatter, configure_logging
from ibflow.core.settings import BrokerSettings, DatabaseSettings, LoggingSettings


def test_database_defaults_to_a_sqlite_file_under_the_data_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("IBFLOW_DATABASE_URL", raising=False)
    monkeypatch.setenv("IBFLOW_DATA_DIR", str(tmp_path / "state"))
    assert DatabaseSettings().url == f"sqlite:///{tmp_path}/state/ibflow.db"


def test_dotenv_is_read_and_the_url_is_a_secret(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("IBFLOW_DATABASE_URL", raising=False)
    (tmp_path / ".env").write_text("IBFLOW_DATABASE_URL=postgresql+psycopg://u:hunter2@db/ibflow\n")
    settings = DatabaseSettings()
    assert settings.url == "postgresql+psycopg://u:hunter2@db/ibflow"
    assert "hunter2" not in repr(settings)
    assert "hunter2" not in str(settings.model_dump())


def test_settings_are_frozen_and_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = BrokerSettings()
    with pytest.raises(ValidationError):
        settings.broker = "ibkr"  # type: ignore[misc]
    monkeypatch.setenv("IBFLOW_BROKER", "alpaca")
    with pytest.raises(ValidationError, match="broker"):
        BrokerSettings()
    monkeypatch.setenv("IBFLOW_LOG_FORMAT", "xml")
    with pytest.raises(ValidationError, match="log_format"):
        LoggingSettings()


def test_json_logs_mask_secret_looking_fields() -> None:
    record = logging.makeLogRecord(
        {"name": "ibflow.t", "levelname": "INFO", "msg": "placed %s", "args": ("AAPL",)}
    )
    record.api_key = "sk-live-123"
    record.conid = 265598
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "placed AAPL"
    assert line["api_key"] == "***"
    assert line["conid"] == 265598
    assert line["ts"].endswith("+00:00")


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("api_key", True),
        ("apiKey", True),
        ("accessToken", True),
        ("clientSecret", True),
        ("OPENAI_API_KEY", True),
        ("password", True),
        ("input_tokens", False),
        ("maxTokens", False),
        ("conid", False),
    ],
)
def test_secret_looking_names(name: str, secret: bool) -> None:
    from ibflow.core.logging import is_secret_key

    assert is_secret_key(name) is secret


def test_configure_logging_installs_one_handler(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    before = list(root.handlers)
    try:
        configure_logging("INFO", "json")
        configure_logging("INFO", "human")
        ours = [h for h in root.handlers if getattr(h, "_ibflow", False)]
        assert len(ours) == 1
        logging.getLogger("ibflow.test").info("hello %d", 7)
        assert "INFO    ibflow.test: hello 7" in capsys.readouterr().err
    finally:
        for handler in list(root.handlers):
            if handler not in before:
                root.removeHandler(handler)
