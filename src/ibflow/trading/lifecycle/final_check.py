"""The final re-check of an entry, under the account lock, right before its broker call.

An execution judges its entry with numbers read before the analyst was called, and the analyst may think
for minutes; a crash may leave a bracket written and unsent for days. So, holding the account lock:

1. ``fresh_snapshot`` reads the broker again — the quote and its flag (halted, frozen, delayed), the
   account summary, what the broker holds of the contract — and every risk check runs on those numbers
   (``checks.evaluate_entry``: the kill switch, the strategy's state, every limit, data quality). A bracket
   written before a crash is judged the same way (``written_intent`` rebuilds what it was; ``Written``
   keeps its own rows from counting against it and forbids resizing it).
2. ``entry_refusal`` is the sender's last look, after the rows are committed and just before the call:
   a halt committed meanwhile, or the strategy paused or archived, stops the bracket (``trading halt``
   then waits for the lock, so once it returns, no entry can reach the broker).
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from sqlalchemy.orm import Session

from ibflow.brokers.base import Broker, QuoteFlag
from ibflow.core.errors import retry_reads
from ibflow.core.ids import AccountId, Conid, ExecutionId, SignalId, StrategyId
from ibflow.db.engine import SessionFactory
from ibflow.db.models import Order, Strategy, TradingSignal
from ibflow.trading.intents import EntryIntent, IntentAction, StrategyLimits
from ibflow.trading.risk.checks import MarketSnapshot, Written, standing_block


def fresh_snapshot(broker: Broker, account_id: str, conid: int, earlier: MarketSnapshot) -> MarketSnapshot:
    """Return ``earlier`` with the quote flag, the account summary and the broker's position read again.

    The re-check only ever tightens what the run saw: a flag already bad stays, equity and buying power
    are the lower of the two reads. The run's last price stays the reference for the entry's distance
    (the analyst priced the entry against it).
    """
    fresh = retry_reads()(broker.quote)(Conid(conid))
    flag = earlier.quote.flag if earlier.quote.flag is not QuoteFlag.LIVE else fresh.flag
    summary = retry_reads()(broker.account_summary)(AccountId(account_id))
    account = dataclasses.replace(
        summary,
        net_liquidation=min(summary.net_liquidation, earlier.account.net_liquidation),
        buying_power=min(summary.buying_power, earlier.account.buying_power),
    )
    return dataclasses.replace(
        earlier,
        quote=dataclasses.replace(earlier.quote, flag=flag),
        account=account,
        broker_position=broker_holds(broker, account_id, conid),
    )


def broker_holds(broker: Broker, account_id: str, conid: int) -> Decimal:
    """What the broker holds of ``conid`` in the account, now."""
    positions = retry_reads()(broker.positions)(AccountId(account_id))
    return sum((p.quantity for p in positions if p.conid == conid), Decimal(0))


def snapshot_now(broker: Broker, account_id: str, conid: int) -> MarketSnapshot:
    """Read a snapshot for a bracket written earlier (no run gathered one): contract, quote, account.

    Market hours are not judged again here: the entry's DAY expiry already bounds when it may go out.
    """
    contract = retry_reads()(broker.contract_details)(Conid(conid))
    return MarketSnapshot(
        account=retry_reads()(broker.account_summary)(AccountId(account_id)),
        quote=retry_reads()(broker.quote)(Conid(conid)),
        min_tick=contract.min_tick,
        broker_position=broker_holds(broker, account_id, conid),
    )


def entry_refusal(sessions: SessionFactory, strategy_id: int | None) -> str | None:
    """Say why no entry may be sent now (the kill switch, the strategy's state), or None; read fresh."""
    with sessions() as session:
        block = standing_block(session, strategy_id)
    return None if block is None else f"{block[0].value}: {block[1]}"


def limits_of_strategy(strategy: Strategy) -> StrategyLimits:
    """The strategy's risk limits as its row holds them now."""
    return StrategyLimits(
        mode=strategy.mode,
        risk_per_trade=strategy.risk_per_trade,
        max_position_value=strategy.max_position_value,
        max_quantity=strategy.max_quantity,
        max_entries_per_day=strategy.max_entries_per_day,
        min_reward_risk=strategy.min_reward_risk,
        min_confidence=strategy.min_confidence,
        max_entry_deviation=strategy.max_entry_deviation,
    )


def written_intent(session: Session, parent: Order, children: list[Order]) -> tuple[EntryIntent, Written]:
    """Rebuild the intent a written bracket was made from (levels as written), and its ``Written``."""
    stop = next(c for c in children if c.stop_price is not None)
    target = next(c for c in children if c is not stop)
    signal = session.get(TradingSignal, parent.signal_id) if parent.signal_id is not None else None
    intent = EntryIntent(
        strategy_id=StrategyId(parent.strategy_id or 0),
        account_id=AccountId(parent.account_id),
        conid=Conid(parent.conid),
        symbol=parent.symbol,
        action=IntentAction.BUY,
        created_at=parent.created_at,
        signal_id=None if parent.signal_id is None else SignalId(parent.signal_id),
        execution_id=None if parent.execution_id is None else ExecutionId(parent.execution_id),
        entry=parent.limit_price,
        stop=stop.stop_price,
        target=target.limit_price,
        confidence=None if signal is None else signal.confidence,
        expires_at=parent.expires_at,
    )
    ids = frozenset(order.id for order in (parent, *children))
    return intent, Written(order_ids=ids, quantity=parent.quantity)
