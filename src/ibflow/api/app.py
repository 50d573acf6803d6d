"""``create_app``: the JSON API under ``/api/v1`` (OpenAPI at ``/docs``) on the container bootstrap built.

Every route needs a login except ``/api/v1/auth/login``, ``/healthz``, ``/readyz``, ``/metrics`` (a token of
its own when ``IBFLOW_METRICS_TOKEN`` is set) and the OpenAPI document;
errors are problem documents; request bodies above ``IBFLOW_MAX_BODY_BYTES`` are refused with 413. Every
answer carries an ``X-Request-ID`` (the caller's when sane, else a fresh one), and so does every log record
emitted while the request is served.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ibflow import bootstrap
from ibflow.api import problems
from ibflow.api.problems import REQUEST_ID_STATE
from ibflow.api.routes import (
    actions,
    admin,
    auth,
    backtests,
    broker,
    drafts,
    events,
    health,
    indicator_configs,
    lineage,
    metrics,
    notify,
    portfolio,
    prompts,
    reads,
    reference,
    strategies,
    trading,
    users,
)
from ibflow.core.ids import ExecutionId, StrategyId
from ibflow.core.log_context import log_context, request_id_from
from ibflow.users.throttle import LoginThrottle

PREFIX = "/api/v1"

log = logging.getLogger(__name__)


def create_app(
    container: bootstrap.Container,
    *,
    scheduler_alive: Callable[[], bool] | None = None,
    run_now: Callable[[StrategyId], ExecutionId] | None = None,
) -> FastAPI:
    """Return the API app over ``container``.

    ``scheduler_alive`` feeds ``/readyz`` and ``run_now`` serves ``POST /strategies/{id}/run`` when this
    process runs a scheduler (``ibflow serve``); without one (``ibflow web``) that route answers 503.
    """
    api = container.settings.api
    app = FastAPI(
        title="ibflow",
        summary="Chart-reading, LLM-assisted trading strategies against Interactive Brokers.",
        version=_version(),
        openapi_url=f"{PREFIX}/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.container = container
    app.state.scheduler_alive = scheduler_alive
    app.state.run_now = run_now
    app.state.throttle = LoginThrottle(
        container.clock,
        per_user=api.login_failures_per_user,
        per_address=api.login_failures_per_address,
        window=timedelta(minutes=api.login_window_minutes),
    )
    app.include_router(health.router)
    app.include_router(metrics.router)
    for module in (
        auth,
        reads,
        lineage,
        reference,
        indicator_configs,
        portfolio,
        strategies,
        drafts,
        prompts,
        trading,
        actions,
        broker,
        users,
        admin,
        notify,
        events,
        backtests,
    ):
        app.include_router(module.router, prefix=PREFIX)
    problems.install(app)
    app.add_middleware(_BodyLimit, limit=api.max_body_bytes)
    app.add_middleware(_RequestId)  # outermost: a 413 carries the id too
    return app


def _version() -> str:
    from importlib.metadata import version

    return version("ibflow")


class _RequestId:
    """Name each request: its log records and its answer carry the same ``X-Request-ID``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or []).get(b"x-request-id")
        request_id = request_id_from(given.decode("latin-1") if given is not None else None)
        scope.setdefault("state", {})[REQUEST_ID_STATE] = request_id  # for the handler of unexpected errors
        began, status = time.perf_counter(), 500

        async def naming(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                message = {**message, "headers": [*headers, (b"x-request-id", request_id.encode())]}
            await send(message)

        with log_context(request_id=request_id):
            try:
                await self.app(scope, receive, naming)
            finally:
                took_ms = (time.perf_counter() - began) * 1000
                log.debug("%s %s %d in %.0f ms", scope["method"], scope["path"], status, took_ms)


class _BodyLimit:
    """Refuse a request body larger than ``limit`` bytes (declared or streamed) with 413."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._too_large(scope, receive, send)
            return
        seen = 0

        async def counting() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:  # FastAPI passes an HTTPException raised while reading the body through
                raise HTTPException(413, f"at most {self.limit} bytes")
            return message

        await self.app(scope, counting, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        answer = problems.problem(413, "Request body too large", f"at most {self.limit} bytes")
        await answer(scope, receive, send)
