"""Make step payloads safe and small before they reach lineage: secrets out, large values capped."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from pydantic import SecretBytes, SecretStr

from ibflow.core.logging import REDACTED, is_secret_key

MAX_STRING_CHARS = 4000
MAX_LIST_ITEMS = 200
MAX_DEPTH = 8
TRUNCATED = "…[truncated: {n} more]"


def to_lineage(value: Any) -> Any:
    """Return a JSON-ready copy of ``value`` with secrets redacted and large values capped (visibly)."""
    return _clean(value, depth=0)


_NOT_SCALAR = object()


def _scalar(value: Any) -> Any:  # noqa: PLR0911 (one branch per kind of value)
    if isinstance(value, SecretStr | SecretBytes):
        return REDACTED
    if isinstance(value, float) and not math.isfinite(value):
        return None  # NaN / inf are not JSON (PostgreSQL refuses them): an indicator with no value yet
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return _cap_string(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return _scalar(value.value)
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return _NOT_SCALAR


def _clean(value: Any, depth: int) -> Any:
    scalar = _scalar(value)
    if scalar is not _NOT_SCALAR:
        return scalar
    if depth >= MAX_DEPTH:
        return "…[truncated: too deep]"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): REDACTED if is_secret_key(str(k)) else _clean(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = list(value)
        cleaned = [_clean(v, depth + 1) for v in items[:MAX_LIST_ITEMS]]
        if len(items) > MAX_LIST_ITEMS:
            cleaned.append(TRUNCATED.format(n=len(items) - MAX_LIST_ITEMS))
        return cleaned
    return _cap_string(repr(value))


def _cap_string(text: str) -> str:
    if len(text) <= MAX_STRING_CHARS:
        return text
    return text[:MAX_STRING_CHARS] + TRUNCATED.format(n=f"{len(text) - MAX_STRING_CHARS} chars")


def json_size(value: Any) -> int:
    """Return the size of ``value`` as JSON, for tests and limits."""
    return len(json.dumps(value, default=str))
