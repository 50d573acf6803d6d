"""What a log line is about: the request, execution, strategy and order in progress, in context variables.

The API middleware sets ``request_id``, the executor ``execution_id`` and ``strategy_id``/``strategy``,
order submission and tracking ``client_order_id``; every log record emitted inside carries them (the JSON
formatter adds them as fields, the human one as a short tail). Context variables follow a request into the
thread that serves it and stay apart between the threads of a worker.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType

FIELDS = ("request_id", "execution_id", "strategy_id", "strategy", "client_order_id")
"""The context a record may carry, in the order a line shows it."""

_EMPTY: Mapping[str, object] = MappingProxyType({})
_CONTEXT: ContextVar[Mapping[str, object]] = ContextVar("ibflow_log_context", default=_EMPTY)
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")


@contextmanager
def log_context(**fields: object) -> Iterator[None]:
    """Add ``fields`` (names from ``FIELDS``; None leaves a field as it was) to the records emitted inside."""
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise ValueError(f"not a log context field: {', '.join(sorted(unknown))}")
    given = {name: value for name, value in fields.items() if value is not None}
    token = _CONTEXT.set(MappingProxyType({**_CONTEXT.get(), **given}))
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def current() -> Mapping[str, object]:
    """Return the context in effect here (empty outside any ``log_context``)."""
    return _CONTEXT.get()


def request_id_from(header: str | None) -> str:
    """Return a caller's ``X-Request-ID`` when it is a short plain token, else a fresh random id."""
    if header is not None and _SANE_REQUEST_ID.fullmatch(header):
        return header
    return secrets.token_hex(8)
