"""What the book means for an order: the cost to fill a size, and the depth near the mid.

Everything is exact integers on the book's scale (:data:`app.protocol.SCALE`): prices and
amounts in units of 10**-18, notionals (price x amount) in units of 10**-36. Ratios that need
a division (the average price, slippage) are kept as their integer parts and handed out as
exact fractions (:class:`~fractions.Fraction`); only the ``*_rounded`` readers round, for display.

Cost to fill walks a side best level first (the book keeps its sides sorted) and stops at
the level that completes the size, so a small size reads a level or two of a deep book.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import Final

import msgspec

from app.books import Book, BookLevel, BookSide
from app.protocol import ONE, SCALE, DecimalFormatError, decimal_places, to_scaled

BPS: Final = 10_000
"""Basis points in one."""
DEFAULT_BANDS: Final = (10, 50, 100)
"""Depth bands around the mid, in basis points, unless the config says otherwise."""


class OrderSide(enum.Enum):
    """The side of an order being sized: a buy takes the asks, a sell the bids."""

    BUY = "buy"
    SELL = "sell"


class SizeKind(enum.Enum):
    """What a size counts."""

    BASE = "base"
    """An amount of the base asset (``0.5`` BTC)."""
    NOTIONAL = "notional"
    """An amount of the quote currency to spend or receive (``10000`` USD)."""


class FillSize(msgspec.Struct, frozen=True, gc=False):
    """A size to cost: ``units`` of 10**-18 of the base asset or of the quote currency."""

    kind: SizeKind
    units: int
    text: str
    """The size as written, for display."""

    @classmethod
    def parse(cls, text: str, kind: SizeKind) -> FillSize:
        """A size from its decimal spelling; ``ValueError`` says why one cannot be used."""
        try:
            units = to_scaled(text)
        except DecimalFormatError as exc:
            raise ValueError(str(exc)) from None
        if units <= 0:
            raise ValueError(f"{text!r} is not a size: it must be more than zero")
        return cls(kind, units, text)

    @classmethod
    def base(cls, text: str) -> FillSize:
        """A size in the base asset, e.g. ``FillSize.base("0.5")``."""
        return cls.parse(text, SizeKind.BASE)

    @classmethod
    def notional(cls, text: str) -> FillSize:
        """A size in the quote currency, e.g. ``FillSize.notional("10000")``."""
        return cls.parse(text, SizeKind.NOTIONAL)


class FillCost(msgspec.Struct, frozen=True, gc=False):
    """What filling one size against the book costs, as exact integers.

    ``too_thin`` says the side ran out first: then the filled figures are the fillable part
    (everything the side holds). A notional size fills whole lots only, so a size smaller
    than one lot at the best price fills nothing and is not too thin.
    """

    side: OrderSide
    size: FillSize
    filled_amount: int
    """Base amount filled, 10**-18 units."""
    filled_notional: int
    """Quote amount paid (buy) or received (sell), 10**-36 units (price units x amount units)."""
    levels: int
    """Levels the fill took something from, the best one included."""
    worst_price: int | None
    """Price of the last level reached, 10**-18 units (None: nothing filled)."""
    mid_x2: int | None
    """Best bid plus best ask at the time, 10**-18 units: twice the mid, kept exact
    (None: a side was empty)."""
    too_thin: bool

    @property
    def complete(self) -> bool:
        """The book held the whole size."""
        return not self.too_thin

    @property
    def filled_notional_units(self) -> int:
        """The filled notional in 10**-18 units, rounded down (for display and sums)."""
        return self.filled_notional // ONE

    @property
    def average_price_units(self) -> Fraction | None:
        """The volume-weighted fill price in 10**-18 units, exact (None: nothing filled)."""
        if not self.filled_amount:
            return None
        return Fraction(self.filled_notional, self.filled_amount)

    def average_price_rounded(self, places: int) -> Decimal | None:
        """The average price to ``places`` decimals, rounded against the trader (a buy up, a
        sell down), so the price shown is never better than the true one."""
        if not self.filled_amount:
            return None
        # price = notional / (amount * 10**18); in 10**-places: notional * 10**places / ...
        num, den = self.filled_notional * 10**places, self.filled_amount * ONE
        q = -(-num // den) if self.side is OrderSide.BUY else num // den
        return Decimal(q).scaleb(-places)

    @property
    def slippage_bps(self) -> Fraction | None:
        """How much worse than the mid the average price is, in basis points of the mid,
        exact: positive is worse (a buy above the mid, a sell below it); None without a mid
        or a fill."""
        if not self.filled_amount or not self.mid_x2:
            return None
        # (avg - mid) / mid with avg = N / A and mid = M2 / 2: (2N - M2 A) / (M2 A)
        above = 2 * self.filled_notional - self.mid_x2 * self.filled_amount
        if self.side is OrderSide.SELL:
            above = -above
        return Fraction(above * BPS, self.mid_x2 * self.filled_amount)

    def slippage_bps_rounded(self, places: int = 2) -> Decimal | None:
        """The slippage to ``places`` decimals, rounded up (towards worse): never understated."""
        bps = self.slippage_bps
        if bps is None:
            return None
        scaled = bps * 10**places
        return Decimal(-(-scaled.numerator // scaled.denominator)).scaleb(-places)


def cost_to_fill(book: Book, side: OrderSide, size: FillSize, lot_units: int = 1) -> FillCost:
    """What filling ``size`` on ``side`` costs against ``book`` now.

    A buy takes the asks, a sell the bids, best first, reading only the levels it needs.
    A base size fills exactly. A notional size takes whole levels while their notional fits
    and then, from the level it ends in, the whole lots of ``lot_units`` (the market's amount
    step, 10**-18 units; 1: the book's own scale) that fit in what is left: rounded down, so
    the fill never spends (or asks to receive) more than the size, and what is left over is
    less than one lot at that price.
    """
    if lot_units <= 0:
        raise ValueError("the lot must be positive")
    bid, ask = book.bids.best_price(), book.asks.best_price()
    mid_x2 = None if bid is None or ask is None else bid + ask
    levels_in = book.asks.iter() if side is OrderSide.BUY else book.bids.iter()
    amount, notional, levels, worst, too_thin = _walk(levels_in, size, lot_units)
    return FillCost(side, size, amount, notional, levels, worst, mid_x2, too_thin)


def _walk(
    side_levels: Iterable[BookLevel], size: FillSize, lot: int
) -> tuple[int, int, int, int | None, bool]:
    """(amount, notional, levels, worst price, too thin) of filling ``size`` down a side."""
    amount = notional = levels = 0
    worst: int | None = None
    if size.kind is SizeKind.BASE:
        left = size.units
        for _, _, p, a in side_levels:  # price and amount units, unpacked (the fastest read)
            levels += 1
            worst = p
            if a >= left:
                return amount + left, notional + p * left, levels, worst, False
            amount += a
            notional += p * a
            left -= a
        return amount, notional, levels, worst, True
    left = size.units * ONE  # quote units of 10**-36, as notionals are
    for _, _, p, a in side_levels:
        cost = p * a
        if cost > left:  # the level it ends in: the whole lots that fit in what is left
            take = left // (p * lot) * lot
            if take:
                return amount + take, notional + p * take, levels + 1, p, False
            return amount, notional, levels, worst, False
        amount += a
        notional += cost
        levels += 1
        worst = p
        left -= cost
        if not left:
            return amount, notional, levels, worst, False
    return amount, notional, levels, worst, True


def lot_units(book: Book, sample: int = 5) -> int:
    """The market's amount step guessed from the finest amount spelling near the touch
    (10**-18 units), for a market whose lot is not known otherwise."""
    levels = book.bids.top(sample) + book.asks.top(sample)
    places = max((decimal_places(level.amount) for level in levels), default=SCALE)
    return int(10 ** (SCALE - min(places, SCALE)))  # int: mypy types int ** int as Any


# --------------------------------------------------------------------------- depth bands


class DepthBand(msgspec.Struct, frozen=True, gc=False):
    """The resting depth within ``bps`` basis points of the mid, each side, exact.

    A bid is in the band when it is at most ``bps`` of the mid below the mid, an ask when at
    most that above it, the edge included (in a crossed book, a bid above the mid or an ask
    below it is nearer than the edge: in). Bands nest: the 50 bps band holds the 10's too.
    """

    bps: int
    bid_amount: int
    """10**-18 units."""
    ask_amount: int
    bid_notional: int
    """10**-36 units (price units x amount units)."""
    ask_notional: int
    bid_levels: int
    ask_levels: int

    @property
    def imbalance(self) -> float | None:
        """(bid amount - ask amount) / (bid + ask) in the band, in [-1, 1], as
        :meth:`app.books.Book.imbalance` (a display figure for a bar; None: both empty)."""
        total = self.bid_amount + self.ask_amount
        return None if total == 0 else (self.bid_amount - self.ask_amount) / total


def depth_bands(book: Book, bands: Sequence[int] = DEFAULT_BANDS) -> list[DepthBand] | None:
    """The depth within each of ``bands`` (basis points) of the mid, narrowest first; None
    when the book has no mid. Each side is read from the touch out to the widest band only.
    """
    bid, ask = book.best_bid, book.best_ask
    if bid is None or ask is None:
        return None
    widths = sorted(set(bands))
    if not widths or widths[0] <= 0:
        raise ValueError("depth bands must be positive basis points")
    bid_edges, ask_edges = _edges(bid.price_units + ask.price_units, widths)
    bids = _side_bands(book.bids, bid_edges)
    asks = _side_bands(book.asks, ask_edges)
    return [
        DepthBand(bps, ba, aa, bn, an, bl, al)
        for bps, (ba, bn, bl), (aa, an, al) in zip(widths, bids, asks, strict=True)
    ]


def band_amounts(book: Book, bands: Sequence[int]) -> list[tuple[int, int]] | None:
    """(bid amount, ask amount) in 10**-18 units within each of ``bands`` (basis points,
    given sorted, narrowest first) of the mid, as :func:`depth_bands` counts them, without
    the notionals and level counts (an imbalance's reading: a fraction of the cost)."""
    bid, ask = book.bids.best_price(), book.asks.best_price()
    if bid is None or ask is None:
        return None
    bid_edges, ask_edges = _edges(bid + ask, bands)
    out = []
    bid_amount = ask_amount = bid_start = ask_start = 0
    for bid_edge, ask_edge in zip(bid_edges, ask_edges, strict=True):
        bid_stop, ask_stop = book.bids.count_within(bid_edge), book.asks.count_within(ask_edge)
        bid_amount += book.bids.amounts(bid_start, bid_stop)
        ask_amount += book.asks.amounts(ask_start, ask_stop)
        out.append((bid_amount, ask_amount))
        bid_start, ask_start = bid_stop, ask_stop
    return out


def _edges(mid_x2: int, widths: Sequence[int]) -> tuple[list[int], list[int]]:
    """The worst bid and ask prices inside each band of a mid of ``mid_x2 / 2``, exact."""
    # A bid p is in the w bps band of the mid m = M2 / 2 when (m - p) * BPS <= w * m, that
    # is p >= M2 (BPS - w) / 2 BPS; an ask when p <= M2 (BPS + w) / 2 BPS. Prices are
    # integers, so the edges are that ceiling and that floor: exact.
    bid_edges = [-(-mid_x2 * (BPS - w) // (2 * BPS)) for w in widths]
    ask_edges = [mid_x2 * (BPS + w) // (2 * BPS) for w in widths]
    return bid_edges, ask_edges


def _side_bands(side: BookSide, edges: list[int]) -> list[tuple[int, int, int]]:
    """(amount, notional, levels) at each edge price or better, cumulative, narrowest first."""
    out: list[tuple[int, int, int]] = []
    amount = notional = start = 0
    for edge in edges:
        count = side.count_within(edge)
        chunk_amount, chunk_notional = side.totals(start, count)
        amount += chunk_amount
        notional += chunk_notional
        out.append((amount, notional, count))
        start = count
    return out
