"""The embedded exchange simulator: the Smart Order Routing protocol on loopback.

``sordash --demo`` and every integration test run against it; ``sordash sim`` runs it alone.
"""

from app.simulator.market import DEFAULT_SPECS, Market, MarketSpec
from app.simulator.server import DEFAULT_MARKETS, SimConfig, Simulator

__all__ = ["DEFAULT_MARKETS", "DEFAULT_SPECS", "Market", "MarketSpec", "SimConfig", "Simulator"]
