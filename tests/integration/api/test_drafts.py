"""``POST /strategies/check`` (one step of an unsaved document) and ``GET /schedule/preview``."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.factories import strategy_document
from tests.integration.api.conftest import Api, field_errors

from ibflow.db.models import Strategy

pytestmark = pytest.mark.integration
CHECK = "/api/v1/strategies/check"
PREVIEW = "/api/v1/schedule/preview"


def _check(client: TestClient, step: str, document: dict[str, Any], strategy_id: int | None = None) -> Any:
    return client.post(CHECK, json={"step": step, "document": document, "strategy_id": strategy_id})


def _strategy_id(api: Api, name: str) -> int:
    with api.container.sessions() as session:
        found = session.scalars(select(Strategy.id).where(Strategy.name == name)).first()
    assert found is not None
    return int(found)


def test_each_step_is_checked_alone_and_explains_its_bad_fields(api: Api) -> None:
    trader = api.login("trader")
    bad = strategy_document(
        schedule={"cron": "61 * * * *", "timezone": "America/New_York"}, risk={"risk_per_trade": "0.5"}
    )
    # Step 1 passes although later steps' fields are still wrong: they are not this step's business.
    first = _check(trader, "symbol", bad)
    assert first.status_code == 200, first.text
    cron = field_errors(_check(trader, "schedule", bad))
    assert set(cron) == {"schedule.cron"}
    assert "61 * * * *" in cron["schedule.cron"]
    allowed = "must be between 0.0001 and 0.05 (fraction of equity risked per trade), got 0.5"
    assert field_errors(_check(trader, "risk", bad)) == {"risk.risk_per_trade": allowed}
    assert {"schedule.cron", "risk.risk_per_trade"} <= set(field_errors(_check(trader, "review", bad)))
    symbol = field_errors(_check(trader, "symbol", strategy_document(symbol="NOSUCHX")))
    assert "not tradable" in symbol["symbol"]
    zero = {"type": "rsi", "params": {"period": 0}}
    indicators = field_errors(_check(trader, "indicators", strategy_document(indicators=[zero])))
    assert any(field.startswith("indicators[0]") for field in indicators)
    assert _check(trader, "review", strategy_document()).status_code == 200
    with api.container.sessions() as session:  # a check stores no strategy
        assert session.scalars(select(Strategy.id).where(Strategy.name == "wizard-made")).first() is None


def test_a_name_in_use_is_refused_unless_it_is_the_strategy_being_edited(api: Api) -> None:
    trader = api.login("trader")
    taken = strategy_document(name="demo-aapl-trend")
    assert "exists" in field_errors(_check(trader, "symbol", taken))["name"]
    own = _strategy_id(api, "demo-aapl-trend")
    assert _check(trader, "symbol", taken, strategy_id=own).status_code == 200


def test_a_viewer_may_not_check_a_draft_but_may_preview_a_schedule(api: Api) -> None:
    viewer = api.login("viewer")
    assert _check(viewer, "symbol", strategy_document()).status_code == 403
    assert viewer.get(PREVIEW, params={"cron": "*/5 * * * *"}).status_code == 200


def test_the_preview_says_the_cron_in_words_with_five_runs_from_the_apps_clock(api: Api) -> None:
    trader = api.login("trader")
    answer = trader.get(PREVIEW, params={"cron": "0 10 * * 1-5", "tz": "America/New_York"})
    assert answer.status_code == 200, answer.text
    preview = answer.json()
    assert "10:00 AM" in preview["description"]
    assert "Monday through Friday" in preview["description"]
    # The clock is Tuesday 2026-03-03 15:00 UTC (10:00 New York): the next run is Wednesday's.
    assert preview["runs"] == [
        "2026-03-04T15:00:00Z",
        "2026-03-05T15:00:00Z",
        "2026-03-06T15:00:00Z",
        "2026-03-09T14:00:00Z",  # New York is on summer time from 8 March
        "2026-03-10T14:00:00Z",
    ]
    bad = field_errors(trader.get(PREVIEW, params={"cron": "61 * * * *", "tz": "Mars/Base"}))
    assert "61 * * * *" in bad["schedule.cron"]
    assert "Mars/Base" in bad["schedule.timezone"]
