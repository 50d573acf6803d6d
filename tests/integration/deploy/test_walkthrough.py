"""docs/deployment.md's walkthrough, run as written: ``ibflow migrate``, ``ibflow web``, two workers and the
beat as processes on PostgreSQL and Redis, then a strategy run by the workers and read through the API.

The blocks come from the document itself (between its ``walkthrough:begin`` and ``walkthrough:end`` markers),
so the page and this test cannot drift. The services block is what a reader starts by hand; here private ones
stand in for it (an empty PostgreSQL database, a redis-server with a password on a free port, moto for S3),
and the environment block is followed by overrides that point at them. Every secret setting gets a distinctive
value and the logs run as JSON at DEBUG: no process's log and no row of the database may hold any secret.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from tests.conftest import require_service
from tests.ports import free_port, reachable

from ibflow.core import settings_doc

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[3]
DEPLOYMENT_MD = ROOT / "docs" / "deployment.md"
BUDGET_S = 60.0

CHART_STORES = ["local", "s3"]
"""The chart stores the walkthrough runs with; its text configures ``s3`` (moto standing in for MinIO)."""

SECRETS = {
    "IBFLOW_OPENAI_API_KEY": "sk-walkthrough-OPENAI-5c1d7e9a",
    "IBFLOW_ANTHROPIC_API_KEY": "sk-ant-walkthrough-ANTHROPIC-3b8f0a2c",
    "IBFLOW_METRICS_TOKEN": "walkthrough-METRICS-token-6e1a",
    "ADMIN_PASSWORD": "walkthrough-ADMIN-pass-9e4d1f",
}
DB_PASSWORD = "walkthrough-DB-pass-7a2c"  # test values, looked for in the logs
REDIS_PASSWORD = "walkthrough-REDIS-pass-4f6b"
S3_SECRET = "walkthrough-S3-secret-8d3e"


# --- the document ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    """One ``sh`` block of the walkthrough: ``services``, ``environment``, ``processes`` or ``script``."""

    kind: str
    text: str


def walkthrough(markdown: str) -> list[Block]:
    """Return the walkthrough's shell blocks in order, each with the kind its marker gives (else script)."""
    section = markdown.split("<!-- walkthrough:begin -->", 1)[1].split("<!-- walkthrough:end -->", 1)[0]
    pattern = re.compile(r"(?:<!-- walkthrough:(\w+) -->\n)?```sh\n(.*?)```", re.DOTALL)
    return [Block(kind or "script", text) for kind, text in pattern.findall(section)]


def test_the_walkthrough_has_its_blocks_in_order() -> None:
    kinds = [block.kind for block in walkthrough(DEPLOYMENT_MD.read_text())]
    assert kinds[:2] == ["services", "environment"]
    assert kinds.count("processes") == 1
    processes = next(b for b in walkthrough(DEPLOYMENT_MD.read_text()) if b.kind == "processes")
    lines = processes.text.split("\n")[:-1]
    assert all(line.startswith("ibflow ") and line.endswith(" &") for line in lines)
    assert [line.split()[1] for line in lines] == ["web", "worker", "worker", "beat"]


# --- services ----------------------------------------------------------------------------------------------


