"""The reconciling book store: one exact order book per market.

A book starts *syncing*: UPDATEs are buffered (bounded) until the SNAPSHOT arrives. The
SNAPSHOT builds the book, buffered UPDATEs strictly after its time are applied in arrival
order and the rest dropped; from then on every UPDATE applies as it comes (docs/protocol.md §5).

Prices and amounts are exact integers in units of 10**-18 (:func:`app.protocol.to_scaled`),
so numerically equal spellings are one level and any spelling of zero deletes. Each side is
a dict from price to level plus a sorted list of keys: an amount change is a dict store,
a new or removed level a bisect into a list of a few hundred ints, and reading the top N
levels is a slice, O(N).
"""

from __future__ import annotations

import enum
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Iterator, Sequence
from operator import itemgetter, mul, neg
from typing import Final, NamedTuple

from app.protocol import (
    ONE,
    SCALED_CACHE,
    BookMessage,
    DecimalFormatError,
    Level,
    TimeFormatError,
    parse_time,
    to_scaled,
    to_scaled_cached,
)
from app.registry import MarketRegistry

DEFAULT_BUFFER_LIMIT: Final = 10_000
"""UPDATEs a book buffers before its SNAPSHOT, at most."""
DEFAULT_BUFFER_LEVELS: Final = 100_000
"""Levels those UPDATEs may carry in all, at most: a buffered level costs about 180 bytes,
so one market's buffer stays under about 20 MiB however large the UPDATEs are (9,000
UPDATEs of 250 levels, 2.25 million levels, took 405 MiB before this bound)."""


class BookLevel(NamedTuple):
    """One level as held: the wire spellings for display and exact integers for arithmetic."""

    price: str
    amount: str
    price_units: int
    amount_units: int


_Held = tuple[str, str, int, int]
"""A level as a side holds it: a plain tuple, the fields of :class:`BookLevel`. Building a
namedtuple costs ten times a plain tuple, and the feed stores far more levels than any
reader reads, so readers get :class:`BookLevel` views built on the way out."""
_price_of: Final = itemgetter(2)
_amount_of: Final = itemgetter(3)
_as_level: Final = tuple.__new__
"""``_as_level(BookLevel, held)``: a :class:`BookLevel` without the namedtuple's Python
``__new__``."""


