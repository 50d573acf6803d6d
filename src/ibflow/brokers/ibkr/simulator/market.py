"""The market data desk: snapshots with IBKR's pre-flight, and daily or weekly history bars.

The first snapshot of a conid in a brokerage session answers only ``conid`` / ``conidEx`` (IBKR starts a
stream and has no values yet); later ones answer every field asked so far, as strings. History serves the
paper market's daily bars (``1d``) and weeks built from them (``1w``), at most 1000 bars; other bar sizes
answer IBKR's error (the simulated market has no intraday bars).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal

from ibflow.brokers.base import BarData, QuoteFlag
from ibflow.brokers.ibkr.simulator.gateway import GatewayError, GatewaySimulator
from ibflow.brokers.ibkr.simulator.wire.orders import epoch_ms

MAX_CONIDS = 100
MAX_FIELDS = 50
MAX_BARS = 1000
AVAILABILITY: dict[QuoteFlag, str] = {
    QuoteFlag.LIVE: "RpB",
    QuoteFlag.STALE: "RpB",
    QuoteFlag.DELAYED: "DpB",
    QuoteFlag.FROZEN: "ZpB",
    QuoteFlag.HALTED: "RpB",
}
"""Field 6509 by quote flag; a halt shows as the ``H`` prefix of field 31."""
LAST_PREFIX: dict[QuoteFlag, str] = {
    QuoteFlag.LIVE: "",
    QuoteFlag.STALE: "C",
    QuoteFlag.DELAYED: "",
    QuoteFlag.FROZEN: "",
    QuoteFlag.HALTED: "H",
}
"""Field 31's prefix: ``C`` a prior close (market closed), ``H`` halted."""
BAR_SECONDS = {"1d": 86_400, "1w": 604_800}
PERIOD = re.compile(r"^(\d{1,4})(d|w|m|y)$")
PERIOD_DAYS = {"d": 1, "w": 7, "m": 31, "y": 366}
PERIOD_MAX = {"d": 1000, "w": 792, "m": 182, "y": 15}


class MarketDesk:
    """The market data endpoints of one simulated gateway."""

    def __init__(self, sim: GatewaySimulator) -> None:
        self.sim = sim

    def snapshot(self, conids: str | None, fields: str | None) -> list[dict[str, object]]:
        """``GET /iserver/marketdata/snapshot?conids=..&fields=..``."""
        sim = self.sim
        sim.require_accounts()
        ids = _int_list(conids, "conids")
        if not ids or len(ids) > MAX_CONIDS:
            raise GatewayError(400, {"error": f"give 1 to {MAX_CONIDS} conids", "statusCode": 400})
        asked = [f.strip() for f in (fields or "").split(",") if f.strip()]
        if len(asked) > MAX_FIELDS:
            raise GatewayError(400, {"error": f"at most {MAX_FIELDS} fields", "statusCode": 400})
        now = sim.clock.now()
        answer: list[dict[str, object]] = []
        primed = sim.brokerage.snapshot_fields
        for conid in ids:
            item: dict[str, object] = {"conid": conid, "conidEx": str(conid)}
            first = conid not in primed
            known = primed.setdefault(conid, set())
            known.update(asked)
            if not first and sim.instrument(conid) is not None:
                item |= {"server_id": f"q{ids.index(conid)}", "_updated": epoch_ms(now), "6119": "q0"}
                item |= self._values(conid, known, now)
            answer.append(item)
        return answer

    def _values(self, conid: int, fields: set[str], now: datetime) -> dict[str, str]:
        instrument = self.sim.market.instrument(conid)
        quote = self.sim.market.quote(conid, now)
        tick = instrument.min_tick
        last = quote.last
        bid = quote.bid if quote.bid is not None else last - tick
        ask = quote.ask if quote.ask is not None else last + tick
        day = self._today(conid, now)
        prior = self._prior_close(conid, now)
        change = last - prior if prior is not None else Decimal(0)
        values = {
            "31": f"{LAST_PREFIX[quote.flag]}{_price(last)}",
            "84": _price(bid),
            "86": _price(ask),
            "85": "100",
            "88": "100",
            "7059": "100",
            "55": instrument.symbol,
            "6008": str(conid),
            "6070": instrument.contract.sec_type,
            "7051": instrument.contract.name.upper(),
            "7221": instrument.contract.exchange,
            "6509": AVAILABILITY[quote.flag],
            "7635": _price(last),
            "82": _signed(change),
            "83": _signed(change / prior * 100 if prior else Decimal(0)),
        }
        if day is not None:
            values |= {
                "7295": _price(day.open),
                "70": _price(day.high),
                "71": _price(day.low),
                "87": _volume(day.volume),
                "7762": str(int(day.volume)),
            }
        if prior is not None:
            values |= {"7741": _price(prior), "7296": _price(prior)}
        return {code: value for code, value in values.items() if code in fields}

    def _today(self, conid: int, now: datetime) -> BarData | None:
        bars = self.sim.market.daily_bars(conid, now - timedelta(days=1), now)
        return bars[-1] if bars else None

    def _prior_close(self, conid: int, now: datetime) -> Decimal | None:
        bars = self.sim.market.daily_bars(conid, now - timedelta(days=7), now)
        complete = [bar for bar in bars if not bar.partial]
        return complete[-1].close if complete else None

    def history(self, conid: str | None, bar: str | None, period: str | None) -> dict[str, object]:
        """``GET /iserver/marketdata/history?conid=&bar=&period=``."""
        sim = self.sim
        if conid is None or not conid.isdigit() or sim.instrument(int(conid)) is None:
            raise GatewayError(500, {"error": f"Invalid conid {conid!r}", "statusCode": 500})
        if bar not in BAR_SECONDS:
            raise GatewayError(
                500,
                {"error": f"bar {bar!r} is not served by the simulator (only 1d and 1w)", "statusCode": 500},
            )
        wanted = period or "1w"
        match = PERIOD.match(wanted)
        if match is None or not 1 <= int(match[1]) <= PERIOD_MAX[match[2]]:
            raise GatewayError(500, {"error": f"Invalid period {wanted!r}", "statusCode": 500})
        if not sim.history_gate.enter():
            raise GatewayError(429, {"error": "Too many requests", "statusCode": 429})
        try:
            now = sim.clock.now()
            start = now - timedelta(days=int(match[1]) * PERIOD_DAYS[match[2]])
            daily = sim.market.daily_bars(int(conid), start, now)
        finally:
            sim.history_gate.leave()
        bars = _weeks(daily) if bar == "1w" else daily
        bars = bars[-MAX_BARS:]
        return _history_body(sim, int(conid), bars, bar=bar, period=wanted, start=start)


