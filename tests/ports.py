"""A free loopback port for a server a test starts (``ibflow serve`` binds the API)."""

from __future__ import annotations

import socket


def free_port() -> int:
    """Return a TCP port free on 127.0.0.1 now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
