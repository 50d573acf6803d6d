"""``GET /events``: the events outbox as server-sent events, resumable with ``Last-Event-ID``.

The one ``async`` route: it holds the connection open, reads the outbox on the thread pool every
``POLL_SECONDS``, sends each event as ``id`` (the stream position), ``event`` (its kind) and ``data`` (its
JSON), and a comment line as a heartbeat when nothing happened for ``HEARTBEAT_SECONDS``. Reconnecting with
the last id received continues exactly after it (see ``db.events.stream`` for why nothing is skipped on
PostgreSQL). Without one, the stream starts at the newest event.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from ibflow.api.auth import container
from ibflow.api.roles import Viewer
from ibflow.core.errors import ValidationError
from ibflow.db.events.catalogue import CATALOGUE
from ibflow.db.events.stream import StreamPosition, read_stream, stream_start

router = APIRouter(tags=["events"])
POLL_SECONDS = 0.5
HEARTBEAT_SECONDS = 15.0
RETRY_MS = 3000


@router.get(
    "/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "server-sent events"}},
)
async def events(
    caller: Viewer,
    request: Request,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    after: Annotated[
        str | None, Query(description="a position, as Last-Event-ID (for clients without it)")
    ] = None,
    kinds: Annotated[str | None, Query(description="comma-separated event kinds; default all")] = None,
) -> StreamingResponse:
    """Stream outbox events as they are written; resume after ``Last-Event-ID`` (or ``after``)."""
    del caller
    app = container(request)
    wanted = _kinds(kinds)
    token = last_event_id or after
    start = StreamPosition.parse(token) if token else None

    def begin() -> StreamPosition:
        with app.read_sessions() as session:
            return stream_start(session)

    def read(position: StreamPosition) -> list[tuple[StreamPosition, str]]:
        with app.read_sessions() as session:
            found = read_stream(session, position, kinds=wanted)
        return [(at, _frame(at, view.kind, json.dumps(view.as_dict()))) for at, view in found]

    async def stream() -> AsyncIterator[str]:
        position = start if start is not None else await run_in_threadpool(begin)
        yield f"retry: {RETRY_MS}\n\n"
        quiet_since = time.monotonic()
        while not await request.is_disconnected():
            batch = await run_in_threadpool(read, position)
            for at, frame in batch:
                yield frame
                position = at
            if batch:
                quiet_since = time.monotonic()
                continue
            if time.monotonic() - quiet_since >= HEARTBEAT_SECONDS:
                yield ": heartbeat\n\n"
                quiet_since = time.monotonic()
            await asyncio.sleep(POLL_SECONDS)

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)


def _frame(at: StreamPosition, kind: str, data: str) -> str:
    return f"id: {at.token}\nevent: {kind}\ndata: {data}\n\n"


def _kinds(kinds: str | None) -> set[str] | None:
    if not kinds:
        return None
    wanted = {kind.strip() for kind in kinds.split(",") if kind.strip()}
    unknown = sorted(wanted - set(CATALOGUE))
    if unknown:
        raise ValidationError(
            "unknown event kinds",
            {"kinds": f"{', '.join(unknown)} unknown; see docs/events.md for the kinds"},
        )
    return wanted
