"""The orders pages as a browser gets them: the list's filters, paging and 400, an order's state changes,
fills, parent and children, a 404, a reason rendered as text, and a viewer without write controls."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.integration.api.conftest import serve_app
from tests.integration.api.test_resources import PatientBuy, _buying, _run, _sync
from tests.integration.web.conftest import Api

from ibflow.db.models import Strategy
from ibflow.db.models.orders import Fill, Order, OrderEvent
from ibflow.db.states import OrderOrigin, OrderRole, OrderSide, OrderState, OrderType, TimeInForce

pytestmark = pytest.mark.integration

HOSTILE = '<script>alert("owned")</script>'
ESCAPED = "&lt;script&gt;alert(&#34;owned&#34;)&lt;/script&gt;"


def _login(site: Api, username: str = "trader") -> TestClient:
    client = site.login(username)
    client.follow_redirects = False
    return client


def _order(site: Api, strategy: str, number: int, **values: Any) -> int:
    """Write one AAPL order of ``strategy`` as tracking would have left it; return its id."""
    now = site.clock.now()
    with site.container.sessions() as session:
        found = session.scalars(select(Strategy).where(Strategy.name == strategy)).one()
        row = Order(
            client_order_id=f"ibf-test-{strategy}-{number}",
            account_id="PAPER-1",
            strategy_id=found.id,
            role=values.pop("role", OrderRole.ENTRY),
            origin=OrderOrigin.IBFLOW,
            conid=found.conid,
            symbol=found.symbol,
            side=values.pop("side", OrderSide.BUY),
            order_type=values.pop("order_type", OrderType.LIMIT),
            tif=TimeInForce.DAY,
            quantity=values.pop("quantity", Decimal("10")),
            filled_quantity=values.pop("filled_quantity", Decimal("0")),
            state=values.pop("state", OrderState.WORKING),
            created_at=now,
            updated_at=now,
            **values,
        )
        session.add(row)
        session.commit()
        return row.id


def _event(
    site: Api, order_id: int, change: tuple[OrderState | None, OrderState], reason: str, s: int
) -> None:
    with site.container.sessions() as session:
        session.add(
            OrderEvent(
                order_id=order_id,
                from_state=change[0],
                to_state=change[1],
                reason=reason,
                created_at=site.clock.now() + timedelta(seconds=s),
            )
        )
        session.commit()


def _rows(page: str) -> list[int]:
    return [int(found) for found in re.findall(r'<tr data-order="(\d+)">', page)]


def test_the_list_filters_by_state_and_strategy_newest_first(site: Api) -> None:
    working = _order(site, "demo-aapl-trend", 1, limit_price=Decimal("187.4"))
    filled = _order(site, "demo-aapl-trend", 2, state=OrderState.FILLED, filled_quantity=Decimal("10"))
    other = _order(site, "demo-msft-trend", 3, state=OrderState.CANCELLED, reason="expired at close")
    client = _login(site, "viewer")
    page = client.get("/orders")
    assert page.status_code == 200
    assert _rows(page.text) == [other, filled, working]
    assert "187.40" in page.text  # at AAPL's tick of 0.01
    assert "10/10" in page.text  # filled/quantity
    assert 'href="/orders/' + str(working) + '"' in page.text
    assert '<table class="cards orders">' in page.text
    assert _rows(client.get("/orders?state=working").text) == [working]
    assert _rows(client.get("/orders?state=filled").text) == [filled]
    assert _rows(client.get("/orders?state=cancelled").text) == [other]
    with site.container.read_sessions() as session:
        msft = session.scalars(select(Strategy.id).where(Strategy.name == "demo-msft-trend")).one()
    assert _rows(client.get(f"/orders?strategy={msft}").text) == [other]
    assert _rows(client.get(f"/fragments/orders?strategy={msft}&state=filled").text) == []


def test_the_older_link_pages_by_id(site: Api) -> None:
    made = [_order(site, "demo-aapl-trend", n) for n in range(52)]
    client = _login(site, "viewer")
    first = client.get("/orders?state=working")
    assert _rows(first.text) == made[::-1][:50]
    link = re.search(r'href="(/orders\?state=working&amp;before=(\d+))" rel="next"', first.text)
    assert link, first.text[-2000:]
    older = client.get(link.group(1).replace("&amp;", "&"))
    assert _rows(older.text) == made[:2][::-1]
    assert 'rel="next"' not in older.text


def test_an_unknown_state_is_a_400_that_names_the_states(site: Api) -> None:
    client = _login(site, "viewer")
    for path in ("/orders?state=bogus", "/fragments/orders?state=bogus"):
        answer = client.get(path)
        assert answer.status_code == 400, path
        assert answer.headers["content-type"].startswith("text/html")
        assert "There is no order state &#39;bogus&#39;" in answer.text
        assert "needs_confirmation" in answer.text
    shown = client.get("/orders?state=bogus").text
    assert 'id="state-error" data-error-for="state">There is no order state' in shown
    assert client.get("/orders?strategy=99999").status_code == 400
    assert client.get("/orders?before=x").status_code == 400


def test_an_order_shows_its_state_changes_fills_and_family(site: Api) -> None:
    entry = _order(
        site,
        "demo-aapl-trend",
        1,
        state=OrderState.FILLED,
        filled_quantity=Decimal("10"),
        limit_price=Decimal("187.4"),
        avg_fill_price=Decimal("187.355"),
        broker_order_id="77",
        execution_id=None,
    )
    stop = _order(
        site,
        "demo-aapl-trend",
        2,
        role=OrderRole.STOP,
        side=OrderSide.SELL,
        order_type=OrderType.STOP,
        stop_price=Decimal("180"),
        parent_id=entry,
    )
    _event(site, entry, (None, OrderState.INTENT), "", 0)
    _event(site, entry, (OrderState.INTENT, OrderState.SUBMITTING), "", 1)
    _event(site, entry, (OrderState.SUBMITTING, OrderState.WORKING), "accepted", 2)
    _event(site, entry, (OrderState.WORKING, OrderState.FILLED), "filled at the broker", 9)
    with site.container.sessions() as session:
        for n, (quantity, price) in enumerate(
            ((Decimal("4"), Decimal("187.35")), (Decimal("6"), Decimal("187.36")))
        ):
            session.add(
                Fill(
                    account_id="PAPER-1",
                    broker_exec_id=f"exec-{n}",
                    order_id=entry,
                    conid=265598,
                    side=OrderSide.BUY,
                    quantity=quantity,
                    price=price,
                    commission=Decimal("1.0"),
                    filled_at=site.clock.now() + timedelta(seconds=5 + n),
                    created_at=site.clock.now(),
                )
            )
        session.commit()
    client = _login(site, "viewer")
    page = client.get(f"/orders/{entry}")
    assert page.status_code == 200
    text = page.text
    assert f"Order #{entry}: BUY AAPL" in text
    assert re.findall(r'<tr data-event-to="([a-z_]+)">', text) == [
        "intent",
        "submitting",
        "working",
        "filled",
    ]
    assert "2026-03-03 15:00:09 UTC" in text
    assert "filled at the broker" in text
    fills = re.findall(r'<tr data-fill="\d+">(.*?)</tr>', text, re.S)
    assert len(fills) == 2
    for part in ("187.35", ">4<", "1.00 USD"):
        assert part in fills[0]
    for part in ("187.36", ">6<"):
        assert part in fills[1]
    assert "10/10 at 187.36 average" in text  # 187.355 at the tick of 0.01
    assert f'href="/orders/{stop}">#{stop} stop</a>' in text
    child = client.get(f"/orders/{stop}").text
    assert f'href="/orders/{entry}">#{entry} entry</a>' in child
    assert "180.00" in child
    fragment = client.get(f"/fragments/order/{entry}")
    assert fragment.status_code == 200
    assert 'data-order-state="filled"' in fragment.text
    assert "<html" not in fragment.text


def test_an_unknown_order_is_a_404_page(site: Api) -> None:
    client = _login(site, "viewer")
    for path in ("/orders/999999", "/orders/nope", "/orders/0"):
        answer = client.get(path)
        assert answer.status_code == 404, path
        assert "There is no order" in answer.text
        assert answer.headers["content-type"].startswith("text/html")
    part = client.get("/fragments/order/999999")
    assert part.status_code == 404
    assert "<html" not in part.text
    assert "There is no order 999999." in part.text


def test_a_reason_is_text_never_html(site: Api) -> None:
    order_id = _order(site, "demo-aapl-trend", 1, state=OrderState.REJECTED, reason=HOSTILE)
    _event(site, order_id, (OrderState.SUBMITTING, OrderState.REJECTED), HOSTILE, 1)
    client = _login(site, "viewer")
    for path in ("/orders", f"/orders/{order_id}"):
        text = client.get(path).text
        assert HOSTILE not in text, path
        assert ESCAPED in text, path


def test_a_viewer_sees_no_action_and_a_direct_post_is_refused(site: Api) -> None:
    working = _order(site, "demo-aapl-trend", 1)
    asking = _order(site, "demo-aapl-trend", 2, state=OrderState.NEEDS_CONFIRMATION)
    viewer = _login(site, "viewer")
    for order_id in (working, asking):
        text = viewer.get(f"/orders/{order_id}").text
        assert "data-post=" not in text.replace('data-post="/api/v1/auth/logout"', "")
        assert "reject-dialog" not in text
    for action in ("cancel", "confirm", "reject"):
        answer = viewer.post(f"/api/v1/orders/{working}/{action}", json={"reason": "viewer"})
        assert answer.status_code == 403, (action, answer.text)
    trader = _login(site, "trader")
    text = trader.get(f"/orders/{working}").text
    assert f'data-post="/api/v1/orders/{working}/cancel"' in text
    assert "/confirm" not in text
    text = trader.get(f"/orders/{asking}").text
    assert f'data-post="/api/v1/orders/{asking}/confirm"' in text
    assert f'data-action="/api/v1/orders/{asking}/reject"' in text
    assert 'name="reason" required' in text
    assert f'data-post="/api/v1/orders/{asking}/cancel"' not in text


def test_orders_is_in_the_navigation_after_lineage(site: Api) -> None:
    text = _login(site, "viewer").get("/").text
    assert text.index('href="/lineage"') < text.index('href="/orders"')


def _bracket_of(site: Api, strategy_id: int) -> dict[OrderRole, int]:
    with site.container.read_sessions() as session:
        rows = session.scalars(select(Order).where(Order.strategy_id == strategy_id)).all()
    return {o.role: o.id for o in rows}


def _shown_state(client: TestClient, order_id: int) -> str:
    found = re.search(r'data-order-state="([a-z_]+)"', client.get(f"/fragments/order/{order_id}").text)
    assert found
    return found.group(1)


def test_a_paper_entry_fills_at_the_tracking_tick_and_its_page_shows_the_fill(site: Api) -> None:
    strategy_id = _buying(site)
    execution_id = _run(site, strategy_id)[0]
    entry = _bracket_of(site, strategy_id)[OrderRole.ENTRY]
    client = _login(site, "viewer")
    assert _shown_state(client, entry) == "working"
    assert "No fill yet." in client.get(f"/orders/{entry}").text
    _sync(site)  # the marketable entry filled at the paper broker; tracking records it
    assert _shown_state(client, entry) == "filled"
    text = client.get(f"/fragments/order/{entry}").text
    assert len(re.findall(r'<tr data-fill="\d+">', text)) >= 1
    assert '<tr data-event-to="filled">' in text
    assert f'href="/lineage?execution={execution_id}"' in text
    assert re.findall(r'data-order-state="(\w+)"', client.get("/fragments/orders?state=filled").text) == [
        "filled"
    ]


def test_a_trader_cancels_a_working_entry_through_the_api_and_the_page_says_so(site: Api) -> None:
    strategy_id = _buying(site, analyst=PatientBuy())
    _run(site, strategy_id)
    entry = _bracket_of(site, strategy_id)[OrderRole.ENTRY]
    trader = _login(site, "trader")
    assert f'data-post="/api/v1/orders/{entry}/cancel"' in trader.get(f"/orders/{entry}").text
    done = trader.post(f"/api/v1/orders/{entry}/cancel", json={"reason": "from the orders page"})
    assert done.status_code == 200, done.text
    assert _shown_state(trader, entry) == "cancelled"
    assert f'data-post="/api/v1/orders/{entry}/cancel"' not in trader.get(f"/orders/{entry}").text


@pytest.fixture
def asking_site(migrated_sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    """The site on a paper broker that asks a question (o163) about every order until confirmed."""
    monkeypatch.setenv("IBFLOW_PAPER_QUESTIONS", "o163")
    yield from serve_app(migrated_sqlite_url, tmp_path, monkeypatch, site=True)


def test_an_asked_order_offers_confirm_and_reject_and_a_rejection_shows_its_reason(asking_site: Api) -> None:
    strategy_id = _buying(asking_site)
    _run(asking_site, strategy_id)
    entry = _bracket_of(asking_site, strategy_id)[OrderRole.ENTRY]
    trader = _login(asking_site, "trader")
    assert _shown_state(trader, entry) == "needs_confirmation"
    assert _rows(trader.get("/orders?state=needs_confirmation").text)[-1] == entry
    text = trader.get(f"/orders/{entry}").text
    assert f'data-post="/api/v1/orders/{entry}/confirm"' in text
    assert f'data-action="/api/v1/orders/{entry}/reject"' in text
    done = trader.post(f"/api/v1/orders/{entry}/reject", json={"reason": "too far from the market <b>"})
    assert done.status_code == 200, done.text
    text = trader.get(f"/orders/{entry}").text
    assert 'data-order-state="rejected"' in text
    assert "too far from the market &lt;b&gt;" in text
    assert f"/api/v1/orders/{entry}/confirm" not in text
