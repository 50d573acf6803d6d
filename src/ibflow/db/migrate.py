"""Run Alembic from code: upgrade, downgrade, where a database stands, and the model/migration drift check.

``direction`` tells whether going to a revision is an upgrade or a downgrade of the database as it is, and
``tables_losing_data`` which tables holding rows a downgrade would drop, so a caller can ask first.
"""

from __future__ import annotations

import tempfile
from enum import StrEnum
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import func, inspect, select, table

from ibflow.db.engine import make_engine

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def alembic_config(url: str) -> Config:
    """Build the Alembic config for ``url`` without an alembic.ini."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at ``url`` up to ``revision``."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    """Migrate the database at ``url`` down to ``revision`` (``base`` empties it)."""
    command.downgrade(alembic_config(url), revision)


def check(url: str) -> None:
    """Raise if the models and the migrations disagree (``alembic check``)."""
    command.check(alembic_config(url))


def current_heads() -> tuple[str, ...]:
    """Return the head revisions of the migration scripts."""
    return tuple(_scripts().get_heads())


class Direction(StrEnum):
    """What going to a revision does to the database as it stands."""

    UPGRADE = "upgrade"
    DOWNGRADE = "downgrade"
    NONE = "none"


def current_revisions(url: str) -> tuple[str, ...]:
    """Return the revisions the database at ``url`` is at (empty when it was never migrated)."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return tuple(MigrationContext.configure(connection).get_current_heads())
    finally:
        engine.dispose()


def direction(url: str, revision: str) -> Direction:
    """Tell whether migrating the database at ``url`` to ``revision`` goes up, down or nowhere.

    ``revision`` is a revision id (or a unique prefix), ``head``, ``base``, or relative (``-1``, ``+1``);
    an unknown one raises Alembic's ``CommandError`` naming it.
    """
    current = current_revisions(url)
    if revision.startswith("-"):
        return Direction.DOWNGRADE if current else Direction.NONE
    if revision.startswith("+") or revision in {"head", "heads"}:
        return Direction.NONE if set(current) == set(current_heads()) else Direction.UPGRADE
    if revision == "base":
        return Direction.DOWNGRADE if current else Direction.NONE
    scripts = _scripts()
    target = scripts.get_revision(revision)
    if target.revision in current:
        return Direction.NONE
    below = {script.revision for script in scripts.iterate_revisions(current, "base")} if current else set()
    return Direction.DOWNGRADE if target.revision in below else Direction.UPGRADE


def tables_losing_data(url: str, revision: str) -> dict[str, int]:
    """Return the tables a downgrade of ``url`` to ``revision`` would drop that hold rows, with their counts.

    The tables each revision has are found by replaying the migrations on a scratch SQLite file; rows the
    migrations write themselves (the installation id) are not data a user would lose.
    """
    current = current_revisions(url)
    if not current:
        return {}
    with tempfile.TemporaryDirectory(prefix="ibflow-migrate-") as folder:
        scratch = f"sqlite:///{Path(folder) / 'scratch.db'}"
        for head in current:
            upgrade(scratch, head)
        before = _tables(scratch)
        seeded = _counts(scratch, before)
        downgrade(scratch, revision)
        dropped = before - _tables(scratch)
    counts = _counts(url, dropped)
    return {name: count for name, count in counts.items() if count > seeded.get(name, 0)}


def _counts(url: str, names: set[str]) -> dict[str, int]:
    engine = make_engine(url)
    try:
        present = set(inspect(engine).get_table_names())
        with engine.connect() as connection:
            return {
                name: connection.execute(select(func.count()).select_from(table(name))).scalar_one()
                for name in sorted(names & present)
            }
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config("sqlite://"))
