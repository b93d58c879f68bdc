"""What a depth ladder needs to know about its market, without a screen.

- :class:`MarketPrecision`: the decimals and the tick a market uses, learnt from every
  price and amount seen in its book this session (each snapshot read whole, and the levels
  shown since). Decimals only grow and the tick only gets finer, so a ladder built on them
  never moves a column because the visible rows happen to be written shorter.
- Notional (price x amount) in exact integer arithmetic, and its display.

Prices and amounts are integers in units of 10**-18 (:data:`app.protocol.SCALE`).
"""

from __future__ import annotations

from collections.abc import Iterable
from math import gcd
from typing import Final

from app.books import Book, BookLevel
from app.protocol import ONE, SCALE, format_scaled

_POW10: Final = tuple(10 ** (SCALE - n) for n in range(SCALE + 1))
"""``_POW10[n]``: one unit of the ``n``-th fraction digit, in 10**-18 units."""


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
