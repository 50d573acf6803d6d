"""The error tree and the read-retry decorator."""

from __future__ import annotations

import pytest

from ibflow.core import errors


@pytest.mark.parametrize(
    "outcome",
    [
        errors.OrderNotSent,
        errors.OrderOutcomeUnknown,
        errors.OrderRejected,
        errors.DuplicateClientOrderId,
    ],
)
def test_no_order_outcome_is_retryable(outcome: type[Exception]) -> None:
    assert issubclass(outcome, errors.OrderOutcome)
    assert not issubclass(outcome, errors.TemporaryError)


def test_reads_are_retried_with_backoff_then_give_up() -> None:
    sleeps: list[float] = []
    calls = 0

    @errors.retry_reads(attempts=3, base_delay_s=0.5, sleep=sleeps.append)
    def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise errors.RateLimited("429")
        return "bars"

    assert flaky() == "bars"
    assert sleeps == [0.5, 1.0]

    @errors.retry_reads(attempts=2, sleep=sleeps.append)
    def always_down() -> None:
        raise errors.TemporaryError("timeout")

    with pytest.raises(errors.TemporaryError):
        always_down()


def test_an_order_outcome_passes_through_the_retry_untouched() -> None:
    calls = 0

    @errors.retry_reads(attempts=5, sleep=lambda _: None)
    def submit() -> None:
        nonlocal calls
        calls += 1
        raise errors.OrderOutcomeUnknown("timeout after sending")

    with pytest.raises(errors.OrderOutcomeUnknown):
        submit()
    assert calls == 1


def test_validation_error_and_risk_blocked_carry_their_details() -> None:
    err = errors.ValidationError("bad strategy", {"cron": "not a cron expression"})
    assert err.problems == {"cron": "not a cron expression"}
    blocked = errors.RiskBlocked("max_open_positions", "3 of 3 open")
    assert blocked.reason_code == "max_open_positions"
    assert "3 of 3 open" in str(blocked)
