"""Prompt templates and their immutable versions: seed, list, edit (a new version), resolve, diff.

Services take the session first and never commit; the caller does.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, aliased

from ibflow.core.clock import Clock
from ibflow.core.errors import NotFound, ValidationError
from ibflow.db.models.strategies import PromptTemplate, PromptVersion
from ibflow.llm.analyst import PromptText
from ibflow.llm.prompts.defaults import DEFAULTS, default_name
from ibflow.llm.prompts.render import validate
from ibflow.llm.prompts.variables import ROLES, allowed_for

LANGUAGES = ("en", "zh")
TEMPLATE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._:-]{0,99}$")
"""A new template's name: it travels in URLs and in ``NAME@N`` references, so no ``/``, ``@`` or ``%``."""


@dataclass(frozen=True)
class TemplateSummary:
    """One template as ``prompt list`` shows it."""

    id: int
    name: str
    role: str
    language: str
    scope: str
    is_default: bool
    latest_version: int
    latest_version_id: int


def ensure_defaults(session: Session, *, clock: Clock) -> int:
    """Create the seeded default templates that are missing; return how many were created."""
    names = [default_name(role, language) for role, language in DEFAULTS]
    existing = set(session.scalars(select(PromptTemplate.name).where(PromptTemplate.name.in_(names))))
    created = 0
    for (role, language), body in DEFAULTS.items():
        name = default_name(role, language)
        if name in existing:
            continue
        template = PromptTemplate(
            name=name, role=role, language=language, scope="global", is_default=True, created_at=clock.now()
        )
        session.add(template)
        session.flush()
        session.add(PromptVersion(template_id=template.id, version=1, body=body, created_at=clock.now()))
        created += 1
    session.flush()
    return created


def list_templates(session: Session) -> list[TemplateSummary]:
    """Return every template with its newest version."""
    latest = (
        select(PromptVersion.template_id, func.max(PromptVersion.version).label("version"))
        .group_by(PromptVersion.template_id)
        .subquery()
    )
    rows = session.execute(
        select(PromptTemplate, PromptVersion)
        .join(latest, latest.c.template_id == PromptTemplate.id)
        .join(
            PromptVersion,
            (PromptVersion.template_id == PromptTemplate.id) & (PromptVersion.version == latest.c.version),
        )
        .order_by(PromptTemplate.role, PromptTemplate.language, PromptTemplate.name)
    ).all()
    return [
        TemplateSummary(t.id, t.name, t.role, t.language, t.scope, t.is_default, v.version, v.id)
        for t, v in rows
    ]


def template_named(session: Session, name: str) -> PromptTemplate:
    """Return the template called ``name``; raise ``NotFound`` listing what exists."""
    template = session.scalars(select(PromptTemplate).where(PromptTemplate.name == name)).one_or_none()
    if template is None:
        names = ", ".join(session.scalars(select(PromptTemplate.name).order_by(PromptTemplate.name)))
        raise NotFound(f"no prompt template named {name!r} (known: {names or 'none'})")
    return template


def version_of(session: Session, template: PromptTemplate, version: int | None = None) -> PromptVersion:
    """Return ``version`` of ``template`` (its newest when None)."""
    query = select(PromptVersion).where(PromptVersion.template_id == template.id)
    query = (
        query.where(PromptVersion.version == version)
        if version is not None
        else query.order_by(PromptVersion.version.desc()).limit(1)
    )
    row = session.scalars(query).first()
    if row is None:
        raise NotFound(f"template {template.name!r} has no version {version}")
    return row


def find_version(session: Session, ref: str) -> tuple[PromptTemplate, PromptVersion]:
    """Return the version a reference names: ``NAME@N``, ``NAME`` (newest) or a version id."""
    if ref.isdigit():
        version = session.get(PromptVersion, int(ref))
        if version is None:
            raise NotFound(f"no prompt version with id {ref}")
        template = session.get(PromptTemplate, version.template_id)
        if template is None:
            raise NotFound(f"prompt version {ref} has no template")
        return template, version
    name, _, number = ref.partition("@")
    if number and not number.isdigit():
        raise ValidationError(f"{ref!r}: write NAME@N with N a version number", {"version": "not a number"})
    template = template_named(session, name)
    return template, version_of(session, template, int(number) if number else None)


