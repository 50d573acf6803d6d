"""Symbol search and contract details, cached in ``symbols`` (with a TTL) and in the query cache."""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ibflow.brokers.base import Broker, Contract
from ibflow.core.clock import Clock
from ibflow.core.errors import ValidationError
from ibflow.core.ids import Conid
from ibflow.db.models.market import Symbol
from ibflow.marketdata.cache import QueryCache

MAX_QUERY_LENGTH = 64


class ContractService:
    """Find contracts and keep their details fresh enough."""

    def __init__(
        self,
        broker: Broker,
        cache: QueryCache,
        clock: Clock,
        ttl: timedelta = timedelta(days=1),
    ) -> None:
        self._broker = broker
        self._cache = cache
        self._clock = clock
        self._ttl = ttl

    def search(self, session: Session, query: str) -> list[Contract]:
        """Return contracts matching ``query`` (symbol or name), caching the answer and each contract."""
        cleaned = query.strip()
        if not cleaned or len(cleaned) > MAX_QUERY_LENGTH:
            raise ValidationError(
                "search needs a symbol or company name",
                {"query": f"give 1 to {MAX_QUERY_LENGTH} characters, got {len(cleaned)}"},
            )
        key = f"contracts:search:{self._broker.name}:{cleaned.upper()}"
        hit = self._cache.get(key)
        if hit is not None:
            return [_from_json(item) for item in hit]
        found = self._broker.search_contracts(cleaned)
        for contract in found:
            self._upsert(session, contract)
        self._cache.set(key, [_to_json(c) for c in found], self._ttl.total_seconds())
        return found

    def details(self, session: Session, conid: Conid) -> Contract:
        """Return the contract from ``symbols`` when fresh, else from the broker (and cache it)."""
        row = session.scalars(select(Symbol).where(Symbol.conid == conid)).one_or_none()
        if row is not None and self._clock.now() - row.fetched_at < self._ttl:
            return _from_row(row)
        contract = self._broker.contract_details(conid)
        self._upsert(session, contract)
        return contract

    def _upsert(self, session: Session, contract: Contract) -> None:
        # One statement, so two processes looking up a new contract at once both succeed (a select, then
        # an insert, lost the race on the unique conid for one of them).
        values = {
            "symbol": contract.symbol,
            "name": contract.name,
            "sec_type": contract.sec_type,
            "exchange": contract.exchange,
            "currency": contract.currency,
            "min_tick": contract.min_tick,
            "details": _to_json(contract),
            "fetched_at": self._clock.now(),
        }
        insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
        statement = insert(Symbol).values(conid=contract.conid, **values)
        session.execute(statement.on_conflict_do_update(index_elements=["conid"], set_=values))
        for loaded in list(session.identity_map.values()):  # a row already loaded reads the new values
            if isinstance(loaded, Symbol) and loaded.conid == contract.conid:
                session.expire(loaded)


def _to_json(contract: Contract) -> dict[str, Any]:
    data = asdict(contract)
    data["min_tick"] = str(contract.min_tick)
    return data


def _from_json(data: dict[str, Any]) -> Contract:
    return Contract(**{**data, "conid": Conid(int(data["conid"])), "min_tick": Decimal(data["min_tick"])})


def _from_row(row: Symbol) -> Contract:
    return Contract(
        conid=Conid(row.conid),
        symbol=row.symbol,
        name=row.name,
        sec_type=row.sec_type,
        exchange=row.exchange,
        currency=row.currency,
        min_tick=row.min_tick,
    )