class BookSide:
    """One side of a book, best level first (bids descending, asks ascending)."""

    __slots__ = ("_keys", "_levels", "_sign", "is_bid")

    def __init__(self, is_bid: bool) -> None:
        self.is_bid = is_bid
        self._sign = -1 if is_bid else 1
        self._levels: dict[int, _Held] = {}
        # Sort keys, ascending: -price for bids, price for asks, so index 0 is the best.
        self._keys: list[int] = []

    def __len__(self) -> int:
        return len(self._levels)

    def clear(self) -> None:
        """Remove every level."""
        self._levels.clear()
        self._keys.clear()

    def update(self, levels: Iterable[Level]) -> None:
        """Apply wire levels in order: amount zero (any spelling) deletes, anything else sets.

        This is the hot path of the whole feed: prices go through the shared cache (they
        repeat), amounts straight through :func:`app.protocol.to_scaled` (they rarely repeat:
        caching them only churned the cache). A level that cannot be held exactly raises
        :class:`DecimalFormatError`; levels before it stay applied (the caller marks the book
        as needing a resync).
        """
        cache = SCALED_CACHE
        table = self._levels
        keys = self._keys
        sign = self._sign
        for level in levels:
            price = level.price
            p = cache.get(price)
            if p is None:
                p = to_scaled_cached(price)
            amount = level.amount
            a = to_scaled(amount)
            if a == 0:
                if table.pop(p, None) is not None:
                    del keys[bisect_left(keys, p * sign)]
                continue
            if p not in table:
                insort(keys, p * sign)
            table[p] = (price, amount, p, a)

    def load(self, levels: Iterable[Level]) -> None:
        """Replace the side wholesale with snapshot levels (zero amounts are skipped)."""
        self.clear()
        table = self._levels
        for level in levels:
            p = to_scaled_cached(level.price)
            a = to_scaled_cached(level.amount)
            if a:
                table[p] = (level.price, level.amount, p, a)
        sign = self._sign
        self._keys = sorted(p * sign for p in table)

    def top(self, n: int) -> list[BookLevel]:
        """The best ``n`` levels, best first. O(n)."""
        levels = self._levels
        sign = self._sign
        return [_as_level(BookLevel, levels[k * sign]) for k in self._keys[:n]]

    def best_price(self) -> int | None:
        """The best level's price in 10**-18 units (no level built), or ``None``."""
        keys = self._keys
        return keys[0] * self._sign if keys else None

    def best(self) -> BookLevel | None:
        """The best level, or ``None`` on an empty side."""
        keys = self._keys
        return _as_level(BookLevel, self._levels[keys[0] * self._sign]) if keys else None

    def get(self, price_units: int) -> BookLevel | None:
        """The level at an exact price, if present."""
        held = self._levels.get(price_units)
        return None if held is None else _as_level(BookLevel, held)

    def count_within(self, price_units: int) -> int:
        """How many levels are at ``price_units`` or better (bids at or above it, asks at
        or below it). O(log n): with :meth:`top`, a read out to a price reads no further."""
        return bisect_right(self._keys, price_units * self._sign)

    def totals(self, start: int, stop: int) -> tuple[int, int]:
        """(amount, notional) of the levels ranked ``start`` to ``stop`` (0 is the best),
        exact: amounts in 10**-18 units, notionals (price x amount) in 10**-36. Summed in
        C-level loops over the held tuples (no level views built): depth readers read whole
        sides with it."""
        held: Iterable[_Held]
        if start <= 0 and stop >= len(self._keys):
            held = self._levels.values()  # the whole side: order does not matter to a sum
        else:
            keys = self._keys[start:stop]
            held = list(map(self._levels.__getitem__, map(neg, keys) if self.is_bid else keys))
        amounts = list(map(_amount_of, held))
        return sum(amounts), sum(map(mul, map(_price_of, held), amounts))

    def amounts(self, start: int, stop: int) -> int:
        """The amount (10**-18 units) of the levels ranked ``start`` to ``stop``, exact: what
        :meth:`totals` gives without the notional, whose products of large integers are
        most of its cost (an imbalance needs amounts only)."""
        if start <= 0 and stop >= len(self._keys):
            return sum(map(_amount_of, self._levels.values()))
        keys = self._keys[start:stop]
        levels = self._levels.__getitem__
        return sum(map(_amount_of, map(levels, map(neg, keys) if self.is_bid else keys)))

    def iter(self) -> Iterator[BookLevel]:
        """Every level, best first, built as it is read (for readers that stop early)."""
        levels = self._levels
        sign = self._sign
        for k in self._keys:
            yield _as_level(BookLevel, levels[k * sign])

    def all(self) -> list[BookLevel]:
        """Every level, best first."""
        return self.top(len(self._keys))


class BookState(enum.Enum):
    """What a trader may conclude from a book."""

    SYNCING = "SYNCING"
    """Subscribed, no SNAPSHOT yet: UPDATEs are being buffered."""
    LIVE = "LIVE"
    """Built from a SNAPSHOT and every UPDATE since."""
    STALE = "STALE"
    """Kept on screen from before a disconnect or resync; not current."""
    RESYNC = "RESYNC"
    """The pre-snapshot buffer overflowed: a new SNAPSHOT is needed."""


