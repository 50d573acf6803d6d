"""The prompt templates as the web pages show them: each template's newest version, who uses which version,
and each version's performance. The same services as ``/api/v1/prompts`` and ``ibflow prompt``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ibflow.db.models import PromptTemplate, PromptVersion, User
from ibflow.llm.prompts import store
from ibflow.llm.prompts.stats import VersionStats, prompt_stats


@dataclass(frozen=True)
class TemplateRow:
    """A template of the list: its newest version and the strategies that use it."""

    template: store.TemplateSummary
    uses: list[store.TemplateUse]


@dataclass(frozen=True)
class PerformanceRow:
    """What the signals of one prompt version did (``label`` None: signals without a prompt version)."""

    label: str | None
    template: str | None
    stats: VersionStats


@dataclass(frozen=True)
class VersionRow:
    """One version of a template, with its text, author, the strategies pinned to it and its performance."""

    id: int
    version: int
    body: str
    created_at: datetime
    created_by: str | None
    pinned: list[str] = field(default_factory=list)
    stats: VersionStats | None = None


@dataclass(frozen=True)
class TemplateDetail:
    """A template, its versions newest first, the strategies following its newest version and all uses."""

    template: store.TemplateSummary
    versions: list[VersionRow]
    uses: list[store.TemplateUse]

    @property
    def following_newest(self) -> list[str]:
        """The strategies that follow the newest version (not pinned)."""
        return [use.strategy_name for use in self.uses if use.version is None]

    def version(self, number: int) -> VersionRow | None:
        """Return version ``number``, None when the template has no such version."""
        return next((row for row in self.versions if row.version == number), None)


def prompt_overview(session: Session) -> tuple[list[TemplateRow], list[PerformanceRow]]:
    """Every template with its uses, and one performance row per prompt version that produced signals."""
    templates = store.list_templates(session)
    by_id = {row.id: row for row in session.scalars(select(PromptTemplate))}
    rows = [TemplateRow(t, store.template_uses(session, by_id[t.id])) for t in templates]
    versions = session.execute(
        select(PromptVersion.id, PromptTemplate.name, PromptVersion.version).join(
            PromptTemplate, PromptTemplate.id == PromptVersion.template_id
        )
    ).all()
    names = {version_id: (name, number) for version_id, name, number in versions}
    performance = []
    for stats in prompt_stats(session):
        found = names.get(stats.prompt_version_id) if stats.prompt_version_id is not None else None
        label = f"{found[0]}@{found[1]}" if found else None
        performance.append(PerformanceRow(label, found[0] if found else None, stats))
    return rows, performance


def prompt_detail(session: Session, name: str) -> TemplateDetail:
    """Return template ``name`` with its versions (``NotFound`` when there is none by that name)."""
    template = store.template_named(session, name)
    summary = next(t for t in store.list_templates(session) if t.id == template.id)
    versions = store.versions_of(session, template)
    uses = store.template_uses(session, template)
    authors = {v.created_by for v in versions if v.created_by is not None}
    authors_query = select(User.id, User.username).where(User.id.in_(authors))
    usernames = {row.id: row.username for row in session.execute(authors_query)} if authors else {}
    stats = {s.prompt_version_id: s for s in prompt_stats(session, version_ids=[v.id for v in versions])}
    rows = [
        VersionRow(
            id=v.id,
            version=v.version,
            body=v.body,
            created_at=v.created_at,
            created_by=usernames.get(v.created_by) if v.created_by is not None else None,
            pinned=[use.strategy_name for use in uses if use.version == v.version],
            stats=stats.get(v.id),
        )
        for v in versions
    ]
    return TemplateDetail(summary, rows, uses)


def version_diff(session: Session, name: str, old: int, new: int) -> str:
    """Return the unified diff from version ``old`` to ``new`` of template ``name`` ("" when equal)."""
    template = store.template_named(session, name)
    before, after = store.version_of(session, template, old), store.version_of(session, template, new)
    return store.diff(before, after, old_name=template.name, new_name=template.name)
