"""Run-time settings: environment defaults, hard limits, and every change audited."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError as PydanticError
from sqlalchemy import select
from sqlalchemy.orm import Session
from tests.unit.trading.risk_cases import broker_env, risk_env

from ibflow.core.clock import ManualClock
from ibflow.core.errors import ValidationError
from ibflow.core.settings import BrokerSettings, RiskSettings
from ibflow.db.engine import SessionFactory
from ibflow.db.models import AppSetting, AuditLog
from ibflow.trading.risk.runtime_settings import (
    SPECS,
    RuntimeSettings,
    allowed_range,
    get_runtime_settings,
    reset_setting,
    set_setting,
)


def _set(
    session: Session,
    clock: ManualClock,
    key: str,
    value: object,
    *,
    env: RiskSettings | None = None,
    broker: BrokerSettings | None = None,
) -> RuntimeSettings:
    return set_setting(
        session,
        key=key,
        value=value,
        actor="admin-1",
        at=clock.now(),
        env=env or risk_env(),
        broker_env=broker or broker_env(),
    )


def _audits(session: Session) -> list[AuditLog]:
    return list(session.scalars(select(AuditLog).order_by(AuditLog.id)))


def test_defaults_come_from_the_environment(
    sessions: SessionFactory, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env file
    monkeypatch.setenv("IBFLOW_MAX_OPEN_POSITIONS", "7")
    monkeypatch.setenv("IBFLOW_MAX_EXPOSURE_FRACTION", "0.35")
    monkeypatch.setenv("IBFLOW_PROTECTION_ACTION", "close")
    monkeypatch.setenv("IBFLOW_SUBMIT_UNKNOWN_GRACE_SECONDS", "300")
    monkeypatch.setenv("IBFLOW_HALT_CANCELS_ENTRIES", "false")
    monkeypatch.setenv("IBFLOW_IBKR_QUESTION_ALLOW_LIST", "p12, o163")
    with sessions() as session:
        settings = get_runtime_settings(session, RiskSettings(), BrokerSettings())

    assert settings == RuntimeSettings(
        live_trading_enabled=False,
        max_open_positions=7,
        max_exposure_fraction=Decimal("0.35"),
        max_daily_loss_fraction=Decimal("0.03"),
        loss_streak_length=3,
        loss_streak_cooldown_minutes=60,
        protection_action="close",
        submit_unknown_grace_seconds=300,
        halt_cancels_entries=False,
        ibkr_question_allow_list="o163,p12",  # canonical: lower case, sorted, once each
    )


def test_a_change_is_stored_exactly_and_audited(sessions: SessionFactory, clock: ManualClock) -> None:
    with sessions() as session:
        updated = _set(session, clock, "max_exposure_fraction", "0.35")
        _set(session, clock, "max_open_positions", 3)
        session.commit()

        assert updated.max_exposure_fraction == Decimal("0.35")
        assert get_runtime_settings(session, risk_env(), broker_env()).max_open_positions == 3
        row = session.get(AppSetting, "max_exposure_fraction")
        assert row is not None
        assert (row.value, row.updated_by, row.updated_at) == ("0.35", "admin-1", clock.now())
        audits = [(a.actor, a.action, a.target_id, a.before, a.after, a.at) for a in _audits(session)]
        assert audits == [
            ("admin-1", "setting.changed", "max_exposure_fraction", "0.5", "0.35", clock.now()),
            ("admin-1", "setting.changed", "max_open_positions", 5, 3, clock.now()),
        ]


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (
            "max_open_positions",
            51,
            "max_open_positions: 51 is outside the allowed range: an integer from 0 to 50",
        ),
        ("max_open_positions", -1, "from 0 to 50"),
        ("max_exposure_fraction", "1.01", "a number from 0 to 1"),
        ("max_daily_loss_fraction", Decimal("0.25"), "max_daily_loss_fraction: 0.25 is outside"),
        ("loss_streak_cooldown_minutes", 100_000, "from 0 to 10080"),
        ("protection_action", "panic", "protection_action: must be one of replace, close"),
        ("max_open_positions", "three", "must be a whole number"),
        ("max_open_positions", True, "must be a whole number"),
        ("max_open_positions", "2.5", "must be a whole number"),
        ("max_exposure_fraction", "NaN", "must be a number"),
        ("live_trading_enabled", "maybe", "must be true or false"),
        ("max_leverage", 2, "unknown setting 'max_leverage'"),
    ],
)
def test_a_value_beyond_the_hard_limit_or_of_the_wrong_type_is_refused(
    sessions: SessionFactory, clock: ManualClock, key: str, value: object, message: str
) -> None:
    with sessions() as session:
        with pytest.raises(ValidationError) as raised:
            _set(session, clock, key, value)
        assert message in str(raised.value)
        assert key in raised.value.problems
        session.flush()
        assert session.scalars(select(AppSetting)).all() == []
        assert _audits(session) == []


def test_the_hard_limit_comes_from_the_environment(sessions: SessionFactory, clock: ManualClock) -> None:
    with sessions() as session:
        tight = risk_env(max_open_positions_limit=4)
        with pytest.raises(ValidationError, match="from 0 to 4"):
            _set(session, clock, "max_open_positions", 5, env=tight)
        _set(session, clock, "max_open_positions", 20)
        # A value stored before the environment tightened its limit is held to the new limit.
        assert get_runtime_settings(session, tight, broker_env()).max_open_positions == 4


def test_live_trading_cannot_be_enabled_when_the_environment_forbids_it(
    sessions: SessionFactory, clock: ManualClock
) -> None:
    with sessions() as session:
        with pytest.raises(ValidationError, match="IBFLOW_LIVE_TRADING_ALLOWED") as raised:
            _set(session, clock, "live_trading_enabled", True)
        assert "live_trading_enabled" in str(raised.value)
        assert _audits(session) == []
        assert "false only" in allowed_range("live_trading_enabled", risk_env(), broker_env())

        allowed = broker_env(live_trading_allowed=True)
        assert _set(session, clock, "live_trading_enabled", "true", broker=allowed).live_trading_enabled
        [audit] = _audits(session)
        assert (audit.target_id, audit.before, audit.after) == ("live_trading_enabled", False, True)
        # The environment withdraws permission later: the stored switch no longer counts.
        assert not get_runtime_settings(session, risk_env(), broker_env()).live_trading_enabled
        assert get_runtime_settings(session, risk_env(), allowed).live_trading_enabled


def test_a_reset_returns_to_the_environment_default_and_is_audited(
    sessions: SessionFactory, clock: ManualClock
) -> None:
    with sessions() as session:
        _set(session, clock, "protection_action", "close")
        settings = reset_setting(
            session,
            key="protection_action",
            actor="admin-2",
            at=clock.now(),
            env=risk_env(),
            broker_env=broker_env(),
        )
        assert settings.protection_action == "replace"
        assert session.get(AppSetting, "protection_action") is None
        last = _audits(session)[-1]
        assert (last.actor, last.action, last.before, last.after) == (
            "admin-2",
            "setting.reset",
            "close",
            "replace",
        )


def test_an_unusable_stored_value_falls_back_to_the_default(
    sessions: SessionFactory, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    with sessions() as session:
        session.add(
            AppSetting(key="loss_streak_length", value="lots", updated_by="sql", updated_at=clock.now())
        )
        session.flush()
        assert get_runtime_settings(session, risk_env(), broker_env()).loss_streak_length == 3
    assert "loss_streak_length" in caplog.text


def test_every_setting_describes_its_allowed_values() -> None:
    for key in SPECS:
        assert allowed_range(key, risk_env(), broker_env(live_trading_allowed=True))
    assert allowed_range("max_exposure_fraction", risk_env(), broker_env()) == "a number from 0 to 1"


_NUMERIC = [key for key, spec in SPECS.items() if spec.kind in (int, Decimal)]
_ABSURD = ["1E+9999999", "-1E+9999999", "1E-9999999", "NaN", "sNaN", "Infinity", "-inf", "-1", "9" * 400]


@pytest.mark.timeout(10)
@pytest.mark.parametrize("value", _ABSURD)
@pytest.mark.parametrize("key", _NUMERIC)
def test_an_absurd_number_is_refused_at_once_naming_the_allowed_range(
    sessions: SessionFactory, clock: ManualClock, key: str, value: str
) -> None:
    with sessions() as session:
        with pytest.raises(ValidationError) as raised:
            _set(session, clock, key, value)
        assert allowed_range(key, risk_env(), broker_env()) in str(raised.value)
        assert len(str(raised.value)) < 200
        assert session.scalars(select(AppSetting)).all() == []


@pytest.mark.timeout(10)
@pytest.mark.parametrize("key", _NUMERIC)
def test_an_absurd_stored_number_is_held_within_the_limits(
    sessions: SessionFactory, clock: ManualClock, key: str
) -> None:
    with sessions() as session:
        session.add(AppSetting(key=key, value="1E+9999999", updated_by="sql", updated_at=clock.now()))
        session.flush()
        low, high = SPECS[key].bounds(risk_env())  # type: ignore[misc]
        assert getattr(get_runtime_settings(session, risk_env(), broker_env()), key) == high
        assert low <= high


def test_the_grace_period_for_unknown_orders_cannot_be_switched_off(
    sessions: SessionFactory, clock: ManualClock
) -> None:
    with sessions() as session:
        for value in ("0", "9"):
            with pytest.raises(ValidationError, match="an integer from 10 to 86400"):
                _set(session, clock, "submit_unknown_grace_seconds", value)
        assert _set(session, clock, "submit_unknown_grace_seconds", "10").submit_unknown_grace_seconds == 10
    with pytest.raises(PydanticError, match="submit_unknown_grace_seconds"):
        RiskSettings(submit_unknown_grace_seconds=0)
