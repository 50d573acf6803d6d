"""docs/schema.md is generated from the models and must match them."""

from __future__ import annotations

from pathlib import Path

from ibflow.db.base import Base
from ibflow.db.schema_doc import render

SCHEMA_MD = Path(__file__).resolve().parents[3] / "docs" / "schema.md"


def test_schema_doc_is_current() -> None:
    assert SCHEMA_MD.read_text() == render(), "run: python -m ibflow.db.schema_doc > docs/schema.md"


def test_schema_doc_names_every_table_and_column() -> None:
    text = SCHEMA_MD.read_text()
    for table in Base.metadata.tables.values():
        assert f"## `{table.name}`" in text
        for column in table.columns:
            assert f"| `{column.name}` |" in text