def add_version(
    session: Session,
    *,
    name: str,
    body: str,
    clock: Clock,
    role: str | None = None,
    language: str = "en",
    created_by: int | None = None,
) -> tuple[PromptVersion, bool]:
    """Store ``body`` as the next version of template ``name`` (created when new, then ``role`` is needed).

    The body is validated for its role first. Return the version and whether it is new (an unchanged body
    keeps the newest version: versions are never edited and never duplicated).
    """
    template = session.scalars(select(PromptTemplate).where(PromptTemplate.name == name)).one_or_none()
    if template is None:
        template = _new_template(session, name=name, role=role, language=language, clock=clock)
    elif role is not None and role != template.role:
        raise ValidationError(f"template {name!r} has role {template.role}, not {role}", {"role": "mismatch"})
    validate(body, allowed_for(template.role))
    newest = session.scalars(
        select(PromptVersion)
        .where(PromptVersion.template_id == template.id)
        .order_by(PromptVersion.version.desc())
    ).first()
    if newest is not None and newest.body.strip() == body.strip():
        return newest, False
    version = PromptVersion(
        template_id=template.id,
        version=(newest.version if newest else 0) + 1,
        body=body,
        created_by=created_by,
        created_at=clock.now(),
    )
    session.add(version)
    session.flush()
    return version, True


def _new_template(
    session: Session, *, name: str, role: str | None, language: str, clock: Clock
) -> PromptTemplate:
    problems: dict[str, str] = {}
    if role not in ROLES:
        problems["role"] = f"a new template needs a role: one of {', '.join(ROLES)}"
    if language not in LANGUAGES:
        problems["language"] = f"one of {', '.join(LANGUAGES)}"
    if not TEMPLATE_NAME.match(name.strip()):
        problems["name"] = "1-100 letters, digits, spaces or . _ : -, first a letter or digit"
    if problems:
        raise ValidationError(f"cannot create template {name!r}", problems)
    template = PromptTemplate(
        name=name.strip(), role=str(role), language=language, scope="strategy", created_at=clock.now()
    )
    session.add(template)
    session.flush()
    return template


def resolve(
    session: Session, *, template_id: int | None, version_id: int | None, clock: Clock
) -> dict[str, PromptText]:
    """Return the text of each role for a strategy: its analysis template (pinned version or newest) and the
    defaults of the other roles in the same language.

    The seeded defaults and their newest versions come in one query (a second, after ``ensure_defaults``,
    only when one is missing); a strategy's own template costs a query or two more.
    """
    defaults = _defaults_with_newest(session)
    if len(defaults) < len(DEFAULTS):
        ensure_defaults(session, clock=clock)
        defaults = _defaults_with_newest(session)
    else:
        session.flush()  # as ensure_defaults would
    analysis: PromptText
    if version_id is not None:
        template, version = find_version(session, str(version_id))
        analysis = _text(template, version)
    elif template_id is not None:
        named = session.get(PromptTemplate, template_id)
        if named is None:
            raise NotFound(f"prompt template {template_id} does not exist")
        template = named
        seeded = defaults.get(template.name)
        if seeded is not None and seeded[0] is template:
            analysis = _default_text(session, defaults, template.name)
        else:
            analysis = _text(template, version_of(session, template))
    else:
        name = default_name("analysis", "en")
        template = defaults[name][0]
        analysis = _default_text(session, defaults, name)
    if template.role != "analysis":
        raise ValidationError(
            f"template {template.name!r} has role {template.role}; a strategy names an analysis"
        )
    texts = {"analysis": analysis}
    for role in ("system", "weekly", "consolidation"):
        texts[role] = _default_text(session, defaults, default_name(role, template.language))
    return texts


