"""A notification target on this machine: a threaded HTTP server on a free loopback port, for apprise's
``json://`` URLs. It keeps every message it receives and answers with the status a test sets; ``hold`` makes
it wait (a slow target) until released."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.ports import free_port


@dataclass
class Received:
    """One request the receiver got: its path and JSON body."""

    path: str
    body: dict[str, Any]


@dataclass
class Receiver:
    """The server's state: what it got, what it answers, whether it holds requests."""

    port: int
    status: int = 200
    messages: list[Received] = field(default_factory=list)
    released: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str = "", user: str = "") -> str:
        """An apprise URL to this receiver (``user`` as ``name:password@`` puts a secret in it)."""
        credentials = f"{user}@" if user else ""
        return f"json://{credentials}127.0.0.1:{self.port}/{path}"

    def bodies(self, path: str) -> list[str]:
        """The first line of each message body that reached ``path``, in order."""
        with self.lock:
            found = [m.body.get("message", "") for m in self.messages if m.path.strip("/") == path]
        return [str(body).split("\n", 1)[0] for body in found]

    def count(self) -> int:
        """How many requests came (answered or not)."""
        with self.lock:
            return len(self.messages)


@contextmanager
def receiver(status: int = 200, *, hold: bool = False) -> Iterator[Receiver]:
    """Serve on a free port until the block ends."""
    state = Receiver(port=free_port(), status=status)
    if not hold:
        state.released.set()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            with state.lock:
                state.messages.append(Received(self.path, json.loads(raw or b"{}")))
            state.released.wait(timeout=60)
            self.send_response(state.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            del format, args

    server = ThreadingHTTPServer(("127.0.0.1", state.port), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.released.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
