"""What ``ibflow serve`` tells a person: what next at start, one line per event of interest, an honest stop.

Events come from the outbox through the shared reader (consumer ``serve``), so the lines are the same facts
the event stream and notifications see. Lines never hard-wrap: a long reason stays one line, and the terminal
wraps it (or a log file keeps it whole).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from ibflow.core.clock import Clock
from ibflow.db.engine import SessionFactory
from ibflow.db.events.catalogue import CATALOGUE, Interest
from ibflow.db.events.reader import EventView, OutboxReader, latest_event_id
from ibflow.db.models.system import EventCursor

CONSUMER = "serve"
_QUIET_ORDER_STATES = frozenset({"intent", "submitting"})  # every order passes through them in a blink
_STYLE = {"error": "bold red", "warning": "yellow"}
_SHORT = {
    "execution.finished": "run",
    "order.state_changed": "order",
    "fill.applied": "fill",
    "trade.closed": "exit",
    "trading.state_changed": "trading",
    "risk.blocked": "risk",
    "broker.session_changed": "broker",
}


def what_next(console: Console, *, database: str, charts: Path, url: str | None = None) -> None:
    """Print where the data lives, the commands to look at it, and how to stop."""
    lines = [
        f"data: database {database}, charts in {charts}",
        *([f"web:  {url}"] if url else []),
        "look: `ibflow status` (state, account, positions, orders, next runs), `ibflow executions`,",
        "      `ibflow show ID` (one run step by step), `ibflow positions`, `ibflow orders`, `ibflow trades`",
        "act:  `ibflow trading halt` stops new entries, `ibflow trading flatten` closes everything",
        "stop: Ctrl-C (or SIGTERM) finishes running executions, then exits",
        "events of interest follow, one line each:",
    ]
    for line in lines:
        console.print(escape(line), soft_wrap=True, highlight=False)


def worth_a_line(event: EventView) -> bool:
    """Tell whether ``serve`` prints an event: headline kinds, without an order's first two blinks."""
    spec = CATALOGUE.get(event.kind)
    if spec is None or spec.interest is not Interest.HEADLINE:
        return False
    return not (event.kind == "order.state_changed" and event.payload.get("to") in _QUIET_ORDER_STATES)


def event_line(event: EventView) -> Text:
    """One line for an event: time (UTC), a short kind, the event's own message."""
    label = _SHORT.get(event.kind, event.kind)
    style = _STYLE.get(event.severity, "")
    if event.kind == "execution.finished" and event.payload.get("outcome") == "ordered":
        style = "green"
    return Text.assemble(
        (event.created_at.strftime("%H:%M:%S"), "dim"),
        " ",
        (f"{label:<8}", "bold"),
        " ",
        (event.message, style),
    )


class EventPrinter:
    """Prints new events of interest on a background thread until stopped."""

    def __init__(
        self,
        sessions: SessionFactory,
        console: Console,
        *,
        clock: Clock,
        poll_s: float = 1.0,
        on_error: Callable[[Exception], object] | None = None,
    ) -> None:
        self._reader = OutboxReader(sessions, CONSUMER, clock=clock)
        self._sessions = sessions
        self._console = console
        self._poll_s = poll_s
        self._stop = threading.Event()
        self._on_error = on_error
        self._thread = threading.Thread(target=self._loop, name="serve-events", daemon=True)

    def start(self) -> None:
        """Skip what happened before this start, then print from here on."""
        with self._sessions() as session:
            latest = latest_event_id(session)
            cursor = session.get(EventCursor, CONSUMER)
            if cursor is not None and cursor.last_event_id > latest:  # the outbox was emptied
                cursor.last_event_id = latest
                session.commit()
        self._reader.ack(latest)
        self._thread.start()

    def stop(self) -> None:
        """Print what is left, then end the thread."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self.drain()

    def drain(self) -> int:
        """Print every new event of interest now; return how many lines were printed."""
        printed = 0
        while True:
            events, upto = self._reader.fetch()
            for event in events:
                if worth_a_line(event):
                    self._console.print(event_line(event), soft_wrap=True, highlight=False)
                    printed += 1
            if upto == self._reader.position():
                return printed
            self._reader.ack(upto)

    def _loop(self) -> None:
        while not self._stop.wait(self._poll_s):
            try:
                self.drain()
            except Exception as exc:  # printing must never stop the service
                if self._on_error is not None:
                    self._on_error(exc)


def stop_summary(sessions: SessionFactory) -> tuple[int, int]:
    """Count the executions left running and left queued (the next start sorts both out)."""
    from sqlalchemy import func, select

    from ibflow.db.models.executions import StrategyExecution
    from ibflow.db.states import ExecutionStatus

    with sessions() as session:
        counts: dict[Any, int] = dict(
            session.execute(
                select(StrategyExecution.status, func.count())
                .where(StrategyExecution.status.in_((ExecutionStatus.RUNNING, ExecutionStatus.QUEUED)))
                .group_by(StrategyExecution.status)
            ).all()
        )
    return counts.get(ExecutionStatus.RUNNING, 0), counts.get(ExecutionStatus.QUEUED, 0)
