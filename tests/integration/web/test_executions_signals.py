"""The executions and signals pages as a browser gets them: filters, the "Older" cursor, a 400 page for a bad
filter, a real run's outcome, the live parts, and an LLM's reasoning rendered as text."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.factories import make_execution
from tests.integration.web.conftest import Api, run_strategy

from ibflow.db.models import PromptTemplate, PromptVersion, Strategy
from ibflow.db.models.executions import TradingSignal
from ibflow.db.states import ExecutionStatus, ExecutionTrigger, SignalAction
from ibflow.llm.prompts.store import ensure_defaults

pytestmark = pytest.mark.integration

HOSTILE = '<script>alert("owned")</script><b>bold</b>'
ESCAPED = "&lt;script&gt;alert(&#34;owned&#34;)&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt;"


def _login(site: Api, username: str = "viewer") -> TestClient:
    client = site.login(username)
    client.follow_redirects = False
    return client


def _strategy(site: Api, name: str) -> Strategy:
    with site.container.read_sessions() as session:
        return session.scalars(select(Strategy).where(Strategy.name == name)).one()


def _executions(page: str) -> list[int]:
    return [int(found) for found in re.findall(r'<tr data-execution="(\d+)"', page)]


def _signals(page: str) -> list[int]:
    return [int(found) for found in re.findall(r'<tr data-signal="(\d+)"', page)]


def _older(page: str) -> str | None:
    found = re.search(r'<a href="([^"]+)" rel="next" data-older>', page)
    return found.group(1).replace("&amp;", "&") if found else None


def _add_executions(site: Api, name: str, count: int, **values: object) -> list[int]:
    """``count`` finished executions of ``name``, one a minute back from the clock's now; their ids."""
    now = site.clock.now()
    with site.container.sessions() as session:
        strategy = session.scalars(select(Strategy).where(Strategy.name == name)).one()
        made = [
            make_execution(
                session,
                strategy,
                now=now - timedelta(minutes=count - n),
                finished_at=now - timedelta(minutes=count - n) + timedelta(seconds=2),
                **{"status": ExecutionStatus.SUCCEEDED, **values},
            ).id
            for n in range(count)
        ]
        session.commit()
    return made


def _add_signal(site: Api, name: str, action: SignalAction, **values: object) -> int:
    with site.container.sessions() as session:
        strategy = session.scalars(select(Strategy).where(Strategy.name == name)).one()
        execution = make_execution(session, strategy, now=site.clock.now(), status=ExecutionStatus.SUCCEEDED)
        signal = TradingSignal(
            execution_id=execution.id,
            strategy_id=strategy.id,
            action=action,
            created_at=site.clock.now(),
            **{"reasoning": "", **values},
        )
        session.add(signal)
        session.commit()
        return signal.id


def test_executions_are_filtered_by_strategy_status_trigger_and_day(site: Api) -> None:
    aapl = _add_executions(site, "demo-aapl-trend", 3)
    failed = _add_executions(site, "demo-spy-bands", 2, status=ExecutionStatus.FAILED, error="broker down")
    scheduled = _add_executions(site, "demo-msft-trend", 1, trigger=ExecutionTrigger.SCHEDULE)
    old = _add_executions(
        site, "demo-msft-trend", 1, created_at=site.clock.now() - timedelta(days=10), started_at=None
    )
    client = _login(site)

    everything = client.get("/executions")
    assert everything.status_code == 200
    assert _executions(everything.text) == sorted(aapl + failed + scheduled + old, reverse=True)

    strategy = _strategy(site, "demo-aapl-trend")
    assert _executions(client.get(f"/executions?strategy={strategy.id}").text) == sorted(aapl, reverse=True)
    by_status = client.get("/executions?status=failed").text
    assert _executions(by_status) == sorted(failed, reverse=True)
    assert "broker down" in by_status
    assert '<option value="failed" selected>' in by_status  # the form shows the filter in use
    assert _executions(client.get("/executions?trigger=schedule").text) == scheduled
    today = site.clock.now().date().isoformat()
    assert old[0] not in _executions(client.get(f"/executions?from={today}").text)
    ten_days_ago = (site.clock.now() - timedelta(days=10)).date().isoformat()
    window = client.get(f"/executions?from={ten_days_ago}&to={ten_days_ago}").text
    assert _executions(window) == old
    assert "not yet" in window  # never started: no start time, the time it was queued instead
    empty = client.get(f"/executions?strategy={strategy.id}&status=failed").text
    assert "No execution matches these filters." in empty