def _defaults_with_newest(session: Session) -> dict[str, tuple[PromptTemplate, PromptVersion | None]]:
    """The seeded default templates that exist, by name, each with its newest version (None: it has none)."""
    rows = session.execute(_DEFAULTS_WITH_NEWEST).all()
    return {template.name: (template, version) for template, version in rows}


def _defaults_with_newest_query() -> Select[PromptTemplate, PromptVersion]:
    newer = aliased(PromptVersion)
    newest = select(func.max(newer.version)).where(newer.template_id == PromptTemplate.id).scalar_subquery()
    return (
        select(PromptTemplate, PromptVersion)
        .outerjoin(
            PromptVersion,
            (PromptVersion.template_id == PromptTemplate.id) & (PromptVersion.version == newest),
        )
        .where(PromptTemplate.name.in_([default_name(role, language) for role, language in DEFAULTS]))
    )


_DEFAULTS_WITH_NEWEST = _defaults_with_newest_query()  # built once: building it costs more than running it


def _default_text(
    session: Session, defaults: dict[str, tuple[PromptTemplate, PromptVersion | None]], name: str
) -> PromptText:
    """The newest text of template ``name``: from ``defaults`` when it is one, else from the database."""
    found = defaults.get(name)
    if found is None:
        template = template_named(session, name)
        return _text(template, version_of(session, template))
    template, version = found
    if version is None:
        raise NotFound(f"template {template.name!r} has no version None")
    return _text(template, version)


def _text(template: PromptTemplate, version: PromptVersion) -> PromptText:
    return PromptText(template.role, version.body, version.id, template.name, version.version)


def diff(old: PromptVersion, new: PromptVersion, *, old_name: str, new_name: str) -> str:
    """Return a unified diff of two versions' text, one line each ("" when the texts are equal)."""
    lines = difflib.unified_diff(
        old.body.splitlines(),
        new.body.splitlines(),
        fromfile=f"{old_name}@{old.version}",
        tofile=f"{new_name}@{new.version}",
        lineterm="",
    )
    # Without ``keepends`` a text's last line, which has no newline, no longer runs into the next diff line.
    text = "\n".join(lines)
    return f"{text}\n" if text else ""


@dataclass(frozen=True)
class TemplateUse:
    """A strategy whose analysis uses a template: pinned to ``version``, or following the newest (None)."""

    strategy_id: int
    strategy_name: str
    state: str
    version: int | None


def template_uses(session: Session, template: PromptTemplate) -> list[TemplateUse]:
    """The strategies whose analysis uses ``template`` (for the default analysis: those naming none)."""
    from ibflow.db.models.strategies import Strategy

    rows = session.execute(
        select(PromptVersion.id, PromptVersion.version).where(PromptVersion.template_id == template.id)
    )
    versions: dict[int, int] = dict(rows.all())
    follows_default = template.name == default_name("analysis", "en")
    uses: list[TemplateUse] = []
    for strategy in session.scalars(select(Strategy).order_by(Strategy.name)):
        if strategy.prompt_version_id is not None:
            if strategy.prompt_version_id in versions:
                uses.append(
                    TemplateUse(
                        strategy.id, strategy.name, strategy.state, versions[strategy.prompt_version_id]
                    )
                )
        elif strategy.prompt_template_id == template.id or (
            strategy.prompt_template_id is None and follows_default
        ):
            uses.append(TemplateUse(strategy.id, strategy.name, strategy.state, None))
    return uses


def versions_of(session: Session, template: PromptTemplate) -> list[PromptVersion]:
    """Every version of ``template``, newest first."""
    return list(
        session.scalars(
            select(PromptVersion)
            .where(PromptVersion.template_id == template.id)
            .order_by(PromptVersion.version.desc())
        )
    )
