"""Every kind of the event catalogue has a test that provokes it (marked with ``covers``)."""

from __future__ import annotations

import ast
from pathlib import Path

from ibflow.db.events.catalogue import CATALOGUE

_TESTS = Path(__file__).resolve().parents[2]
_FOLDERS = (_TESTS / "unit" / "events", _TESTS / "integration" / "events")


def _covered() -> dict[str, list[str]]:
    """Map each kind named in a ``@covers(...)`` on a test function to the tests that name it."""
    found: dict[str, list[str]] = {}
    for folder in _FOLDERS:
        for path in sorted(folder.glob("test_*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.FunctionDef) or not node.name.startswith("test_"):
                    continue
                for decorator in node.decorator_list:
                    if isinstance(decorator, ast.Call) and getattr(decorator.func, "id", "") == "covers":
                        for arg in decorator.args:
                            assert isinstance(arg, ast.Constant), (
                                f"{path.name}::{node.name}: name kinds literally"
                            )
                            found.setdefault(str(arg.value), []).append(f"{path.name}::{node.name}")
    return found


def test_every_catalogue_kind_has_a_test_that_provokes_it() -> None:
    covered = _covered()
    assert sorted(set(CATALOGUE) - set(covered)) == [], "kinds without a test in tests/*/events"
    assert sorted(set(covered) - set(CATALOGUE)) == [], "tests cover kinds the catalogue does not list"


def test_the_coverage_scan_finds_the_tests_of_this_folder() -> None:
    covered = _covered()
    assert covered["order.state_changed"] == [
        "test_order_events.py::test_every_step_of_an_order_is_an_event_with_its_from_and_to"
    ]
    assert (
        "test_execution_events.py::test_every_execution_ends_with_one_event_saying_what_came_of_it"
        in covered["execution.finished"]
    )
