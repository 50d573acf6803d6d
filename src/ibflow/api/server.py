"""uvicorn serving the API and pages, beside the scheduler (``ibflow serve``) or alone (``ibflow web``)."""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Callable

import uvicorn
from fastapi import FastAPI

from ibflow import bootstrap
from ibflow.api.app import create_app
from ibflow.core.ids import ExecutionId, StrategyId


def exposed_warning(host: str) -> str | None:
    """Say what binding ``host`` risks when it is not loopback (ibflow itself serves no TLS)."""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if loopback:
        return None
    return (
        f"warning: serving on {host}, not loopback, without TLS: logins, session cookies and trading "
        "controls cross the network in clear text; put a TLS-terminating proxy in front or bind 127.0.0.1"
    )


class ApiServer:
    """uvicorn serving the API app on ``host:port`` in a background thread."""

    def __init__(
        self,
        container: bootstrap.Container,
        *,
        host: str,
        port: int,
        scheduler_alive: Callable[[], bool] | None = None,
        run_now: Callable[[StrategyId], ExecutionId] | None = None,
        site: Callable[[FastAPI], None] | None = None,
    ) -> None:
        self.host, self.port = host, port
        app = create_app(container, scheduler_alive=scheduler_alive, run_now=run_now)
        if site is not None:  # the web pages (ibflow.web.site.mount_site), served beside the API
            site(app)
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            proxy_headers=bool(container.settings.api.http_trusted_proxies),
            forwarded_allow_ips=container.settings.api.http_trusted_proxies or None,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="api", daemon=True)

    @property
    def url(self) -> str:
        """The address a browser or script uses."""
        shown = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{shown}:{self.port}"

    def start(self, timeout: float = 15.0) -> None:
        """Start serving; raise ``OSError`` when the port cannot be bound."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise OSError(f"cannot serve the API on {self.host}:{self.port} (is the port in use?)")
            if time.monotonic() > deadline:
                raise OSError(f"the API did not start on {self.host}:{self.port} within {timeout:.0f}s")
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop serving (requests under way finish first)."""
        self._server.should_exit = True
        self._thread.join(timeout=15)

    def run(self) -> None:
        """Serve in this thread until Ctrl-C / SIGTERM (``ibflow web``)."""
        self._server.run()
