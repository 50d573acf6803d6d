"""The order state machine follows ARCHITECTURE §4 exactly."""

from __future__ import annotations

import pytest

from ibflow.core.errors import InvalidTransition
from ibflow.db.states import ORDER_TRANSITIONS, OrderState, check_transition

S = OrderState

# The table of ARCHITECTURE §4, written out here independently of the code.
DOCUMENTED = {
    S.INTENT: {S.SUBMITTING, S.REJECTED},
    S.SUBMITTING: {
        S.WORKING,
        S.INACTIVE,
        S.NEEDS_CONFIRMATION,
        S.SUBMIT_UNKNOWN,
        S.REJECTED,
        S.PARTIALLY_FILLED,
        S.FILLED,
    },
    S.INACTIVE: {S.WORKING, S.CANCELLED},
    S.NEEDS_CONFIRMATION: {S.SUBMITTING, S.CANCELLED, S.REJECTED},
    S.SUBMIT_UNKNOWN: {
        S.INACTIVE,
        S.WORKING,
        S.PARTIALLY_FILLED,
        S.CANCEL_PENDING,
        S.FILLED,
        S.CANCELLED,
        S.EXPIRED,
        S.REJECTED,
    },
    S.WORKING: {S.PARTIALLY_FILLED, S.FILLED, S.CANCEL_PENDING, S.CANCELLED, S.EXPIRED, S.REJECTED},
    S.PARTIALLY_FILLED: {S.PARTIALLY_FILLED, S.FILLED, S.CANCEL_PENDING, S.CANCELLED, S.EXPIRED},
    S.CANCEL_PENDING: {S.CANCELLED, S.PARTIALLY_FILLED, S.FILLED, S.EXPIRED},
    S.FILLED: set(),
    S.CANCELLED: set(),
    S.EXPIRED: set(),
    S.REJECTED: set(),
}

LISTED = [(a, b) for a, targets in DOCUMENTED.items() for b in sorted(targets)]


def test_the_code_table_is_the_documented_table() -> None:
    assert {k: set(v) for k, v in ORDER_TRANSITIONS.items()} == DOCUMENTED


@pytest.mark.parametrize(("current", "target"), LISTED, ids=[f"{a}->{b}" for a, b in LISTED])
def test_every_listed_transition_passes(current: OrderState, target: OrderState) -> None:
    check_transition(current, target)


@pytest.mark.parametrize("current", list(OrderState), ids=[s.value for s in OrderState])
def test_one_unlisted_transition_from_each_state_raises(current: OrderState) -> None:
    unlisted = sorted(set(OrderState) - DOCUMENTED[current])
    target = unlisted[0]
    with pytest.raises(InvalidTransition, match=f"{current.value} -> {target.value} is not allowed"):
        check_transition(current, target)


def test_terminal_and_live_states() -> None:
    assert {s for s in OrderState if s.is_terminal} == {k for k, v in DOCUMENTED.items() if not v}
    assert not S.INTENT.is_live
    assert S.SUBMIT_UNKNOWN.is_live
    assert not S.FILLED.is_live
