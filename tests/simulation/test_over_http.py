"""The randomized simulation over HTTP: ibflow on the ``ibkr`` broker, the gateway simulator (issue 15).

The same scenarios as ``test_fixed_seeds`` (``scenario.generate``), fewer and shorter: ``SEEDS`` × ``STEPS``
steps, each in a fresh world with a gateway simulator of its own served on a loopback port
(``http_world.http_venue``). ibflow's trading services talk to the ``ibkr`` broker over real HTTP; the
invariants of ``harness`` are checked after every step against the simulator's inner paper broker. A failure
prints the seed and the shortest step list that still breaks the same invariant (each shrinking replay is a
new simulator, so the shrinker's budget is smaller here).

A seed that found a defect stays in the list, xfail (strict) with the defect named, and its minimal
scenario is kept in ``FOUND_SCENARIOS`` the same way: fixing the defect makes both pass, and fail here until
the marks are removed.

``pytest -q -p no:cacheprovider -n 2 tests/simulation/test_over_http.py`` (the simulation tier runs it).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.simulation.http_world import http_venue
from tests.simulation.runner import play, report
from tests.simulation.scenario import Scenario, Setup, Step, generate

pytestmark = pytest.mark.integration  # a real HTTP server (uvicorn in a thread) per scenario

STEPS = 16
SHRINK_BUDGET_S = 30.0

# Seeds that found a defect over HTTP not fixed yet, and which.
FOUND_DEFECTS: dict[int, str] = {}

SEEDS = sorted({1, 2, 3, 4, 5, 6, 8, 28} | set(FOUND_DEFECTS))

# The shortest scenarios the shrinker printed for the defects found, with the defect while it is open
# (``None`` once fixed: the scenario stays as a regression test).
FOUND_SCENARIOS: dict[str, tuple[Scenario, str | None]] = {
    "flatten-cancel-unseen-behind-the-live-orders-cache": (
        Scenario(
            8,
            Setup(participation=0.01, fix_children=False, protection_action="close"),
            (Step("lag", (3,)), Step("buy", (0, 10, 250, 160, None)), Step("flatten")),
        ),
        # Fixed: the harness's call-counting wrapper (``FaultyBroker``) hid the ``ibkr`` broker's
        # ``live_orders_interval_s``, so the cancel was watched 0.5 s apart through a 5 s live-orders cache
        # and never seen confirmed; the flatten then sold nothing. The wrapper now forwards what a broker
        # offers besides the protocol.
        None,
    ),
    "entry-ended-before-the-brokerage-session": (
        Scenario(
            28,
            Setup(participation=0.002, fix_children=False, protection_action="replace"),
            (
                Step("buy", (2, 20, 60, 300, None)),
                Step("crash", ("cancel.after_broker_call", "sell", (2,), 1440)),
            ),
        ),
        # Fixed: an order that ended at IBKR before the current brokerage session is not listed and its
        # status answers 503 for ever; tracking kept it live, and the flatten waiting for its cancel sold
        # nothing. Such a row is now taken as ended once it stays unlisted and unreadable for the grace.
        None,
    ),
    # Found by exploring 24-step scenarios (seeds 1-40); each left ibflow holding shares IBKR had sold.
    "target-filled-while-away-before-the-session": (
        Scenario(
            30,
            Setup(participation=0.1, fix_children=False, protection_action="replace"),
            (
                Step("buy", (1, 30, 30, 15, 30)),
                Step("crash", ("exit.after_cancels_confirmed", "watch", (), 240)),
                Step("crash", ("submit.after_intent_commit", "buy", (0, -10, 250, 80, 30), 4320)),
            ),
        ),
        # Fixed: the target's execution names no order (IBKR's never do, a child's carry no cOID) and the
        # target, ended before the session, is not listed: nothing owned it. Tracking now gives such an
        # execution to the one unlisted order of ours it fits (``trading/lifecycle/attribution.py``).
        None,
    ),
    "a-child-resized-beyond-what-ibflow-knew": (
        Scenario(
            28,
            Setup(participation=0.002, fix_children=False, protection_action="replace"),
            (
                Step("buy", (2, 20, 60, 300, None)),
                Step("buy", (1, 30, 60, 15, 240)),
                Step("crash", ("cancel.after_broker_call", "sell", (2,), 1440)),
            ),
        ),
        # Fixed: the parent filled on while ibflow was away and IBKR grew the target with it; a child's
        # room is what its parent filled, not our row's older quantity.
        None,
    ),
    "two-stops-filled-while-away": (
        Scenario(
            23,
            Setup(participation=0.1, fix_children=False, protection_action="replace"),
            (
                Step("buy", (1, 10, 120, 300, 5)),
                Step("watch"),
                Step("resume"),
                Step("advance", (1,)),
                Step("buy", (0, 20, 60, 40, 240)),
                Step("buy", (2, 0, 250, 80, 240)),
                Step("crash", ("exit.after_cancels_confirmed", "sell", (2,), 1440)),
            ),
        ),
        # Fixed (in the simulator): an order that ended showed the time the paper books were evaluated as
        # its last update, so each stop's window held both stops' executions and neither was named.
        None,
    ),
    "children-of-unknown-outcome-filled-and-forgotten": (
        Scenario(
            33,
            Setup(participation=0.01, fix_children=False, protection_action="close"),
            (
                Step("forget", (0,)),
                Step("crash", ("submit.after_broker_call", "buy", (0, 0, 60, 40, None), 240)),
                Step("buy", (2, 30, 60, 300, 30)),
                Step("crash", ("exit.after_cancels_confirmed", "flatten", (), 1440)),
            ),
        ),
        # Fixed: the sender crashed before IBKR's answer, so no broker id of the children was known; the
        # target's anonymous execution now goes to the one child of unknown outcome it fits.
        None,
    ),
    # Found exploring seeds 1-100 at 24 steps after the review fixes.
    "flatten-waiting-on-an-old-stop": (
        Scenario(
            30,
            Setup(participation=0.1, fix_children=False, protection_action="replace"),
            (
                Step("buy", (1, 30, 30, 15, 30)),
                Step("crash", ("exit.after_cancels_confirmed", "watch", (), 240)),
                Step("crash", ("submit.after_intent_commit", "buy", (0, -10, 250, 80, 30), 4320)),
                Step("buy", (1, 30, 250, 15, 240)),
                Step("flatten"),
            ),
        ),
        # Fixed: the flatten waited on the cancel of a stop that ended before the session (two graces) and
        # gave up; a flatten that must wait is now carried on by tracking (positions.exit_requested).
        None,
    ),
    "a-stop-filled-a-cent-above-its-price": (
        Scenario(
            91,
            Setup(participation=0.002, fix_children=False, protection_action="replace"),
            (Step("advance", (240,)), Step("buy", (0, 10, 15, 15, 30)), Step("advance", (720,))),
        ),
        # Fixed: a triggered stop sold over several fills, one a cent above its stop price; attribution
        # required "at or below" and left that fill unbooked. It now allows a little slippage.
        None,
    ),
    "stop-cancelled-outside-while-the-entry-buys": (
        Scenario(
            70,
            Setup(participation=0.002, fix_children=False, protection_action="close"),
            (Step("buy", (1, 0, 60, 40, None)), Step("outside", (862,)), Step("watch"), Step("watch")),
        ),
        # Fixed: with the entry still buying, the watchdog said nothing about held shares whose stop was
        # cancelled outside; it now reports protection.waiting at once.
        None,
    ),
}


def _known(key: int | str, reason: str | None) -> object:
    if reason is None:
        return key
    return pytest.param(key, marks=pytest.mark.xfail(strict=True, reason=reason))


@pytest.mark.parametrize("seed", [_known(seed, FOUND_DEFECTS.get(seed)) for seed in SEEDS])
def test_invariants_hold_over_http(seed: int, template: Path, worlds: Path) -> None:
    scenario = generate(seed, STEPS)
    failure = play(scenario.setup, scenario.steps, worlds, template, venue=http_venue)
    if failure is not None:
        text = report(scenario, failure, worlds, template, budget_s=SHRINK_BUDGET_S, venue=http_venue)
        pytest.fail(text, pytrace=False)


@pytest.mark.parametrize(
    "name", [_known(name, reason) for name, (_scenario, reason) in sorted(FOUND_SCENARIOS.items())]
)
def test_found_scenarios_over_http(name: str, template: Path, worlds: Path) -> None:
    scenario, _reason = FOUND_SCENARIOS[name]
    failure = play(scenario.setup, scenario.steps, worlds, template, venue=http_venue)
    if failure is not None:
        text = report(scenario, failure, worlds, template, budget_s=SHRINK_BUDGET_S, venue=http_venue)
        pytest.fail(text, pytrace=False)
