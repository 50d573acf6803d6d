"""The Jinja2 environment of the pages: autoescaped, strict, with the filters the templates use."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"


def money(value: Decimal | str | None) -> str:
    """``12,345.67`` (two decimals), ``-`` when unknown."""
    if value is None:
        return "-"
    return f"{Decimal(value):,.2f}"


def tick(value: Decimal | str | None) -> str:
    """A price step as the contract gives it, without trailing zeros: ``0.01``; ``-`` when unknown."""
    if value is None:
        return "-"
    return f"{Decimal(value).normalize():f}"


def price(value: Decimal | str | None, step: Decimal | None = None) -> str:
    """A price at the contract's tick (``156.51`` for a step of 0.01), as given without one; ``-`` unknown."""
    if value is None:
        return "-"
    exact = Decimal(value)
    return f"{exact.quantize(step.normalize()) if step else exact.normalize():f}"


def when(value: datetime | str | None) -> str:
    """A UTC time as ``2026-03-04 15:00 UTC``, ``-`` when unknown."""
    if value is None:
        return "-"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def seconds(value: datetime | str | None) -> str:
    """A UTC time to the second, ``2026-03-04 15:00:07 UTC`` (an order's state changes and fills)."""
    if value is None:
        return "-"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def quantity(value: Decimal | str | None) -> str:
    """A quantity without trailing zeros: ``10``, ``0.5``; ``-`` when unknown."""
    if value is None:
        return "-"
    text = f"{Decimal(value).normalize():f}"
    return "0" if text == "-0" else text


def iso(value: datetime | str | None) -> str:
    """The machine-readable time of a ``<time datetime=...>``."""
    if value is None:
        return ""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"], default_for_string=True, default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(
        money=money, price=price, tick=tick, when=when, seconds=seconds, quantity=quantity, iso=iso
    )
    return environment


templates = Jinja2Templates(env=_environment())
