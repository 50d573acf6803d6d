"""The built-in paper broker on a deterministic simulated market, with its own books (paper_* tables).

``SimulatedMarket`` makes prices, volumes, bars and quotes; ``PaperBroker`` implements the ``Broker``
protocol on it; ``MarketControls`` (``market.controls``) and ``FaultyBroker`` are the test switches.
"""

from ibflow.brokers.paper.broker import PaperBroker
from ibflow.brokers.paper.controls import MarketControls, Switch
from ibflow.brokers.paper.faults import Fault, FaultyBroker
from ibflow.brokers.paper.market.calendar import AlwaysOpen, ExchangeSessions, MarketCalendar, make_calendar
from ibflow.brokers.paper.market.prices import SimulatedMarket
from ibflow.brokers.paper.market.universe import Instrument, Universe, default_universe

__all__ = [
    "AlwaysOpen",
    "ExchangeSessions",
    "Fault",
    "FaultyBroker",
    "Instrument",
    "MarketCalendar",
    "MarketControls",
    "PaperBroker",
    "SimulatedMarket",
    "Switch",
    "Universe",
    "default_universe",
    "make_calendar",
]
