"""The trading core against the paper broker, in randomized scenarios from a fixed list of seeds (issue 10).

Each seed is a scenario of ``STEPS`` random steps (signals, partial fills, prices moving through stops and
targets, a lagging and forgetful broker, outside cancels, crashes at every fault point with a restart after
up to three days, the kill switch, flatten, the periodic jobs and reconciliation); the invariants of
``harness`` are checked after every step. A failure prints the seed and the shortest step list that
still breaks the same invariant. A seed that once found a defect stays in the list, with the defect named.

The whole list runs in well under three minutes on two cores
(``pytest -q -p no:cacheprovider tests/simulation/test_fixed_seeds.py``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.simulation.runner import play, report
from tests.simulation.scenario import Scenario, Setup, Step, generate

STEPS = 24

# Seeds that found a defect, and which (keep them). The flatten defect below was found by a scenario
# written by hand and played through the same harness (see REGRESSIONS).
FOUND_DEFECTS: dict[int, str] = {}

SEEDS = sorted(set(range(1, 51)) | set(FOUND_DEFECTS))

# Minimal scenarios that once broke an invariant, as the shrinker printed them (seed 0: written by hand).
REGRESSIONS: dict[str, Scenario] = {
    # flatten_completes: the entry filled at the broker while its executions lagged, so ibflow held
    # nothing; flatten cancelled the children and sold nothing (fixed: flatten sells settling entries).
    "flatten-while-entry-fills-lag": Scenario(
        0,
        Setup(participation=0.1, fix_children=False, protection_action="replace"),
        (Step("lag", (3,)), Step("buy", (0, 30, 60, 80, None)), Step("flatten")),
    ),
    # sells_covered, found by seed 42 when the generator still drew a broker that leaves bracket children
    # at the parent's full size: stop and target of 120 while 40 were held and the parent still worked
    # (fixed: align_protection sizes them to what is held while the entry works).
    # settled_positions, found by the soak (seed 970631249): a crash after the broker call and three days
    # down; the bracket ended meanwhile, the children's executions named only broker ids (fixed: tracking
    # looks such orders up by id while a child of ours lacks its broker id).
    "children-unknown-after-a-long-downtime": Scenario(
        970631249,
        Setup(participation=0.002, fix_children=False, protection_action="close"),
        (Step("crash", ("submit.after_broker_call", "buy", (1, 10, 120, 15, 30), 4320)),),
    ),
    # flatten_completes, found by the soak (seed 600562803, 48 steps): a flatten crashed after its cancels
    # were confirmed and was forgotten (its position sat unprotected three days); a signal exit then worked
    # slowly, and the next flatten cancelled it, said "an exit is already working" while the cancel was
    # unconfirmed and never sold the rest: 6 shares held and nothing working (fixed: a flatten is remembered
    # on every open position before it cancels anything, and an exit still working keeps the request, so
    # tracking carries it on). The harness once also counted a slow market's eighth cycle as a stall
    # (fixed: flatten_completes allows FLATTEN_CYCLES cycles that sell nothing, not six in all).
    "flatten-forgotten-by-a-crash-then-an-exit-it-was-cancelling": Scenario(
        600562803,
        Setup(participation=0.002, fix_children=False, protection_action="close"),
        (
            Step("buy", (1, 0, 120, 300, 5)),
            Step("crash", ("exit.after_cancels_confirmed", "flatten", (), 4320)),
            Step("lag", (1,)),
            Step("sell", (1,)),
            Step("flatten"),
        ),
    ),
    "flatten-crashed-after-cancels-then-a-slow-market": Scenario(
        600562803,
        Setup(participation=0.002, fix_children=False, protection_action="close"),
        (
            Step("buy", (0, 10, 15, 300, 5)),
            Step("lag", (3,)),
            Step("resume"),
            Step("buy", (1, 0, 120, 300, 5)),
            Step("buy", (0, 10, 60, 300, 240)),
            Step("crash", ("exit.after_cancels_confirmed", "flatten", (), 4320)),
        ),
    ),
    "children-left-whole-while-the-entry-works": Scenario(
        42,
        Setup(participation=0.002, fix_children=True, protection_action="close"),
        (Step("buy", (0, 30, 250, 160, None)),),
    ),
}


# Minimal scenarios that still break an invariant: each runs as a strict xfail, so fixing the defect makes
# the test pass and asks for it to move to REGRESSIONS.
OPEN_DEFECTS: dict[str, Scenario] = {}


@pytest.mark.parametrize("seed", SEEDS)
def test_invariants_hold(seed: int, template: Path, worlds: Path) -> None:
    scenario = generate(seed, STEPS)
    failure = play(scenario.setup, scenario.steps, worlds, template)
    if failure is not None:
        pytest.fail(report(scenario, failure, worlds, template), pytrace=False)


@pytest.mark.parametrize("name", sorted(REGRESSIONS))
def test_regressions_stay_fixed(name: str, template: Path, worlds: Path) -> None:
    scenario = REGRESSIONS[name]
    failure = play(scenario.setup, scenario.steps, worlds, template)
    if failure is not None:
        pytest.fail(report(scenario, failure, worlds, template), pytrace=False)


@pytest.mark.parametrize("name", sorted(OPEN_DEFECTS))
@pytest.mark.xfail(reason="an open defect (OPEN_DEFECTS): the invariant still breaks", strict=True)
def test_open_defects_still_break(name: str, template: Path, worlds: Path) -> None:
    scenario = OPEN_DEFECTS[name]
    failure = play(scenario.setup, scenario.steps, worlds, template)
    if failure is not None:
        pytest.fail(report(scenario, failure, worlds, template), pytrace=False)
