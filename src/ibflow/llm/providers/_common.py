"""What both SDK adapters share: base64 images, timing, and keeping the key out of error text."""

from __future__ import annotations

import base64
import time

from pydantic import SecretStr

from ibflow.core.logging import REDACTED


def b64(png: bytes) -> str:
    """Return PNG bytes as base64 text."""
    return base64.b64encode(png).decode("ascii")


def scrub(text: str, key: SecretStr | None) -> str:
    """Return ``text`` with the API key (if any) replaced, so it can be stored and logged."""
    secret = key.get_secret_value() if key is not None else ""
    return text.replace(secret, REDACTED) if secret else text


def ms_since(began: float) -> int:
    """Return whole milliseconds since ``began`` (a ``perf_counter`` value)."""
    return round((time.perf_counter() - began) * 1000)
