"""``/prompts``: templates and their immutable versions, variables, render preview, diff and performance.

The same services as ``ibflow prompt list | show | edit | render | diff | stats``. Viewers read; traders add
versions (every edit is a new version, audited). A version is named ``NAME@N``, ``NAME`` (newest) or by id.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from ibflow import bootstrap
from ibflow.api.deps import ContainerDep, SessionDep
from ibflow.api.roles import Trader, Viewer
from ibflow.core.errors import NotFound
from ibflow.db.models import PromptVersion, Strategy
from ibflow.llm.prompts import store
from ibflow.llm.prompts.stats import VersionStats, prompt_stats
from ibflow.llm.prompts.variables import ROLE_VARIABLES, ROLES, VARIABLES
from ibflow.trading.audit import record_audit
from ibflow.workflow.prompt_preview import preview_prompts

router = APIRouter(prefix="/prompts", tags=["prompts"])
TemplateName = Annotated[str, Path(min_length=1, max_length=100, description="a template's name")]
MAX_BODY_CHARS = 20_000


class TemplateOut(BaseModel):
    """A template with its newest version."""

    id: int
    name: str
    role: str
    language: str
    scope: str
    is_default: bool
    latest_version: int
    latest_version_id: int


class VersionOut(BaseModel):
    """One immutable version of a template."""

    id: int
    template: str
    version: int
    body: str
    created_by: int | None
    created_at: datetime


class UseOut(BaseModel):
    """A strategy using the template: pinned to a version, or following the newest (``version`` null)."""

    strategy_id: int
    strategy_name: str
    state: str
    version: int | None


class TemplateDetail(TemplateOut):
    """A template, its versions newest first (without their text) and the strategies that use it."""

    versions: list[VersionOut]
    used_by: list[UseOut]


class VariableOut(BaseModel):
    """A variable a template may use, and the roles that may use it."""

    name: str
    meaning: str
    roles: list[str]


class VersionBody(BaseModel):
    """The text of a new version; ``role`` (and ``language``) are needed when the name is new."""

    model_config = ConfigDict(extra="forbid")

    body: str = Field(min_length=1, max_length=MAX_BODY_CHARS)
    role: str | None = Field(default=None, description="system, analysis, weekly or consolidation")
    language: str = Field(default="en", description="en or zh (new templates)")


class VersionAdded(BaseModel):
    """The stored version; ``created`` is false when the text equals the newest version's."""

    created: bool
    version: VersionOut


class RenderBody(BaseModel):
    """What to render for a strategy, on the market as of now (nothing is stored or sent)."""

    model_config = ConfigDict(extra="forbid")

    strategy_id: int = Field(ge=1, le=2**62)
    version: str | None = Field(default=None, max_length=120, description="analysis NAME@N or id to try")
    body: str | None = Field(
        default=None, min_length=1, max_length=MAX_BODY_CHARS, description="an unsaved analysis text"
    )


class DiffOut(BaseModel):
    """A unified diff between two versions (empty when they are equal)."""

    old: str
    new: str
    diff: str


@router.get("/templates", response_model=list[TemplateOut])
def templates(caller: Viewer, db: SessionDep, app: ContainerDep) -> list[TemplateOut]:
    """Every template with its role, language and newest version (the seeded defaults included)."""
    del caller
    _seed(db, app)
    return [TemplateOut(**asdict(t)) for t in store.list_templates(db)]


@router.get("/templates/{name}", response_model=TemplateDetail)
def template(caller: Viewer, db: SessionDep, app: ContainerDep, name: TemplateName) -> TemplateDetail:
    """A template's versions (newest first, without their text) and the strategies that use it."""
    del caller
    _seed(db, app)
    row = store.template_named(db, name)
    summary = next(t for t in store.list_templates(db) if t.id == row.id)
    return TemplateDetail(
        **asdict(summary),
        versions=[_version(row.name, v, with_body=False) for v in store.versions_of(db, row)],
        used_by=[UseOut(**asdict(use)) for use in store.template_uses(db, row)],
    )


@router.get("/templates/{name}/versions/{version}", response_model=VersionOut)
def version(
    caller: Viewer,
    db: SessionDep,
    app: ContainerDep,
    name: TemplateName,
    version: Annotated[int, Path(ge=1, le=1_000_000)],
) -> VersionOut:
    """One version with its text."""
    del caller
    _seed(db, app)
    row = store.template_named(db, name)
    return _version(row.name, store.version_of(db, row, version))


