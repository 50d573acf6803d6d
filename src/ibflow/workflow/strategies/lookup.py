"""Create, find, reschedule and pause strategies; every bad field is reported at once."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ibflow.core.clock import Clock
from ibflow.core.errors import NotFound, ValidationError
from ibflow.db.models.strategies import Indicator, Strategy, StrategyIndicator
from ibflow.db.states import StrategyMode, StrategyState
from ibflow.workflow.runtime.schedule import next_run_after, validate_cron, validate_timezone

if TYPE_CHECKING:  # at run time these load lazily: listing strategies must not import pandas
    from ibflow.brokers.base import Contract
    from ibflow.indicators.compute import IndicatorConfig
    from ibflow.marketdata.contracts import ContractService

TIMEFRAMES = ("1d", "1w")
ANALYSTS = ("rules", "rules-intraday", "openai", "anthropic")
LLM_ANALYSTS = ("openai", "anthropic")
ANALYSIS_MODES = ("single", "chain")
MODEL_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._:/@+-]{0,99}$")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$")

# (field, lowest allowed, highest allowed, what it means) — inclusive bounds
RISK_RANGES: dict[str, tuple[Decimal, Decimal, str]] = {
    "risk_per_trade": (Decimal("0.0001"), Decimal("0.05"), "fraction of equity risked per trade"),
    "max_position_value": (Decimal(1), Decimal(10_000_000), "largest entry value in account currency"),
    "max_quantity": (Decimal(1), Decimal(1_000_000), "most shares per entry"),
    "max_entries_per_day": (Decimal(1), Decimal(100), "entries per trading day"),
    "min_reward_risk": (Decimal("0.5"), Decimal(20), "minimum (target - entry) / (entry - stop)"),
    "min_confidence": (Decimal(0), Decimal(1), "minimum analyst confidence"),
    "max_entry_deviation": (Decimal("0.001"), Decimal("0.2"), "largest |entry - last| / last"),
}


@dataclass(frozen=True)
class IndicatorInput:
    """One indicator of a new strategy."""

    type: str
    params: dict[str, Any] = field(default_factory=dict)
    name: str | None = None


@dataclass(frozen=True)
class StrategyInput:
    """What a user fills in to create a strategy."""

    name: str
    symbol: str
    indicators: Sequence[IndicatorInput] = ()
    cron: str = "*/15 * * * *"
    timezone: str = "America/New_York"
    timeframes: Sequence[str] = ("1d", "1w")
    analyst: str = "rules"
    model: str | None = None  # an LLM analyst's model; none: the provider's setting
    analysis_mode: str = "single"  # single (one call, both charts) or chain (daily, weekly, consolidation)
    mode: str = "paper"
    market_hours_only: bool = False
    description: str = ""
    risk: dict[str, Any] = field(default_factory=dict)


DEFAULT_RISK: dict[str, Any] = {
    "risk_per_trade": "0.01",
    "max_position_value": "20000",
    "max_quantity": "1000",
    "max_entries_per_day": 2,
    "min_reward_risk": "1.5",
    "min_confidence": "0.55",
    "max_entry_deviation": "0.03",
}


def create_strategy(
    session: Session,
    *,
    data: StrategyInput,
    contracts: ContractService,
    clock: Clock,
    owner_id: int | None = None,
) -> Strategy:
    """Validate every field (reporting all problems at once), then add the strategy and its indicators."""
    problems: dict[str, str] = {}
    contract = _check_symbol(session, data.symbol, contracts, problems)
    configs = check_indicators(data.indicators, problems)
    cron = _check(problems, "cron", lambda: validate_cron(data.cron))
    _check(problems, "timezone", lambda: validate_timezone(data.timezone))
    risk = check_risk({**DEFAULT_RISK, **data.risk}, problems)
    _check_choices(data, problems)
    if not NAME_PATTERN.match(data.name.strip()):
        problems["name"] = "use 1-100 letters, digits, spaces, dots, dashes or underscores"
    elif session.scalars(select(Strategy.id).where(Strategy.name == data.name.strip())).first() is not None:
        problems["name"] = f"a strategy named {data.name.strip()!r} already exists"
    if problems or contract is None or cron is None:
        raise ValidationError(f"the strategy has {len(problems)} invalid field(s)", problems)
    now = clock.now()
    strategy = Strategy(
        owner_id=owner_id,
        name=data.name.strip(),
        description=data.description,
        conid=contract.conid,
        symbol=contract.symbol,
        timeframes=list(dict.fromkeys(data.timeframes)),
        analyst=data.analyst,
        llm_model=data.model.strip() if data.model else None,
        analysis_mode=data.analysis_mode,
        cron=cron,
        timezone=data.timezone,
        market_hours_only=data.market_hours_only,
        mode=StrategyMode(data.mode),
        state=StrategyState.ACTIVE,
        max_entries_per_day=int(risk.pop("max_entries_per_day")),
        next_run_at=next_run_after(cron, data.timezone, now),
        created_at=now,
        updated_at=now,
        **risk,
    )
    session.add(strategy)
    session.flush()
    for position, config in enumerate(configs):
        indicator = Indicator(
            owner_id=owner_id,
            name=config.key,
            type=config.type,
            params=dict(config.params),
            created_at=now,
            updated_at=now,
        )
        session.add(indicator)
        session.flush()
        session.add(StrategyIndicator(strategy_id=strategy.id, indicator_id=indicator.id, position=position))
    session.flush()
    return strategy


def _check(problems: dict[str, str], name: str, check: Any) -> Any:
    try:
        return check()
    except ValidationError as exc:
        problems[name] = exc.problems.get(name, str(exc))
        return None


def _check_symbol(
    session: Session, symbol: str, contracts: ContractService, problems: dict[str, str]
) -> Contract | None:
    wanted = symbol.strip().upper()
    if not wanted:
        problems["symbol"] = "give the symbol to trade, e.g. AAPL"
        return None
    try:
        found = contracts.search(session, wanted)
    except ValidationError as exc:
        problems["symbol"] = exc.problems.get("query", str(exc))
        return None
    exact = [c for c in found if c.symbol.upper() == wanted]
    if not exact:
        hint = ", ".join(c.symbol for c in found[:5])
        problems["symbol"] = f"{wanted} is not tradable here" + (f"; did you mean {hint}?" if hint else "")
        return None
    return exact[0]


def check_indicators(
    indicators: Sequence[IndicatorInput],
    problems: dict[str, str],
    *,
    indexes: Sequence[int] | None = None,
) -> list[IndicatorConfig]:
    """Return the validated configs; each bad param goes into ``problems`` as ``indicators[i].param``.

    ``indexes`` are the entries' positions in the file when some were left out already (default 0, 1, ...).
    """
    from ibflow.indicators.compute import IndicatorConfig

    configs: list[IndicatorConfig] = []
    positions = indexes if indexes is not None else range(len(indicators))
    for index, item in zip(positions, indicators, strict=True):
        try:
            config = IndicatorConfig.of(item.type, item.params, key=item.name)
        except ValidationError as exc:
            for param, text in (exc.problems or {"type": str(exc)}).items():
                problems[f"indicators[{index}].{param}"] = text
            continue
        if any(c.key == config.key for c in configs):
            problems[f"indicators[{index}].name"] = f"{config.key!r} is used twice; give each a distinct name"
            continue
        configs.append(config)
    return configs


def check_risk(values: dict[str, Any], problems: dict[str, str]) -> dict[str, Any]:
    """Return the risk parameters as Decimals; each bad one goes into ``problems`` as ``risk.name``."""
    checked: dict[str, Any] = {}
    for name, (low, high, meaning) in RISK_RANGES.items():
        try:
            value = Decimal(str(values[name]))
        except (InvalidOperation, ValueError):
            problems[f"risk.{name}"] = f"must be a number between {low} and {high} ({meaning})"
            continue
        if not low <= value <= high:
            problems[f"risk.{name}"] = f"must be between {low} and {high} ({meaning}), got {value}"
        checked[name] = value
    unknown = set(values) - set(RISK_RANGES)
    for name in sorted(unknown):
        problems[f"risk.{name}"] = f"unknown risk parameter; known: {', '.join(RISK_RANGES)}"
    return checked


def _check_choices(data: StrategyInput, problems: dict[str, str]) -> None:
    if not data.timeframes or any(tf not in TIMEFRAMES for tf in data.timeframes):
        problems["timeframes"] = f"choose one or more of {', '.join(TIMEFRAMES)}; got {list(data.timeframes)}"
    if data.analyst not in ANALYSTS:
        problems["analyst"] = f"available analysts: {', '.join(ANALYSTS)}; got {data.analyst!r}"
    if data.analysis_mode not in ANALYSIS_MODES:
        problems["analysis_mode"] = (
            f"available analysis modes: {', '.join(ANALYSIS_MODES)}; got {data.analysis_mode!r}"
        )
    elif data.analysis_mode == "chain" and data.analyst in ANALYSTS and data.analyst not in LLM_ANALYSTS:
        problems["analysis_mode"] = f"chain needs an LLM analyst ({', '.join(LLM_ANALYSTS)}); use single"
    if data.model is not None:
        if data.analyst in ANALYSTS and data.analyst not in LLM_ANALYSTS:
            problems["model"] = f"the {data.analyst} analyst has no model; leave model out"
        elif not MODEL_PATTERN.match(data.model.strip()):
            problems["model"] = "give a model name of 1-100 letters, digits or . _ - : / @ +, e.g. gpt-4o"
    if data.mode not in {m.value for m in StrategyMode}:
        problems["mode"] = f"choose paper or live; got {data.mode!r}"


def find_strategy(session: Session, reference: str) -> Strategy:
    """Return the strategy ``reference`` names: ``id:N``, ``name:TEXT``, or a bare id or name.

    Names never contain ``:``, so the prefixes are unambiguous. A bare reference that is one strategy's
    id and another's name raises ``ValidationError`` naming both and how to choose; nothing found raises
    ``NotFound`` naming what was looked for.
    """
    text = reference.strip()
    kind, colon, rest = text.partition(":")
    if colon and kind.lower() == "id":
        return _found(_by_id(session, rest.strip()), text)
    if colon and kind.lower() == "name":
        return _found(_by_name(session, rest.strip()), text)
    by_id, by_name = _by_id(session, text), _by_name(session, text)
    if by_id is not None and by_name is not None and by_id.id != by_name.id:
        raise ValidationError(
            f"{text!r} is the id {by_id.id} ({by_id.name!r}) and the name of strategy id {by_name.id}: "
            f"say id:{text} or name:{text}",
            {"strategy": f"say id:{text} or name:{text}"},
        )
    return _found(by_id or by_name, text)


def _by_id(session: Session, text: str) -> Strategy | None:
    # ASCII only: "²".isdigit() is true but int("²") fails; 18 digits stay within a 64-bit id.
    plain = text.isascii() and text.isdigit() and len(text) <= 18
    return session.get(Strategy, int(text)) if plain else None


def _by_name(session: Session, text: str) -> Strategy | None:
    return session.scalars(select(Strategy).where(Strategy.name == text)).one_or_none() if text else None


def _found(strategy: Strategy | None, reference: str) -> Strategy:
    if strategy is None:
        raise NotFound(f"no strategy with id or name {reference!r}")
    return strategy


def reschedule(session: Session, strategy: Strategy, *, cron: str, timezone: str, clock: Clock) -> Strategy:
    """Change a strategy's schedule; the dispatcher uses it from its next tick."""
    problems: dict[str, str] = {}
    cleaned = _check(problems, "cron", lambda: validate_cron(cron))
    _check(problems, "timezone", lambda: validate_timezone(timezone))
    if problems or cleaned is None:
        raise ValidationError("invalid schedule", problems)
    strategy.cron, strategy.timezone = cleaned, timezone
    strategy.next_run_at = next_run_after(cleaned, timezone, clock.now())
    strategy.updated_at = clock.now()
    return strategy


def set_strategy_state(
    session: Session, strategy: Strategy, state: StrategyState, *, clock: Clock
) -> Strategy:
    """Pause, resume or archive a strategy; resuming schedules the next slot from now."""
    strategy.state = state
    strategy.updated_at = clock.now()
    if state is StrategyState.ACTIVE:
        strategy.next_run_at = next_run_after(strategy.cron, strategy.timezone, clock.now())
    return strategy
