"""A stored strategy as a file, its fields flat for comparing, and the rows its indicators and prompt fill.

A strategy's own prompt lives in a strategy-scoped prompt template (``strategy:<id>``) whose versions are
never edited: a new text adds a version, so every signal stays traceable to the words that produced it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ibflow.core.clock import Clock
from ibflow.db.models.market import Symbol
from ibflow.db.models.strategies import (
    Indicator,
    PromptTemplate,
    PromptVersion,
    Strategy,
    StrategyIndicator,
)
from ibflow.workflow.strategies.files import (
    AnalystEntry,
    IndicatorEntry,
    ScheduleEntry,
    StrategyFile,
    as_document,
)

PROMPT_ROLE = "analysis"  # the part the template plays: the analysis message (issue 13 adds more roles)
PROMPT_SCOPE = "strategy"


def file_of(session: Session, strategy: Strategy) -> StrategyFile:
    """Return the strategy as the file that ``apply`` turns into exactly this strategy."""
    exchange = session.scalars(select(Symbol.exchange).where(Symbol.conid == strategy.conid)).first()
    return StrategyFile(
        name=strategy.name,
        description=strategy.description,
        symbol=strategy.symbol,
        exchange=exchange,
        conid=strategy.conid,
        mode=strategy.mode.value,
        timeframes=tuple(strategy.timeframes),
        schedule=ScheduleEntry(strategy.cron, strategy.timezone, strategy.market_hours_only),
        analyst=_analyst_of(session, strategy),
        risk={
            "risk_per_trade": _exact(strategy.risk_per_trade),
            "max_position_value": _exact(strategy.max_position_value),
            "max_quantity": _exact(strategy.max_quantity),
            "max_entries_per_day": strategy.max_entries_per_day,
            "min_reward_risk": _exact(strategy.min_reward_risk),
            "min_confidence": _exact(strategy.min_confidence),
            "max_entry_deviation": _exact(strategy.max_entry_deviation),
        },
        indicators=tuple(
            IndicatorEntry(row.type, row.name, dict(row.params))
            for _, row in _indicator_rows(session, strategy)
        ),
    )


def _exact(value: Decimal) -> Decimal:
    """A stored number as the file writes it: ``0.00500000`` is ``0.005``, ``20000.00`` is ``20000``."""
    normal = value.normalize()
    return normal.quantize(Decimal(1)) if normal == normal.to_integral_value() else normal


def _analyst_of(session: Session, strategy: Strategy) -> AnalystEntry:
    """The analyst part: the strategy's own prompt as text, a shared template by name (and pinned version)."""
    entry = AnalystEntry(
        provider=strategy.analyst, model=strategy.llm_model, analysis_mode=strategy.analysis_mode
    )
    template = (
        session.get(PromptTemplate, strategy.prompt_template_id)
        if strategy.prompt_template_id is not None
        else None
    )
    pinned = (
        session.get(PromptVersion, strategy.prompt_version_id)
        if strategy.prompt_version_id is not None
        else None
    )
    if template is None and pinned is not None:
        template = session.get(PromptTemplate, pinned.template_id)
    if template is None:
        return entry
    if template.name == own_template_name(strategy):
        return replace(entry, prompt=prompt_text(session, strategy))
    return replace(entry, prompt_template=template.name, prompt_version=pinned.version if pinned else None)


def own_template_name(strategy: Strategy) -> str:
    """The name of the template that holds the prompt a strategy file gives as text."""
    return f"{PROMPT_SCOPE}:{strategy.id}"


def flatten(strategy: StrategyFile) -> dict[str, str]:
    """Return every field as ``path -> text a user reads`` (``risk.min_confidence -> 0.55``), for diffs."""
    document = as_document(strategy)
    flat: dict[str, str] = {}
    for key, value in document.items():
        if key == "indicators":
            for index, item in enumerate(value):
                params = ", ".join(f"{k}={_number(v)}" for k, v in item["params"].items())
                flat[f"indicators[{index}]"] = f"{item.get('name', item['type'])} ({item['type']} {params})"
        elif isinstance(value, dict):
            for name, item in value.items():
                flat[f"{key}.{name}"] = _text(item)
        else:
            flat[key] = _text(value)
    if strategy.analyst.prompt_template is None:
        flat.setdefault("analyst.prompt", "(the default prompt)")
    if strategy.analyst.prompt is not None:
        flat["analyst.prompt"] = prompt_summary(strategy.analyst.prompt)
    return flat


