"""Logging in two formats: human lines for a terminal, JSON lines for machines."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, Literal

from ibflow.core import log_context

_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}
_SECRET_KEY = re.compile(
    r"(^|[_-])(password|passwd|passphrase|secret|token|api[_-]?key|apikey|private[_-]?key|authorization|cookie)"
    r"([_-]|$)",
    re.IGNORECASE,
)
REDACTED = "***"


_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def is_secret_key(name: str) -> bool:
    """Tell whether a field name looks like it holds a secret (snake_case, kebab-case or camelCase)."""
    return bool(_SECRET_KEY.search(_CAMEL.sub("_", name)))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, the log context (request, execution,
    strategy, order), extras (secret-looking keys masked)."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        payload.update(log_context.current())
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                payload[key] = REDACTED if is_secret_key(key) else value
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


_SHORT = {
    "request_id": "request",
    "execution_id": "execution",
    "strategy_id": "strategy",
    "strategy": "name",
    "client_order_id": "order",
}


class HumanFormatter(logging.Formatter):
    """``2026-11-25T11:00:00Z INFO ibflow.x: message [execution=12 strategy=3 name=AAPL daily]``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = log_context.current()
        if not context:
            return line
        tail = " ".join(f"{_SHORT[name]}={context[name]}" for name in log_context.FIELDS if name in context)
        head, newline, rest = line.partition("\n")  # after the message, before a traceback
        return f"{head} [{tail}]{newline}{rest}"

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record is emitted, not the one it was made with.

    A test runner or a CLI runner swaps ``sys.stderr`` and closes its copy afterwards; a handler bound to the
    closed stream would print "--- Logging error ---" tracebacks instead of the log line.
    """

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        """Ignored: the stream is always the current ``sys.stderr``."""


def configure_logging(level: str = "INFO", fmt: Literal["human", "json"] = "human") -> None:
    """Send ibflow's logs to stderr in the chosen format; idempotent."""
    handler = _StderrHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else HumanFormatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "_ibflow", False):
            root.removeHandler(existing)
    handler._ibflow = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("alembic.runtime.plugins", "alembic.runtime.migration"):  # migrate prints its own summary
        logging.getLogger(noisy).setLevel(logging.WARNING)
