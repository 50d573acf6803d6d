"""The prompts pages: the templates with their uses and performance, and one template's editor and history.

Reads go through ``workflow.queries.prompts`` (the services of ``/api/v1/prompts``). Saving a version and the
render preview are calls to that API from ``static/app.js``; the diff of two versions is a plain GET of the
page (``?old=N&new=M``), rendered here and escaped like every other text.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from ibflow.api.auth import container
from ibflow.api.deps import ReadSessionDep
from ibflow.core.errors import NotFound
from ibflow.llm.prompts import store
from ibflow.llm.prompts.defaults import DEFAULTS, default_name
from ibflow.llm.prompts.variables import ROLE_VARIABLES, VARIABLES
from ibflow.web.layout import page_context
from ibflow.web.session import PageCaller
from ibflow.web.templating import templates
from ibflow.workflow.queries.prompts import TemplateDetail, prompt_detail, prompt_overview, version_diff
from ibflow.workflow.strategies.views import strategy_summaries

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
VersionNumber = Annotated[int | None, Query(ge=1, le=1_000_000)]


@router.get("/prompts")
def prompts(request: Request, caller: PageCaller, db: ReadSessionDep) -> Response:
    """Every template with its newest version, the strategies using it, and each version's performance."""
    _ensure_defaults(request, db)
    rows, performance = prompt_overview(db)
    return templates.TemplateResponse(
        request,
        "prompts/list.html",
        page_context(request, caller, db, title="Prompts", rows=rows, performance=performance),
    )


@router.get("/prompts/{name}")
def prompt(
    request: Request,
    caller: PageCaller,
    db: ReadSessionDep,
    *,
    name: Annotated[str, Path(min_length=1, max_length=100)],
    old: VersionNumber = None,
    new: VersionNumber = None,
) -> Response:
    """One template: the editor, its variables, the render preview, the history and a diff of two versions."""
    _ensure_defaults(request, db)
    detail = prompt_detail(db, name)
    values: dict[str, Any] = {
        "detail": detail,
        "t": detail.template,
        "latest": detail.versions[0],
        "variables": _variables(detail.template.role),
        "strategies": strategy_summaries(db),
        "previewable": _previewable(detail),
        **_diff(db, detail, old, new),
    }
    return templates.TemplateResponse(
        request, "prompts/detail.html", page_context(request, caller, db, title=f"Prompt {name}", **values)
    )


def _ensure_defaults(request: Request, db: Session) -> None:
    """Seed the default templates when this database lacks them (as the API and ``ibflow prompt`` do)."""
    names = {t.name for t in store.list_templates(db)}
    if all(default_name(role, language) in names for role, language in DEFAULTS):
        return
    with container(request).sessions() as writing:
        store.ensure_defaults(writing, clock=container(request).clock)
        writing.commit()
    db.rollback()  # read again after the seeding, not from the snapshot before it


def _variables(role: str) -> list[tuple[str, str]]:
    return [*VARIABLES.items(), *ROLE_VARIABLES.get(role, {}).items()]


def _previewable(detail: TemplateDetail) -> str:
    """How the preview renders: ``draft`` (the editor's text, as the analysis), ``role`` (this default's
    newest text, as a strategy's run uses it) or ``none`` (a strategy never uses this template directly)."""
    template = detail.template
    if template.role == "analysis":
        return "draft"
    return "role" if template.name == default_name(template.role, template.language) else "none"


def _diff(db: Session, detail: TemplateDetail, old: int | None, new: int | None) -> dict[str, Any]:
    newest = detail.versions[0].version
    old_number = old if old is not None else max(newest - 1, 1)
    new_number = new if new is not None else newest
    chosen = {"diff_old": old_number, "diff_new": new_number, "diff_lines": None, "diff_problem": ""}
    if old is None and new is None:
        return chosen
    try:
        text = version_diff(db, detail.template.name, old_number, new_number)
    except NotFound as exc:
        return {**chosen, "diff_problem": str(exc)}
    return {**chosen, "diff_lines": [(_line_kind(line), line) for line in text.splitlines()]}


def _line_kind(line: str) -> str:
    if line.startswith(("+++", "---")):
        return "file"
    if line.startswith("@@"):
        return "hunk"
    return {"+": "added", "-": "removed"}.get(line[:1], "same")