class Book:
    """One market's order book with its reconciliation state and derived figures."""

    __slots__ = (
        "_buffer",
        "_buffered_levels",
        "_last_parsed",
        "asks",
        "bids",
        "buffer_levels",
        "buffer_limit",
        "errors",
        "has_data",
        "last_error",
        "last_update_text",
        "market",
        "resync_reason",
        "snapshot_time_ns",
        "snapshots",
        "stale",
        "synced",
        "updates_applied",
        "updates_buffered",
        "updates_dropped",
    )

    def __init__(
        self,
        market: str,
        buffer_limit: int = DEFAULT_BUFFER_LIMIT,
        buffer_levels: int = DEFAULT_BUFFER_LEVELS,
    ) -> None:
        self.market = market
        self.bids = BookSide(is_bid=True)
        self.asks = BookSide(is_bid=False)
        self.buffer_limit = buffer_limit
        self.buffer_levels = buffer_levels
        """Levels the buffered UPDATEs may hold in all (see :data:`DEFAULT_BUFFER_LEVELS`)."""
        self._buffered_levels = 0
        self.synced = False
        """True once a SNAPSHOT has been applied since the last reset."""
        self.stale = False
        """True while the levels held come from before a disconnect or reset."""
        self.resync_reason = ""
        """Why this book can no longer be trusted without a new SNAPSHOT (buffer overflow,
        an unreadable level); empty while it is fine. Cleared by the next SNAPSHOT."""
        self.has_data = False
        """True once any SNAPSHOT was applied (the levels may be stale)."""
        self._buffer: list[tuple[int, BookMessage]] = []
        self.snapshot_time_ns = 0
        self.last_update_text = ""
        """Time of the last applied SNAPSHOT or UPDATE as the server wrote it."""
        self._last_parsed: tuple[str, int] = ("", 0)
        self.updates_applied = 0
        self.updates_dropped = 0
        self.updates_buffered = 0
        self.snapshots = 0
        self.errors = 0
        """Levels or times this book could not read (counted, never fatal)."""
        self.last_error = ""

    # ------------------------------------------------------------------ state

    @property
    def state(self) -> BookState:
        """The state a trader sees."""
        if self.resync_reason:
            return BookState.RESYNC
        if self.stale:
            return BookState.STALE
        return BookState.LIVE if self.synced else BookState.SYNCING

    @property
    def needs_resync(self) -> bool:
        """True when only a new SNAPSHOT can make this book trustworthy again."""
        return bool(self.resync_reason)

    @property
    def buffered(self) -> int:
        """UPDATEs waiting for the SNAPSHOT."""
        return len(self._buffer)

    def reset(self) -> None:
        """Forget the sync (unsubscribe, resubscribe, disconnect): keep levels, mark stale.

        The next SNAPSHOT replaces the book; UPDATEs until then are buffered.
        """
        self.synced = False
        self.stale = self.has_data
        self.resync_reason = ""
        self.updates_dropped += len(self._buffer)  # buffered for a sync that is abandoned
        self._buffer.clear()
        self._buffered_levels = 0

    # ------------------------------------------------------------------ applying

    def apply(self, msg: BookMessage) -> bool:
        """Apply a SNAPSHOT or UPDATE by the rules of docs/protocol.md §5.

        Returns True when the visible book changed. A bad level or time is counted in
        ``errors`` with ``last_error`` and the message is skipped; it never raises.
        """
        try:
            if self.synced and msg.type == "UPDATE":
                # The hot path: live updates apply as they come; their time is only
                # read for display (``last_update_ns``), so it is not parsed here.
                self._apply_update(msg)
                return True
            t = parse_time(msg.time)
            if msg.type == "SNAPSHOT":
                self._apply_snapshot(msg, t)
                return True
            if not self.synced:
                if self.resync_reason:
                    self.updates_dropped += 1
                    return False
                levels = self._buffered_levels + len(msg.bids) + len(msg.asks)
                if len(self._buffer) >= self.buffer_limit or levels > self.buffer_levels:
                    self.resync_reason = (
                        f"more than {self.buffer_limit} updates arrived before the snapshot"
                        if len(self._buffer) >= self.buffer_limit
                        else f"the updates before the snapshot held more than "
                        f"{self.buffer_levels} levels"
                    )
                    self.updates_dropped += len(self._buffer) + 1
                    self._buffer.clear()
                    self._buffered_levels = 0
                    return False
                self._buffer.append((t, msg))
                self._buffered_levels = levels
                self.updates_buffered += 1
                return False
            self._apply_update(msg)
            return True
        except DecimalFormatError:
            # A level we cannot hold leaves the book unknowable at that price: say which.
            self._fail(f"unreadable {msg.type}: {unreadable_level(msg)}")
            return True
        except TimeFormatError as exc:
            self._fail(f"unreadable {msg.type}: {exc}")
            return True

    def _fail(self, reason: str) -> None:
        self.errors += 1
        self.last_error = reason
        self.resync_reason = reason

    def _apply_snapshot(self, msg: BookMessage, t: int) -> None:
        # Validate the whole snapshot before touching the book, so a bad one loses nothing.
        bids = BookSide(is_bid=True)
        asks = BookSide(is_bid=False)
        bids.load(msg.bids)
        asks.load(msg.asks)
        self.bids, self.asks = bids, asks
        self.snapshot_time_ns = t
        self.last_update_text = msg.time
        self.synced = True
        self.stale = False
        self.resync_reason = ""
        self.has_data = True
        self.snapshots += 1
        buffered, self._buffer = self._buffer, []
        self._buffered_levels = 0
        for bt, update in buffered:
            if bt > t:
                try:
                    self._apply_update(update)
                except DecimalFormatError:
                    self._fail(f"unreadable buffered UPDATE: {unreadable_level(update)}")
            else:
                self.updates_dropped += 1

    def _apply_update(self, msg: BookMessage) -> None:
        if msg.bids:
            self.bids.update(msg.bids)
        if msg.asks:
            self.asks.update(msg.asks)
        self.updates_applied += 1
        self.last_update_text = msg.time

    @property
    def last_update_ns(self) -> int:
        """Time of the last applied SNAPSHOT or UPDATE in ns since the epoch (0: none, or
        unreadable; an unreadable time is counted in ``errors``)."""
        text, ns = self._last_parsed
        if text != self.last_update_text:
            try:
                ns = parse_time(self.last_update_text) if self.last_update_text else 0
            except TimeFormatError as exc:
                self.errors += 1
                self.last_error = str(exc)
                ns = 0
            self._last_parsed = (self.last_update_text, ns)
        return ns

    # ------------------------------------------------------------------ derived figures

    def top(self, n: int) -> tuple[list[BookLevel], list[BookLevel]]:
        """The best ``n`` bids and asks, best first."""
        return self.bids.top(n), self.asks.top(n)

    @property
    def best_bid(self) -> BookLevel | None:
        """The highest bid."""
        return self.bids.best()

    @property
    def best_ask(self) -> BookLevel | None:
        """The lowest ask."""
        return self.asks.best()

    @property
    def spread_units(self) -> int | None:
        """Best ask minus best bid in 10**-18 units (negative when crossed)."""
        return spread_units_of(self.bids.best(), self.asks.best())

    @property
    def mid_units(self) -> int | None:
        """Mid price in 10**-18 units, rounded half down to a unit (exact for real ticks)."""
        return mid_units_of(self.bids.best(), self.asks.best())

    @property
    def spread_bps(self) -> float | None:
        """Spread in basis points of the mid (a display figure, so a float is fine)."""
        return spread_bps_of(self.bids.best(), self.asks.best())

    @property
    def crossed(self) -> bool:
        """Best bid above best ask: shown as it is, never repaired."""
        spread = self.spread_units
        return spread is not None and spread < 0

    @property
    def locked(self) -> bool:
        """Best bid equal to best ask."""
        return self.spread_units == 0

    def imbalance(self, n: int) -> float | None:
        """(bid amount - ask amount) / (bid + ask) over the top ``n`` levels, in [-1, 1]."""
        bid_total = sum(level.amount_units for level in self.bids.top(n))
        ask_total = sum(level.amount_units for level in self.asks.top(n))
        total = bid_total + ask_total
        return None if total == 0 else (bid_total - ask_total) / total


