"""The import-linter contracts bite: one forbidden import per rule, planted in a copy of the tree, fails."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

# (module that gets the planted file, import statement, contract name that must break)
FORBIDDEN = [
    ("core", "import ibflow.db", "Layers"),
    ("db", "import ibflow.brokers.base", "Layers"),
    ("brokers", "import ibflow.marketdata", "Layers"),
    ("indicators", "import ibflow.brokers", "Layers"),
    ("llm", "import ibflow.charts", "Layers"),
    ("marketdata", "import ibflow.trading", "Layers"),
    ("notify", "import ibflow.workflow", "Layers"),
    ("workflow", "import ibflow.bootstrap", "Layers"),
    ("cli_extra", "import ibflow.api", "Layers"),
    ("trading", "import ibflow.llm", "trading never imports llm"),
    ("workflow", "import ibflow.brokers.paper", "Only bootstrap picks concrete"),
    ("trading", "import typer", "typer only in cli"),
    ("workflow", "import fastapi", "fastapi only at the edge"),
    ("trading", "import celery", "celery only in tasks"),
    ("trading/risk", "import ibflow.trading.lifecycle.orders", "trading's parts"),
    ("trading/lifecycle", "import ibflow.trading.positions.exits", "trading's parts"),
    ("trading/positions", "import ibflow.trading.reconciliation.reconcile", "trading's parts"),
]
ALLOWED = [
    ("trading", "import ibflow.marketdata"),
    ("charts", "import ibflow.indicators"),
    ("workflow", "import ibflow.trading"),
    ("trading/lifecycle", "import ibflow.trading.positions.book"),
]


def _copy_tree(tmp_path: Path) -> Path:
    target = tmp_path / "src"
    shutil.copytree(ROOT / "src" / "ibflow", target / "ibflow", ignore=shutil.ignore_patterns("__pycache__"))
    return target


def _plant(src: Path, package: str, statement: str) -> None:
    if package == "cli_extra":  # cli.py is a module: append to it
        with (src / "ibflow" / "cli.py").open("a") as handle:
            handle.write(f"\n{statement}  # planted\n")
        return
    (src / "ibflow" / package / "planted_import.py").write_text(f"{statement}  # planted\n")


def _lint(src: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(ROOT / ".importlinter")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_real_tree_keeps_every_contract(tmp_path: Path) -> None:
    result = _lint(_copy_tree(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("package", "statement", "contract"), FORBIDDEN)
def test_a_forbidden_import_breaks_its_contract(
    tmp_path: Path, package: str, statement: str, contract: str
) -> None:
    src = _copy_tree(tmp_path)
    _plant(src, package, statement)
    result = _lint(src)
    assert result.returncode != 0, f"{statement} in {package} was not caught"
    broken = [line for line in result.stdout.splitlines() if " BROKEN" in line]
    assert any(line.startswith(contract) for line in broken), result.stdout


@pytest.mark.parametrize(("package", "statement"), ALLOWED)
def test_the_allowed_exceptions_stay_allowed(tmp_path: Path, package: str, statement: str) -> None:
    src = _copy_tree(tmp_path)
    _plant(src, package, statement)
    result = _lint(src)
    assert result.returncode == 0, result.stdout
