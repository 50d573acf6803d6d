"""Named crash points for crash tests: ``IBFLOW_FAULTPOINT=<name>`` kills the process there with SIGKILL.

The points mark the moments a crash is most dangerous on every order path: a send (after the intent is
committed, before the broker hears of it; after the broker answered, before the outcome is committed), a
cancel (after the broker took it, before ``cancel_pending`` is recorded), an exit (after its cancels were
confirmed, before the exit is written) and the watchdog (before a replacement stop is written). Tests prove
a restart ends with exactly one broker order and nothing oversold. Unset, a point costs one lookup.

The randomized simulation of the trading core crashes in-process instead: ``install_handler`` gives every
point a function to call (which raises), so a "crash" leaves exactly what was committed, as SIGKILL does.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

ENV = "IBFLOW_FAULTPOINT"
AFTER_INTENT_COMMIT = "submit.after_intent_commit"
AFTER_BROKER_CALL = "submit.after_broker_call"
CANCEL_AFTER_BROKER_CALL = "cancel.after_broker_call"
EXIT_AFTER_CANCELS = "exit.after_cancels_confirmed"
WATCHDOG_BEFORE_REPLACE = "watchdog.before_replace"

NOTIFY_AFTER_SEND = "notify.after_send"
"""A notification was sent and is not yet recorded sent: a restart sends it once more (not in ``ALL_POINTS``:
it guards no order)."""

QUESTION_PENDING = "ibkr.question_pending"
"""A broker question is being answered: the gateway holds the order until the reply (not in ``ALL_POINTS``:
the paper broker of the simulation never asks)."""

ALL_POINTS = (
    AFTER_INTENT_COMMIT,
    AFTER_BROKER_CALL,
    CANCEL_AFTER_BROKER_CALL,
    EXIT_AFTER_CANCELS,
    WATCHDOG_BEFORE_REPLACE,
)

_handler: Callable[[str], None] | None = None


def install_handler(handler: Callable[[str], None] | None) -> None:
    """Call ``handler(name)`` at every crash point from now on (``None`` removes it); simulations only."""
    global _handler  # noqa: PLW0603 - one process-wide hook, like the environment variable
    _handler = handler


def crash_point(name: str) -> None:
    """Kill this process on the spot (SIGKILL, no cleanup) when ``IBFLOW_FAULTPOINT`` names this point."""
    if _handler is not None:
        _handler(name)
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
