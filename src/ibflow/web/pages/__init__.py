"""The page routes, one module per area; ``router`` holds them all.

Each area module has its own ``router`` (pages and the forms' fragments) and may add live parts to
``shell.FRAGMENTS``. Add a new area here and its page to ``layout.NAVIGATION``.
"""

from __future__ import annotations

from fastapi import APIRouter

from ibflow.web.pages import indicators, lineage, portfolio, prompts, shell, strategy, symbols, wizard

router = APIRouter(include_in_schema=False)
for area in (
    wizard,
    strategy,
    shell,
    symbols,
    indicators,
    prompts,
    lineage,
    portfolio,
):  # /strategies/new before /ID
    router.include_router(area.router)
