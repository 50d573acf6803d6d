"""Named crash points for crash tests: ``IBFLOW_FAULTPOINT=<name>`` kills the process there with SIGKILL.

Order submission marks the two moments a crash is most dangerous (after the intent is committed, before
the broker hears of it; after the broker answered, before the outcome is committed), so tests can prove a
restart ends with exactly one broker order. Unset, a point costs one environment lookup.
"""

from __future__ import annotations

import os
import signal

ENV = "IBFLOW_FAULTPOINT"
AFTER_INTENT_COMMIT = "submit.after_intent_commit"
AFTER_BROKER_CALL = "submit.after_broker_call"


def crash_point(name: str) -> None:
    """Kill this process on the spot (SIGKILL, no cleanup) when ``IBFLOW_FAULTPOINT`` names this point."""
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
