"""``ibflow gateway-sim`` as a user starts it: a subprocess on a free port, its own database, HTTP or TLS."""

from __future__ import annotations

import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import pytest

from ibflow.brokers.ibkr.simulator.server import free_port

pytestmark = pytest.mark.integration

IBFLOW = str(Path(sys.executable).with_name("ibflow"))


def _serve(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    env = {**os.environ, "IBFLOW_DATA_DIR": str(tmp_path / "var")}
    env.pop("IBFLOW_DATABASE_URL", None)
    process = subprocess.Popen(
        [IBFLOW, "gateway-sim", "--port", str(port), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return process, port


def _wait(url: str, *, verify: bool = True) -> httpx2.Response:
    deadline = time.monotonic() + 60
    while True:
        try:
            return httpx2.post(url, verify=verify, timeout=5)
        except httpx2.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=30)
    assert "Traceback" not in err
    return out


def test_gateway_sim_serves_its_own_paper_account_and_stops_on_sigterm(tmp_path: Path) -> None:
    process, port = _serve(tmp_path, "--account", "DU7654321")
    try:
        tickle = _wait(f"http://127.0.0.1:{port}/v1/api/tickle")
        assert tickle.status_code == 200
        assert tickle.json()["iserver"]["authStatus"]["authenticated"] is True
        accounts = httpx2.get(f"http://127.0.0.1:{port}/v1/api/iserver/accounts").json()
        assert accounts["accounts"] == ["DU7654321"]
    finally:
        out = _stop(process)
    assert process.returncode == 0
    assert f"http://127.0.0.1:{port}/v1/api" in out
    assert "IBFLOW_IBKR_BASE_URL" in out
    assert "gateway simulator stopped" in out
    assert (tmp_path / "var" / "gateway-sim.db").is_file()  # its own books, never the default ibflow.db
    assert not (tmp_path / "var" / "ibflow.db").exists()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="--tls makes its certificate with openssl")
def test_gateway_sim_tls_serves_https_with_a_self_signed_certificate(tmp_path: Path) -> None:
    process, port = _serve(tmp_path, "--tls")
    try:
        answer = _wait(f"https://127.0.0.1:{port}/v1/api/tickle", verify=False)
        assert answer.status_code == 200
        with pytest.raises(httpx2.ConnectError):  # self-signed: refused by a verifying client
            httpx2.post(f"https://127.0.0.1:{port}/v1/api/iserver/auth/status", timeout=5)
        certificate = tmp_path / "var" / "gateway-sim.crt"
        trusting = ssl.create_default_context(cafile=str(certificate))
        trusted = httpx2.post(
            f"https://localhost:{port}/v1/api/iserver/auth/status", verify=trusting, timeout=5
        )
        assert trusted.status_code == 200
    finally:
        _stop(process)


def test_bad_options_are_one_line_each_and_serve_nothing(tmp_path: Path) -> None:
    done = subprocess.run(
        [IBFLOW, "gateway-sim", "--account", "U1234567", "--questions", "o163,o999"],
        env={**os.environ, "IBFLOW_DATA_DIR": str(tmp_path / "var")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert lines[0] == "error: invalid gateway simulator options"
    assert any(line.strip().startswith("account: a paper account id is DU") for line in lines)
    assert any("unknown message ids ['o999']" in line for line in lines)
    assert "Traceback" not in done.stderr


def test_fault_flags_apply_from_the_start(tmp_path: Path) -> None:
    process, port = _serve(tmp_path, "--logged-out", "--fail-calls", "1")
    base = f"http://127.0.0.1:{port}"
    try:
        assert _wait(f"{base}/v1/api/iserver/auth/status").status_code == 500  # the one forced error
        assert httpx2.post(f"{base}/v1/api/iserver/auth/status").status_code == 401  # nobody logged in
        assert httpx2.post(f"{base}/sim/login").json()["session"] == "authenticated"
        assert httpx2.post(f"{base}/v1/api/iserver/auth/status").json()["authenticated"] is True
    finally:
        _stop(process)
