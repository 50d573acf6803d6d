"""docs/api.md's curl walk-through, run as written with bash against ``ibflow serve`` on a free port."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import pytest
from tests.ports import free_port

pytestmark = pytest.mark.integration
DOC = Path(__file__).resolve().parents[3] / "docs" / "api.md"
BIN = Path(sys.executable).parent


def _walkthrough() -> str:
    section = DOC.read_text(encoding="utf-8").split("## A walk-through with curl", 1)[1]
    found = re.search(r"```sh\n(.*?)```", section, re.S)
    assert found, "docs/api.md has no sh block in its walk-through"
    return found.group(1)


def test_the_walk_through_runs_as_written(tmp_path: Path) -> None:
    port = str(free_port())
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("IBFLOW_")},
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "IBFLOW_DATA_DIR": str(tmp_path / "var"),
        "IBFLOW_HTTP_PORT": port,
        "COLUMNS": "200",
    }
    for step in (["migrate"], ["demo"]):
        subprocess.run([str(BIN / "ibflow"), *step], env=env, cwd=tmp_path, check=True, capture_output=True)
    serve = subprocess.Popen(
        [str(BIN / "ibflow"), "serve"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx2.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx2.HTTPError:
                time.sleep(0.2)
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", _walkthrough()],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.communicate(timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert "trader" in lines  # the cookie login answered the role
    assert "Microsoft Corp" in lines  # the symbol search's first match
    assert any(re.fullmatch(r"strategy \d+", line) for line in lines)
    assert "'action'" in done.stdout  # the decide_signal step's output: the analyst's signal
    assert any(line.startswith("event: ") for line in lines)