def prompt_summary(text: str) -> str:
    """Describe a prompt in one line: its start, its length and a short digest (tells two texts apart)."""
    start = " ".join(text.split())[:40]
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    return f'"{start}{"…" if len(start) == 40 else ""}" ({len(text)} characters, sha256 {digest})'


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "(none)"
    if value is None or value == "":
        return '""' if value == "" else "(none)"
    return _number(value)


def _number(value: object) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if hasattr(value, "normalize"):  # Decimal
        return format(value.normalize(), "f")
    return str(value)


def _indicator_rows(session: Session, strategy: Strategy) -> list[tuple[StrategyIndicator, Indicator]]:
    rows = session.execute(
        select(StrategyIndicator, Indicator)
        .join(Indicator, Indicator.id == StrategyIndicator.indicator_id)
        .where(StrategyIndicator.strategy_id == strategy.id)
        .order_by(StrategyIndicator.position, StrategyIndicator.id)
    ).all()
    return [(link, row) for link, row in rows]


def store_indicators(
    session: Session,
    strategy: Strategy,
    wanted: Sequence[IndicatorEntry],
    *,
    now: datetime,
    owner_id: int | None,
) -> None:
    """Make the strategy's indicators exactly ``wanted``, in order, reusing its own rows where it can."""
    existing = _indicator_rows(session, strategy)
    for position, entry in enumerate(wanted):
        if position < len(existing):
            link, row = existing[position]
            if (row.name, row.type, dict(row.params)) != (entry.name, entry.type, dict(entry.params)):
                row.name, row.type, row.params, row.updated_at = (
                    entry.name or "",
                    entry.type,
                    dict(entry.params),
                    now,
                )
            link.position = position
            continue
        row = Indicator(
            owner_id=owner_id,
            name=entry.name or entry.type,
            type=entry.type,
            params=dict(entry.params),
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        session.flush()
        session.add(StrategyIndicator(strategy_id=strategy.id, indicator_id=row.id, position=position))
    for link, row in existing[len(wanted) :]:
        session.delete(link)
        session.flush()
        others = session.scalar(
            select(func.count(StrategyIndicator.id)).where(StrategyIndicator.indicator_id == row.id)
        )
        if not others:
            session.delete(row)
    session.flush()


def prompt_text(session: Session, strategy: Strategy) -> str | None:
    """Return the strategy's prompt: its pinned version, else its template's newest; None for the default."""
    if strategy.prompt_version_id is not None:
        pinned = session.get(PromptVersion, strategy.prompt_version_id)
        if pinned is not None:
            return pinned.body
    if strategy.prompt_template_id is None:
        return None
    return session.scalars(
        select(PromptVersion.body)
        .where(PromptVersion.template_id == strategy.prompt_template_id)
        .order_by(PromptVersion.version.desc())
    ).first()


def store_prompt(session: Session, strategy: Strategy, analyst: AnalystEntry, *, clock: Clock) -> None:
    """Point the strategy at the prompt the file names: its own text (a new version when the text is new),
    a named template (newest or a pinned version), or the default (neither)."""
    from ibflow.llm.prompts.store import add_version, template_named, version_of

    if analyst.prompt_template is not None:
        template = template_named(session, analyst.prompt_template)
        strategy.prompt_template_id = template.id
        pinned = analyst.prompt_version
        strategy.prompt_version_id = None if pinned is None else version_of(session, template, pinned).id
        return
    strategy.prompt_version_id = None  # follow the newest version of the strategy's own template
    if analyst.prompt is None:
        strategy.prompt_template_id = None  # back to the default prompt; old versions stay for lineage
        return
    version, _ = add_version(
        session, name=own_template_name(strategy), body=analyst.prompt, clock=clock, role=PROMPT_ROLE
    )
    strategy.prompt_template_id = version.template_id
    session.flush()
