"""The deployment files say only what ibflow does: every ``ibflow`` command and option exists, every
``IBFLOW_*`` name is a setting, and docs/deployment.md lists every setting as the code defines it."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml
from typer._click.exceptions import UsageError  # typer carries its own click: the CLI's errors are its own

from ibflow import bootstrap
from ibflow.cli import app
from ibflow.core import settings_doc
from ibflow.core.environment import OTHER_NAMES

ROOT = Path(__file__).resolve().parents[2]
DEPLOYMENT_MD = ROOT / "docs" / "deployment.md"
COMPOSE = ROOT / "deploy" / "docker-compose.yml"
SYSTEMD = ROOT / "deploy" / "systemd"

SETTINGS = frozenset(name for _area, name, _field in settings_doc.variables())


def _known(name: str) -> bool:
    return name in SETTINGS or name in OTHER_NAMES


def resolve(argv: list[str]) -> Any:
    """Parse ``ibflow ARGS`` as the CLI would (subcommands, options, their values); raise if it cannot."""
    assert argv[0].rsplit("/", 1)[-1] == "ibflow", argv
    command: Any = typer.main.get_command(app)
    args = argv[1:]
    while hasattr(command, "resolve_command"):  # a group: find the subcommand
        ctx = command.make_context("ibflow", [], resilient_parsing=True)
        name, command, args = command.resolve_command(ctx, list(args))
        if command is None:
            raise UsageError(f"no such command: {name}")
    command.make_context(command.name, list(args))  # unknown options and bad values raise here
    return command


def test_resolve_refuses_unknown_commands_options_and_values() -> None:
    assert resolve(["ibflow", "worker", "-Q", "executions", "-c", "4"]).name == "worker"
    assert resolve(["/opt/ibflow/bin/ibflow", "user", "create", "admin", "--role", "admin"]).name == "create"
    wrong = (["ibflow", "wroker"], ["ibflow", "worker", "--queue", "x"], ["ibflow", "web", "--port", "0"])
    for argv in wrong:
        with pytest.raises(UsageError):
            resolve(argv)


# --- docker compose ----------------------------------------------------------------------------------------


def _services() -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = yaml.safe_load(COMPOSE.read_text())["services"]
    return services


def test_compose_runs_every_process_of_the_production_runtime() -> None:
    services = _services()
    for needed in ("postgres", "redis", "minio", "web", "worker-trading", "worker-executions", "beat"):
        assert needed in services
    assert services["ibkr-gateway"]["profiles"] == ["ibkr"]
    commands = {name: s["command"] for name, s in services.items() if s.get("image") == "ibflow:latest"}
    assert {c[1] for c in commands.values()} == {"migrate", "web", "worker", "beat"}
    for name, command in commands.items():
        assert isinstance(command, list), f"{name}: give the command as a list (no shell in between)"
        resolve(command)


def test_compose_names_only_real_settings() -> None:
    names = {
        name
        for service in _services().values()
        for name in (service.get("environment") or {})
        if name.startswith("IBFLOW_")
    }
    assert names
    assert sorted(n for n in names if not _known(n)) == []


# --- systemd -----------------------------------------------------------------------------------------------


def _unit(path: Path) -> dict[str, list[str]]:
    """``Key=value`` lines of a unit's [Service] section, each key with all its values in order."""
    values: dict[str, list[str]] = {}
    section = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        if section == "Service":
            values.setdefault(key.strip(), []).append(value.strip())
    return values


UNITS = sorted(SYSTEMD.glob("*.service"))


def test_every_process_has_a_unit() -> None:
    commands = {shlex.split(_unit(path)["ExecStart"][0])[1] for path in UNITS}
    assert commands == {"migrate", "web", "worker", "beat"}


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_unit_commands_exist_and_name_only_real_settings(path: Path) -> None:
    service = _unit(path)
    for command in service["ExecStart"]:
        resolve(shlex.split(command))
    names = [entry.split("=", 1)[0] for entry in service.get("Environment", [])]
    assert all(_known(name) for name in names), names
    assert service["EnvironmentFile"] == ["/etc/ibflow/ibflow.env"]


def test_the_example_environment_file_names_only_real_settings() -> None:
    lines = (SYSTEMD / "ibflow.env.example").read_text().splitlines()
    names = [line.split("=", 1)[0] for line in lines if line and not line.startswith("#")]
    assert names
    assert [n for n in names if not _known(n)] == []


# --- docs/deployment.md ------------------------------------------------------------------------------------


def _shell_lines(text: str) -> list[str]:
    lines = []
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.DOTALL):
        lines += block.replace("\\\n", " ").splitlines()
    return lines


def test_the_docs_commands_exist() -> None:
    commands = [line for line in _shell_lines(DEPLOYMENT_MD.read_text()) if line.startswith("ibflow ")]
    assert len(commands) > 10
    for line in commands:
        resolve(shlex.split(line.removesuffix("&"), comments=True))


def test_the_docs_name_only_real_settings() -> None:
    names = set(re.findall(r"\bIBFLOW_[A-Z0-9_]*[A-Z0-9]", DEPLOYMENT_MD.read_text()))
    assert sorted(n for n in names if not _known(n)) == []


def test_the_docs_list_every_setting_as_the_code_defines_it() -> None:
    text = DEPLOYMENT_MD.read_text()
    assert settings_doc.updated(text) == text, "run: python -m ibflow.core.settings_doc docs/deployment.md"


def test_the_generated_list_covers_every_settings_area_of_bootstrap() -> None:
    areas = {type(getattr(bootstrap.Settings(), name)) for name in bootstrap.Settings.__dataclass_fields__}
    assert areas == set(settings_doc.AREAS)
    assert settings_doc.secret_names() == [
        "IBFLOW_DATABASE_URL",
        "IBFLOW_CELERY_BROKER_URL",
        "IBFLOW_REDIS_URL",
        "IBFLOW_S3_SECRET_ACCESS_KEY",
        "IBFLOW_S3_ACCESS_KEY_ID",
        "IBFLOW_OPENAI_API_KEY",
        "IBFLOW_ANTHROPIC_API_KEY",
        "IBFLOW_METRICS_TOKEN",
    ]
