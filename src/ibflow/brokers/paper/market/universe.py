"""The simulated market's bundled universe: real US stocks and ETFs with their simulation parameters.

``universe.csv`` (package data) lists each instrument once. Conids below 2,100,000,000 are the real IBKR
ones; 2,100,000,001 and up are stable made-up ids for symbols whose IBKR conid we did not verify, kept in a
range IBKR does not use so they can never be mistaken for a real contract.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from importlib import resources

from ibflow.brokers.base import Contract
from ibflow.core.errors import NotFound
from ibflow.core.ids import Conid

PAPER_ONLY_CONIDS_FROM = 2_100_000_001
"""Made-up conids start here; every conid below is a real IBKR one."""


@dataclass(frozen=True)
class Instrument:
    """A contract of the simulated market and the parameters of its price path."""

    contract: Contract
    reference_price: Decimal
    vol_low: float
    vol_high: float
    avg_daily_volume: int

    @property
    def conid(self) -> Conid:
        """Return the contract id."""
        return self.contract.conid

    @property
    def symbol(self) -> str:
        """Return the ticker symbol."""
        return self.contract.symbol

    @property
    def min_tick(self) -> Decimal:
        """Return the minimum price increment."""
        return self.contract.min_tick


class Universe:
    """The instruments of the simulated market, looked up by conid or symbol."""

    def __init__(self, instruments: list[Instrument]) -> None:
        self._by_conid = {i.conid: i for i in instruments}
        self._by_symbol = {i.symbol: i for i in instruments}
        if len(self._by_conid) != len(instruments) or len(self._by_symbol) != len(instruments):
            raise ValueError("the universe repeats a conid or a symbol")

    def __len__(self) -> int:
        return len(self._by_conid)

    def __iter__(self) -> Iterator[Instrument]:
        return iter(self._by_conid.values())

    def instruments(self) -> list[Instrument]:
        """Return every instrument, in file order."""
        return list(self._by_conid.values())

    def get(self, conid: int) -> Instrument | None:
        """Return the instrument with ``conid``, or ``None``."""
        return self._by_conid.get(Conid(conid))

    def instrument(self, conid: int) -> Instrument:
        """Return the instrument with ``conid``; ``NotFound`` when the market does not list it."""
        found = self.get(conid)
        if found is None:
            raise NotFound(f"conid {conid} is not in the simulated market's universe")
        return found

    def by_symbol(self, symbol: str) -> Instrument:
        """Return the instrument with ``symbol`` (case-insensitive); ``NotFound`` when unknown."""
        found = self._by_symbol.get(symbol.strip().upper())
        if found is None:
            raise NotFound(f"symbol {symbol!r} is not in the simulated market's universe")
        return found

    def search(self, query: str) -> list[Contract]:
        """Return contracts matching ``query``: exact symbol first, then symbol prefix, then name words."""
        text = query.strip().upper()
        if not text:
            return []
        exact, prefix, in_name = [], [], []
        for item in self._by_conid.values():
            symbol, name = item.symbol, item.contract.name.upper()
            if symbol == text:
                exact.append(item.contract)
            elif symbol.startswith(text):
                prefix.append(item.contract)
            elif text in name:
                in_name.append(item.contract)
        prefix.sort(key=lambda c: (len(c.symbol), c.symbol))
        in_name.sort(key=lambda c: c.symbol)
        return exact + prefix + in_name


def _parse_row(row: dict[str, str]) -> Instrument:
    contract = Contract(
        conid=Conid(int(row["conid"])),
        symbol=row["symbol"].strip().upper(),
        name=row["name"].strip(),
        sec_type=row["sec_type"].strip(),
        exchange=row["exchange"].strip(),
        currency=row["currency"].strip(),
        min_tick=Decimal(row["min_tick"]),
    )
    instrument = Instrument(
        contract=contract,
        reference_price=Decimal(row["reference_price"]),
        vol_low=float(row["vol_low"]),
        vol_high=float(row["vol_high"]),
        avg_daily_volume=int(row["avg_daily_volume"]),
    )
    if not 0 < instrument.vol_low < instrument.vol_high or instrument.reference_price <= 0:
        raise ValueError(f"bad simulation parameters for {contract.symbol}")
    return instrument


@lru_cache(maxsize=1)
def default_universe() -> Universe:
    """Load the bundled universe (``universe.csv``) once."""
    text = resources.files("ibflow.brokers.paper.market").joinpath("universe.csv").read_text(encoding="utf-8")
    return Universe([_parse_row(row) for row in csv.DictReader(text.splitlines())])
