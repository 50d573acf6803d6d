"""Run-time settings an admin changes while ibflow runs, over the audited ``app_settings`` table.

The environment (``RiskSettings``, ``BrokerSettings``) gives each setting its default and its hard limit;
a stored value wins over the default but never over the limit. When the environment's limit is lowered
after a value was stored, the value in effect is the limit, so tightening the environment always tightens
trading. ``live_trading_enabled`` is in effect only while the environment allows live trading.

Numbers are checked against their range while still a ``Decimal`` (a huge exponent such as ``1E+9999999``
is refused at once, never turned into an int), must be finite, whole for counts, and have at most 8
decimal places for fractions; every refusal names the allowed range.

Services never read the environment themselves: callers pass the settings objects in.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ibflow.core.errors import ValidationError
from ibflow.core.money import QUANTUM, SCALE, to_decimal
from ibflow.core.settings import (
    SUBMIT_UNKNOWN_GRACE_MAX_SECONDS,
    SUBMIT_UNKNOWN_GRACE_MIN_SECONDS,
    BrokerSettings,
    RiskSettings,
)
from ibflow.db.models.system import AppSetting
from ibflow.trading.audit import person_actor, record_audit

log = logging.getLogger(__name__)

PROTECTION_ACTIONS = ("replace", "close")
QUESTION_ID = re.compile(r"^[a-z]\d{1,6}$")
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}
_MAX_NUMBER_TEXT = 32
_MAX_TEXT = 500


@dataclass(frozen=True)
class RuntimeSettings:
    """The run-time settings in effect (stored value, else environment default; always within limits)."""

    live_trading_enabled: bool
    max_open_positions: int
    max_exposure_fraction: Decimal
    max_daily_loss_fraction: Decimal
    loss_streak_length: int
    loss_streak_cooldown_minutes: int
    protection_action: str
    submit_unknown_grace_seconds: int
    halt_cancels_entries: bool
    ibkr_question_allow_list: str


Bounds = Callable[[RiskSettings], tuple[Any, Any]]


@dataclass(frozen=True)
class SettingSpec:
    """One setting: its type, where its default comes from, and its hard limits."""

    key: str
    kind: type
    description: str
    default: Callable[[RiskSettings, BrokerSettings], Any]
    bounds: Bounds | None = None
    choices: tuple[str, ...] = ()
    normalize: Callable[[str], str] | None = None
    """For free text: return its canonical form, or raise ``ValueError`` saying what is wrong."""


def question_ids_text(text: str) -> str:
    """The allow-list in canonical form (``o10331,p12``: sorted, unique); ``ValueError`` for a bad id."""
    ids = {part.strip().lower() for part in text.split(",") if part.strip()}
    bad = sorted(i for i in ids if not QUESTION_ID.match(i))
    if bad:
        raise ValueError(f"not IBKR question ids: {', '.join(bad)} (they look like o163 or p12)")
    return ",".join(sorted(ids))


SPECS: dict[str, SettingSpec] = {
    spec.key: spec
    for spec in (
        SettingSpec(
            "live_trading_enabled",
            bool,
            "Admin switch for live-mode strategies; needs IBFLOW_LIVE_TRADING_ALLOWED as well.",
            lambda _env, _broker: False,
        ),
        SettingSpec(
            "max_open_positions",
            int,
            "Open positions plus working entries allowed per account.",
            lambda env, _broker: env.max_open_positions,
            lambda env: (0, env.max_open_positions_limit),
        ),
        SettingSpec(
            "max_exposure_fraction",
            Decimal,
            "Positions at cost plus working entries plus the new entry, over equity.",
            lambda env, _broker: env.max_exposure_fraction,
            lambda env: (Decimal(0), env.max_exposure_fraction_limit),
        ),
        SettingSpec(
            "max_daily_loss_fraction",
            Decimal,
            "Today's realized loss, as a share of equity, that blocks entries and halts trading.",
            lambda env, _broker: env.max_daily_loss_fraction,
            lambda env: (Decimal(0), env.max_daily_loss_fraction_limit),
        ),
        SettingSpec(
            "loss_streak_length",
            int,
            "Losing trades in a row that start a cooldown (0 turns the cooldown off).",
            lambda env, _broker: env.loss_streak_length,
            lambda _env: (0, 100),
        ),
        SettingSpec(
            "loss_streak_cooldown_minutes",
            int,
            "Minutes without new entries after a losing streak.",
            lambda env, _broker: env.loss_streak_cooldown_minutes,
            lambda _env: (0, 7 * 24 * 60),
        ),
        SettingSpec(
            "protection_action",
            str,
            "What the watchdog does when a position lost its protection: replace it, or close at market.",
            lambda env, _broker: env.protection_action,
            choices=PROTECTION_ACTIONS,
        ),
        SettingSpec(
            "submit_unknown_grace_seconds",
            int,
            "How long an ambiguous order must stay unseen at the broker before it counts as absent.",
            lambda env, _broker: env.submit_unknown_grace_seconds,
            lambda _env: (SUBMIT_UNKNOWN_GRACE_MIN_SECONDS, SUBMIT_UNKNOWN_GRACE_MAX_SECONDS),
        ),
        SettingSpec(
            "halt_cancels_entries",
            bool,
            "Whether a halt cancels unfilled entries (their protection, if partly filled, stays).",
            lambda env, _broker: env.halt_cancels_entries,
        ),
        SettingSpec(
            "ibkr_question_allow_list",
            str,
            "IBKR order question ids confirmed without a trader (comma separated); any other waits for one.",
            lambda _env, broker: question_ids_text(broker.ibkr_question_allow_list),
            normalize=question_ids_text,
        ),
    )
}


def allowed_range(key: str, env: RiskSettings, broker_env: BrokerSettings) -> str:
    """Describe the values ``key`` accepts under this environment, for messages and the settings page."""
    spec = _spec(key)
    if spec.kind is bool:
        if key == "live_trading_enabled" and not broker_env.live_trading_allowed:
            return "false only (the environment does not allow live trading: IBFLOW_LIVE_TRADING_ALLOWED)"
        return "true or false"
    if spec.choices:
        return "one of " + ", ".join(spec.choices)
    if spec.normalize is not None:
        return "comma-separated IBKR question ids such as o163,p12 (empty: none)"
    if spec.bounds is None:
        return "any value"
    low, high = spec.bounds(env)
    noun = "an integer" if spec.kind is int else "a number"
    return f"{noun} from {low} to {high}"


def capped_defaults(env: RiskSettings, broker_env: BrokerSettings) -> list[str]:
    """Say which environment defaults exceed their hard limit (each is in effect at the limit)."""
    notices = []
    for key, spec in SPECS.items():
        if spec.bounds is None:
            continue
        value, (_low, high) = spec.default(env, broker_env), spec.bounds(env)
        if value > high:
            limit = (
                f"IBFLOW_{key.upper()}_LIMIT" if f"{key}_limit" in RiskSettings.model_fields else "the limit"
            )
            notices.append(
                f"IBFLOW_{key.upper()}={_shown(value)} is above its hard limit ({limit} = {_shown(high)}); "
                f"capped to {_shown(high)}"
            )
    return notices


def get_runtime_settings(session: Session, env: RiskSettings, broker_env: BrokerSettings) -> RuntimeSettings:
    """Return the settings in effect: stored values over environment defaults, capped by the hard limits."""
    stored = {row.key: row.value for row in session.scalars(select(AppSetting)).all() if row.key in SPECS}
    values: dict[str, Any] = {}
    for key, spec in SPECS.items():
        value = spec.default(env, broker_env)
        if key in stored:
            try:
                value = _parse(spec, stored[key], env, broker_env, clamp=True)
            except ValidationError as exc:
                log.warning("stored setting %s is unusable (%s); using the default", key, exc)
        values[key] = _within_limits(spec, value, env, broker_env)
    return RuntimeSettings(**values)


def stored_keys(session: Session) -> set[str]:
    """The settings an admin changed (stored), as opposed to those on their environment default."""
    return {key for key in session.scalars(select(AppSetting.key)).all() if key in SPECS}


def default_value(key: str, env: RiskSettings, broker_env: BrokerSettings) -> Any:
    """The value ``key`` takes when nothing is stored: its environment default within the hard limits."""
    spec = _spec(key)
    return _within_limits(spec, spec.default(env, broker_env), env, broker_env)


def set_setting(
    session: Session,
    *,
    key: str,
    value: object,
    actor: str,
    at: datetime,
    env: RiskSettings,
    broker_env: BrokerSettings,
) -> RuntimeSettings:
    """Validate and store one setting, audited with its value before and after; return the new settings.

    ``ValidationError`` (naming the key and the allowed range) for an unknown key, a wrong type, or a
    value beyond the hard limit, including ``live_trading_enabled = true`` when the environment forbids it;
    also for an actor name reserved for ibflow (``person_actor``).
    """
    actor = person_actor(actor)
    spec = _spec(key)
    parsed = _parse(spec, value, env, broker_env)
    _check_limits(spec, parsed, broker_env)
    before = getattr(get_runtime_settings(session, env, broker_env), key)
    row = session.get(AppSetting, key)
    if row is None:
        row = AppSetting(key=key)
        session.add(row)
    row.value = _stored(parsed)
    row.updated_by = actor
    row.updated_at = at
    record_audit(
        session,
        actor=actor,
        action="setting.changed",
        at=at,
        target_type="app_setting",
        target_id=key,
        before=before,
        after=parsed,
        detail=f"{key}: {before} -> {parsed}",
    )
    session.flush()
    return get_runtime_settings(session, env, broker_env)


def reset_setting(
    session: Session,
    *,
    key: str,
    actor: str,
    at: datetime,
    env: RiskSettings,
    broker_env: BrokerSettings,
) -> RuntimeSettings:
    """Drop the stored value of ``key`` so the environment default applies again, audited."""
    actor = person_actor(actor)
    spec = _spec(key)
    before = getattr(get_runtime_settings(session, env, broker_env), key)
    row = session.get(AppSetting, key)
    if row is not None:
        session.delete(row)
    after = _within_limits(spec, spec.default(env, broker_env), env, broker_env)
    record_audit(
        session,
        actor=actor,
        action="setting.reset",
        at=at,
        target_type="app_setting",
        target_id=key,
        before=before,
        after=after,
        detail=f"{key}: {before} -> {after} (environment default)",
    )
    session.flush()
    return get_runtime_settings(session, env, broker_env)


def _spec(key: str) -> SettingSpec:
    try:
        return SPECS[key]
    except KeyError:
        known = ", ".join(sorted(SPECS))
        raise ValidationError(f"unknown setting {key!r}; known: {known}", {key: "unknown setting"}) from None


def _invalid(key: str, message: str) -> ValidationError:
    return ValidationError(f"{key}: {message}", {key: message})


def _parse(
    spec: SettingSpec, value: object, env: RiskSettings, broker_env: BrokerSettings, *, clamp: bool = False
) -> Any:
    if spec.kind is bool:
        return _parse_bool(spec.key, value)
    if spec.kind is int or spec.kind is Decimal:
        return _parse_number(spec, value, env, broker_env, clamp=clamp)
    text = value if isinstance(value, str) else None
    if spec.normalize is not None and text is not None and len(text) <= _MAX_TEXT:
        try:
            return spec.normalize(text)
        except ValueError as exc:
            raise _invalid(spec.key, str(exc)) from exc
    if text is None or (spec.choices and text not in spec.choices):
        allowed = (
            f"one of {', '.join(spec.choices)}" if spec.choices else f"text of at most {_MAX_TEXT} characters"
        )
        raise _invalid(spec.key, f"must be {allowed}, got {_shown(value)}")
    return text


def _parse_bool(key: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise _invalid(key, f"must be true or false, got {value!r}")


def _parse_number(
    spec: SettingSpec, value: object, env: RiskSettings, broker_env: BrokerSettings, *, clamp: bool
) -> int | Decimal:
    # The range is checked on the Decimal before anything else: int(Decimal("1E+9999999")) never ends.
    allowed = allowed_range(spec.key, env, broker_env)
    noun = "a whole number" if spec.kind is int else "a number"
    shown = _shown(value)
    number = _finite(value)
    if number is None or spec.bounds is None:
        raise _invalid(spec.key, f"must be {noun} ({allowed}), got {shown}")
    low, high = (Decimal(bound) for bound in spec.bounds(env))
    if clamp:
        number = min(max(number, low), high)
    elif not low <= number <= high:
        raise _invalid(spec.key, f"{shown} is outside the allowed range: {allowed}")
    if spec.kind is int:
        if number != number.to_integral_value():
            raise _invalid(spec.key, f"must be {noun} ({allowed}), got {shown}")
        return int(number)
    if number != number.quantize(QUANTUM):
        raise _invalid(spec.key, f"{shown} has more than {SCALE} decimal places ({allowed})")
    return number + 0  # "-0" becomes 0


def _finite(value: object) -> Decimal | None:
    # bool is an int in Python; True must not silently become 1 position.
    if isinstance(value, bool) or not isinstance(value, Decimal | int | float | str):
        return None
    if isinstance(value, str):
        value = value.strip()
        if len(value) > _MAX_NUMBER_TEXT:
            return None
    try:
        return to_decimal(value)
    except ValueError:
        return None


def _shown(value: object) -> str:
    text = str(value).strip()
    return text if len(text) <= _MAX_NUMBER_TEXT else f"{text[:20]}…"


def _check_limits(spec: SettingSpec, value: Any, broker_env: BrokerSettings) -> None:
    if spec.key == "live_trading_enabled" and value and not broker_env.live_trading_allowed:
        raise _invalid(
            spec.key,
            "cannot be enabled: the environment does not allow live trading "
            "(set IBFLOW_LIVE_TRADING_ALLOWED=true first); allowed: false",
        )


def _within_limits(spec: SettingSpec, value: Any, env: RiskSettings, broker_env: BrokerSettings) -> Any:
    if spec.key == "live_trading_enabled":
        return bool(value) and broker_env.live_trading_allowed
    if spec.bounds is not None:
        low, high = spec.bounds(env)
        return min(max(value, low), high)
    if spec.choices and value not in spec.choices:
        return spec.choices[0]
    return value


def _stored(value: Any) -> Any:
    # JSON has no exact decimal: store the text so nothing passes through a float.
    return str(value) if isinstance(value, Decimal) else value
