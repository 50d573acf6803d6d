"""Prompt templates over HTTP: versions, who uses them, checks by line, render preview, diff, stats."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from tests.integration.api.conftest import Api, problem
from tests.integration.api.test_resources import _as, _bad_fields, _sid, _status

from ibflow.core.ids import StrategyId
from ibflow.db.models import AuditLog
from ibflow.llm.prompts.variables import ROLES, VARIABLES
from ibflow.workflow.strategies.demo import DEMO_STRATEGIES

pytestmark = pytest.mark.integration
DEFAULT = "default-analysis-en"


def test_templates_list_the_seeded_defaults_and_who_follows_them(api: Api) -> None:
    viewer = _as(api, "viewer")
    listed = viewer.get("/prompts/templates").json()
    assert {(t["role"], t["language"]) for t in listed} == {(r, lang) for r in ROLES for lang in ("en", "zh")}
    detail = viewer.get(f"/prompts/templates/{DEFAULT}").json()
    assert (detail["role"], detail["latest_version"], [v["version"] for v in detail["versions"]]) == (
        "analysis",
        1,
        [1],
    )
    assert detail["versions"][0]["body"] == ""  # the list leaves the text out; the version route has it
    assert "{{" in viewer.get(f"/prompts/templates/{DEFAULT}/versions/1").json()["body"]
    assert sorted(u["strategy_name"] for u in detail["used_by"]) == sorted(n for n, _, _ in DEMO_STRATEGIES)
    assert {u["version"] for u in detail["used_by"]} == {None}  # they follow the newest version
    assert _status(viewer.get("/prompts/templates/no-such")) == 404
    assert _status(viewer.get(f"/prompts/templates/{DEFAULT}/versions/9")) == 404
    assert _bad_fields(viewer.get(f"/prompts/templates/{DEFAULT}/versions/0")) == ["path.version"]


def test_an_edit_is_a_new_audited_version_a_pinned_strategy_keeps_its_own(api: Api) -> None:
    trader = _as(api, "trader")
    original = trader.get(f"/prompts/templates/{DEFAULT}/versions/1").json()["body"]
    spy = _sid(api, "demo-spy-bands")
    pin = trader.get(f"/strategies/{spy}").json()["file"]
    pin["analyst"] = {**pin.get("analyst", {}), "prompt_template": DEFAULT, "prompt_version": 1}
    assert trader.put(f"/strategies/{spy}", json=pin).status_code == 200

    edited = original + "\nKeep the reasoning under 80 words.\n"
    added = trader.post(f"/prompts/templates/{DEFAULT}/versions", json={"body": edited})
    assert added.status_code == 201, added.text
    assert (added.json()["created"], added.json()["version"]["version"]) == (True, 2)
    again = trader.post(f"/prompts/templates/{DEFAULT}/versions", json={"body": edited}).json()
    assert (again["created"], again["version"]["version"]) == (False, 2)  # never a duplicate version
    assert trader.get(f"/prompts/templates/{DEFAULT}/versions/1").json()["body"] == original  # immutable

    uses = {
        u["strategy_name"]: u["version"]
        for u in trader.get(f"/prompts/templates/{DEFAULT}").json()["used_by"]
    }
    assert uses["demo-spy-bands"] == 1
    assert {v for k, v in uses.items() if k != "demo-spy-bands"} == {None}

    diff = trader.get("/prompts/diff", params={"old": f"{DEFAULT}@1", "new": DEFAULT}).json()
    assert (diff["old"], diff["new"]) == (f"{DEFAULT}@1", f"{DEFAULT}@2")
    assert "+Keep the reasoning under 80 words." in diff["diff"].splitlines()
    assert trader.get("/prompts/diff", params={"old": DEFAULT, "new": DEFAULT}).json()["diff"] == ""
    with api.container.read_sessions() as session:
        audit = session.scalars(select(AuditLog).where(AuditLog.action == "prompt.version_added")).all()
    assert [(a.actor, a.after) for a in audit] == [("trader", {"template": DEFAULT, "version": 2})]


def test_unsafe_or_unknown_template_text_is_refused_with_its_line_and_stores_nothing(api: Api) -> None:
    trader = _as(api, "trader")
    cases: dict[str, str] = {
        "Price {{ last_price }}\n{{ ''.__class__ }}": "line 2",
        "{{ symbol }}\n\n{{ account_password }}": "line 3",
        "{% for k in indicators %}{{ k.__init__.__globals__ }}{% endfor %}": "line 1",
    }
    for body, line in cases.items():
        refused = trader.post(f"/prompts/templates/{DEFAULT}/versions", json={"body": body})
        assert line in _bad_fields(refused), (body, problem(refused))
    assert trader.get(f"/prompts/templates/{DEFAULT}").json()["latest_version"] == 1
    assert _bad_fields(
        trader.post("/prompts/templates/brand-new/versions", json={"body": "{{ symbol }}"})
    ) == ["role"]
    assert _bad_fields(
        trader.post("/prompts/templates/a@b/versions", json={"body": "{{ symbol }}", "role": "analysis"})
    ) == ["name"]
    made = trader.post(
        "/prompts/templates/brand-new/versions", json={"body": "{{ symbol }}", "role": "analysis"}
    )
    assert made.status_code == 201, made.text
    assert trader.get("/prompts/templates/brand-new").json()["scope"] == "strategy"
    viewer = _as(api, "viewer")
    assert _status(viewer.post("/prompts/templates/brand-new/versions", json={"body": "x"})) == 403


def test_the_variables_and_a_render_preview_of_a_draft_against_a_real_strategy(api: Api) -> None:
    viewer = _as(api, "viewer")
    variables = {v["name"]: v for v in viewer.get("/prompts/variables").json()}
    assert set(VARIABLES) <= variables.keys()
    assert variables["symbol"]["roles"] == list(ROLES)
    assert variables["weekly_analysis"]["roles"] == ["consolidation"]

    spy = _sid(api, "demo-spy-bands")
    draft = "{{ symbol }} at {{ last_price }}; held: {{ position or 'nothing' }}"
    rendered = viewer.post("/prompts/render", json={"strategy_id": spy, "body": draft})
    assert rendered.status_code == 200, rendered.text
    text = rendered.json()["analysis"]
    assert text.startswith("SPY at ")
    assert text.endswith("held: nothing")
    saved = viewer.post("/prompts/render", json={"strategy_id": spy}).json()
    assert "SPY" in saved["analysis"]
    assert saved["system"]
    with_version = viewer.post("/prompts/render", json={"strategy_id": spy, "version": f"{DEFAULT}@1"})
    assert with_version.json()["analysis"] == saved["analysis"]
    assert "line 1" in _bad_fields(
        viewer.post("/prompts/render", json={"strategy_id": spy, "body": "{{ nope }}"})
    )
    assert _status(viewer.post("/prompts/render", json={"strategy_id": 987654})) == 404
    assert _status(viewer.post("/prompts/render", json={"strategy_id": spy, "version": "nope@1"})) == 404


def test_stats_count_each_versions_signals_and_compare_two(api: Api) -> None:
    spy = _sid(api, "demo-spy-bands")
    executor = api.container.executor()
    for _ in range(2):
        executor.run(executor.create_manual(StrategyId(spy)))
        api.clock.advance(timedelta(minutes=5))
    viewer = _as(api, "viewer")
    rows: list[dict[str, Any]] = viewer.get("/prompts/stats").json()
    assert sum(r["signals"] for r in rows) == 2
    per_strategy = viewer.get("/prompts/stats", params={"strategy_id": spy, "by_strategy": "true"}).json()
    assert [(r["strategy_id"], r["signals"]) for r in per_strategy] == [(spy, 2)]
    compared = viewer.get("/prompts/stats", params=[("version", f"{DEFAULT}@1"), ("version", DEFAULT)])
    assert compared.status_code == 200
    assert _status(viewer.get("/prompts/stats", params={"version": "nope@1"})) == 404
