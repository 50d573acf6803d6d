"""Render docs/schema.md from the models, so the schema description never drifts from the code."""

from __future__ import annotations

from sqlalchemy import Column, Table, UniqueConstraint

import ibflow.db.models  # noqa: F401  (registers every table)
from ibflow.db.base import Base
from ibflow.db.types import ExactDecimal, UtcDateTime

_HEADER = """# Schema

Generated from `src/ibflow/db/models/` by `python -m ibflow.db.schema_doc > docs/schema.md`; a test fails
when this file and the models disagree. Migrations live in `src/ibflow/db/migrations/versions/`.

Conventions:
- Integer primary keys. Constraint names follow the naming convention in `db/base.py`
  (`uq_<table>_<columns>`, `fk_<table>_<column>_<referred>`, `ix_...`, `pk_<table>`).
- **decimal** columns (`ExactDecimal`) hold money, prices and quantities exactly: text on SQLite,
  `NUMERIC(24, 8)` on PostgreSQL, quantized to 8 places (half-even) on the way in; a value with more than 16
  digits before the point raises. Never sort or sum them in SQL (on SQLite they are text).
- **utc** columns (`UtcDateTime`) refuse naive datetimes and always come back timezone-aware UTC.
- **enum** columns store the value of a Python `StrEnum` from `db/states.py` as a string.
- SQLite runs in WAL mode with a busy timeout; write transactions start with `BEGIN IMMEDIATE`.
- Orders, fills, positions, trades and snapshots carry the broker `account_id`.
"""


def _type_name(column: Column[object]) -> str:
    kind = column.type
    if isinstance(kind, ExactDecimal):
        return "decimal"
    if isinstance(kind, UtcDateTime):
        return "utc"
    enum_class = getattr(kind, "enum_class", None)
    if enum_class is not None:
        return "enum: " + " / ".join(m.value for m in enum_class)
    length = getattr(kind, "length", None)
    name = type(kind).__name__.lower()
    return f"{name}({length})" if length else name


def _keys(column: Column[object], table: Table) -> str:
    notes = []
    if column.primary_key:
        notes.append("primary key")
    notes.extend(f"→ {fk.target_fullname}" for fk in column.foreign_keys)
    for constraint in table.constraints:
        if isinstance(constraint, UniqueConstraint) and column.name in constraint.columns:
            cols = ", ".join(c.name for c in constraint.columns)
            notes.append("unique" if len(constraint.columns) == 1 else f"unique ({cols})")
    if column.unique and "unique" not in notes:
        notes.append("unique")
    if column.index:
        notes.append("indexed")
    return "; ".join(notes)


def _doc_of(table: Table) -> str:
    for mapper in Base.registry.mappers:
        if mapper.local_table is table:
            return (mapper.class_.__doc__ or "").strip()
    return ""


def render() -> str:
    """Return docs/schema.md as text."""
    lines = [_HEADER]
    for name in sorted(Base.metadata.tables):
        table = Base.metadata.tables[name]
        lines += [
            f"## `{name}`",
            "",
            _doc_of(table),
            "",
            "| column | type | null | keys | meaning |",
            "|---|---|---|---|---|",
        ]
        for column in table.columns:
            null = "yes" if column.nullable else "no"
            meaning = column.doc or ""
            lines.append(
                f"| `{column.name}` | {_type_name(column)} | {null} | {_keys(column, table)} | {meaning} |"
            )
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(render(), end="")
