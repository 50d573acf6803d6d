"""The portfolio page as a browser gets it: the figures the API's ``/portfolio/summary`` and ``/statistics``
answer for the same database, open positions with their stop and target and a link to their lineage, the
closed trades, the equity series (thinned on a long history), an empty installation, and a viewer's page."""

from __future__ import annotations

import html
import json
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.factories import make_execution
from tests.integration.web.conftest import Api
from tests.unit.trading.risk_cases import add_order, add_position, add_trade

from ibflow.brokers.base import OrderRequest
from ibflow.core.ids import AccountId, ClientOrderId, Conid
from ibflow.db.models import PortfolioSnapshot, Strategy
from ibflow.db.states import OrderRole, OrderSide, OrderState, OrderType, PositionStatus, TimeInForce
from ibflow.trading.portfolio.valuation import take_snapshot
from ibflow.web.pages.portfolio_parts import MAX_POINTS

pytestmark = pytest.mark.integration


def _login(site: Api, username: str) -> TestClient:
    client = site.login(username)
    client.follow_redirects = False
    return client


def _figure(page: str, name: str) -> str:
    found = re.search(rf'data-figure="{name}">(.*?)</dd>', page, re.DOTALL)
    assert found, f"no figure {name}"
    return re.sub(r"<[^>]+>", "", found.group(1)).strip()


def _money(text: str) -> Decimal:
    return Decimal(text.replace(",", "").replace("+", ""))


def _series(page: str) -> dict[str, list[float]]:
    found = re.search(r"data-chart-series='([^']*)'", page)
    assert found, "no series data"
    data: dict[str, list[float]] = json.loads(html.unescape(found.group(1)))
    return data


def _trading_history(site: Api) -> dict[str, int]:
    """Buy 10 AAPL at the paper broker and keep ibflow's books of it (a position with its entry, stop and
    target), three closed trades, two days of hourly snapshots and the newest one from the broker."""
    handle = site.container.accounts()[0]
    account = AccountId(handle.account_id)
    with site.container.sessions() as session:
        strategy = session.scalars(select(Strategy).where(Strategy.name == "demo-aapl-trend")).one()
        conid = strategy.conid
        strategy_id = strategy.id
    handle.broker.place_order(
        account,
        OrderRequest(
            client_order_id=ClientOrderId("ibf-test-portfolio-1"),
            conid=Conid(conid),
            side=OrderSide.BUY,
            order_type=OrderType.MARKET,
            quantity=Decimal(10),
            tif=TimeInForce.DAY,
        ),
    )
    site.clock.advance(timedelta(hours=3))  # filled, and the price moved: unrealized P&L
    (held,) = handle.broker.positions(account)
    now = site.clock.now()
    with site.container.sessions() as session:
        execution = make_execution(session, strategy, now=now)
        position = add_position(
            session,
            site.clock,
            strategy_id=strategy_id,
            conid=conid,
            quantity=Decimal(10),
            avg_cost=held.avg_cost,
            realized_pnl=Decimal("12.50"),
        )
        entry = add_order(
            session,
            site.clock,
            strategy_id=strategy_id,
            conid=conid,
            state=OrderState.FILLED,
            quantity=Decimal(10),
        )
        stop = add_order(
            session,
            site.clock,
            strategy_id=strategy_id,
            conid=conid,
            state=OrderState.WORKING,
            role=OrderRole.STOP,
        )
        target = add_order(
            session,
            site.clock,
            strategy_id=strategy_id,
            conid=conid,
            state=OrderState.WORKING,
            role=OrderRole.TARGET,
        )
        entry.execution_id = execution.id
        stop.stop_price, stop.limit_price = Decimal("140.5"), None
        target.limit_price = Decimal("190.25")
        for order in (entry, stop, target):
            order.position_id = position.id
        add_position(  # another contract: one position per strategy and contract
            session,
            site.clock,
            strategy_id=strategy_id,
            conid=conid + 1,
            status=PositionStatus.CLOSED,
            realized_pnl=Decimal(130),
        )
        for days, pnl, r in ((3, "150", "1.5"), (2, "-50", "-0.5"), (1, "30", "0.3")):
            add_trade(
                session,
                strategy_id=strategy_id,
                net_pnl=Decimal(pnl),
                r_multiple=Decimal(r),
                closed_at=now - timedelta(days=days),
                conid=conid,
            )
        for hours in range(48, 0, -1):
            equity = Decimal(100_000) + Decimal(hours % 7 * 40) - Decimal(200 if hours == 20 else 0)
            session.add(
                PortfolioSnapshot(
                    account_id=handle.account_id,
                    taken_at=now - timedelta(hours=hours),
                    cash=equity,
                    equity=equity,
                    positions_value=Decimal(0),
                    realized_pnl=Decimal(0),
                    unrealized_pnl=Decimal(0),
                    positions=[],
                )
            )
        session.commit()
        made = {"position": position.id, "execution": execution.id, "strategy": strategy_id}
    with site.container.sessions() as session:  # the paper broker's books take their own transaction
        take_snapshot(session, broker=handle.broker, account_id=handle.account_id, clock=site.clock)
        session.commit()
    return made


