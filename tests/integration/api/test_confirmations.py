"""Order questions on the embedded default: the paper broker asks (IBFLOW_PAPER_QUESTIONS), a trader answers.

What the web app's confirm / reject controls are tested against, without a gateway.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select
from tests.integration.api.conftest import Api, problem
from tests.integration.api.test_resources import _as, _buying, _run, _sync

from ibflow.db.models import AuditLog, Event, Order, Position
from ibflow.db.states import OrderRole, OrderState

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _asking_paper_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IBFLOW_PAPER_QUESTIONS", "o163")  # read when the api fixture builds the container


def _bracket(api: Api, strategy_id: int) -> dict[OrderRole, Order]:
    with api.container.read_sessions() as session:
        rows = session.scalars(select(Order).where(Order.strategy_id == strategy_id)).all()
    return {o.role: o for o in rows}


def test_an_asked_order_waits_with_the_question_and_a_trader_confirms_it(api: Api) -> None:
    spy = _buying(api)
    _run(api, spy)
    waiting = _bracket(api, spy)
    assert {o.state for o in waiting.values()} == {OrderState.NEEDS_CONFIRMATION}
    with api.container.read_sessions() as session:
        asked = session.scalars(select(Event).where(Event.kind == "order.needs_confirmation")).all()
    assert [e.entity_id for e in asked] == [waiting[OrderRole.ENTRY].id]
    assert "price percentage constraint" in asked[0].message

    viewer, trader = _as(api, "viewer"), _as(api, "trader")
    entry = waiting[OrderRole.ENTRY].id
    assert viewer.post(f"/orders/{entry}/confirm").status_code == 403
    confirmed = trader.post(f"/orders/{entry}/confirm")
    assert confirmed.status_code == 200, confirmed.text
    assert (confirmed.json()["state"], confirmed.json()["message_ids"]) == ("working", ["o163"])
    placed = _bracket(api, spy)
    assert placed[OrderRole.ENTRY].broker_order_id is not None
    assert {placed[OrderRole.STOP].state, placed[OrderRole.TARGET].state} == {OrderState.INACTIVE}
    assert placed[OrderRole.ENTRY].confirmed_questions == ["o163"]
    with api.container.read_sessions() as session:
        audit = session.scalars(select(AuditLog).where(AuditLog.action == "order.confirm")).one()
    assert (audit.actor, audit.target_id) == ("trader", str(entry))
    again = trader.post(f"/orders/{entry}/confirm")
    assert (again.status_code, "not waiting" in problem(again)["detail"]) == (409, True)


def test_a_trader_rejects_an_asked_order_and_nothing_is_sent(api: Api) -> None:
    spy = _buying(api)
    _run(api, spy)
    entry = _bracket(api, spy)[OrderRole.ENTRY]
    trader = _as(api, "trader")
    rejected = trader.post(f"/orders/{entry.id}/reject", json={"reason": "price too far from the market"})
    assert rejected.status_code == 200, rejected.text
    after = _bracket(api, spy)
    assert {o.state for o in after.values()} == {OrderState.REJECTED}
    assert all(o.broker_order_id is None for o in after.values())
    assert "price too far" in (after[OrderRole.ENTRY].reason or "")
    assert trader.post("/orders/987654/confirm").status_code == 404


def test_an_exit_the_broker_asks_about_ends_rejected_at_once_never_waiting(api: Api) -> None:
    spy = _buying(api)
    _run(api, spy)
    entry = _bracket(api, spy)[OrderRole.ENTRY]
    trader = _as(api, "trader")
    assert trader.post(f"/orders/{entry.id}/confirm").json()["state"] == "working"
    _sync(api)  # the marketable entry fills
    with api.container.read_sessions() as session:
        position = session.scalars(select(Position).where(Position.strategy_id == spy)).one()
    closed = trader.post(f"/positions/{position.id}/close")
    assert closed.status_code == 200, closed.text
    with api.container.read_sessions() as session:
        exits = session.scalars(select(Order).where(Order.role == OrderRole.EXIT)).all()
        waiting = session.scalars(select(Order).where(Order.state == OrderState.NEEDS_CONFIRMATION)).all()
    assert [o.state for o in exits] == [OrderState.REJECTED]
    assert "never waits for a confirmation" in (exits[0].reason or "")
    assert waiting == []  # nothing sits waiting for a person while a position is to be sold
