"""Volume at price: the amount traded at each price this session, split by inferred side.

Fed the tape's trades (:class:`app.tape.Trade`, whose side the tape inferred at arrival:
buy, sell or unknown), for the ladder's volume column. Exact integers: amounts in 10**-18
units, keyed by the exact price. Each market keeps at most ``limit`` prices; past that, the
prices farthest from the newest trade's are forgotten (a tenth of the limit at once, so the
cost is a sort per ``limit / 10`` new prices) and counted in ``evicted``.
"""

from __future__ import annotations

from typing import Final, NamedTuple

from app.registry import MarketRegistry
from app.tape import Side, Trade

DEFAULT_VOLUME_PRICES: Final = 20_000
"""Prices a market's volume keeps, at most (about 220 bytes each: 4.4 MB in all)."""

_INDEX: Final = {Side.BUY: 0, Side.SELL: 1, Side.UNKNOWN: 2}


class PriceVolume(NamedTuple):
    """The amount traded at one price, by inferred aggressor side (10**-18 units)."""

    buy: int = 0
    sell: int = 0
    unknown: int = 0

    @property
    def total(self) -> int:
        """Every side together."""
        return self.buy + self.sell + self.unknown


_NONE: Final = PriceVolume()


class MarketVolume:
    """One market's volume at each price, bounded (see the module's docstring)."""

    def __init__(self, market: str, limit: int = DEFAULT_VOLUME_PRICES) -> None:
        if limit <= 0:
            raise ValueError("the volume's price limit must be positive")
        self.market = market
        self.limit = limit
        self._volume: dict[int, list[int]] = {}
        """Price (10**-18 units) -> [buy, sell, unknown] amounts."""
        self.trades = 0
        """Trades added since the last clear."""
        self.evicted = 0
        """Prices forgotten to stay within ``limit`` since the last clear: while it is not
        zero, prices far from the market hold less than they traded."""
        self.last_price: int | None = None
        """The newest trade's price, the centre the bound keeps."""

    def __len__(self) -> int:
        return len(self._volume)

    def add(self, trade: Trade) -> None:
        """Count one trade at its price and side."""
        self.add_units(trade.price_units, trade.amount_units, trade.side)

    def add_units(self, price_units: int, amount_units: int, side: Side) -> None:
        """Count ``amount_units`` traded at ``price_units`` by ``side``."""
        row = self._volume.get(price_units)
        if row is None:
            row = self._volume[price_units] = [0, 0, 0]
        row[_INDEX[side]] += amount_units
        self.trades += 1
        self.last_price = price_units
        if len(self._volume) > self.limit:
            self._evict(price_units)

    def _evict(self, centre: int) -> None:
        keep = self.limit - max(1, self.limit // 10)
        by_distance = sorted(self._volume, key=lambda price: abs(price - centre))
        for price in by_distance[keep:]:
            del self._volume[price]
        self.evicted += len(by_distance) - keep

    def at(self, price_units: int) -> PriceVolume:
        """The volume at an exact price (zeros where nothing traded)."""
        row = self._volume.get(price_units)
        return _NONE if row is None else PriceVolume(*row)

    def prices(self) -> list[int]:
        """Every price that traded, ascending."""
        return sorted(self._volume)

    def clear(self) -> None:
        """Forget every price (a new session, or the user's reset)."""
        self._volume.clear()
        self.trades = 0
        self.evicted = 0
        self.last_price = None


class VolumeStore(MarketRegistry[MarketVolume]):
    """Every market's volume at price; fed the tape's trades, read by the ladder."""

    def __init__(self, limit: int = DEFAULT_VOLUME_PRICES) -> None:
        super().__init__()
        self.limit = limit

    def _create(self, market: str) -> MarketVolume:
        return MarketVolume(market, self.limit)

    def volume(self, market: str) -> MarketVolume:
        """The volume for ``market``, created empty on first use."""
        return self.obtain(market)

    def add(self, market: str, trade: Trade) -> None:
        """Count one of ``market``'s trades and mark the market dirty."""
        self.obtain(market).add(trade)
        self.dirty.add(market)

    def clear(self) -> None:
        """Forget every market's volume (each market stays, empty)."""
        for market, volume in self.items.items():
            volume.clear()
            self.dirty.add(market)
