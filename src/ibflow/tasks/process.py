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
