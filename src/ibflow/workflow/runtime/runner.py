"""The runner interface and the inline runner: executions on a small pool of worker threads.

The Celery runner of the production runtime implements the same ``Runner`` interface in ``tasks/``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol

from ibflow.core.ids import ExecutionId

log = logging.getLogger(__name__)


class Runner(Protocol):
    """Runs queued executions somewhere."""

    def submit(self, execution_id: ExecutionId) -> None:
        """Start ``execution_id`` (queued) soon; never run the same execution twice at once."""
        ...


class InlineRunner:
    """Run executions on worker threads inside this process."""

    def __init__(self, execute: Callable[[ExecutionId], object], workers: int = 2) -> None:
        self._execute = execute
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ibflow-exec")
        self._in_flight: dict[ExecutionId, Future[object]] = {}
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, execution_id: ExecutionId) -> None:
        """Queue ``execution_id`` on the pool unless it is already in flight here."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the runner is shutting down")
            if execution_id in self._in_flight:
                return
            future = self._pool.submit(self._run, execution_id)
            self._in_flight[execution_id] = future

    def _run(self, execution_id: ExecutionId) -> object:
        try:
            return self._execute(execution_id)
        except Exception:
            log.exception("execution %s crashed outside its steps", execution_id)
            return None
        finally:
            with self._lock:
                self._in_flight.pop(execution_id, None)

    @property
    def in_flight(self) -> int:
        """Number of executions submitted and not finished."""
        with self._lock:
            return len(self._in_flight)

    def shutdown(self, timeout_s: float = 60.0) -> bool:
        """Take no more work, drop what has not started (it stays queued), wait for the running ones.

        Return True when every started execution ended within ``timeout_s``.
        """
        with self._lock:
            self._closed = True
            futures = [f for f in self._in_flight.values() if not f.cancel()]
        deadline = time.monotonic() + timeout_s
        for future in futures:
            try:
                future.result(timeout=max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                return False
        self._pool.shutdown(wait=True, cancel_futures=True)
        return True