def unreadable_level(msg: BookMessage) -> str:
    """Which level of ``msg`` cannot be held exactly, and why, in words a trader can check
    against the exchange (side, price, the text as sent). Only called on the error path."""
    for side, levels in (("bid", msg.bids), ("ask", msg.asks)):
        for level in levels:
            for field_name, text in (("price", level.price), ("amount", level.amount)):
                try:
                    to_scaled(text)
                except DecimalFormatError as exc:
                    where = f"{msg.market} {side} at price {level.price!r}"
                    if field_name == "price":
                        where = f"{msg.market} {side} price {level.price!r}"
                    return f"{where}: {field_name} {exc}"
    return f"{msg.market}: a level could not be read"


def spread_units_of(bid: BookLevel | None, ask: BookLevel | None) -> int | None:
    """Ask price minus bid price in 10**-18 units (negative when crossed; None: a side is
    missing). For a touch as a book has it or as a screen painted it."""
    if bid is None or ask is None:
        return None
    return ask.price_units - bid.price_units


def mid_units_of(bid: BookLevel | None, ask: BookLevel | None) -> int | None:
    """The mid of a bid and an ask in 10**-18 units, rounded half down to a unit."""
    if bid is None or ask is None:
        return None
    return (ask.price_units + bid.price_units) // 2


