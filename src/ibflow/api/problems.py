"""Errors as ``application/problem+json`` (RFC 9457): a title, the status, what to fix, never a traceback.

Validation errors list each bad field with what is allowed (``errors``); an unexpected error is logged with
an id the answer repeats (``error_id``), and nothing else about it reaches the client.
"""

from __future__ import annotations

import json
import logging
import secrets
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from ibflow.core.errors import (
    BrokerError,
    ConfigurationError,
    Conflict,
    Forbidden,
    IbflowError,
    InvalidTransition,
    NotAuthenticated,
    NotFound,
    SessionUnavailable,
    TemporaryError,
    Throttled,
    TradingHalted,
    Unavailable,
    ValidationError,
)
from ibflow.core.log_context import log_context

log = logging.getLogger(__name__)
PROBLEM = "application/problem+json"
REQUEST_ID_STATE = "request_id"
"""Where the request-id middleware leaves the id in ``request.state``."""


def problem(status: int, title: str, detail: str = "", **extra: Any) -> JSONResponse:
    """Return a problem answer."""
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return _ProblemResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


class _ProblemResponse(JSONResponse):
    """JSON with every non-ASCII character escaped: a message may quote input holding lone surrogates,
    which UTF-8 cannot encode (the answer would be a 500 instead of the 4xx it is)."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


_STATUS: tuple[tuple[type[Exception], int, str], ...] = (
    (NotAuthenticated, 401, "Not authenticated"),
    (Forbidden, 403, "Forbidden"),
    (NotFound, 404, "Not found"),
    (Conflict, 409, "Conflict"),
    (InvalidTransition, 409, "Conflict"),
    (TradingHalted, 409, "Conflict"),
    (Unavailable, 503, "Service unavailable"),
)
"""Checked in order (``InvalidTransition`` is a ``ValidationError``, so before it)."""


def _ibflow_error(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, Throttled):
        answer = problem(429, "Too many attempts", str(exc), retry_after=exc.retry_after)
        answer.headers["Retry-After"] = str(exc.retry_after)
        return answer
    for kind, status, title in _STATUS:
        if isinstance(exc, kind):
            return problem(status, title, str(exc))
    if isinstance(exc, ValidationError):
        errors = [{"field": name, "problem": text} for name, text in exc.problems.items()]
        return problem(422, "Invalid input", str(exc), errors=errors)
    if isinstance(exc, BrokerError | ConfigurationError):
        return _not_the_callers(request, exc)
    return problem(400, "Refused", str(exc))


def _not_the_callers(request: Request, exc: Exception) -> JSONResponse:
    """A broker failure or a configuration problem: logged with an id the answer repeats."""
    error_id = secrets.token_hex(6)
    log.warning("%s %s on %s %s: %s", type(exc).__name__, error_id, request.method, request.url.path, exc)
    if isinstance(exc, ConfigurationError):
        return problem(500, "Internal error", "the error was logged; quote its id", error_id=error_id)
    if isinstance(exc, SessionUnavailable | TemporaryError):
        return problem(503, "Broker unavailable", str(exc), error_id=error_id)
    return problem(502, "Broker error", str(exc), error_id=error_id)


def _request_invalid(request: Request, exc: Exception) -> JSONResponse:
    del request
    if not isinstance(exc, RequestValidationError):
        return problem(422, "Invalid input")
    errors = [
        {
            "field": ".".join(str(part) for part in error["loc"] if part != "body") or "body",
            "problem": error["msg"],
        }
        for error in exc.errors()
    ]
    return problem(422, "Invalid input", f"{len(errors)} invalid field(s)", errors=errors)


def _http_error(request: Request, exc: Exception) -> JSONResponse:
    del request
    if not isinstance(exc, HTTPException):
        return problem(400, "Error")
    titles = {404: "Not found", 405: "Method not allowed", 413: "Request body too large"}
    return problem(exc.status_code, titles.get(exc.status_code, "Error"), str(exc.detail or ""))


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Starlette answers these outside every middleware: the request id comes back from the scope.
    request_id = getattr(request.state, REQUEST_ID_STATE, None)
    error_id = secrets.token_hex(6)
    with log_context(request_id=request_id):
        log.error("unexpected error %s on %s %s", error_id, request.method, request.url.path, exc_info=exc)
    answer = problem(500, "Internal error", "the error was logged; quote its id", error_id=error_id)
    if request_id is not None:
        answer.headers["X-Request-ID"] = request_id
    return answer


def install(app: FastAPI) -> None:
    """Answer every error of ``app`` as a problem."""
    app.add_exception_handler(IbflowError, _ibflow_error)
    app.add_exception_handler(RequestValidationError, _request_invalid)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