def test_the_figures_are_the_apis_for_the_same_database(site: Api) -> None:
    made = _trading_history(site)
    client = _login(site, "trader")
    answer = client.get("/portfolio")
    assert answer.status_code == 200
    page = answer.text
    (summary,) = client.get("/api/v1/portfolio/summary").json()
    for name in ("equity", "cash", "unrealized_pnl", "realized_pnl", "positions_value"):
        assert _money(_figure(page, name)) == Decimal(summary[name]).quantize(Decimal("0.01")), name
    assert Decimal(summary["unrealized_pnl"]) != 0
    assert _money(_figure(page, "realized_pnl")) == Decimal("142.50")  # 12.50 + 130 from ibflow's books
    stats = client.get("/api/v1/portfolio/statistics").json()
    assert _figure(page, "trades").startswith(f"{stats['trades']} (2 won, 1 lost")
    assert _figure(page, "win_rate") == f"{Decimal(stats['win_rate']) * 100:.1f} %" == "66.7 %"
    assert _figure(page, "profit_factor") == f"{Decimal(stats['profit_factor']):.2f}" == "3.60"
    assert _figure(page, "average_r") == f"{Decimal(stats['average_r']):+.2f} R" == "+0.43 R"
    assert _money(_figure(page, "max_drawdown")) == Decimal(stats["max_drawdown"]) == Decimal(50)
    assert _money(_figure(page, "net_pnl")) == Decimal(stats["net_pnl"]) == Decimal(130)

    (position,) = client.get("/api/v1/positions").json()
    row = page[page.index(f'data-position="{made["position"]}"') :]
    row = row[: row.index("</tr>")]
    assert "<strong>AAPL</strong>" in row
    assert ">140.50<" in row  # the live stop and target orders' prices, at the tick
    assert ">190.25<" in row
    assert f'href="/lineage?execution={made["execution"]}"' in row
    assert f'href="/orders?strategy={made["strategy"]}"' in row
    assert position["market_price"] is not None
    assert f">{Decimal(position['market_price']):.2f} " in row
    assert f"{Decimal(position['unrealized_pnl']).quantize(Decimal('0.01')):,}" in row

    trades = client.get("/api/v1/trades").json()
    rows = re.findall(r'<tr data-trade="(\d+)">', page)
    assert [int(i) for i in rows] == [t["id"] for t in trades]  # newest first, as the API
    newest = page[page.index(f'data-trade="{trades[0]["id"]}"') :]
    newest = newest[: newest.index("</tr>")]
    assert "+30.00" in newest
    assert "+0.30" in newest

    series = _series(page)
    snapshots = client.get("/api/v1/portfolio/snapshots").json()
    assert len(series["t"]) == len(snapshots) == 49  # few points: every one is drawn
    assert series["equity"][-1] == float(Decimal(summary["equity"]).quantize(Decimal("0.01")))
    assert min(series["drawdown"]) < 0
    assert all(value <= 0 for value in series["drawdown"])
    assert " style=" not in page  # the CSP refuses inline styles
    assert re.search(r"<script(?![^>]*src=)", page) is None  # no inline script


def test_a_long_history_is_thinned_keeping_its_extremes(site: Api) -> None:
    handle = site.container.accounts()[0]
    start = site.clock.now() - timedelta(days=365)
    with site.container.sessions() as session:
        for hour in range(365 * 24):
            equity = Decimal(100_000 + hour % 500) - Decimal(9_000 if hour == 4_321 else 0)
            session.add(
                PortfolioSnapshot(
                    account_id=handle.account_id,
                    taken_at=start + timedelta(hours=hour),
                    cash=equity,
                    equity=equity,
                    positions_value=Decimal(0),
                    realized_pnl=Decimal(0),
                    unrealized_pnl=Decimal(0),
                    positions=[],
                )
            )
        session.commit()
    page = _login(site, "viewer").get("/portfolio").text
    series = _series(page)
    assert 300 < len(series["t"]) <= MAX_POINTS
    assert series["t"] == sorted(series["t"])
    assert min(series["equity"]) == 100_000 + 4_321 % 500 - 9_000  # the deepest trough survives
    assert max(series["equity"]) == 100_499
    assert series["t"][-1] == int((start + timedelta(hours=365 * 24 - 1)).timestamp())  # the newest too
    assert "8,760 snapshots, drawn with" in page
    assert len(page.encode()) < 120_000


def test_an_empty_installation_says_what_will_show(site: Api) -> None:
    answer = _login(site, "viewer").get("/portfolio")
    assert answer.status_code == 200
    page = answer.text
    assert "No snapshot of this account yet" in page
    assert "No open position." in page
    assert "No closed trade yet: win rate, profit factor" in page
    assert "No closed trade yet.</td>" in page
    assert "data-chart-series" not in page  # no chart without a snapshot
    assert '<a href="/portfolio" aria-current="page">Portfolio</a>' in page

    handle = site.container.accounts()[0]
    with site.container.sessions() as session:
        take_snapshot(session, broker=handle.broker, account_id=handle.account_id, clock=site.clock)
        session.commit()
    page = _login(site, "viewer").get("/portfolio").text
    assert _money(_figure(page, "equity")) == Decimal(100_000)
    assert "One snapshot so far: the equity curve and drawdown draw from the second one on." in page
    assert "data-chart-series" not in page  # one point is no curve


def test_a_viewer_has_no_write_control(site: Api) -> None:
    _trading_history(site)
    viewer = _login(site, "viewer").get("/portfolio").text
    trader = _login(site, "trader").get("/portfolio").text
    for page in (viewer, trader):
        assert "Refresh</button>" in page  # a read: it reloads the figures for anyone
        assert 'data-figure="equity"' in page
    writes = re.compile(r'data-(?:post|action)="(?!/api/v1/auth/logout)')
    assert writes.search(viewer) is None
    assert "halt-dialog" not in viewer
    assert 'method="post"' not in viewer.lower()


def test_a_page_needs_a_login(site: Api) -> None:
    answer = site.fresh().get("/portfolio", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/portfolio"
