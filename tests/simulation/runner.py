"""Play scenarios from fresh worlds, and shrink a failing one to the shortest step list that still fails.

``play`` runs the steps and the closing ``settle`` + ``flatten`` in a world of its own (a copy of the
migrated template), and returns the failure — the invariant broken, or an exception a service raised —
with the index of the step where it happened. ``shrink`` is delta debugging (Zeller's ddmin) over the step
list: every candidate is replayed from a fresh world, and a candidate counts as failing only when it breaks
the same invariant, so the minimal list shows the defect that was found, not another one. ``venue`` says
where the orders go (``harness.paper_venue`` by default).
"""

from __future__ import annotations

import itertools
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.simulation.harness import Run, VenueFactory, Violation, paper_venue
from tests.simulation.scenario import Scenario, Setup, Step

_COUNTER = itertools.count()


@dataclass(frozen=True)
class Failure:
    """What broke, where (a step index; ``len(steps)`` for the closing checks), and the message."""

    name: str
    at: int
    message: str


@dataclass
class Totals:
    """Scenarios and steps played, for the closing note."""

    scenarios: int = 0
    steps: int = 0
    seconds: float = 0.0
    entries_sent: int = 0
    crashes: int = 0
    fills: int = 0

    def line(self) -> str:
        """Return the totals as one line."""
        return (
            f"{self.scenarios} scenarios, {self.steps} steps in {self.seconds:.1f}s "
            f"({self.entries_sent} entries sent, {self.fills} broker fills, {self.crashes} crashes)"
        )


TOTALS = Totals()


def play(
    setup: Setup,
    steps: Sequence[Step],
    folder: Path,
    template: Path,
    *,
    venue: VenueFactory = paper_venue,
) -> Failure | None:
    """Play ``steps`` then the closing checks in a fresh world; return the first failure, if any."""
    started = time.monotonic()
    run = Run(setup, folder / f"world-{next(_COUNTER)}.db", template, venue=venue)
    index = 0
    try:
        for index, step in enumerate(steps):  # noqa: B007 - the index names the failing step
            run.play(step)
            TOTALS.steps += 1
        index = len(steps)
        run.finish()
    except Violation as exc:
        return Failure(exc.name, index, str(exc))
    except Exception as exc:  # a service raising is a finding too
        detail = "".join(traceback.format_exception(exc))
        return Failure(f"raised {type(exc).__name__}", index, detail)
    finally:
        TOTALS.entries_sent += len(run.broker.entries)
        TOTALS.crashes += run.crashes
        TOTALS.fills += run.broker_fills()
        run.close()
        TOTALS.scenarios += 1
        TOTALS.seconds += time.monotonic() - started
    return None


def shrink(
    scenario: Scenario,
    failure: Failure,
    folder: Path,
    template: Path,
    *,
    budget_s: float = 120.0,
    venue: VenueFactory = paper_venue,
) -> tuple[tuple[Step, ...], Failure]:
    """Return the shortest step list found (ddmin) that fails with the same invariant, and its failure."""
    deadline = time.monotonic() + budget_s
    steps = list(scenario.steps[: failure.at + 1])
    best = failure

    def fails(candidate: list[Step]) -> Failure | None:
        found = play(scenario.setup, candidate, folder, template, venue=venue)
        return found if found is not None and found.name == failure.name else None

    granularity = 2
    while len(steps) >= 2 and time.monotonic() < deadline:
        chunk = max(1, len(steps) // granularity)
        parts = [steps[i : i + chunk] for i in range(0, len(steps), chunk)]
        reduced = False
        for i in range(len(parts)):
            if time.monotonic() >= deadline:
                break
            for candidate in (parts[i], [s for j, part in enumerate(parts) if j != i for s in part]):
                if not candidate or len(candidate) >= len(steps):
                    continue
                found = fails(candidate)
                if found is not None:
                    steps, best, reduced = candidate, found, True
                    break
            if reduced:
                break
        if reduced:
            granularity = max(granularity - 1, 2)
            steps = steps[: best.at + 1] if best.at < len(steps) else steps
        elif chunk == 1:
            break
        else:
            granularity = min(granularity * 2, len(steps))
    return tuple(steps), best


def report(
    scenario: Scenario,
    failure: Failure,
    folder: Path,
    template: Path,
    *,
    budget_s: float = 120.0,
    venue: VenueFactory = paper_venue,
) -> str:
    """Shrink a failing scenario and return the text a failed test prints."""
    minimal, shrunk = shrink(scenario, failure, folder, template, budget_s=budget_s, venue=venue)
    return (
        f"seed {scenario.seed} broke {failure.name} at step {failure.at} of {len(scenario.steps)}\n"
        f"{failure.message}\n\n"
        f"shortest scenario found ({len(minimal)} steps, then the closing settle + flatten):\n"
        f"{scenario.describe(minimal)}\n\n"
        f"it fails with: {shrunk.message}"
    )
