"""The portfolio page in Chromium: the equity and drawdown charts draw (uPlot canvases of real size, no
console or CSP error), follow the period buttons, the theme and a refresh; the page passes at both sizes."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from tests.browser.conftest import PHONE, SCREENSHOTS, Site, each_size, login

from ibflow.db.engine import make_engine, session_factory
from ibflow.db.models import PortfolioSnapshot, Position, Trade
from ibflow.db.states import PositionStatus

CANVAS = '[data-plot="{}"] .uplot canvas'
DAYS = 120


@pytest.fixture(scope="module")
def history(site: Site) -> Site:
    """Four months of hourly snapshots of the paper account and two closed trades, into its database."""
    engine = make_engine(site.env["IBFLOW_DATABASE_URL"])
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    try:
        with session_factory(engine)() as session:
            for hour in range(DAYS * 24, 0, -1):
                dip = Decimal(1_500 if 700 < hour < 760 else 0)
                equity = Decimal(100_000) + Decimal((hour * 37) % 900) - dip
                session.add(
                    PortfolioSnapshot(
                        account_id="PAPER-1",
                        taken_at=now - timedelta(hours=hour),
                        cash=equity,
                        equity=equity,
                        positions_value=Decimal(0),
                        realized_pnl=Decimal(0),
                        unrealized_pnl=Decimal(0),
                        positions=[],
                    )
                )
            for days, pnl in ((5, Decimal(120)), (2, Decimal(-40))):
                session.add(
                    Trade(
                        account_id="PAPER-1",
                        conid=265598,
                        symbol="AAPL",
                        quantity=Decimal(10),
                        entry_price=Decimal(150),
                        exit_price=Decimal(150) + (pnl + 2) / 10,
                        gross_pnl=pnl + 2,
                        commissions=Decimal(2),
                        net_pnl=pnl,
                        r_multiple=pnl / 100,
                        exit_reason="target" if pnl > 0 else "stop",
                        opened_at=now - timedelta(days=days, hours=3),
                        closed_at=now - timedelta(days=days),
                    )
                )
            session.add(
                Position(
                    account_id="PAPER-1",
                    strategy_id=1,
                    conid=265598,
                    symbol="AAPL",
                    status=PositionStatus.OPEN,
                    quantity=Decimal(10),
                    avg_cost=Decimal("151.37"),
                    realized_pnl=Decimal(0),
                    opened_at=now - timedelta(days=1),
                    updated_at=now - timedelta(days=1),
                )
            )
            session.commit()
    finally:
        engine.dispose()
    return site


def _chart_size(page: Any, kind: str) -> tuple[float, float]:
    box = page.locator(CANVAS.format(kind)).first.bounding_box()
    assert box is not None
    return box["width"], box["height"]


def test_the_equity_and_drawdown_charts_draw_and_the_page_passes_at_both_sizes(
    page: Any, history: Site
) -> None:
    login(page, history, "viewer", next_path="/portfolio")
    page.wait_for_selector(CANVAS.format("equity"))
    page.wait_for_selector(CANVAS.format("drawdown"))
    width, height = _chart_size(page, "equity")
    assert width > 300
    assert height > 100
    assert _chart_size(page, "drawdown")[1] > 50
    counted = re.search(r"([\d,]+) snapshots, drawn with ([\d,]+) points", page.inner_text("main"))
    assert counted, "no note of the thinning"
    assert int(counted.group(1).replace(",", "")) >= DAYS * 24  # ibflow serve may have taken one of its own
    assert int(counted.group(2).replace(",", "")) <= 1000
    legend = page.locator('[data-plot="equity"] .u-legend').inner_text()
    assert "Equity" in legend

    each_size(page, f"{history.url}/portfolio", "portfolio")
    page.wait_for_selector(CANVAS.format("equity"))
    width, _ = _chart_size(page, "equity")
    assert 200 <= width <= PHONE["width"]  # the chart fits the phone's width
    assert page.locator("table.cards tr[data-trade]").count() == 2
    position = page.locator("table.cards tr[data-position]")
    assert position.count() == 1
    assert "151.37" in position.inner_text()
    assert position.get_by_role("link", name="Orders of").get_attribute("href") == "/orders?strategy=1"


def _shown_days(page: Any, kind: str) -> float:
    figure = page.locator(f'[data-plot="{kind}"]')
    return (int(figure.get_attribute("data-shown-to")) - int(figure.get_attribute("data-shown-from"))) / 86400


def test_period_buttons_theme_and_refresh_redraw_the_chart(page: Any, history: Site) -> None:
    login(page, history, "trader", next_path="/portfolio")
    page.wait_for_selector(CANVAS.format("equity"))
    assert _shown_days(page, "equity") > DAYS - 1
    page.get_by_role("button", name="1M (1 month)").click()
    assert page.get_by_role("button", name="1M (1 month)").get_attribute("aria-pressed") == "true"
    assert (
        page.get_by_role("button", name="All (since the first snapshot)").get_attribute("aria-pressed")
        == "false"
    )
    assert _shown_days(page, "equity") == 30
    assert _shown_days(page, "drawdown") == 30

    old = page.locator(CANVAS.format("equity")).element_handle()
    page.get_by_role("button", name="Theme: auto").click()  # auto -> light: the charts are drawn again
    page.wait_for_function("(old) => !old.isConnected", arg=old)
    page.get_by_role("button", name="Theme: light").click()  # light -> dark
    page.wait_for_selector(CANVAS.format("equity"))
    assert page.locator(".uplot").count() == 2  # the old charts went, not piled up
    assert _shown_days(page, "equity") == 30  # the period chosen stays
    page.locator(".equity-charts").first.screenshot(path=str(SCREENSHOTS / "portfolio-chart-dark.png"))

    old = page.locator(CANVAS.format("equity")).element_handle()
    page.get_by_role("button", name="Refresh").click()
    page.wait_for_function("(old) => !old.isConnected", arg=old)
    page.wait_for_selector(CANVAS.format("equity"))
    assert page.locator(".uplot").count() == 2
    assert page.get_by_role("button", name="1M (1 month)").get_attribute("aria-pressed") == "true"
    assert _shown_days(page, "equity") == 30