@pytest.fixture
def redis_with_password(tmp_path: Path) -> Iterator[int]:
    binary = shutil.which("redis-server")
    require_service("redis-server (the binary)", binary is not None, "not on PATH")
    assert binary is not None
    port = free_port()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen(
        [*command, "--requirepass", REDIS_PASSWORD],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _until(lambda: reachable("127.0.0.1", port), proc, f"redis-server on port {port}")
        yield port
    finally:
        proc.kill()
        proc.wait(10)


@pytest.fixture
def s3_endpoint(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | None]:
    """moto's S3 server on a free port with the walkthrough's bucket, for the ``s3`` chart store only."""
    if request.node.callspec.params["chart_store"] != "s3":
        yield None
        return
    import boto3

    binary = Path(sys.executable).with_name("moto_server")
    port = free_port()
    proc = subprocess.Popen(
        [str(binary), "-H", "127.0.0.1", "-p", str(port)],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _until(lambda: reachable("127.0.0.1", port), proc, f"moto_server on port {port}")
        endpoint = f"http://127.0.0.1:{port}"
        boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key=S3_SECRET,
        ).create_bucket(Bucket="ibflow-charts")
        yield endpoint
    finally:
        proc.kill()
        proc.wait(10)


def _until(done: Callable[[], bool], proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 15
    while not done():
        if proc.poll() is not None or time.monotonic() > deadline:
            require_service(what, False, f"exit {proc.poll()}")
        time.sleep(0.05)


# --- processes ---------------------------------------------------------------------------------------------


@dataclass
class Shell:
    """Runs walkthrough blocks with bash in ``folder``, the environment block sourced first."""

    folder: Path
    env: dict[str, str]
    deadline: float
    started: list[tuple[str, subprocess.Popen[bytes], Path]] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)

    def script(self, text: str) -> str:
        try:
            done = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", f". ./env.sh\n{text}"],
                cwd=self.folder,
                env=self.env,
                capture_output=True,
                text=True,
                timeout=max(1.0, self.deadline - time.monotonic()),
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(
                f"over the budget in:\n{text}\n{exc.stdout}\n{exc.stderr}\n{self.logs()}"
            ) from exc
        self.outputs.append(done.stdout + done.stderr)
        if done.returncode != 0:
            raise AssertionError(
                f"exit {done.returncode} in:\n{text}\n{done.stdout}\n{done.stderr}\n{self.logs()}"
            )
        return done.stdout

    def start(self, line: str) -> None:
        command = line.removesuffix("&").strip()
        log = self.folder / f"{len(self.started)}-{'-'.join(command.split()[1:3])}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                ["bash", "-c", f". ./env.sh && exec {command}"],
                cwd=self.folder,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.started.append((command, proc, log))

    def stop_all(self) -> None:
        for _command, proc, _log in self.started:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for _command, proc, _log in self.started:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)

    def log_text(self) -> str:
        return "\n".join(log.read_text(errors="replace") for _c, _p, log in self.started if log.exists())

    def logs(self, tail: int = 3000) -> str:
        parts = []
        for command, proc, log in self.started:
            text = log.read_text(errors="replace") if log.exists() else ""
            parts.append(f"----- {command} (exit {proc.poll()}) -----\n{text[-tail:]}")
        return "\n".join(parts)


def _shim(folder: Path) -> Path:
    """A folder with an ``ibflow`` command running this checkout's code (the venv's may point elsewhere)."""
    bin_dir = folder / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "ibflow"
    shim.write_text(f"#!/bin/sh\nexec {sys.executable} -c 'from ibflow.cli import main; main()' \"$@\"\n")
    shim.chmod(0o755)
    return bin_dir


def _overrides(chart_store: str, pg_url: str, redis_port: int, http_port: int, s3: str | None) -> str:
    database = pg_url.replace(
        "postgresql+psycopg://postgres@", f"postgresql+psycopg://postgres:{DB_PASSWORD}@"
    )
    redis = f"redis://:{REDIS_PASSWORD}@127.0.0.1:{redis_port}"
    lines = [
        "# the test's private services in place of the walkthrough's, and a secret in every secret setting",
        f"export IBFLOW_DATABASE_URL='{database}'",
        f"export IBFLOW_CELERY_BROKER_URL='{redis}/0'",
        f"export IBFLOW_REDIS_URL='{redis}/1'",
        f"export IBFLOW_HTTP_PORT={http_port}",
        "export IBFLOW_LOG_LEVEL=DEBUG",
        *(f"export {name}='{value}'" for name, value in SECRETS.items()),
        f"export IBFLOW_CHART_STORE={chart_store}",
    ]
    if s3 is None:  # the local chart store: the S3 settings stay out
        lines.append("unset IBFLOW_S3_BUCKET IBFLOW_S3_PREFIX IBFLOW_S3_ENDPOINT_URL IBFLOW_S3_REGION")
        lines.append("unset IBFLOW_S3_ACCESS_KEY_ID IBFLOW_S3_SECRET_ACCESS_KEY")
    else:
        lines.append(f"export IBFLOW_S3_ENDPOINT_URL={s3}")
        lines.append(f"export IBFLOW_S3_SECRET_ACCESS_KEY='{S3_SECRET}'")
    return "\n".join(lines) + "\n"


