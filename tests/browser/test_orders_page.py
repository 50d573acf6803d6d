"""The orders pages in Chromium: an entry the LLM test server scripted seen filling without a reload
(the paper fill, then a tracking tick a trader forces), a working entry cancelled from its page, both sizes.

The site's own ticks do not land while the tests run (tracking every hour, the watchdog and the entry expiry,
which sync too, every 5 minutes, each once at start-up): an order changes only when a test makes it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from tests.browser.conftest import Site, each_size, login
from tests.browser.scripted import llm_server, script_a_buy, scripted_site
from tests.llm_servers import LlmServer

__all__ = ["llm_server"]  # the fixture, used by name
FILL_TIMEOUT_MS = 60_000
"""How long a page may take to show what a run or a sync did (a busy machine; no timing is asserted)."""
NO_TICKS = {"IBFLOW_TRACK_INTERVAL_SECONDS": "3600", "IBFLOW_WATCH_INTERVAL_SECONDS": "300"}


@pytest.fixture(scope="module")
def llm_site(tmp_path_factory: pytest.TempPathFactory, llm_server: LlmServer) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("orders-site")
    with scripted_site(folder, llm_server, ("buy-low", "buy-now"), **NO_TICKS) as site:
        yield site


def _sync(site: Site) -> dict[str, Any]:
    """What a trader's ``POST /api/v1/broker/sync`` answered (the tracking tick, forced)."""
    client = site.api("trader")
    try:
        answer = client.post("/api/v1/broker/sync")
    finally:
        client.close()
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _run(site: Site, name: str) -> None:
    client = site.api("trader")
    try:
        strategies = client.get("/api/v1/strategies").json()
        strategy_id = next(s["id"] for s in strategies if s["name"] == name)
        answer = client.post(f"/api/v1/strategies/{strategy_id}/run")
        assert answer.status_code < 300, answer.text
    finally:
        client.close()


def _entry_id(site: Site, name: str) -> int | None:
    client = site.api("viewer")
    try:
        orders = client.get("/api/v1/orders", params={"limit": 50}).json()
    finally:
        client.close()
    found = [o["id"] for o in orders if o["strategy"] == name and o["role"] == "entry"]
    return found[0] if found else None


def test_an_entry_fills_on_its_page_and_in_the_list_without_a_reload(
    page: Any, llm_site: Site, llm_server: LlmServer
) -> None:
    script_a_buy(llm_site, llm_server, entry="1.01", stop="0.96", target="1.12")  # marketable: fills
    login(page, llm_site, "trader", next_path="/orders")
    page.evaluate("() => { window.__notReloaded = true; }")
    _run(llm_site, "buy-now")
    row = page.locator("tr[data-order]", has_text="buy-now").filter(has_text="entry")
    row.first.wait_for(timeout=FILL_TIMEOUT_MS)  # the list gained the new entry live
    assert page.evaluate("() => window.__notReloaded === true")
    entry_id = row.first.get_attribute("data-order")
    page.goto(f"{llm_site.url}/orders/{entry_id}")
    page.evaluate("() => { window.__notReloaded = true; }")
    # Sent and acknowledged; the paper broker fills a marketable order on its next look, which is ibflow's
    # next tracking tick: none lands on its own here, so the order is working until one is forced.
    page.locator('#order-live [data-order-state="working"]').wait_for(timeout=FILL_TIMEOUT_MS)
    assert page.locator("tr[data-fill]").count() == 0
    synced = _sync(llm_site)
    (account,) = synced["accounts"]
    moved = {move["order_id"]: (move["before"], move["after"]) for move in account["orders"]}
    assert moved[int(entry_id)] == ("working", "filled")
    assert [fill["order_id"] for fill in account["fills"]] == [int(entry_id)]
    badge = page.locator('#order-live [data-order-state="filled"]')
    badge.first.wait_for(timeout=FILL_TIMEOUT_MS)  # from the event stream: the page was not touched
    assert page.evaluate("() => window.__notReloaded === true")  # the same document: updated live
    page.locator("tr[data-fill]").first.wait_for()
    fill = page.locator("tr[data-fill]").first.inner_text()
    assert re.search(r"\d+\.\d{2}\b", fill), fill  # the price at AAPL's tick
    assert "USD" in fill
    assert page.locator('tr[data-event-to="filled"]').count() == 1
    assert (
        page.locator("a.lineage").first.get_attribute("href", timeout=1000).startswith("/lineage?execution=")
    )
    page.goto(f"{llm_site.url}/orders")
    listed = page.locator(f'tr[data-order="{entry_id}"] [data-order-state]').inner_text()
    assert listed == "filled"
    page.get_by_role("button", name="Sync with broker").click()  # the trader's own: nothing left to learn
    page.locator("#flash .flash-ok", has_text="nothing changed").wait_for(timeout=FILL_TIMEOUT_MS)
    # an account the sync could not reach is a warning, not a green success (the answer as the API gives it)
    said = "synced with the broker: PAPER-1: not synced: away"
    partial = {"queued": False, "complete": False, "message": said}
    page.route("**/api/v1/broker/sync", lambda route: route.fulfill(json=partial))
    page.get_by_role("button", name="Sync with broker").click()
    page.locator("#flash .flash-warn", has_text="not synced: away").wait_for(timeout=FILL_TIMEOUT_MS)
    page.unroute("**/api/v1/broker/sync")
    each_size(page, f"{llm_site.url}/orders", "orders")
    each_size(page, f"{llm_site.url}/orders/{entry_id}", "order-filled")


