"""The calls as lineage shows them: what the ledger wrote is what reading its rows back gives; chart bytes
are read only for a call that is made."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from ibflow.core.clock import ManualClock
from ibflow.db.engine import SessionFactory
from ibflow.db.models.executions import LlmCall
from ibflow.db.models.strategies import PromptTemplate, PromptVersion
from ibflow.llm.analyst import AnalystInput, CallOutcome, ChartRef, PromptText
from ibflow.llm.budget import Budget
from ibflow.llm.chat import ChatImage, ChatReply, ChatRequest
from ibflow.llm.costs import Price, PriceTable
from ibflow.llm.ledger import DbLedger, lineage
from ibflow.llm.llm_analyst import LlmAnalyst
from ibflow.llm.prompts import store

PRICES = PriceTable({}, Price(Decimal("2.5"), Decimal("10")))
HOLD = '{"action": "HOLD", "reasoning": "no setup"}'


def _ledger(sessions: SessionFactory, clock: ManualClock) -> DbLedger:
    budget = Budget(100_000, Decimal(5), 600.0, Decimal(50))
    return DbLedger(sessions, clock, budget, PRICES, "openai", cache_on=True, secrets=("sk-secret",))


def _request(user: str) -> ChatRequest:
    image = ChatImage("1d", "ab" * 32, b"\x89PNG", chart_id=7)
    return ChatRequest(model="gpt-4o", system="Be careful.", user=user, images=(image,))


def test_what_the_ledger_wrote_is_what_its_rows_read_back_give(
    sessions: SessionFactory, clock: ManualClock
) -> None:
    ledger = _ledger(sessions, clock)
    reply = ChatReply(HOLD + " sk-secret", stop_reason="stop", input_tokens=1200, output_tokens=40)
    outcomes = [
        CallOutcome("daily", None, _request("one"), reply, Decimal("0.0034567891"), cache_key="k1"),
        CallOutcome("weekly", None, _request("two"), None, Decimal(0), error="timeout sk-secret"),
        CallOutcome("consolidation", None, _request("three"), reply, Decimal(0), cached=True),
    ]
    ids = [ledger.record(outcome) for outcome in outcomes]
    with sessions() as session:
        rows = session.scalars(select(LlmCall).where(LlmCall.id.in_(ids)).order_by(LlmCall.id))
        read_back = [lineage(row) for row in rows]
    assert ledger.written(list(reversed(ids))) == read_back
    assert read_back[0]["cost"] == Decimal("0.00345679")
    assert "sk-secret" not in str(read_back)
    assert ledger.written([*ids, 10_000]) is None  # a call it did not write: the rows are read instead


def _text(found: tuple[PromptTemplate, PromptVersion]) -> PromptText:
    template, version = found
    return PromptText(template.role, version.body, version.id, template.name, version.version)


class _Chat:
    """A provider answering HOLD, keeping the PNG bytes it was sent."""

    provider, default_model, structured_mode = "openai", "gpt-4o", "json_schema"

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def complete(self, request: ChatRequest) -> ChatReply:
        self.sent += [image.png for image in request.images]
        return ChatReply(HOLD, stop_reason="stop", input_tokens=10, output_tokens=5)


class _Charts(dict[str, bytes]):
    """Chart bytes by timeframe, counting the reads."""

    reads = 0

    def __getitem__(self, timeframe: str) -> bytes:
        self.reads += 1
        return super().__getitem__(timeframe)


def test_a_cache_hit_never_reads_the_chart_bytes_and_a_miss_sends_them(
    sessions: SessionFactory, clock: ManualClock
) -> None:
    import pandas as pd

    chat, charts = _Chat(), _Charts({"1d": b"\x89PNG daily"})
    analyst = LlmAnalyst(chat, PRICES)
    with sessions() as session:
        store.add_version(session, name="brief", body="Analyse {{ symbol }}.", role="analysis", clock=clock)
        store.add_version(session, name="terse", body="Be terse.", role="system", clock=clock)
        session.commit()
        templates = {
            "analysis": _text(store.find_version(session, "brief")),
            "system": _text(store.find_version(session, "terse")),
        }
    request = AnalystInput(
        strategy_name="s",
        symbol="AAPL",
        as_of=clock.now(),
        last_price=Decimal("190.5"),
        daily=pd.DataFrame(),
        indicators=[],
        charts=[ChartRef("1d", "charts/1d.png", "cd" * 32, 3)],
        templates=templates,
        variables={"symbol": "AAPL"},
        chart_png=charts,
        ledger=_ledger(sessions, clock),
    )
    first = analyst.analyze(request)
    assert chat.sent == [b"\x89PNG daily"]
    reads = charts.reads
    second = analyst.analyze(request)
    assert second.signal == first.signal
    assert chat.sent == [b"\x89PNG daily"]  # answered from the cache
    assert charts.reads == reads