def _history_body(
    sim: GatewaySimulator, conid: int, bars: list[BarData], *, bar: str, period: str, start: datetime
) -> dict[str, object]:
    instrument = sim.market.instrument(conid)
    factor = 100
    data = [
        {
            "o": float(b.open),
            "c": float(b.close),
            "h": float(b.high),
            "l": float(b.low),
            "v": float(b.volume),
            "t": epoch_ms(b.ts),
        }
        for b in bars
    ]
    high = max((b.high for b in bars), default=Decimal(0))
    low = min((b.low for b in bars), default=Decimal(0))
    volume = float(sum((b.volume for b in bars), Decimal(0)))
    first = bars[0].ts if bars else start
    return {
        "serverId": str(20_000 + conid % 10_000),
        "symbol": instrument.symbol,
        "text": instrument.contract.name.upper(),
        "priceFactor": factor,
        "startTime": first.strftime("%Y%m%d-%H:%M:%S"),
        "high": f"{int(high * factor)}/{volume}/0",
        "low": f"{int(low * factor)}/{volume}/0",
        "timePeriod": period,
        "barLength": BAR_SECONDS[bar],
        "mdAvailability": "S",
        "mktDataDelay": 0,
        "outsideRth": False,
        "volumeFactor": 1,
        "priceDisplayRule": 1,
        "priceDisplayValue": "2",
        "negativeCapable": False,
        "messageVersion": 2,
        "points": len(data),
        "travelTime": 1,
        "data": data,
    }


def _weeks(daily: list[BarData]) -> list[BarData]:
    weeks: list[BarData] = []
    for day in daily:
        key = day.ts.isocalendar()[:2]
        if weeks and weeks[-1].ts.isocalendar()[:2] == key:
            last = weeks[-1]
            weeks[-1] = BarData(
                ts=last.ts,
                open=last.open,
                high=max(last.high, day.high),
                low=min(last.low, day.low),
                close=day.close,
                volume=last.volume + day.volume,
                partial=day.partial,
            )
        else:
            weeks.append(day)
    return weeks


def _int_list(text: str | None, name: str) -> list[int]:
    items = [item.strip() for item in (text or "").split(",") if item.strip()]
    if not all(item.isdigit() for item in items):
        raise GatewayError(400, {"error": f"{name} must be comma-separated numbers", "statusCode": 400})
    return list(dict.fromkeys(int(item) for item in items))


def _price(value: Decimal) -> str:
    return f"{value:.2f}"


def _signed(value: Decimal) -> str:
    return f"{value:+.2f}" if value else "0.00"


def _volume(value: Decimal) -> str:
    number = float(value)
    if number >= 1_000_000:
        return f"{number / 1_000_000:.2f}M"
    if number >= 1_000:
        return f"{number / 1_000:.1f}K"
    return str(int(number))