@pytest.fixture
def shell(tmp_path: Path) -> Iterator[Shell]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IBFLOW_")}
    env["PATH"] = os.pathsep.join([str(_shim(tmp_path)), env.get("PATH", "")])
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT)])
    folder = tmp_path / "walkthrough"
    folder.mkdir()
    runner = Shell(folder, env, deadline=time.monotonic() + BUDGET_S)
    try:
        yield runner
    finally:
        runner.stop_all()


# --- the walkthrough ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("chart_store", CHART_STORES)
def test_the_walkthrough_as_written_reaches_a_succeeded_execution_and_no_secret_is_logged(
    chart_store: str, pg_url: str, redis_with_password: int, s3_endpoint: str | None, shell: Shell
) -> None:
    assert set(settings_doc.secret_names()) == {
        "IBFLOW_DATABASE_URL",
        "IBFLOW_CELERY_BROKER_URL",
        "IBFLOW_REDIS_URL",
        "IBFLOW_S3_ACCESS_KEY_ID",  # the walkthrough's key id is not secret-looking; its key is S3_SECRET
        "IBFLOW_S3_SECRET_ACCESS_KEY",
        *(name for name in SECRETS if name.startswith("IBFLOW_")),
    }, "a new secret setting: give it a distinctive value here"
    http_port = free_port()
    for block in walkthrough(DEPLOYMENT_MD.read_text()):
        if block.kind == "services":  # the fixtures started private ones
            continue
        if block.kind == "environment":
            overrides = _overrides(chart_store, pg_url, redis_with_password, http_port, s3_endpoint)
            (shell.folder / "env.sh").write_text(block.text + overrides)
        elif block.kind == "processes":
            for line in block.text.splitlines():
                shell.start(line)
        else:
            last = shell.script(block.text)

    assert re.fullmatch(r"execution \d+: succeeded\n", last), last
    listed = json.loads(shell.script("ibflow executions --strategy aapl-rules --json"))
    assert [e["status"] for e in listed] == ["succeeded", "succeeded"]  # the API's run, the CLI's
    through_api, from_the_cli = (e["id"] for e in listed)
    shell.stop_all()
    if s3_endpoint is not None:  # the charts went to the bucket, none to a local folder
        import boto3

        bucket = boto3.client(
            "s3",
            endpoint_url=s3_endpoint,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key=S3_SECRET,
        )
        stored = bucket.list_objects_v2(Bucket="ibflow-charts").get("Contents", [])
        assert len(stored) >= 2, stored  # a daily and a weekly chart (the second run's are the same bytes)
        assert not list(shell.folder.rglob("*.png"))

    records = [json.loads(line) for line in shell.log_text().splitlines() if line.startswith("{")]
    for execution_id in (through_api, from_the_cli):
        ran = [r for r in records if r.get("execution_id") == execution_id]
        assert len([r for r in ran if r["logger"] == "ibflow.workflow.engine"]) == 11, shell.logs()
        assert {r.get("strategy") for r in ran} == {"aapl-rules"}
    asked = [r for r in records if r.get("request_id") == "walkthrough-run"]
    assert {r["logger"] for r in asked} >= {"ibflow.api.app", "ibflow.workflow.engine"}  # web, then worker
    assert {r["execution_id"] for r in asked if "execution_id" in r} == {through_api}

    dump = subprocess.run(
        ["pg_dump", "--data-only", pg_url.replace("postgresql+psycopg://", "postgresql://")],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    assert "aapl-rules" in dump
    cookies = (shell.folder / "cookies.txt").read_text().splitlines()
    session = [line.split("\t")[-1] for line in cookies if "\t" in line]  # the login's session token
    assert session
    secrets = [*SECRETS.values(), DB_PASSWORD, REDIS_PASSWORD, *session]
    if s3_endpoint is not None:
        secrets.append(S3_SECRET)
    everything = {
        "process logs": shell.log_text(),
        "command outputs": "\n".join(shell.outputs),
        "database": dump,
    }
    leaks = [(secret, where) for secret in secrets for where, text in everything.items() if secret in text]
    assert leaks == []
