"""Validate a strategy file's values and give it its canonical form (the form ``show --file`` prints).

Every problem is collected, keyed by the field's path in the file, and raised once as a ``ValidationError``:
a file with five bad fields gets five messages, each saying what is allowed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from ibflow.core.errors import NotFound, ValidationError
from ibflow.db.states import StrategyMode
from ibflow.workflow.runtime.schedule import validate_cron, validate_timezone
from ibflow.workflow.strategies.files import AnalystEntry, IndicatorEntry, ScheduleEntry, StrategyFile
from ibflow.workflow.strategies.lookup import (
    ANALYSIS_MODES,
    ANALYSTS,
    DEFAULT_RISK,
    LLM_ANALYSTS,
    MODEL_PATTERN,
    NAME_PATTERN,
    RISK_RANGES,
    TIMEFRAMES,
    IndicatorInput,
    check_indicators,
    check_risk,
)

if TYPE_CHECKING:
    from ibflow.brokers.base import Contract
    from ibflow.marketdata.contracts import ContractService

MAX_PROMPT_CHARS = 20_000
MAX_DESCRIPTION_CHARS = 2_000


def check_strategy(
    session: Session,
    strategy: StrategyFile,
    *,
    problems: Mapping[str, str],
    contracts: ContractService,
    current_conid: int | None = None,
) -> StrategyFile:
    """Return ``strategy`` in canonical form, or raise ``ValidationError`` with every problem at once.

    ``problems`` are those found while reading the file. ``current_conid`` is the contract the strategy
    trades today: when the file names neither exchange nor conid and it still matches, it is kept.
    """
    found = dict(problems)
    contract = _contract(session, strategy, contracts, current_conid, found)
    schedule = _schedule(strategy.schedule, found)
    analyst = _analyst(session, strategy.analyst, found)
    risk = _risk(strategy.risk, found)
    indexes, inputs = _indicator_inputs(session, strategy.indicators, found)
    indicators = tuple(
        IndicatorEntry(config.type, config.key, dict(config.params))
        for config in check_indicators(inputs, found, indexes=indexes)
    )
    name = strategy.name.strip()
    if "name" not in found and not NAME_PATTERN.match(name):
        found["name"] = "use 1-100 letters, digits, spaces, dots, dashes or underscores, starting with one"
    if len(strategy.description) > MAX_DESCRIPTION_CHARS:
        found["description"] = f"at most {MAX_DESCRIPTION_CHARS} characters, got {len(strategy.description)}"
    modes = [m.value for m in StrategyMode]
    if strategy.mode not in modes:
        found["mode"] = f"choose {' or '.join(modes)}; got {strategy.mode!r}"
    timeframes = tuple(dict.fromkeys(strategy.timeframes))
    if "timeframes" not in found and (not timeframes or any(t not in TIMEFRAMES for t in timeframes)):
        found["timeframes"] = (
            f"choose one or more of {', '.join(TIMEFRAMES)}; got {list(strategy.timeframes)}"
        )
    if found or contract is None:
        count = len(found)
        raise ValidationError(f"the strategy file has {count} invalid field{'s' * (count != 1)}", found)
    return replace(
        strategy,
        name=name,
        symbol=contract.symbol,
        exchange=contract.exchange,
        conid=int(contract.conid),
        timeframes=timeframes,
        schedule=schedule,
        analyst=analyst,
        risk=risk,
        indicators=indicators,
    )


def _contract(  # noqa: PLR0911 - each way a symbol can fail to name one contract
    session: Session,
    strategy: StrategyFile,
    contracts: ContractService,
    current_conid: int | None,
    problems: dict[str, str],
) -> Contract | None:
    wanted = strategy.symbol.strip().upper()
    if not wanted:
        problems.setdefault("symbol", "give the symbol to trade, e.g. AAPL")
        return None
    try:
        matches = [c for c in contracts.search(session, wanted) if c.symbol.upper() == wanted]
    except ValidationError as exc:
        problems["symbol"] = exc.problems.get("query", str(exc))
        return None
    if not matches:
        problems["symbol"] = f"{wanted} is not tradable here; check the spelling"
        return None
    if strategy.exchange:
        on_exchange = [c for c in matches if c.exchange.upper() == strategy.exchange.strip().upper()]
        if not on_exchange:
            where = ", ".join(sorted({c.exchange for c in matches}))
            problems["exchange"] = (
                f"{wanted} does not trade on {strategy.exchange!r} here; it trades on {where}"
            )
            return None
        matches = on_exchange
    if strategy.conid is not None:
        exact = [c for c in matches if c.conid == strategy.conid]
        if not exact:
            known = ", ".join(f"{c.conid} ({c.exchange})" for c in matches)
            problems["conid"] = f"{strategy.conid} is not {wanted}; {wanted} is conid {known}"
            return None
        return exact[0]
    kept = [c for c in matches if c.conid == current_conid]
    return (kept or matches)[0]


def _indicator_inputs(
    session: Session, entries: tuple[IndicatorEntry, ...], found: dict[str, str]
) -> tuple[list[int], list[IndicatorInput]]:
    """The entries (and their positions) with each ``config`` replaced by a copy of its type and params."""
    from ibflow.workflow.strategies.indicator_configs import config_named

    indexes: list[int] = []
    inputs: list[IndicatorInput] = []
    for index, entry in enumerate(entries):
        if entry.config is None:
            indexes.append(index)
            inputs.append(IndicatorInput(entry.type, dict(entry.params), entry.name))
            continue
        saved = config_named(session, entry.config.strip())
        if saved is None:
            found[f"indicators[{index}].config"] = (
                f"no indicator config is named {entry.config!r}; GET /api/v1/indicators/configs lists them"
            )
        elif entry.type and entry.type != saved.type:
            found[f"indicators[{index}].type"] = (
                f"the config {saved.name!r} is a {saved.type}; drop type or make it {saved.type!r}"
            )
        else:
            indexes.append(index)
            inputs.append(IndicatorInput(saved.type, {**saved.params, **entry.params}, entry.name))
    return indexes, inputs


def _schedule(schedule: ScheduleEntry, problems: dict[str, str]) -> ScheduleEntry:
    cron = schedule.cron
    try:
        cron = validate_cron(schedule.cron)
    except ValidationError as exc:
        problems["schedule.cron"] = exc.problems.get("cron", str(exc))
    try:
        validate_timezone(schedule.timezone)
    except ValidationError as exc:
        problems["schedule.timezone"] = exc.problems.get("timezone", str(exc))
    return replace(schedule, cron=cron)


def _analyst(session: Session, analyst: AnalystEntry, problems: dict[str, str]) -> AnalystEntry:
    provider = analyst.provider
    llm = provider in LLM_ANALYSTS
    if provider not in ANALYSTS:
        problems["analyst.provider"] = f"available analysts: {', '.join(ANALYSTS)}; got {provider!r}"
    if analyst.model is not None:
        if provider in ANALYSTS and not llm:
            problems["analyst.model"] = f"the {provider} analyst has no model; leave model out"
        elif not MODEL_PATTERN.match(analyst.model.strip()):
            problems["analyst.model"] = "a model name of 1-100 letters, digits or . _ - : / @ +, e.g. gpt-4o"
    if analyst.analysis_mode not in ANALYSIS_MODES:
        problems["analyst.analysis_mode"] = (
            f"available modes: {', '.join(ANALYSIS_MODES)}; got {analyst.analysis_mode!r}"
        )
    elif analyst.analysis_mode == "chain" and provider in ANALYSTS and not llm:
        problems["analyst.analysis_mode"] = (
            f"chain needs an LLM analyst ({', '.join(LLM_ANALYSTS)}); use single"
        )
    prompt = analyst.prompt if analyst.prompt and analyst.prompt.strip() else None
    _prompt(session, analyst, prompt, problems)
    model = analyst.model.strip() if analyst.model else None
    return replace(analyst, prompt=prompt, model=model)


def _prompt(session: Session, analyst: AnalystEntry, prompt: str | None, problems: dict[str, str]) -> None:
    from ibflow.llm.prompts.render import problems as template_problems
    from ibflow.llm.prompts.store import template_named, version_of
    from ibflow.llm.prompts.variables import allowed_for

    if prompt is not None and analyst.prompt_template is not None:
        problems["analyst.prompt"] = "give prompt (your own text) or prompt_template (a named one), not both"
        return
    if prompt is not None:
        if len(prompt) > MAX_PROMPT_CHARS:
            problems["analyst.prompt"] = f"at most {MAX_PROMPT_CHARS} characters, got {len(prompt)}"
            return
        found = template_problems(prompt, allowed_for("analysis"))
        if found:
            problems["analyst.prompt"] = "; ".join(f"line {p.line}: {p.message}" for p in found)
    if analyst.prompt_version is not None and analyst.prompt_template is None:
        problems["analyst.prompt_version"] = "pins a version of prompt_template: name the template too"
    if analyst.prompt_template is None:
        return
    try:
        template = template_named(session, analyst.prompt_template)
    except NotFound as exc:
        problems["analyst.prompt_template"] = f"{exc}; see `ibflow prompt list`"
        return
    if template.role != "analysis":
        problems["analyst.prompt_template"] = (
            f"{template.name!r} is a {template.role} template; a strategy names an analysis template"
        )
    elif analyst.prompt_version is not None:
        try:
            version_of(session, template, analyst.prompt_version)
        except NotFound as exc:
            problems["analyst.prompt_version"] = f"{exc}; `ibflow prompt show {template.name}` lists them"


def _risk(given: Mapping[str, Any], problems: dict[str, str]) -> dict[str, Decimal]:
    bad = {key for key in problems if key.startswith("risk.")}
    values = {**DEFAULT_RISK, **{k: v for k, v in given.items() if f"risk.{k}" not in bad}}
    checked: dict[str, Decimal] = check_risk(values, problems)
    entries = checked.get("max_entries_per_day")
    if entries is not None and entries != entries.to_integral_value():
        low, high, meaning = RISK_RANGES["max_entries_per_day"]
        problems["risk.max_entries_per_day"] = f"must be a whole number between {low} and {high} ({meaning})"
    return {name: Decimal(format(value.normalize(), "f")) for name, value in checked.items()}
