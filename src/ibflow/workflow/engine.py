"""Run a list of named steps for one execution, recording every step's lineage.

Each step gets a fresh session and the engine commits it when the step returns, so a step's work is
committed once, on its own; lineage is written afterwards in a transaction of its own, so a failure to
record never loses the step's result. A step may end the run normally (a HOLD, a NO_SIGNAL, a risk block):
the remaining steps are then recorded ``skipped`` with that reason. A step that raises is recorded
``failed`` with the error and traceback, the rest ``skipped``, and the execution ends ``failed``.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy.orm import Session

from ibflow.core.clock import Clock
from ibflow.core.ids import ExecutionId
from ibflow.core.metrics import instruments
from ibflow.db.engine import SessionFactory
from ibflow.db.states import StepStatus
from ibflow.workflow.lineage import StepRecord, record_step

log = logging.getLogger(__name__)

StateT = TypeVar("StateT")


@dataclass
class StepResult:
    """What a step hands back: its input and output for lineage, and whether the run goes on."""

    input: Any = None
    output: Any = None
    stop_reason: str | None = None
    skipped_reason: str | None = None


@dataclass(frozen=True)
class StepContext(Generic[StateT]):
    """What a step works with: the run's state, a session the engine commits, and the session factory."""

    execution_id: ExecutionId
    state: StateT
    session: Session
    sessions: SessionFactory


@dataclass(frozen=True)
class Step(Generic[StateT]):
    """A named step of the workflow."""

    name: str
    run: Callable[[StepContext[StateT]], StepResult]


@dataclass
class RunOutcome:
    """How the run ended."""

    failed_step: str | None = None
    error: str | None = None
    stop_reason: str | None = None
    records: list[StepRecord] = field(default_factory=list)


SKIP_AFTER_FAILURE = "skipped: an earlier step failed"


def run_steps(
    steps: Sequence[Step[StateT]],
    *,
    execution_id: ExecutionId,
    state: StateT,
    sessions: SessionFactory,
    clock: Clock,
    first_index: int = 1,
) -> RunOutcome:
    """Run ``steps`` in order for ``execution_id``; every step gets exactly one lineage row."""
    outcome = RunOutcome()
    for offset, step in enumerate(steps):
        index = first_index + offset
        if outcome.failed_step is not None or outcome.stop_reason is not None:
            reason = SKIP_AFTER_FAILURE if outcome.failed_step else f"skipped: {outcome.stop_reason}"
            log.debug("execution %s step %s %s", execution_id, step.name, reason)
            _record(sessions, execution_id, outcome, _skipped(index, step.name, clock, reason))
            continue
        record = _run_one(
            index,
            step,
            execution_id=execution_id,
            state=state,
            sessions=sessions,
            clock=clock,
            outcome=outcome,
        )
        _record(sessions, execution_id, outcome, record)
    return outcome


def _run_one(
    index: int,
    step: Step[StateT],
    *,
    execution_id: ExecutionId,
    state: StateT,
    sessions: SessionFactory,
    clock: Clock,
    outcome: RunOutcome,
) -> StepRecord:
    started_at = clock.now()
    began = time.perf_counter()
    try:
        with sessions() as session:
            result = step.run(StepContext(execution_id, state, session, sessions))
            session.commit()
    except Exception as exc:
        outcome.failed_step = step.name
        outcome.error = f"{step.name}: {type(exc).__name__}: {exc}"
        log.warning("execution %s step %s failed: %s", execution_id, step.name, exc)
        return StepRecord(
            step_index=index,
            step_name=step.name,
            status=StepStatus.FAILED,
            started_at=started_at,
            duration_ms=_ms_since(began),
            input=getattr(exc, "step_input", None),
            error=f"{type(exc).__name__}: {exc}",
            traceback=traceback.format_exc(),
        )
    if result.stop_reason is not None:
        outcome.stop_reason = result.stop_reason
    status = StepStatus.SKIPPED if result.skipped_reason else StepStatus.SUCCEEDED
    log.debug("execution %s step %s %s in %d ms", execution_id, step.name, status.value, _ms_since(began))
    output = result.output
    if result.skipped_reason:
        output = {"reason": result.skipped_reason, **(output if isinstance(output, dict) else {})}
    return StepRecord(index, step.name, status, started_at, _ms_since(began), result.input, output)


def _skipped(index: int, name: str, clock: Clock, reason: str) -> StepRecord:
    return StepRecord(index, name, StepStatus.SKIPPED, clock.now(), 0, None, {"reason": reason})


def _record(
    sessions: SessionFactory, execution_id: ExecutionId, outcome: RunOutcome, record: StepRecord
) -> None:
    outcome.records.append(record)
    record_step(sessions, execution_id, record)
    try:  # a metric that cannot be counted never ends an execution or costs a later step its lineage
        instruments().step_seconds.labels(record.step_name, record.status.value).observe(
            record.duration_ms / 1000
        )
    except Exception:
        log.warning("could not count step %s of execution %s", record.step_name, execution_id, exc_info=True)


def _ms_since(began: float) -> int:
    return round((time.perf_counter() - began) * 1000)
