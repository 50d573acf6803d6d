"""The page routes, one module per area; ``router`` holds them all.

Each area module has its own ``router`` (pages and the forms' fragments) and may add live parts to
``shell.FRAGMENTS``. Add a new area here and its page to ``layout.NAVIGATION``.
"""

from __future__ import annotations

from fastapi import APIRouter

from ibflow.web.pages import indicators, lineage, orders, prompts, shell, strategy, symbols, wizard

router = APIRouter(include_in_schema=False)
# /strategies/new before /strategies/ID; /fragments/orders before shell's /fragments/NAME
for area in (wizard, strategy, orders, shell, symbols, indicators, prompts, lineage):
    router.include_router(area.router)