def test_the_older_link_pages_by_an_id_cursor_and_keeps_the_filters(site: Api) -> None:
    made = _add_executions(site, "demo-aapl-trend", 120)
    strategy = _strategy(site, "demo-aapl-trend")
    client = _login(site)
    first = client.get(f"/executions?strategy={strategy.id}").text
    newest = sorted(made, reverse=True)
    assert _executions(first) == newest[:50]
    assert "data-newest" not in first
    older = _older(first)
    assert older == f"/executions?strategy={strategy.id}&before={newest[49]}"
    second = client.get(older).text
    assert _executions(second) == newest[50:100]
    assert "data-newest" in second
    third = client.get(_older(second) or "").text
    assert _executions(third) == newest[100:]
    assert _older(third) is None
    # only the first page follows events: an older page does not move under the reader
    assert 'hx-get="/executions/table?strategy=' in first
    assert "hx-trigger" not in third.split('id="executions-live"')[1].split(">")[0]
    table = client.get(f"/executions/table?strategy={strategy.id}")
    assert table.status_code == 200
    assert _executions(table.text) == newest[:50]
    assert "<html" not in table.text


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("status=sleeping", "“sleeping” is not a status: choose one of queued, running, succeeded"),
        ("trigger=cron", "“cron” is not a trigger"),
        ("from=2026-13-01", "“2026-13-01” is not a day: write it as YYYY-MM-DD"),
        ("to=yesterday", "“yesterday” is not a day"),
        ("from=2026-03-05&to=2026-03-01", "The last day (2026-03-01) is before the first (2026-03-05)."),
        ("strategy=abc", "“abc” is not a strategy id (a whole number)."),
        ("strategy=987654", "There is no strategy 987654."),
        ("before=%C2%B2", "“²” is not a place in the list"),
        ("before=99999999999999999999999", "is not a place in the list"),
    ],
)
def test_a_bad_execution_filter_is_a_400_page_saying_what_is_wrong(
    site: Api, query: str, message: str
) -> None:
    client = _login(site)
    for path in ("/executions", "/executions/table"):
        answer = client.get(f"{path}?{query}")
        assert answer.status_code == 400, (path, answer.text[:300])
        assert answer.headers["content-type"].startswith("text/html")
        assert message in answer.text, answer.text


def test_an_execution_shows_its_outcome_and_links_its_lineage(site: Api) -> None:
    execution_id = run_strategy(site, "demo-aapl-trend")  # the demo's rules analyst answers HOLD
    client = _login(site)
    page = client.get("/executions").text
    row = page.split(f'<tr data-execution="{execution_id}"')[1].split("</tr>")[0]
    assert "demo-aapl-trend" in row
    assert "manual" in row
    assert "✓ succeeded" in row
    assert '<span class="badge outcome no_order">no_order</span>' in row
    assert '<span class="badge action hold">HOLD</span>' in row
    assert "signal is HOLD" in row
    assert re.search(r'data-label="Duration" class="num">[\d,.]+ m?s<', row), row
    assert f'href="/lineage?execution={execution_id}"' in row
    assert client.get(f"/lineage?execution={execution_id}").status_code == 200


def test_signals_are_filtered_by_action_strategy_prompt_and_day(site: Api) -> None:
    with site.container.sessions() as session:
        ensure_defaults(session, clock=site.clock)
        session.commit()
        version = session.scalars(select(PromptVersion.id).order_by(PromptVersion.id)).first()
        label = session.execute(
            select(PromptTemplate.name, PromptVersion.version)
            .join(PromptTemplate)
            .where(PromptVersion.id == version)
        ).one()
    buy = _add_signal(site, "demo-aapl-trend", SignalAction.BUY, outcome="won", prompt_version_id=version)
    sell = _add_signal(
        site,
        "demo-spy-bands",
        SignalAction.SELL,
        outcome="blocked",
        reason="MAX_ENTRIES_PER_DAY",
        reason_detail="3 entries today already",
    )
    hold = _add_signal(site, "demo-spy-bands", SignalAction.HOLD, outcome="no_order")
    client = _login(site)
    assert _signals(client.get("/signals").text) == [hold, sell, buy]
    assert _signals(client.get("/signals?action=BUY").text) == [buy]
    assert _signals(client.get("/signals?action=sell").text) == [sell]  # any case, as the API takes it
    spy = _strategy(site, "demo-spy-bands")
    assert _signals(client.get(f"/signals?strategy={spy.id}").text) == [hold, sell]
    by_prompt = client.get(f"/signals?prompt={version}").text
    assert _signals(by_prompt) == [buy]
    assert '<span class="badge outcome won">won</span>' in by_prompt
    assert f"{label[0]}@{label[1]}" in by_prompt.split(f'<tr data-signal="{buy}"')[1]
    blocked = client.get("/signals?action=SELL").text
    assert '<span class="badge outcome blocked">blocked</span>' in blocked
    assert "3 entries today already" in blocked
    tomorrow = (site.clock.now() + timedelta(days=1)).date().isoformat()
    assert "No signal matches these filters." in client.get(f"/signals?from={tomorrow}").text
    with site.container.read_sessions() as session:
        execution_of_buy = session.get(TradingSignal, buy).execution_id  # type: ignore[union-attr]
    assert f'href="/lineage?execution={execution_of_buy}"' in by_prompt


