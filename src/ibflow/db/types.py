"""Column types that keep money exact and time in UTC on SQLite and PostgreSQL alike.

SQLite has no decimal type (a ``Numeric`` comes back through float) and no time zones (an aware datetime
comes back naive). ``ExactDecimal`` stores text on SQLite and ``Numeric(24, 8)`` on PostgreSQL, quantizes
to 8 places on the way in and raises on overflow on both. ``UtcDateTime`` refuses naive values and always
returns aware UTC. Never sort or sum ``ExactDecimal`` columns in SQL: on SQLite they are text.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import DateTime, Dialect, Numeric, String
from sqlalchemy.types import TypeDecorator, TypeEngine

from ibflow.core.clock import ensure_utc
from ibflow.core.money import quantize


class ExactDecimal(TypeDecorator[Decimal]):
    """An exact decimal with 8 places: text on SQLite, ``Numeric(24, 8)`` elsewhere."""

    impl = Numeric(24, 8, asdecimal=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(40))
        return dialect.type_descriptor(Numeric(24, 8, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, Decimal | int | str):
            raise TypeError(
                f"{type(value).__name__} {value!r} given for an exact decimal column; pass a Decimal"
            )
        exact = quantize(Decimal(value))
        return str(exact) if dialect.name == "sqlite" else exact

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return quantize(Decimal(value))


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp, stored as UTC and always returned as aware UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        utc = ensure_utc(value)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        stamp: datetime = value
        if stamp.tzinfo is None:
            return stamp.replace(tzinfo=UTC)
        return stamp.astimezone(UTC)
