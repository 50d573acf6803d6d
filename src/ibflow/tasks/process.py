"""What a Celery process holds once: its container and its periodic jobs by name."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ibflow.bootstrap import Container
    from ibflow.workflow.runtime.service import PeriodicJob


@dataclass
class _Process:
    lock: threading.Lock = field(default_factory=threading.Lock)
    container: Container | None = None
    jobs: dict[str, PeriodicJob] | None = None
    in_flight: set[int] = field(default_factory=set)


_HELD = _Process()


def use(container: Container) -> None:
    """Make ``container`` this process's (the launchers build it before Celery starts)."""
    with _HELD.lock:
        _HELD.container, _HELD.jobs = container, None


def container() -> Container:
    """This process's container, built from the environment on first use."""
    with _HELD.lock:
        if _HELD.container is None:
            from ibflow import bootstrap

            _HELD.container = bootstrap.build()
        return _HELD.container


def jobs() -> dict[str, PeriodicJob]:
    """The periodic jobs of ARCHITECTURE §5 for every account, by name (built once per process)."""
    built = container()
    with _HELD.lock:
        if _HELD.jobs is None:
            _HELD.jobs = {job.name: job for job in built.periodic_jobs()}
        return _HELD.jobs


def start_running(execution_id: int) -> None:
    """Count ``execution_id`` in flight here (before it is claimed: every beat after the claim shows it)."""
    with _HELD.lock:
        _HELD.in_flight.add(execution_id)


def stop_running(execution_id: int) -> None:
    """Count ``execution_id`` no longer in flight here."""
    with _HELD.lock:
        _HELD.in_flight.discard(execution_id)


def running() -> list[int]:
    """The executions in flight in this process now (the heartbeat reports them)."""
    with _HELD.lock:
        return sorted(_HELD.in_flight)