def test_signals_page_by_an_id_cursor(site: Api) -> None:
    made = [_add_signal(site, "demo-aapl-trend", SignalAction.HOLD) for _ in range(55)]
    client = _login(site)
    first = client.get("/signals?action=HOLD").text
    assert _signals(first) == sorted(made, reverse=True)[:50]
    second = client.get(_older(first) or "").text
    assert _signals(second) == sorted(made, reverse=True)[50:]
    assert _older(second) is None


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("action=MAYBE", "“MAYBE” is not a signal action: choose one of BUY, SELL, HOLD, NO_SIGNAL."),
        ("prompt=424242", "There is no prompt version 424242."),
        ("from=03/04/2026", "“03/04/2026” is not a day"),
    ],
)
def test_a_bad_signal_filter_is_a_400_page_saying_what_is_wrong(site: Api, query: str, message: str) -> None:
    client = _login(site)
    for path in ("/signals", "/signals/table"):
        answer = client.get(f"{path}?{query}")
        assert answer.status_code == 400, (path, answer.text[:300])
        assert message in answer.text


def test_a_signals_reasoning_with_html_renders_as_text(site: Api) -> None:
    _add_signal(site, "demo-aapl-trend", SignalAction.BUY, reasoning=HOSTILE, reason_detail=HOSTILE)
    client = _login(site)
    for path in ("/signals", "/signals/table"):
        page = client.get(path).text
        assert ESCAPED in page
        assert HOSTILE not in page
        assert "<b>bold" not in page


def test_a_viewer_sees_both_pages_in_the_sidebar_after_lineage(site: Api) -> None:
    client = _login(site, "viewer")
    for path, heading in (("/executions", "Executions"), ("/signals", "Signals")):
        answer = client.get(path)
        assert answer.status_code == 200
        assert f"<h1>{heading}</h1>" in answer.text
        assert f'<a href="{path}" aria-current="page">{heading}</a>' in answer.text
    sidebar = client.get("/").text
    assert (
        sidebar.index('href="/lineage"')
        < sidebar.index('href="/executions"')
        < sidebar.index('href="/signals"')
    )
    assert "No signal yet." in client.get("/signals").text


def test_the_pages_need_a_login(site: Api) -> None:
    anonymous = site.fresh()
    anonymous.follow_redirects = False
    answer = anonymous.get("/executions?status=failed")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/executions%3Fstatus%3Dfailed"
    assert anonymous.get("/signals/table").status_code == 303


def test_an_ordered_or_blocked_execution_says_its_order_or_its_block(site: Api) -> None:
    entry = {"role": "entry", "side": "BUY", "quantity": "9.0000", "type": "LMT", "limit_price": "828.3800"}
    ordered = _add_executions(
        site,
        "demo-spy-bands",
        1,
        summary={"signal": {"id": 1, "action": "BUY"}, "orders": [{**entry, "state": "submitted"}]},
    )
    blocked = _add_executions(
        site,
        "demo-spy-bands",
        1,
        summary={
            "signal": {"id": 2, "action": "BUY"},
            "risk": {"allowed": False, "reason": "MAX_ENTRIES_PER_DAY", "detail": "3 entries today"},
        },
    )
    page = _login(site).get("/executions").text
    row = page.split(f'<tr data-execution="{ordered[0]}"')[1].split("</tr>")[0]
    assert '<span class="badge outcome ordered">ordered</span>' in row
    assert '<span class="order">BUY 9 LMT 828.38, submitted</span>' in row
    row = page.split(f'<tr data-execution="{blocked[0]}"')[1].split("</tr>")[0]
    assert '<span class="badge outcome blocked">blocked</span>' in row
    assert "risk MAX_ENTRIES_PER_DAY: 3 entries today" in row
