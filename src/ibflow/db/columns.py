"""Column helpers shared by the models."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Enum


def enum_type(enum_cls: type[StrEnum], length: int = 24) -> Enum:
    """Store a ``StrEnum`` by its value as a plain string column (no native enum, no CHECK)."""
    return Enum(
        enum_cls,
        native_enum=False,
        create_constraint=False,
        length=length,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


JsonDoc = JSON(none_as_null=True)
"""A JSON document column (``json`` on PostgreSQL, text on SQLite)."""

JsonValue = dict[str, Any]
