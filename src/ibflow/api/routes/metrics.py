"""``/metrics``: Prometheus's text format of the counters of this machine's processes and the state gauges.

No login: a scraper has no session. With ``IBFLOW_METRICS_TOKEN`` set it must send
``Authorization: Bearer <token>``; nothing shown names a user, a strategy, an account or a secret.
"""

from __future__ import annotations

import hmac
from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response

from ibflow.api import problems
from ibflow.api.auth import container
from ibflow.core import metrics as figures
from ibflow.workflow.runtime.gauges import reader

router = APIRouter(tags=["health"])


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={401: {"description": "IBFLOW_METRICS_TOKEN is set and the request lacks it"}},
)
def metrics(request: Request) -> Response:
    """The exposition: counters and histograms summed over the machine's processes, gauges from the DB."""
    app = container(request)
    settings = app.settings.metrics
    token = settings.metrics_token
    if token is not None:
        expected = f"Bearer {token.get_secret_value()}".encode()
        if not hmac.compare_digest(request.headers.get("authorization", "").encode(), expected):
            return problems.problem(401, "Not authorized", "send Authorization: Bearer <token>")
    read = reader(
        app.read_sessions,
        now=app.clock.now,
        dead_after=timedelta(seconds=app.settings.runner.worker_dead_after_seconds),
        queue_depths=app.queue_depths,
    )
    body = figures.exposition(settings.metrics_dir, figures.GaugesCollector(read))
    return PlainTextResponse(body, media_type=figures.CONTENT_TYPE)
