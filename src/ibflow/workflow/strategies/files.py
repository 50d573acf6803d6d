"""Strategy files: read a TOML or YAML document into a ``StrategyFile`` and write one back.

Reading checks the shape only (known fields, the right kinds of value) and collects every problem, keyed by
the field's path in the file (``schedule.cron``, ``indicators[1].params``); ``checks`` then validates the
values against the catalogue, the contract service and the risk ranges. Numbers with a fraction are read as
``Decimal`` so risk parameters stay exact; writing gives a document that reads back to the same file.
"""

from __future__ import annotations

import difflib
import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import yaml

from ibflow.core.errors import ValidationError

FORMATS = ("toml", "yaml")
MAX_FILE_CHARS = 200_000


@dataclass(frozen=True)
class ScheduleEntry:
    """When a strategy runs: a five-field cron local to ``timezone``, optionally only while NYSE is open."""

    cron: str = "*/15 * * * *"
    timezone: str = "America/New_York"
    market_hours_only: bool = False


@dataclass(frozen=True)
class AnalystEntry:
    """Who reads the charts, and with which words.

    ``model`` and ``analysis_mode`` ``chain`` are for the LLM analysts. The prompt is either the file's own
    text (``prompt``) or a named template managed with ``ibflow prompt`` (``prompt_template``, optionally
    pinned to one ``prompt_version``); neither means the default prompt.
    """

    provider: str = "rules"
    prompt: str | None = None
    model: str | None = None
    analysis_mode: str = "single"
    prompt_template: str | None = None
    prompt_version: int | None = None


@dataclass(frozen=True)
class IndicatorEntry:
    """One indicator: a catalogue type, an optional name (key) and its params.

    ``config`` names a saved indicator config to copy type and params from (``params`` given too override
    its values); once checked, an entry always holds the type and the complete params, never the reference.
    """

    type: str
    name: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    config: str | None = None


@dataclass(frozen=True)
class StrategyFile:
    """A strategy as a file states it; ``risk`` holds only what the file gives (defaults fill the rest)."""

    name: str
    symbol: str
    description: str = ""
    exchange: str | None = None
    conid: int | None = None
    mode: str = "paper"
    timeframes: tuple[str, ...] = ("1d", "1w")
    schedule: ScheduleEntry = field(default_factory=ScheduleEntry)
    analyst: AnalystEntry = field(default_factory=AnalystEntry)
    risk: Mapping[str, Any] = field(default_factory=dict)
    indicators: tuple[IndicatorEntry, ...] = ()


_TOP_KEYS = (
    "name",
    "description",
    "symbol",
    "exchange",
    "conid",
    "mode",
    "timeframes",
    "schedule",
    "analyst",
    "risk",
    "indicators",
)
_SCHEDULE_KEYS = ("cron", "timezone", "market_hours_only")
_ANALYST_KEYS = ("provider", "model", "analysis_mode", "prompt", "prompt_template", "prompt_version")
_INDICATOR_KEYS = ("type", "config", "name", "params")


def format_of(path: str, given: str | None = None) -> str:
    """Return ``toml`` or ``yaml`` from ``given`` or the file's extension; ``ValidationError`` otherwise."""
    if given is not None:
        if given.lower() not in FORMATS:
            raise ValidationError(f"format must be toml or yaml, got {given!r}", {"format": "toml or yaml"})
        return given.lower()
    lowered = path.lower()
    if lowered.endswith(".toml"):
        return "toml"
    if lowered.endswith((".yaml", ".yml")):
        return "yaml"
    problem = "name the file .toml, .yaml or .yml (or give --format)"
    raise ValidationError(f"{path}: {problem}", {"file": problem})


def read_strategy(text: str, fmt: str) -> tuple[StrategyFile, dict[str, str]]:
    """Parse ``text``; return the file (defaults where a field is bad) and every shape problem found.

    A document that does not parse at all raises ``ValidationError`` naming the line.
    """
    if len(text) > MAX_FILE_CHARS:
        problem = f"a strategy file has at most {MAX_FILE_CHARS} characters, got {len(text)}"
        raise ValidationError(problem, {"file": problem})
    document = _parse(text, fmt)
    reader = _Reader()
    strategy = reader.strategy(document)
    return strategy, reader.problems


def _parse(text: str, fmt: str) -> dict[str, Any]:
    document: Any
    try:
        # _Loader is a SafeLoader (S506)
        document = tomllib.loads(text, parse_float=Decimal) if fmt == "toml" else yaml.load(text, _Loader)  # noqa: S506
    except tomllib.TOMLDecodeError as exc:
        raise ValidationError(f"not valid TOML: {exc}", {"file": f"not valid TOML: {exc}"}) from exc
    except yaml.YAMLError as exc:
        detail = " ".join(str(exc).split())
        raise ValidationError(f"not valid YAML: {detail}", {"file": f"not valid YAML: {detail}"}) from exc
    if not isinstance(document, dict):
        problem = "the file must be a table of fields (name = ..., symbol = ...)"
        raise ValidationError(problem, {"file": problem})
    return document


