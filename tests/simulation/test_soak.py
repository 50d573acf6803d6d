"""Soak the trading core: fresh random seeds until ``IBFLOW_SOAK_SECONDS`` have passed (skipped without it).

``IBFLOW_SOAK_SECONDS=600 pytest -s tests/simulation/test_soak.py`` plays scenarios of random length from
seeds drawn at random, prints each seed as it goes and the totals at the end; the first failure is shrunk
and reported with its seed, to be added to ``test_fixed_seeds.FOUND_DEFECTS``.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest
from tests.simulation.runner import TOTALS, play, report
from tests.simulation.scenario import generate

SOAK_ENV = "IBFLOW_SOAK_SECONDS"


def test_soak(template: Path, worlds: Path) -> None:
    budget = os.environ.get(SOAK_ENV)
    if not budget:
        pytest.skip(f"set {SOAK_ENV}=<seconds> to soak the trading core with fresh random seeds")
    deadline = time.monotonic() + float(budget)
    seeds = random.SystemRandom()
    scenarios, steps = 0, 0
    while time.monotonic() < deadline:
        seed = seeds.randrange(10**9)
        scenario = generate(seed, seeds.randrange(20, 80))
        failure = play(scenario.setup, scenario.steps, worlds, template)
        scenarios, steps = scenarios + 1, steps + len(scenario.steps)
        print(f"seed {seed}: {len(scenario.steps)} steps, {'FAILED' if failure else 'ok'}")
        if failure is not None:
            pytest.fail(report(scenario, failure, worlds, template), pytrace=False)
    print(f"soak: {scenarios} scenarios, {steps} steps; all: {TOTALS.line()}")
