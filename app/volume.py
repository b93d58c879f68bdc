"""VolumeAtPrice: the amount traded at each price this session, split by inferred side.

A minimal accumulator for the ladder's volume column, fed from a market's
:class:`~app.tape.MarketTape` (its trades and their inferred sides, ``app/tape.py``): the
tape keeps only its newest trades, so :meth:`VolumeAtPrice.follow` takes the trades added
since it last looked (by their arrival ``seq``), and counts what it could no longer see in
:attr:`VolumeAtPrice.missed` (more trades than the tape keeps between two looks, or a tape
restored wholesale, as a replay's seek does). Exact: amounts in 10**-18 units, summed as
integers. Headless (no Textual).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from typing import Final

from app.tape import MarketTape, Side

LATE_REACH: Final = 64
"""How far before the tape's end a late trade is looked for, past trades already counted:
late executions land a few places back, and a tape that dropped trades (more arrived
between two looks than it keeps) is not scanned whole on every tick for them."""


class VolumeAtPrice:
    """Bought (aggressor buys) and sold (aggressor sells) amount per exact price.

    Trades whose side could not be inferred (:attr:`Side.UNKNOWN`) are kept apart in
    :attr:`unknown_units`: the column shows sides, and guessing one would be inventing it.
    """

    __slots__ = (
        "_bought",
        "_prices",
        "_seen_count",
        "_seen_seq",
        "_sold",
        "_tape",
        "missed",
        "unknown_units",
    )

    def __init__(self) -> None:
        self._bought: dict[int, int] = {}
        self._sold: dict[int, int] = {}
        self._prices: list[int] = []
        """Every price traded at, ascending (for range sums)."""
        self._tape: MarketTape | None = None
        self._seen_count = 0
        self._seen_seq = 0
        self.missed = 0
        """Trades this accumulator knows were added to the tape but never saw."""
        self.unknown_units = 0
        """Amount traded with no inferred side (not in either column)."""

    def clear(self) -> None:
        """Forget everything (a new session)."""
        self._bought.clear()
        self._sold.clear()
        self._prices.clear()
        self._tape = None
        self._seen_count = self._seen_seq = self.missed = 0
        self.unknown_units = 0

    def add(self, price_units: int, amount_units: int, side: Side) -> None:
        """Count one trade."""
        if side is Side.UNKNOWN:
            self.unknown_units += amount_units
            return
        table = self._bought if side is Side.BUY else self._sold
        if price_units not in self._bought and price_units not in self._sold:
            insort(self._prices, price_units)
        table[price_units] = table.get(price_units, 0) + amount_units

    def follow(self, tape: MarketTape | None) -> int:
        """Take the trades added to ``tape`` since the last call; how many were taken.

        O(new trades): the newest trades are at the tape's end (a late one a few places
        before it, looked for up to :data:`LATE_REACH` places past counted ones). A
        different tape object, or one whose count went back, was replaced (a replay's
        seek): what it holds now is taken as the session so far, and the trades it no
        longer keeps are counted in :attr:`missed`.
        """
        if tape is None:
            return 0
        if tape is not self._tape or tape.count < self._seen_count:
            self.clear()
            self._tape = tape
        new = tape.count - self._seen_count
        if new <= 0:
            return 0
        last_seq = self._seen_seq
        found = []
        trades = tape.trades
        seen_in_a_row = 0
        for index in range(len(trades) - 1, -1, -1):
            trade = trades[index]
            if trade.seq > last_seq:
                found.append(trade)
                if len(found) == new:
                    break
                seen_in_a_row = 0
            else:
                seen_in_a_row += 1
                if seen_in_a_row > LATE_REACH:
                    break  # the rest is older still: what is missing left the tape
        for trade in found:
            self.add(trade.price_units, trade.amount_units, trade.side)
            if trade.seq > self._seen_seq:
                self._seen_seq = trade.seq
        self.missed += new - len(found)
        self._seen_count = tape.count
        return len(found)

    def between(self, low: int, high: int) -> tuple[int, int]:
        """(bought, sold) at prices from ``low`` to ``high`` inclusive (10**-18 units)."""
        prices = self._prices
        start = bisect_left(prices, low)
        stop = bisect_right(prices, high, start)
        if start == stop:
            return 0, 0
        bought, sold = self._bought, self._sold
        if stop == start + 1:
            price = prices[start]
            return bought.get(price, 0), sold.get(price, 0)
        return (
            sum(bought.get(p, 0) for p in prices[start:stop]),
            sum(sold.get(p, 0) for p in prices[start:stop]),
        )

    @property
    def prices(self) -> int:
        """How many distinct prices were traded at."""
        return len(self._prices)
