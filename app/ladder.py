"""What a depth ladder needs to know about its market, without a screen.

- :class:`MarketPrecision`: the decimals and the tick a market uses, learnt from every
  price and amount seen in its book this session (each snapshot read whole, and the levels
  shown since). Decimals only grow and the tick only gets finer, so a ladder built on them
  never moves a column because the visible rows happen to be written shorter.
- :class:`FixedWindow`: which prices a fixed-tick ladder shows (every price on the tick or
  the grouping step, empty ones included), and when it re-centres: only when the touch
  comes within :data:`FIXED_MARGIN_ROWS` of its edge or leaves it (or on request);
  :func:`auto_multiple`, the coarser grid it takes by itself when the spread is too wide
  for the window on the tick.
- :func:`window_levels`, :func:`fixed_rows`: a side's levels bucketed onto that grid and
  laid out on the window's rows, with running totals.
- Notional (price x amount) in exact integer arithmetic, and its display.

Prices and amounts are integers in units of 10**-18 (:data:`app.protocol.SCALE`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from math import gcd
from typing import Final, NamedTuple

from app.books import Book, BookLevel, cumulative
from app.protocol import ONE, SCALE, format_scaled

_POW10: Final = tuple(10 ** (SCALE - n) for n in range(SCALE + 1))
"""``_POW10[n]``: one unit of the ``n``-th fraction digit, in 10**-18 units."""

FIXED_MARGIN_ROWS: Final = 2
"""A fixed-tick window re-centres when the best bid or ask comes this close to its edge."""


def significant_places(units: int) -> int:
    """The fraction digits ``units`` needs (trailing zeros dropped): 50000.10 -> 1."""
    frac = units % ONE
    if not frac:
        return 0
    places = SCALE
    while frac % 10 == 0:
        frac //= 10
        places -= 1
    return places


class MarketPrecision:
    """The decimals and tick of one market, as far as its book has shown them.

    Decimals are the most *significant* fraction digits seen (``"50000.100"`` and
    ``"50000.1"`` are one number, one digit): spellings with extra zeros do not widen a
    column. The tick is the greatest common divisor of every price seen: the coarsest grid
    all of them lie on (0.01 for a market quoted in cents, 0.5 for one quoted in halves,
    which decimal places alone would call 0.1). Until two different prices were seen it is
    the last decimal place of the one seen.
    """

    __slots__ = (
        "_book_key",
        "_first",
        "_gcd",
        "_two",
        "amount_max",
        "amount_places",
        "notional_max",
        "price_max",
        "price_places",
        "side_total_max",
    )

    def __init__(self) -> None:
        self.price_places = 0
        self.amount_places = 0
        self.price_max = 0
        """The highest price seen (10**-18 units): with the decimals, the widest price."""
        self.amount_max = 0
        """The largest amount seen at one level."""
        self.side_total_max = 0
        """The largest total of one side of a snapshot: no running total or grouped amount
        of that book is larger (the ladder's columns are made this wide from the start)."""
        self.notional_max = 0
        """The largest price x amount of a snapshot's level (:func:`notional_units`)."""
        self._gcd = 0
        self._first = 0
        self._two = False
        """Two different prices were seen (the gcd of one price is that price)."""
        self._book_key: tuple[int, int, int] = (0, -1, 0)

    @property
    def tick_units(self) -> int:
        """The market's tick in 10**-18 units (one unit of the last place when unknown)."""
        return self._gcd if self._two else _POW10[self.price_places]

    def see(self, levels: Iterable[BookLevel]) -> None:
        """Learn from ``levels`` (shown, or read from a snapshot)."""
        price_unit, amount_unit = _POW10[self.price_places], _POW10[self.amount_places]
        g = self._gcd
        for level in levels:
            p, a = level.price_units, level.amount_units
            if p > self.price_max:
                self.price_max = p
            if a > self.amount_max:
                self.amount_max = a
            if p % price_unit:
                self.price_places = significant_places(p)
                price_unit = _POW10[self.price_places]
            if a % amount_unit:
                self.amount_places = significant_places(a)
                amount_unit = _POW10[self.amount_places]
            if not self._two and p:
                if not g:
                    self._first = p
                elif p != self._first:
                    self._two = True
            if g == 0 or p % g:
                g = gcd(g, p)
        self._gcd = g

    def see_book(self, book: Book) -> bool:
        """Read the whole book once per snapshot (cheap: a few hundred levels); whether it
        was read now. Updates after it are learnt from the levels shown (:meth:`see`)."""
        key = (id(book), book.snapshots, id(book.bids))
        if key == self._book_key or not book.has_data:
            return False
        self._book_key = key
        for side in (book.bids, book.asks):
            levels = side.all()
            self.see(levels)
            total = sum(level.amount_units for level in levels)
            self.side_total_max = max(self.side_total_max, total)
            notional = max((lv.price_units * lv.amount_units for lv in levels), default=0)
            self.notional_max = max(self.notional_max, notional // ONE)
        return True


def bucket_of(price_units: int, step: int, is_bid: bool) -> int:
    """The grid price a level goes to: bids down (floor), asks up (ceiling), as grouping
    does (:func:`app.books.group_levels`): a bucket never looks better than its levels."""
    if is_bid:
        return price_units // step * step
    return -(-price_units // step) * step


def window_levels(
    levels: Iterable[BookLevel],
    step: int,
    is_bid: bool,
    edge: int,
    off_grid: list[BookLevel] | None = None,
) -> list[BookLevel]:
    """A side's levels (best first) bucketed onto the ``step`` grid, up to the bucket
    ``edge`` (the window's far end: its bottom for bids, its top for asks).

    A level already on the grid is kept as it is (no new object: in an ungrouped fixed-tick
    ladder, every level); levels that share a bucket are summed exactly. Levels that were
    not on the grid are appended to ``off_grid`` as they were (a finer tick, or grouping).
    """
    out: list[BookLevel] = []
    last = None
    for level in levels:
        p = level.price_units
        bucket = p if p % step == 0 else bucket_of(p, step, is_bid)
        if (bucket < edge) if is_bid else (bucket > edge):
            break
        if bucket != p and off_grid is not None:
            off_grid.append(level)
        if bucket == last:
            prev = out[-1]
            amount = prev.amount_units + level.amount_units
            out[-1] = BookLevel(format_scaled(bucket), format_scaled(amount), bucket, amount)
            continue
        last = bucket
        if bucket != p:
            level = BookLevel(format_scaled(bucket), level.amount, bucket, level.amount_units)
        out.append(level)
    return out


def nice_multiples() -> Iterator[int]:
    """1, 2, 5, 10, 20, 50, ...: the steps an automatic fixed-tick grid takes, in ticks."""
    scale = 1
    while True:
        for m in (1, 2, 5):
            yield m * scale
        scale *= 10


def auto_multiple(spread_units: int, tick: int, rows: int, current: int = 1) -> int:
    """The fixed-tick grid's step, in ticks, for a touch ``spread_units`` wide on a window
    of ``rows`` rows (:class:`FixedWindow`): the finest of 1, 2, 5, 10, ... ticks at which
    the spread takes at most half the window's inner part (its rows inside the margins), so
    depth shows on both sides of it instead of a window of empty prices between them.

    With hysteresis, so a spread near a boundary does not switch steps every tick: the
    ``current`` step (at first the tick) holds while the spread takes at most three quarters
    of the inner part at it, unless it has narrowed to a quarter of it at the next finer
    step.
    """
    margin = min(FIXED_MARGIN_ROWS, max(0, (rows - 1) // 4))
    inner = rows - 1 - 2 * margin
    if tick <= 0 or inner <= 0 or spread_units <= 0:
        return current  # nothing to measure (a one-sided, locked or crossed book): as it is

    def fits(multiple: int, num: int, den: int) -> bool:
        return spread_units * den <= inner * tick * multiple * num

    if current >= 1 and fits(current, 3, 4):
        finer = 0
        for m in nice_multiples():
            if m >= current:
                break
            finer = m
        if not finer or not fits(finer, 1, 4):
            return current
    return next(m for m in nice_multiples() if fits(m, 1, 2))


@dataclass
class FixedWindow:
    """The prices a fixed-tick ladder shows: ``rows`` prices ``step`` apart, ``top`` first.

    :meth:`follow` places the window around the touch and then leaves it standing while the
    touch moves inside it; it moves only when the best bid or ask comes within the margin
    (:data:`FIXED_MARGIN_ROWS`) of an edge or leaves the window. A spread too wide for the
    window keeps the mid inside it instead (the touch cannot be), re-centring when the mid
    leaves the window. :meth:`recentre` forgets
    the place, so the next :meth:`follow` centres afresh.
    """

    rows: int = 0
    step: int = 0
    top: int | None = None

    @property
    def bottom(self) -> int | None:
        """The lowest price shown (None: not placed yet)."""
        return None if self.top is None else self.top - (self.rows - 1) * self.step

    @property
    def margin(self) -> int:
        """Rows at each edge that count as leaving the window (fewer on tiny windows)."""
        return min(FIXED_MARGIN_ROWS, max(0, (self.rows - 1) // 4))

    def price_at(self, y: int) -> int:
        """The price on row ``y`` (0: the top row)."""
        assert self.top is not None
        return self.top - y * self.step

    def row_of(self, price: int) -> int | None:
        """The row showing grid price ``price``, or None outside the window."""
        if self.top is None or self.step <= 0:
            return None
        offset = self.top - price
        if offset < 0 or offset % self.step:
            return None
        y = offset // self.step
        return y if y < self.rows else None

    def prices(self) -> list[int]:
        """Every price shown, top first."""
        if self.top is None:
            return []
        return [self.top - y * self.step for y in range(self.rows)]

    def recentre(self) -> None:
        """Centre again on the next :meth:`follow` (the re-centre key)."""
        self.top = None

    def follow(self, bid: int | None, ask: int | None, rows: int, step: int) -> bool:
        """Place the window for the touch buckets ``bid`` and ``ask`` (on the grid; None:
        that side is empty) at ``rows`` rows of ``step``; whether it moved."""
        if rows != self.rows or step != self.step:
            self.rows, self.step, self.top = rows, step, None
        if rows <= 0 or step <= 0 or (bid is None and ask is None):
            return False
        centre = self._centre(bid, ask)
        if self.top is not None and self._holds(bid, ask, centre):
            return False
        top = centre + (rows // 2) * step
        moved = top != self.top
        self.top = top
        return moved

    def holds(self, bid: int | None, ask: int | None) -> bool:
        """Whether :meth:`follow` would leave the window where it is for these touch
        buckets (at its rows and step): placed, and the touch inside its inner part."""
        if self.top is None or self.rows <= 0 or self.step <= 0:
            return False
        if bid is None and ask is None:
            return True
        return self._holds(bid, ask, self._centre(bid, ask))

    def _centre(self, bid: int | None, ask: int | None) -> int:
        if bid is not None and ask is not None:
            return self.snap((bid + ask) // 2)
        centre = bid if bid is not None else ask
        assert centre is not None
        return centre

    def snap(self, price: int) -> int:
        """The grid price nearest ``price`` (halfway: the lower one)."""
        step = self.step
        return (price + (step - 1) // 2) // step * step

    def _holds(self, bid: int | None, ask: int | None, centre: int) -> bool:
        """Whether the window may stay: the touch inside its inner part (or, when the
        spread cannot fit there, the mid inside the window: re-centring cannot bring the
        touch in, and chasing the mid moved every row several times a second)."""
        assert self.top is not None
        inner_top = self.top - self.margin * self.step
        inner_bottom = self.top - (self.rows - 1 - self.margin) * self.step
        if bid is not None and ask is not None and ask - bid <= inner_top - inner_bottom:
            return inner_bottom <= min(bid, ask) and max(bid, ask) <= inner_top
        if bid is not None and ask is not None:
            bottom = self.top - (self.rows - 1) * self.step
            return bottom <= centre <= self.top
        return inner_bottom <= centre <= inner_top


class FixedRow(NamedTuple):
    """One row of a fixed-tick window: its price, and the level there (if any)."""

    price_units: int
    level: BookLevel | None
    is_bid: bool
    """The level's side; for an empty row, whether it lies at or below the mid."""
    total_units: int
    """Running total from the touch to this row (0 on an empty row)."""
    best: bool
    """The row holds the best bid or best ask."""


def fixed_rows(
    window: FixedWindow,
    bids: list[BookLevel],
    asks: list[BookLevel],
    prices: list[int] | None = None,
) -> list[FixedRow]:
    """Lay ``bids`` and ``asks`` (bucketed onto the window's grid, best first:
    :func:`window_levels`) on the window's rows, top first (or on ``prices`` of them: each
    side read from its best at least as far as those go). A price held by both sides (a
    crossed book) shows its ask at or above the mid and its bid below."""
    if window.top is None:
        return []
    bid_at = {lv.price_units: (lv, i) for i, lv in enumerate(bids)}
    ask_at = {lv.price_units: (lv, i) for i, lv in enumerate(asks)}
    bid_totals = cumulative(bids)
    ask_totals = cumulative(asks)
    if bids and asks:
        mid = (bids[0].price_units + asks[0].price_units) // 2
    elif bids or asks:
        mid = (bids or asks)[0].price_units
    else:
        mid = window.price_at(window.rows // 2)
    out: list[FixedRow] = []
    for price in window.prices() if prices is None else prices:
        ask = ask_at.get(price)
        bid = bid_at.get(price)
        if ask is not None and (bid is None or price >= mid):
            level, index = ask
            out.append(FixedRow(price, level, False, ask_totals[index], index == 0))
        elif bid is not None:
            level, index = bid
            out.append(FixedRow(price, level, True, bid_totals[index], index == 0))
        else:
            out.append(FixedRow(price, None, price <= mid, 0, False))
    return out


def notional_units(price_units: int, amount_units: int) -> int:
    """Price x amount in 10**-18 units of the quote currency, exactly (rounded down at the
    18th place, which no display reaches)."""
    return price_units * amount_units // ONE


def format_thousands(units: int, places: int) -> str:
    """``units`` (10**-18) with ``places`` decimals, cut towards zero like every figure on
    the ladder, and the whole part grouped in thousands: ``17,500.00``."""
    text = format_scaled(units, places)
    whole, dot, frac = text.partition(".")
    sign = "-" if whole.startswith("-") else ""
    return f"{sign}{int(whole.lstrip('-')):,}{dot}{frac}"