def test_a_trader_cancels_a_working_entry_from_its_page(
    page: Any, llm_site: Site, llm_server: LlmServer
) -> None:
    script_a_buy(llm_site, llm_server, entry="0.98", stop="0.95", target="1.10")  # below the market: works
    _run(llm_site, "buy-low")
    login(page, llm_site, "trader", next_path="/orders?state=working")
    row = page.locator("tr[data-order]", has_text="buy-low").filter(has_text="entry")
    row.first.wait_for(timeout=FILL_TIMEOUT_MS)
    entry_id = row.first.get_attribute("data-order")
    page.goto(f"{llm_site.url}/orders/{entry_id}")
    page.locator('#order-live [data-order-state="working"]').wait_for(timeout=FILL_TIMEOUT_MS)
    each_size(page, f"{llm_site.url}/orders/{entry_id}", "order-working")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.evaluate("() => { window.__notReloaded = true; }")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#order-live button:has-text('Cancel order')")
    page.wait_for_selector("#flash .flash-ok")
    page.locator('#order-live [data-order-state="cancelled"]').wait_for(timeout=FILL_TIMEOUT_MS)
    assert page.evaluate("() => window.__notReloaded === true")
    assert page.locator("#order-live button:has-text('Cancel order')").count() == 0
    assert page.locator('tr[data-event-to="cancelled"]').count() == 1


def test_a_viewer_gets_no_cancel_button_and_a_direct_cancel_is_refused(
    page: Any, llm_site: Site, page_problems: Any
) -> None:
    entry_id = _entry_id(llm_site, "buy-now") or _entry_id(llm_site, "buy-low")
    assert entry_id is not None
    login(page, llm_site, "viewer", next_path=f"/orders/{entry_id}")
    assert page.locator("#order-live [data-post], #order-live form[data-action]").count() == 0
    assert page.get_by_role("button", name="Sync with broker").count() == 0
    page.goto(f"{llm_site.url}/orders")
    assert page.get_by_role("button", name="Sync with broker").count() == 0
    page_problems.allow(f"/api/v1/orders/{entry_id}/cancel")
    answer = page.evaluate(
        """async (id) => {
            const csrf = document.querySelector('meta[name="csrf-token"]').content;
            const r = await fetch('/api/v1/orders/' + id + '/cancel', {method: 'POST', headers: {
                'Content-Type': 'application/json', 'X-CSRF-Token': csrf},
                body: JSON.stringify({reason: 'x'})});
            return r.status;
        }""",
        entry_id,
    )
    assert answer == 403


def test_an_unknown_state_and_an_unknown_order_are_explained(
    page: Any, llm_site: Site, page_problems: Any
) -> None:
    page_problems.allow("/orders?state=bogus")
    page_problems.allow("/orders/999999")
    login(page, llm_site, "viewer", next_path="/orders?state=bogus")
    assert "There is no order state 'bogus'" in page.inner_text("#state-error")
    page.goto(f"{llm_site.url}/orders/999999")
    assert "There is no order 999999." in page.inner_text("[data-order-missing]")


@pytest.fixture(scope="module")
def asking_site(tmp_path_factory: pytest.TempPathFactory, llm_server: LlmServer) -> Iterator[Site]:
    """A site whose paper broker asks a question (o163) about every order until a trader answers."""
    folder = tmp_path_factory.mktemp("asking-site")
    with scripted_site(folder, llm_server, ("buy-asked",), IBFLOW_PAPER_QUESTIONS="o163") as site:
        yield site


def test_a_trader_rejects_an_order_the_broker_asks_about_with_a_reason(
    page: Any, asking_site: Site, llm_server: LlmServer
) -> None:
    script_a_buy(asking_site, llm_server, entry="1.01", stop="0.96", target="1.12")
    _run(asking_site, "buy-asked")
    login(page, asking_site, "trader", next_path="/orders?state=needs_confirmation")
    row = page.locator("tr[data-order]", has_text="buy-asked").filter(has_text="entry")
    row.first.wait_for(timeout=FILL_TIMEOUT_MS)
    entry_id = row.first.get_attribute("data-order")
    page.goto(f"{asking_site.url}/orders/{entry_id}")
    assert page.locator("#order-live button:has-text('Confirm')").count() == 1
    each_size(page, f"{asking_site.url}/orders/{entry_id}", "order-asked")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.evaluate("() => { window.__notReloaded = true; }")
    page.click("#order-live button:has-text('Reject')")
    page.fill("#reject-reason", "browser test: <b>not now</b>")
    page.click("#reject-dialog button[type=submit]")
    page.wait_for_selector("#flash .flash-ok")
    page.locator('#order-live [data-order-state="rejected"]').wait_for(timeout=FILL_TIMEOUT_MS)
    assert page.evaluate("() => window.__notReloaded === true")
    assert "browser test: <b>not now</b>" in page.inner_text("[data-order-reason]")
    assert page.locator("#order-live button:has-text('Confirm')").count() == 0
