"""Run a simulator: its own database (migrated on start), the app, and uvicorn on a host and port.

``build_simulator`` makes the state (tests use it with a temporary database); ``serve`` blocks until
Ctrl-C / SIGTERM; ``Running`` starts one in a thread on a free port (tests and ``ibflow`` demos).
"""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from ibflow.brokers.ibkr.simulator.app import create_app
from ibflow.brokers.ibkr.simulator.config import SimulatorConfig
from ibflow.brokers.ibkr.simulator.gateway import GatewaySimulator
from ibflow.core.errors import ValidationError
from ibflow.db import migrate
from ibflow.db.engine import make_engine, session_factory


def build_simulator(config: SimulatorConfig, database_url: str) -> GatewaySimulator:
    """Migrate the simulator's own database and return a simulator on it."""
    migrate.upgrade(database_url)
    return GatewaySimulator(config, session_factory(make_engine(database_url)))


@dataclass(frozen=True)
class Tls:
    """The certificate and key uvicorn serves HTTPS with."""

    certfile: Path
    keyfile: Path


def self_signed(folder: Path) -> Tls:
    """Make (once) a self-signed certificate for ``localhost`` in ``folder``, as the real gateway has."""
    folder.mkdir(parents=True, exist_ok=True)
    tls = Tls(folder / "gateway-sim.crt", folder / "gateway-sim.key")
    if tls.certfile.is_file() and tls.keyfile.is_file():
        return tls
    command = [
        "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "365",
        "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        "-keyout", str(tls.keyfile), "-out", str(tls.certfile),
    ]  # fmt: skip
    try:
        subprocess.run(command, check=True, capture_output=True, timeout=60)  # noqa: S603 - fixed argv
    except (OSError, subprocess.SubprocessError) as exc:
        problem = "--tls needs the openssl command to make a certificate, or give --certfile and --keyfile"
        raise ValidationError(problem, {"--tls": problem}) from exc
    return tls


def server(sim: GatewaySimulator, host: str, port: int, tls: Tls | None = None) -> uvicorn.Server:
    """Return a uvicorn server for ``sim`` (not started)."""
    config = uvicorn.Config(
        create_app(sim),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        ssl_certfile=str(tls.certfile) if tls else None,
        ssl_keyfile=str(tls.keyfile) if tls else None,
    )
    return uvicorn.Server(config)


def free_port() -> int:
    """Return a TCP port free on the loopback interface now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Running:
    """A simulator served on a loopback port in a background thread; ``stop`` ends it."""

    def __init__(self, sim: GatewaySimulator, *, port: int | None = None, tls: Tls | None = None) -> None:
        self.sim = sim
        self.port = port or free_port()
        scheme = "https" if tls else "http"
        self.base_url = f"{scheme}://127.0.0.1:{self.port}/v1/api"
        self.root_url = f"{scheme}://127.0.0.1:{self.port}"
        self._server = server(sim, "127.0.0.1", self.port, tls)
        self._thread = threading.Thread(target=self._server.run, name="gateway-sim", daemon=True)

    def start(self, timeout: float = 10.0) -> Running:
        """Start serving; return once the port answers."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"the gateway simulator did not start on port {self.port}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        self._server.should_exit = True
        self._thread.join(timeout=10)
