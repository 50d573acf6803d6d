"""The page routes, one module per area; ``router`` holds them all.

Each area module has its own ``router`` (pages and the forms' fragments) and may add live parts to
``shell.FRAGMENTS``. Add a new area here and its page to ``layout.NAVIGATION``.
"""

from __future__ import annotations

from fastapi import APIRouter

from ibflow.web.pages import (
    executions,
    indicators,
    lineage,
    prompts,
    settings,
    shell,
    signals,
    strategy,
    symbols,
    wizard,
)

router = APIRouter(include_in_schema=False)
AREAS = (wizard, strategy, shell, symbols, indicators, prompts, lineage, executions, signals, settings)
"""In the order their routes match: ``/strategies/new`` (wizard) before ``/strategies/{id}``."""
for area in AREAS:
    router.include_router(area.router)