@router.post("/templates/{name}/versions", status_code=201, response_model=VersionAdded)
def add_version(
    caller: Trader, db: SessionDep, app: ContainerDep, name: TemplateName, body: VersionBody
) -> VersionAdded:
    """Store the text as the template's next version (a new name creates a template, with ``role``).

    The text is checked first: 422 names each unknown variable or unsafe construct with its line. A text
    equal to the newest version's stores nothing (``created`` false).
    """
    _seed(db, app)
    stored, created = store.add_version(
        db,
        name=name,
        body=body.body,
        clock=app.clock,
        role=body.role,
        language=body.language,
        created_by=caller.user_id,
    )
    if created:
        record_audit(
            db,
            actor=caller.username,
            action="prompt.version_added",
            at=app.clock.now(),
            target_type="prompt_version",
            target_id=stored.id,
            before={"template": name, "version": stored.version - 1},
            after={"template": name, "version": stored.version},
        )
    db.commit()
    return VersionAdded(created=created, version=_version(name, stored))


@router.get("/variables", response_model=list[VariableOut])
def variables(caller: Viewer) -> list[VariableOut]:
    """The documented variables, each with the roles whose templates may use it."""
    del caller
    shared = [VariableOut(name=n, meaning=m, roles=list(ROLES)) for n, m in VARIABLES.items()]
    extra: dict[str, VariableOut] = {}
    for role, names in ROLE_VARIABLES.items():
        for n, m in names.items():
            extra.setdefault(n, VariableOut(name=n, meaning=m, roles=[])).roles.append(role)
    return shared + list(extra.values())


@router.post("/render")
def render(caller: Viewer, db: SessionDep, app: ContainerDep, body: RenderBody) -> dict[str, str]:
    """Each role's text rendered for the strategy now, with a saved version or an unsaved ``body``."""
    del caller
    _seed(db, app)
    strategy = db.get(Strategy, body.strategy_id)
    if strategy is None:
        raise NotFound(f"strategy {body.strategy_id} does not exist")
    version_id = store.find_version(db, body.version)[1].id if body.version else None
    db.expunge(strategy)
    db.rollback()
    return preview_prompts(app.deps, strategy, version_id=version_id, draft=body.body)


@router.get("/diff", response_model=DiffOut)
def diff(
    caller: Viewer,
    db: SessionDep,
    app: ContainerDep,
    old: Annotated[str, Query(min_length=1, max_length=120, description="NAME@N or id")],
    new: Annotated[str, Query(min_length=1, max_length=120, description="NAME@N or id")],
) -> DiffOut:
    """What changed between two versions."""
    del caller
    _seed(db, app)
    (old_t, old_v), (new_t, new_v) = store.find_version(db, old), store.find_version(db, new)
    text = store.diff(old_v, new_v, old_name=old_t.name, new_name=new_t.name)
    return DiffOut(old=f"{old_t.name}@{old_v.version}", new=f"{new_t.name}@{new_v.version}", diff=text)


@router.get("/stats", response_model=list[VersionStats])
def stats(
    caller: Viewer,
    db: SessionDep,
    app: ContainerDep,
    *,
    version: Annotated[list[str] | None, Query(max_length=20, description="versions to compare")] = None,
    strategy_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    by_strategy: bool = False,
) -> list[VersionStats]:
    """Per prompt version: signals, actionable share, trades, win rate, average R, P&L and confidence."""
    del caller
    _seed(db, app)
    ids = [store.find_version(db, ref)[1].id for ref in version or []]
    rows = prompt_stats(db, version_ids=ids or None, strategy_id=strategy_id, by_strategy=by_strategy)
    return rows


def _seed(db: Session, app: bootstrap.Container) -> None:
    """Create the seeded defaults if this database lacks them (as ``ibflow prompt list`` does)."""
    if store.ensure_defaults(db, clock=app.clock):
        db.commit()


def _version(name: str, row: PromptVersion, *, with_body: bool = True) -> VersionOut:
    return VersionOut(
        id=row.id,
        template=name,
        version=row.version,
        body=row.body if with_body else "",
        created_by=row.created_by,
        created_at=row.created_at,
    )
