"""The indicator catalogue: defaults, ranges and the validation that names each bad parameter."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ibflow.core.errors import ValidationError
from ibflow.indicators import CATALOGUE, IndicatorConfig, ParamSpec, default_key, validate_params


def problems_of(indicator_type: str, params: dict[str, object]) -> tuple[str, dict[str, str]]:
    with pytest.raises(ValidationError) as caught:
        validate_params(indicator_type, params)
    return str(caught.value), caught.value.problems


def test_the_catalogue_holds_the_seven_indicators_with_their_documented_defaults() -> None:
    assert sorted(CATALOGUE) == ["atr", "bbands", "ema", "macd", "rsi", "sma", "supertrend"]
    assert validate_params("rsi") == {"period": 14}
    assert validate_params("macd") == {"fast": 12, "slow": 26, "signal": 9}
    assert validate_params("atr") == {"period": 14}
    assert validate_params("sma") == {"period": 20}
    assert validate_params("ema") == {"period": 20}
    assert validate_params("bbands") == {"period": 20, "width": 2.0}
    assert validate_params("supertrend") == {"period": 10, "multiplier": 3.0}


def test_every_default_lies_inside_its_own_range_and_every_output_has_a_placement() -> None:
    for spec in CATALOGUE.values():
        for param in spec.params:
            assert param.minimum <= param.default <= param.maximum, (spec.type, param.name)
            assert param.description
        for output in spec.outputs:
            assert output.placement in {"overlay", "panel"}
            assert (output.panel is not None) == (output.placement == "panel")


def test_spec_defaults_are_what_validation_completes_an_empty_request_with() -> None:
    for spec in CATALOGUE.values():
        assert validate_params(spec.type, {}) == spec.defaults()


def test_ranges_are_described_the_way_messages_show_them() -> None:
    closed = ParamSpec("ratio", "float", 0.5, 0.0, 1.0, "a closed range")
    assert closed.range_text() == "a number between 0 and 1"
    assert ParamSpec("n", "int", 3, 1, 9, "an integer").range_text() == "an integer between 1 and 9"


def test_given_params_are_kept_and_missing_ones_take_their_default() -> None:
    assert validate_params("bbands", {"period": 50}) == {"period": 50, "width": 2.0}
    assert validate_params("sma", {"period": 1}) == {"period": 1}
    assert validate_params("sma", {"period": 500}) == {"period": 500}


def test_an_integer_is_accepted_for_a_float_param_and_becomes_a_float() -> None:
    params = validate_params("bbands", {"width": 3})
    assert params["width"] == 3.0
    assert isinstance(params["width"], float)


def test_numpy_integers_are_integers() -> None:
    assert validate_params("rsi", {"period": np.int64(21)}) == {"period": 21}


def test_rsi_period_zero_is_refused_naming_the_parameter_and_its_range() -> None:
    message, problems = problems_of("rsi", {"period": 0})
    assert problems == {"period": "must be an integer between 2 and 200, got 0"}
    assert "period" in message
    assert "between 2 and 200" in message


def test_bollinger_width_minus_one_is_refused_with_the_open_lower_bound() -> None:
    message, problems = problems_of("bbands", {"width": -1})
    assert problems == {"width": "must be a number greater than 0 and at most 5, got -1"}
    assert "width" in message


def test_bollinger_width_zero_is_refused_and_five_is_accepted() -> None:
    _, problems = problems_of("bbands", {"width": 0.0})
    assert "width" in problems
    assert validate_params("bbands", {"width": 5})["width"] == 5.0


@pytest.mark.parametrize(("fast", "slow"), [(26, 12), (20, 20)])
def test_macd_fast_not_below_slow_is_refused(fast: int, slow: int) -> None:
    message, problems = problems_of("macd", {"fast": fast, "slow": slow})
    assert problems == {"fast": f"must be less than slow ({slow}), got {fast}"}
    assert "fast" in message


def test_macd_ordering_is_not_reported_when_a_period_is_already_out_of_range() -> None:
    _, problems = problems_of("macd", {"fast": 500, "slow": 26})
    assert problems == {"fast": "must be an integer between 2 and 100, got 500"}


def test_an_unknown_indicator_is_refused_listing_the_known_ones() -> None:
    message, problems = problems_of("vwap", {})
    assert "unknown indicator 'vwap'" in message
    assert "atr, bbands, ema, macd, rsi, sma, supertrend" in message
    assert set(problems) == {"type"}


def test_every_bad_field_is_reported_at_once() -> None:
    _, problems = problems_of("bbands", {"period": 1, "width": 9.5, "colour": "red"})
    assert set(problems) == {"period", "width", "colour"}
    assert problems["period"] == "must be an integer between 2 and 500, got 1"
    assert problems["width"] == "must be a number greater than 0 and at most 5, got 9.5"
    assert problems["colour"] == "unknown parameter for bbands; it takes: period, width"


@pytest.mark.parametrize("value", [True, False, 14.0, "14", None, [14]])
def test_wrong_types_for_an_integer_are_refused(value: object) -> None:
    _, problems = problems_of("rsi", {"period": value})
    assert problems["period"].startswith("must be an integer between 2 and 200, got ")


@pytest.mark.parametrize("value", [True, math.nan, math.inf, "2"])
def test_wrong_types_and_non_finite_numbers_for_a_float_are_refused(value: object) -> None:
    _, problems = problems_of("supertrend", {"multiplier": value})
    assert problems["multiplier"].startswith("must be a number greater than 0 and at most 10, got ")


def test_a_config_validates_and_completes_its_params_on_construction() -> None:
    config = IndicatorConfig("fast_rsi", "rsi", {"period": 7})
    assert config.params == {"period": 7}
    assert IndicatorConfig("my_bands", "bbands", {}).params == {"period": 20, "width": 2.0}
    with pytest.raises(ValidationError) as caught:
        IndicatorConfig("bad", "rsi", {"period": 1})
    assert "period" in caught.value.problems


def test_a_config_needs_a_key_of_sensible_length() -> None:
    with pytest.raises(ValidationError):
        IndicatorConfig("", "rsi", {})
    with pytest.raises(ValidationError):
        IndicatorConfig("k" * 101, "rsi", {})


def test_configs_with_the_same_completed_params_are_equal_and_hash_alike() -> None:
    implicit = IndicatorConfig("rsi_14", "rsi", {})
    explicit = IndicatorConfig("rsi_14", "rsi", {"period": 14})
    assert implicit == explicit
    assert hash(implicit) == hash(explicit)
    assert len({implicit, explicit, IndicatorConfig("rsi_14", "rsi", {"period": 15})}) == 2


@pytest.mark.parametrize(
    ("indicator_type", "params", "key"),
    [
        ("rsi", {}, "rsi_14"),
        ("sma", {"period": 50}, "sma_50"),
        ("bbands", {}, "bbands_20_2"),
        ("bbands", {"width": 2.5}, "bbands_20_2.5"),
        ("macd", {}, "macd_12_26_9"),
        ("supertrend", {}, "supertrend_10_3"),
    ],
)
def test_the_default_key_names_type_and_params(
    indicator_type: str, params: dict[str, object], key: str
) -> None:
    config = IndicatorConfig.of(indicator_type, params)
    assert config.key == key
    assert default_key(indicator_type, config.params) == key


def test_an_explicit_key_wins_over_the_default_one() -> None:
    assert IndicatorConfig.of("ema", {"period": 9}, key="fast_ema").key == "fast_ema"