def spread_bps_of(bid: BookLevel | None, ask: BookLevel | None) -> float | None:
    """The spread of a bid and an ask in basis points of their mid (a display figure)."""
    spread, mid = spread_units_of(bid, ask), mid_units_of(bid, ask)
    if spread is None or not mid:
        return None
    return spread * 10_000 / mid


def cumulative(levels: Sequence[BookLevel]) -> list[int]:
    """Running total of amounts (10**-18 units) down a side, best level first."""
    out: list[int] = []
    total = 0
    for level in levels:
        total += level.amount_units
        out.append(total)
    return out


def group_levels(
    levels: Iterable[BookLevel], step_units: int, is_bid: bool, limit: int | None = None
) -> list[BookLevel]:
    """Aggregate levels (best first) into buckets of ``step_units`` (exact): bids floor,
    asks ceiling; at most ``limit`` buckets, reading no further than they need.

    The grouped level's spellings are exact decimals of the bucket price and summed amount.
    """
    from app.protocol import format_scaled

    if step_units <= 0:
        raise ValueError("grouping step must be positive")
    buckets: dict[int, int] = {}
    order: list[int] = []
    for level in levels:
        p = level.price_units
        bucket = (p // step_units) * step_units if is_bid else -((-p) // step_units) * step_units
        if bucket not in buckets:
            if limit is not None and len(order) >= limit:
                break  # levels come best first: every later one is in a later bucket
            buckets[bucket] = 0
            order.append(bucket)
        buckets[bucket] += level.amount_units
    return [BookLevel(format_scaled(b), format_scaled(buckets[b]), b, buckets[b]) for b in order]


class BookStore(MarketRegistry[Book]):
    """Every market's book; the feed applies messages, the screen reads books and ``dirty``."""

    def __init__(
        self, buffer_limit: int = DEFAULT_BUFFER_LIMIT, buffer_levels: int = DEFAULT_BUFFER_LEVELS
    ) -> None:
        super().__init__()
        self.buffer_limit = buffer_limit
        self.buffer_levels = buffer_levels

    @property
    def books(self) -> dict[str, Book]:
        """Market -> book."""
        return self.items

    def _create(self, market: str) -> Book:
        return Book(market, self.buffer_limit, self.buffer_levels)

    def book(self, market: str) -> Book:
        """The book for ``market``, created (syncing) on first use."""
        return self.obtain(market)

    def apply(self, msg: BookMessage) -> Book:
        """Apply one ``market_data`` message to its market's book and mark it dirty."""
        book = self.items.get(msg.market)
        if book is None:
            book = self.obtain(msg.market)
        book.apply(msg)
        self.dirty.add(msg.market)
        return book

    def reset(self, market: str) -> None:
        """Unsubscribe or resync: the book stays readable but stale until a new SNAPSHOT."""
        book = self.items.get(market)
        if book is not None:
            book.reset()
            self.dirty.add(market)

    def mark_stale(self) -> None:
        """The socket dropped: every book is stale until its new SNAPSHOT lands."""
        for market, book in self.items.items():
            book.reset()
            self.dirty.add(market)


def units_to_float(units: int) -> float:
    """For display ratios and bars only; never for keys or equality."""
    return units / ONE
