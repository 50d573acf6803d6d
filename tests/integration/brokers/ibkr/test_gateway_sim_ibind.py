"""IBind (github.com/Voyz/ibind, pinned in the dev extras), used as its documentation says, works unchanged
against the simulator: health, accounts, contract search, history, an order through the reply loop, live
orders, order status, the fill as a position, and executions.

The only settings given are the ones any IBind user gives for a local gateway: its URL and the account id
(and ``cacert=False``, which IBind's docs use for the gateway's self-signed certificate). IBind paces nothing
itself, so the simulator's rate limits are off here; its clock is moved with ``/sim/clock`` to let the
order fill.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest
from ibind import IbkrClient, OrderRequest, QuestionType
from tests.integration.brokers.ibkr.conftest import AAPL, Gateway

pytestmark = pytest.mark.integration


@pytest.fixture
def ibind(gateway: Callable[..., Gateway]) -> Iterator[tuple[IbkrClient, Gateway]]:
    gw = gateway(questions=("o163", "o451"))
    client = IbkrClient(
        url=str(gw.api.base_url),  # .../v1/api/, as IBind expects
        account_id=gw.account,
        cacert=False,
        use_session=False,
        auto_register_shutdown=False,
    )
    yield client, gw
    client.close()


def test_ibind_trades_through_the_simulator(ibind: tuple[IbkrClient, Gateway]) -> None:
    client, gw = ibind
    assert client.check_health() is True
    assert client.check_auth_status() is True
    assert [a["id"] for a in client.portfolio_accounts().data] == [gw.account]
    assert client.receive_brokerage_accounts().data["accounts"] == [gw.account]

    assert client.stock_conid_by_symbol("AAPL").data == {"AAPL": AAPL}
    found = client.search_contract_by_symbol("AAPL").data
    assert found[0]["conid"] == str(AAPL)
    history = client.marketdata_history_by_conid(str(AAPL), bar="1d", period="10d").data
    assert len(history["data"]) == 10

    first = client.live_marketdata_snapshot(str(AAPL), ["31", "84", "86"]).data
    assert first == [{"conid": AAPL, "conidEx": str(AAPL)}]
    quote = client.live_marketdata_snapshot(str(AAPL), ["31", "84", "86"]).data[0]
    last = Decimal(quote["31"])

    request = OrderRequest(
        conid=AAPL,
        side="BUY",
        quantity=3,
        order_type="LMT",
        price=float(last + 1),  # marketable: fills on the next look at the market
        acct_id=gw.account,
        coid="ibind-1",
        tif="DAY",
    )
    answers = {QuestionType.PRICE_PERCENTAGE_CONSTRAINT: True, QuestionType.ORDER_VALUE_LIMIT: True}
    placed = client.place_order(request, answers).data  # two questions, each answered through /reply
    order_id = placed["order_id"]
    assert placed["order_status"] == "Submitted"

    assert client.live_orders(force=True).data["orders"] == []  # IBind's documented pre-flight
    listed = client.live_orders().data["orders"]
    assert [(o["orderId"], o["order_ref"]) for o in listed] == [(int(order_id), "ibind-1")]

    gw.advance(30)
    status = client.order_status(order_id).data
    assert status["order_status"] == "Filled"
    assert Decimal(status["average_price"]) <= last + 1

    assert client.invalidate_backend_portfolio_cache().data == {"message": "success"}
    held = client.positions().data
    assert [(p["conid"], p["position"]) for p in held] == [(AAPL, 3.0)]
    trades = client.trades().data
    assert [(t["order_ref"], t["side"], t["size"]) for t in trades] == [("ibind-1", "B", 3.0)]