class _Loader(yaml.SafeLoader):
    """YAML's safe loader, with numbers that have a fraction read as exact Decimals."""


def _yaml_decimal(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    text = str(loader.construct_scalar(node))
    try:
        return Decimal(text.replace("_", ""))
    except InvalidOperation:
        return loader.construct_yaml_float(node)  # .inf, .nan: refused later with the allowed range


_Loader.add_constructor("tag:yaml.org,2002:float", _yaml_decimal)


class _Reader:
    def __init__(self) -> None:
        self.problems: dict[str, str] = {}

    def strategy(self, doc: dict[str, Any]) -> StrategyFile:
        self._unknown(doc, _TOP_KEYS, "")
        timeframes = self._list(doc, "timeframes", "timeframes", ["1d", "1w"])
        return StrategyFile(
            name=self._text(doc, "name", "name", required=True) or "",
            symbol=self._text(doc, "symbol", "symbol", required=True) or "",
            description=self._text(doc, "description", "description") or "",
            exchange=self._text(doc, "exchange", "exchange"),
            conid=self._integer(doc, "conid", "conid"),
            mode=self._text(doc, "mode", "mode") or "paper",
            timeframes=tuple(str(item) for item in timeframes),
            schedule=self._schedule(self._table(doc, "schedule", "schedule")),
            analyst=self._analyst(doc),
            risk=self._risk(self._table(doc, "risk", "risk")),
            indicators=self._indicators(doc),
        )

    def _schedule(self, table: dict[str, Any]) -> ScheduleEntry:
        self._unknown(table, _SCHEDULE_KEYS, "schedule.")
        default = ScheduleEntry()
        return ScheduleEntry(
            cron=self._text(table, "cron", "schedule.cron") or default.cron,
            timezone=self._text(table, "timezone", "schedule.timezone") or default.timezone,
            market_hours_only=self._boolean(table, "market_hours_only", "schedule.market_hours_only"),
        )

    def _analyst(self, doc: dict[str, Any]) -> AnalystEntry:
        if isinstance(doc.get("analyst"), str):  # the short form: analyst = "rules"
            return AnalystEntry(provider=doc["analyst"])
        table = self._table(doc, "analyst", "analyst")
        self._unknown(table, _ANALYST_KEYS, "analyst.")
        return AnalystEntry(
            provider=self._text(table, "provider", "analyst.provider") or "rules",
            prompt=self._text(table, "prompt", "analyst.prompt", strip=False),
            model=self._text(table, "model", "analyst.model"),
            analysis_mode=self._text(table, "analysis_mode", "analyst.analysis_mode") or "single",
            prompt_template=self._text(table, "prompt_template", "analyst.prompt_template"),
            prompt_version=self._integer(table, "prompt_version", "analyst.prompt_version"),
        )

    def _risk(self, table: dict[str, Any]) -> dict[str, Any]:
        risk: dict[str, Any] = {}
        for key, value in table.items():
            if isinstance(value, bool) or not isinstance(value, int | str | Decimal | float):
                self.problems[f"risk.{key}"] = f"must be a number, got {value!r}"
            else:
                risk[str(key)] = value
        return risk

    def _indicators(self, doc: dict[str, Any]) -> tuple[IndicatorEntry, ...]:
        entries: list[IndicatorEntry] = []
        for index, item in enumerate(self._list(doc, "indicators", "indicators", [])):
            path = f"indicators[{index}]"
            if not isinstance(item, dict):
                self.problems[path] = "must be a table with type (or config), an optional name and params"
                continue
            self._unknown(item, _INDICATOR_KEYS, f"{path}.")
            config = self._text(item, "config", f"{path}.config")
            kind = self._text(item, "type", f"{path}.type", required=config is None)
            params = self._table(item, "params", f"{path}.params")
            if kind or config:
                numbers = {str(k): float(v) if isinstance(v, Decimal) else v for k, v in params.items()}
                name = self._text(item, "name", f"{path}.name")
                entries.append(IndicatorEntry(kind or "", name, numbers, config))
        return tuple(entries)

    def _unknown(self, table: dict[str, Any], known: tuple[str, ...], prefix: str) -> None:
        for key in table:
            if key not in known:
                close = difflib.get_close_matches(str(key), known, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                self.problems[f"{prefix}{key}"] = f"unknown field; {hint}known: {', '.join(known)}"

    def _text(
        self, table: dict[str, Any], key: str, path: str, *, required: bool = False, strip: bool = True
    ) -> str | None:
        value = table.get(key)
        if value is None:
            if required:
                self.problems[path] = "is required"
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
            self.problems[path] = f"must be text, got {value!r}"
            return None
        text = str(value)
        return text.strip() if strip else text

    def _integer(self, table: dict[str, Any], key: str, path: str) -> int | None:
        value = table.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.problems[path] = f"must be a whole number, got {value!r}"
            return None
        return value

    def _boolean(self, table: dict[str, Any], key: str, path: str) -> bool:
        value = table.get(key, False)
        if not isinstance(value, bool):
            self.problems[path] = f"must be true or false, got {value!r}"
            return False
        return value

    def _table(self, table: dict[str, Any], key: str, path: str) -> dict[str, Any]:
        value = table.get(key, {})
        if not isinstance(value, dict):
            self.problems[path] = f"must be a table of fields, got {value!r}"
            return {}
        return value

    def _list(self, table: dict[str, Any], key: str, path: str, default: list[Any]) -> list[Any]:
        value = table.get(key, default)
        if not isinstance(value, list):
            self.problems[path] = f"must be a list, got {value!r}"
            return default
        return value


def write_strategy(strategy: StrategyFile, fmt: str) -> str:
    """Return ``strategy`` as a TOML or YAML document that ``read_strategy`` reads back unchanged."""
    document = as_document(strategy)
    if fmt == "yaml":
        return yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    return _toml(document)


def as_document(strategy: StrategyFile) -> dict[str, Any]:
    """Return the file as plain data in file order, leaving out what is unset."""
    analyst: dict[str, Any] = {"provider": strategy.analyst.provider}
    if strategy.analyst.model is not None:
        analyst["model"] = strategy.analyst.model
    if strategy.analyst.analysis_mode != AnalystEntry.analysis_mode:
        analyst["analysis_mode"] = strategy.analyst.analysis_mode
    if strategy.analyst.prompt_template is not None:
        analyst["prompt_template"] = strategy.analyst.prompt_template
    if strategy.analyst.prompt_version is not None:
        analyst["prompt_version"] = strategy.analyst.prompt_version
    if strategy.analyst.prompt is not None:
        analyst["prompt"] = strategy.analyst.prompt
    top: dict[str, Any] = {
        "name": strategy.name,
        "description": strategy.description,
        "symbol": strategy.symbol,
    }
    if strategy.exchange is not None:
        top["exchange"] = strategy.exchange
    if strategy.conid is not None:
        top["conid"] = strategy.conid
    top |= {"mode": strategy.mode, "timeframes": list(strategy.timeframes)}
    schedule = strategy.schedule
    top["schedule"] = {
        "cron": schedule.cron,
        "timezone": schedule.timezone,
        "market_hours_only": schedule.market_hours_only,
    }
    top |= {"analyst": analyst, "risk": dict(strategy.risk)}
    top["indicators"] = [
        {"type": i.type, **({"name": i.name} if i.name else {}), "params": dict(i.params)}
        for i in strategy.indicators
    ]
    return top


class _Dumper(yaml.SafeDumper):
    """YAML's safe dumper, writing Decimals as plain numbers and multi-line text as a block."""


def _yaml_number(dumper: yaml.SafeDumper, value: Decimal) -> yaml.ScalarNode:
    text = _plain(value)
    return dumper.represent_scalar(f"tag:yaml.org,2002:{'float' if '.' in text else 'int'}", text)


def _yaml_text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_Dumper.add_representer(Decimal, _yaml_number)
_Dumper.add_representer(str, _yaml_text)

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _toml(document: dict[str, Any]) -> str:
    lines = ["# An ibflow strategy: `ibflow strategy apply FILE` creates or updates it by name."]
    tables = {k: v for k, v in document.items() if isinstance(v, dict)}
    arrays = {k: v for k, v in document.items() if isinstance(v, list) and v and isinstance(v[0], dict)}
    lines += [f"{_key(k)} = {_value(v)}" for k, v in document.items() if k not in tables | arrays]
    for name, table in tables.items():
        lines += ["", f"[{name}]", *(f"{_key(k)} = {_value(v)}" for k, v in table.items())]
    for name, items in arrays.items():
        for item in items:
            lines += ["", f"[[{name}]]", *(f"{_key(k)} = {_value(v)}" for k, v in item.items())]
    return "\n".join(lines) + "\n"


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else _string(key)


def _value(value: Any) -> str:  # noqa: PLR0911 - one return per TOML type
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return _plain(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return _multiline(value) if "\n" in value else _string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(str(k))} = {_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _string(value: str) -> str:
    # JSON escapes are TOML escapes; TOML also wants DEL escaped.
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def _multiline(value: str) -> str:
    controls = any((ord(c) < 32 and c not in "\n\t") or c == "\x7f" for c in value)
    if "'''" in value or controls:
        return _string(value)
    return "'''\n" + value + "'''"  # TOML drops the newline right after the opening quotes
