"""The bundled universe: real US stocks and ETFs with stable conids and sane simulation parameters."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ibflow.brokers.paper.market.universe import (
    PAPER_ONLY_CONIDS_FROM,
    Instrument,
    Universe,
    default_universe,
)
from ibflow.core.errors import NotFound


def test_the_universe_has_at_least_fifty_us_stocks_and_etfs() -> None:
    universe = default_universe()
    assert len(universe) >= 50
    for item in universe:
        assert item.contract.sec_type == "STK"
        assert item.contract.currency == "USD"
        assert item.min_tick == Decimal("0.01")
        assert item.contract.exchange in {"NASDAQ", "NYSE", "ARCA"}
        assert item.contract.name
        assert item.symbol.isupper()
        assert item.reference_price > 0
        assert 0 < item.vol_low < item.vol_high < 1
        assert item.avg_daily_volume >= 1_000_000
    etfs = {"SPY", "QQQ", "IWM", "GLD", "TLT", "DIA"}
    assert etfs <= {item.symbol for item in universe}


@pytest.mark.parametrize(
    ("symbol", "conid"),
    [("AAPL", 265598), ("SPY", 756733), ("MSFT", 272093), ("TSLA", 76792991), ("QQQ", 320227571)],
)
def test_well_known_symbols_carry_their_real_ibkr_conids(symbol: str, conid: int) -> None:
    assert default_universe().by_symbol(symbol).conid == conid
    assert default_universe().instrument(conid).symbol == symbol


def test_made_up_conids_sit_in_their_own_range() -> None:
    made_up = [i for i in default_universe() if i.conid >= PAPER_ONLY_CONIDS_FROM]
    assert made_up, "the bundled file uses the paper-only range"
    assert all(i.conid < 2_147_483_647 for i in made_up)  # still a 32-bit int, as IBKR conids are


def test_volatility_bands_follow_the_kind_of_instrument() -> None:
    universe = default_universe()
    spy, aapl, tsla = (universe.by_symbol(s) for s in ("SPY", "AAPL", "TSLA"))
    assert (spy.vol_low, spy.vol_high) == (0.12, 0.25)
    assert (aapl.vol_low, aapl.vol_high) == (0.20, 0.40)
    assert (tsla.vol_low, tsla.vol_high) == (0.40, 0.80)


def test_search_puts_the_exact_symbol_first_then_prefixes_then_names() -> None:
    universe = default_universe()
    assert [c.symbol for c in universe.search("aapl")] == ["AAPL"]
    assert [c.symbol for c in universe.search("am")] == ["AMD", "AMZN", "BAC", "PG"]  # America, Gamble
    assert [c.symbol for c in universe.search("micro")] == ["AMD", "MSFT"]  # names, by symbol
    assert universe.search("   ") == []
    assert universe.search("no such thing") == []


def test_unknown_conid_or_symbol_is_not_found() -> None:
    universe = default_universe()
    assert universe.get(1) is None
    with pytest.raises(NotFound, match="conid 1 "):
        universe.instrument(1)
    with pytest.raises(NotFound, match="ZZZZ"):
        universe.by_symbol("ZZZZ")


def test_a_universe_refuses_duplicates() -> None:
    one = default_universe().by_symbol("SPY")
    with pytest.raises(ValueError, match="repeats"):
        Universe([one, Instrument(one.contract, Decimal(1), 0.1, 0.2, 1)])
