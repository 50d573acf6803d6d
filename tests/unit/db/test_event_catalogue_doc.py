"""docs/events.md is generated from the event catalogue and must match it."""

from __future__ import annotations

from pathlib import Path

import pytest

from ibflow.db.events.catalogue import CATALOGUE, check_payload, render_markdown

EVENTS_MD = Path(__file__).resolve().parents[3] / "docs" / "events.md"


def test_events_doc_is_current() -> None:
    assert EVENTS_MD.read_text() == render_markdown(), (
        "run: python -m ibflow.db.events.catalogue > docs/events.md"
    )


def test_every_kind_is_documented_with_its_payload() -> None:
    text = EVENTS_MD.read_text()
    for spec in CATALOGUE.values():
        assert f"## `{spec.kind}`" in text
        for key in spec.payload:
            assert f"| `{key}` |" in text


def test_a_payload_without_a_documented_key_is_refused() -> None:
    with pytest.raises(ValueError, match="lacks payload keys reason"):
        check_payload("trading.state_changed", {"from": "ACTIVE", "to": "HALTED", "actor": "alice"})
    with pytest.raises(ValueError, match=r"not in db/events/catalogue\.py"):
        check_payload("order.teleported", {})
