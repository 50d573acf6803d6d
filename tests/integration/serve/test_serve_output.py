"""``ibflow serve`` talks: what next at start, one line per event of interest, an honest stop message."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import pytest
from tests.ports import free_port

pytestmark = pytest.mark.integration

IBFLOW = [str(Path(sys.executable).parent / "ibflow")]


LONG_REASON = "lunch break: back after the FOMC minutes at 14:00; check open positions before resuming"


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "IBFLOW_DATA_DIR": str(tmp_path / "var"),
        "IBFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'var' / 'ibflow.db'}",
        "IBFLOW_DISPATCH_INTERVAL_SECONDS": "0.5",
        "IBFLOW_HTTP_PORT": str(free_port()),
        "COLUMNS": "80",  # a narrow terminal: a long line must still be one line
    }


def _ibflow(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([*IBFLOW, *args], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _run_now(env: dict[str, str], strategy: str) -> None:
    """Run a strategy by hand; the scheduler may be running it this very moment, then try again."""
    for _ in range(20):
        done = subprocess.run(
            [*IBFLOW, "run", strategy], env=env, capture_output=True, text=True, timeout=120, check=False
        )
        if done.returncode == 0:
            return
        assert "running now" in done.stderr, done.stdout + done.stderr
        time.sleep(0.5)
    raise AssertionError(f"{strategy} never finished its scheduled run")


def _wait_for(path: Path, text: str, timeout_s: float = 60) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        seen = path.read_text()
        if text in seen:
            return seen
        time.sleep(0.2)
    raise AssertionError(f"{text!r} never printed; got:\n{path.read_text()}")


def test_serve_prints_what_next_then_a_line_per_event_and_stops_honestly(tmp_path: Path) -> None:
    env = _env(tmp_path)
    _ibflow(env, "migrate")
    _ibflow(env, "demo")
    out, errors = tmp_path / "out.txt", tmp_path / "err.txt"
    with out.open("w") as stdout, errors.open("w") as stderr:
        serving = subprocess.Popen([*IBFLOW, "serve"], env=env, stdout=stdout, stderr=stderr)
        try:
            _wait_for(out, "events of interest follow")
            health = httpx2.get(f"http://127.0.0.1:{env['IBFLOW_HTTP_PORT']}/healthz", timeout=10)
            assert health.json() == {"status": "ok"}  # the API answers beside the scheduler
            _run_now(env, "demo-jpm-bands")
            _ibflow(env, "trading", "halt", "--reason", LONG_REASON, "--actor", "alice")
            _wait_for(out, "HALTED by alice")
        finally:
            serving.send_signal(signal.SIGINT)
            serving.wait(timeout=90)
    text = out.read_text()
    assert f"database sqlite:///{tmp_path / 'var' / 'ibflow.db'}" in text
    assert f"charts in {tmp_path / 'var' / 'charts'}" in text
    assert f"web:  http://127.0.0.1:{env['IBFLOW_HTTP_PORT']}/ (the web app" in text
    for command in ("`ibflow status`", "`ibflow show ID`", "Ctrl-C"):
        assert command in text
    runs = [line for line in text.splitlines() if " run " in line and "demo-jpm-bands:" in line]
    assert runs, text
    assert runs[0].rstrip().endswith("s")  # "... in 1.2s": the duration closes the line
    assert any(" order " in line and "JPM entry BUY" in line for line in text.splitlines()), text
    assert not any("-> submitting" in line for line in text.splitlines())  # an order's first blinks are quiet
    halted = next(line for line in text.splitlines() if "HALTED by alice" in line)
    assert halted.endswith(LONG_REASON)  # longer than the terminal, and still one whole line
    # Nothing hard-wrapped at 80 columns: every line is a header line or an event that starts with its time.
    headers = ("ibflow serving", "data:", "web:", "look:", "      `", "act:", "stop:", "events of", "stopped")
    events = [line for line in text.splitlines() if not line.startswith(headers)]
    for line in events:
        assert time.strptime(line[:8], "%H:%M:%S"), line
    assert "stopped cleanly: no execution left running" in text
    assert serving.returncode == 0
    assert "Traceback" not in errors.read_text()
