"""Prompt templates: ``ibflow prompt list | show | edit | render | diff | stats``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from ibflow import bootstrap
from ibflow.cli.common import ActorOption, console, fail
from ibflow.cli.root import app
from ibflow.core.errors import IbflowError

prompt_app = typer.Typer(help="Prompt templates and their immutable versions.", no_args_is_help=True)
app.add_typer(prompt_app, name="prompt")


@prompt_app.command("list")
def list_prompts() -> None:
    """List every template with its role, language and newest version."""
    from ibflow.llm.prompts.store import ensure_defaults, list_templates

    container = bootstrap.build()
    with container.sessions() as session:
        ensure_defaults(session, clock=container.clock)
        session.commit()
        table = Table("name", "role", "language", "scope", "default", "newest", "version id")
        for t in list_templates(session):
            table.add_row(
                t.name,
                t.role,
                t.language,
                t.scope,
                "yes" if t.is_default else "",
                str(t.latest_version),
                str(t.latest_version_id),
            )
    console.print(table)


@prompt_app.command()
def show(ref: Annotated[str, typer.Argument(help="NAME, NAME@N or a version id.")]) -> None:
    """Print a version's text."""
    from ibflow.llm.prompts.store import ensure_defaults, find_version

    container = bootstrap.build()
    try:
        with container.sessions() as session:
            ensure_defaults(session, clock=container.clock)
            session.commit()
            template, version = find_version(session, ref)
            console.print(
                f"# {template.name}@{version.version} (id {version.id}, role {template.role}, "
                f"{template.language})",
                highlight=False,
            )
            console.print(escape(version.body), highlight=False)
    except IbflowError as exc:
        raise fail(exc) from None


@prompt_app.command()
def edit(
    name: Annotated[str, typer.Argument(help="Template name (a new name creates a template).")],
    file: Annotated[Path, typer.Option("--file", help="The new text.", exists=True, dir_okay=False)],
    role: Annotated[
        str | None, typer.Option("--role", help="system, analysis, weekly, consolidation")
    ] = None,
    language: Annotated[str, typer.Option("--language", help="en or zh (new templates)")] = "en",
    actor: ActorOption = "cli",
) -> None:
    """Store the file's text as the template's next version (validated first; versions are never edited)."""
    from ibflow.llm.prompts.store import add_version, ensure_defaults
    from ibflow.trading.audit import record_audit

    container = bootstrap.build()
    try:
        with container.sessions() as session:
            ensure_defaults(session, clock=container.clock)
            version, created = add_version(
                session,
                name=name,
                body=file.read_text(encoding="utf-8"),
                clock=container.clock,
                role=role,
                language=language,
            )
            if created:
                record_audit(
                    session,
                    actor=actor,
                    action="prompt.version_added",
                    at=container.clock.now(),
                    target_type="prompt_version",
                    target_id=version.id,
                    before={"template": name, "version": version.version - 1},
                    after={"template": name, "version": version.version},
                )
            session.commit()
    except IbflowError as exc:
        raise fail(exc) from None
    message = f"{name}@{version.version} (id {version.id})"
    console.print(f"stored {message}" if created else f"unchanged: {message} has this text", highlight=False)


@prompt_app.command("render")
def render_prompt(
    strategy: Annotated[str, typer.Option("--strategy", help="Strategy id or name.")],
    version: Annotated[
        str | None, typer.Option("--version", help="Analysis version to try (NAME@N or id).")
    ] = None,
) -> None:
    """Render the strategy's prompts on the market as of now (nothing is stored or sent)."""
    from ibflow.llm.prompts.store import find_version
    from ibflow.workflow.prompt_preview import preview_prompts
    from ibflow.workflow.strategies.lookup import find_strategy

    container = bootstrap.build()
    try:
        with container.sessions() as session:
            row = find_strategy(session, strategy)
            version_id = find_version(session, version)[1].id if version else None
            session.expunge(row)
        texts = preview_prompts(container.deps, row, version_id=version_id)
    except IbflowError as exc:
        raise fail(exc) from None
    roles = ("system", "analysis") if row.analysis_mode == "single" else tuple(texts)
    for role in roles:
        console.print(f"--- {role} ---", highlight=False)
        console.print(escape(texts[role]), highlight=False)


@prompt_app.command()
def diff(
    old: Annotated[str, typer.Argument(help="NAME@N or version id")],
    new: Annotated[str, typer.Argument(help="NAME@N or version id")],
) -> None:
    """Show what changed between two versions."""
    from ibflow.llm.prompts.store import diff as diff_text
    from ibflow.llm.prompts.store import find_version

    container = bootstrap.build()
    try:
        with container.sessions() as session:
            (old_t, old_v), (new_t, new_v) = find_version(session, old), find_version(session, new)
            console.print(
                escape(diff_text(old_v, new_v, old_name=old_t.name, new_name=new_t.name)) or "no change",
                highlight=False,
            )
    except IbflowError as exc:
        raise fail(exc) from None


@prompt_app.command()
def stats(
    versions: Annotated[
        list[str] | None, typer.Argument(help="Versions to compare (NAME@N or id); none: all.")
    ] = None,
    strategy: Annotated[str | None, typer.Option("--strategy", help="Only this strategy.")] = None,
    by_strategy: Annotated[
        bool, typer.Option("--by-strategy", help="One row per version and strategy.")
    ] = False,
) -> None:
    """Per prompt version: signals, actionable share, trades, win rate, average R, P&L, confidence."""
    from ibflow.llm.prompts.stats import prompt_stats
    from ibflow.llm.prompts.store import find_version
    from ibflow.workflow.strategies.lookup import find_strategy

    container = bootstrap.build()
    try:
        with container.sessions() as session:
            ids = [find_version(session, ref)[1].id for ref in versions or []]
            strategy_id = find_strategy(session, strategy).id if strategy else None
            rows = prompt_stats(
                session, version_ids=ids or None, strategy_id=strategy_id, by_strategy=by_strategy
            )
    except IbflowError as exc:
        raise fail(exc) from None
    table = Table(
        "version id",
        "strategy",
        "signals",
        "actionable",
        "trades",
        "win rate",
        "avg R",
        "P&L",
        "conf. winners",
        "conf. losers",
    )
    for r in rows:
        table.add_row(
            *(
                ("-" if v is None else str(v))
                for v in (
                    r.prompt_version_id,
                    r.strategy_id,
                    r.signals,
                    r.actionable_share,
                    r.trades,
                    r.win_rate,
                    r.average_r,
                    r.pnl,
                    r.confidence_winners,
                    r.confidence_losers,
                )
            )
        )
    console.print(table)
