"""The page routes, one module per area; ``router`` holds them all.

Each area module has its own ``router`` (pages and the forms' fragments) and may add live parts to
``shell.FRAGMENTS``. Add a new area here and its page to ``layout.NAVIGATION``.
"""

from __future__ import annotations

from fastapi import APIRouter

from ibflow.web.pages import (
    backtests,
    executions,
    indicators,
    lineage,
    orders,
    portfolio,
    prompts,
    settings,
    shell,
    signals,
    strategy,
    symbols,
    wizard,
)

router = APIRouter(include_in_schema=False)
AREAS = (
    wizard,
    strategy,
    orders,
    shell,
    symbols,
    indicators,
    prompts,
    lineage,
    executions,
    signals,
    portfolio,
    backtests,
    settings,
)
"""The areas in the order their routes match: the wizard's /strategies/new before /strategies/ID, and
/fragments/orders before the shell's /fragments/NAME."""
for area in AREAS:
    router.include_router(area.router)
