"""Mid history: a small ring of mid samples per market, for the watchlist's sparkline.

:class:`MidHistory` reads each market's mid at a fixed interval (:data:`SAMPLE_INTERVAL`)
and keeps the last :data:`SAMPLES` of them per market: ten minutes, a few kilobytes for
every market. A market whose book is not LIVE at a sample (STALE after a drop, SYNCING,
RESYNC, one side empty, not subscribed) gets a gap, never a made-up value: the sparkline
shows a blank there. Intervals in which nothing sampled at all (the process asleep) are
gaps too, so the ring's time axis stays true.

It also keeps each market's *session open*: the first LIVE mid seen in this run, which
the watchlist's change column measures against (the tape keeps only its newest trades,
so the session's first print may be gone).

Headless: the screen calls :meth:`MidHistory.sample` on its clock; prices stay exact
integers (10**-18 units) until :func:`sparkline` scales them for display.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from typing import Final

from app.books import BookState, BookStore

SAMPLE_INTERVAL: Final = 5.0
"""Seconds between two samples of a market's mid."""
SAMPLES: Final = 120
"""Samples kept per market (ten minutes at :data:`SAMPLE_INTERVAL`)."""
BLOCKS: Final = "▁▂▃▄▅▆▇█"
"""The sparkline's eight heights, lowest first."""
GAP: Final = " "
"""What a sample without a mid looks like in a sparkline."""


class MidRing:
    """One market's samples, oldest first: a mid in 10**-18 units, or None for a gap."""

    def __init__(self, capacity: int) -> None:
        self.samples: deque[int | None] = deque(maxlen=capacity)
        self.slot: int | None = None
        """The interval number (time // interval) of the newest sample."""
        self.open: int | None = None
        """The first LIVE mid seen in this run (the session's open)."""

    def put(self, slot: int, mid: int | None) -> None:
        """Record ``mid`` for interval ``slot``; intervals skipped since the last become
        gaps. A second reading in the same interval, or one from the past, is ignored."""
        last = self.slot
        if last is not None:
            if slot <= last:
                return
            missed = min(slot - last - 1, self.samples.maxlen or 0)
            self.samples.extend([None] * missed)
        self.slot = slot
        self.samples.append(mid)


class MidHistory:
    """Every market's :class:`MidRing`, sampled from a :class:`~app.books.BookStore`."""

    def __init__(self, interval: float = SAMPLE_INTERVAL, capacity: int = SAMPLES) -> None:
        if interval <= 0 or capacity <= 0:
            raise ValueError("a mid history needs a positive interval and capacity")
        self.interval = interval
        self.capacity = capacity
        self.rings: dict[str, MidRing] = {}

    def sample(self, now: float, books: BookStore, markets: Iterable[str]) -> None:
        """Read the mid of each of ``markets`` for the interval ``now`` falls in (once an
        interval; calling more often only notes a session open sooner)."""
        slot = int(now // self.interval)
        rings = self.rings
        for market in markets:
            ring = rings.get(market)
            if ring is None:
                ring = rings[market] = MidRing(self.capacity)
            mid = live_mid(books, market)
            if ring.open is None and mid is not None:
                ring.open = mid
            ring.put(slot, mid)

    def values(self, market: str) -> Sequence[int | None]:
        """The market's samples, oldest first (empty if never sampled)."""
        ring = self.rings.get(market)
        return ring.samples if ring is not None else ()

    def open(self, market: str) -> int | None:
        """The market's first LIVE mid in this run, None before one was seen."""
        ring = self.rings.get(market)
        return ring.open if ring is not None else None

    def clear(self) -> None:
        """Forget every sample and open (a replay sought elsewhere: the past changed)."""
        self.rings.clear()


def live_mid(books: BookStore, market: str) -> int | None:
    """The market's mid if its book is LIVE with both sides, else None (a gap)."""
    book = books.get(market)
    if book is None or book.state is not BookState.LIVE:
        return None
    return book.mid_units


def sparkline(values: Sequence[int | None], width: int) -> str:
    """The newest ``width`` samples as ``▁▂▃▄▅▆▇█`` between their low and high (gaps
    blank, a flat line at the middle height), right-aligned: exactly ``width`` cells."""
    if width <= 0:
        return ""
    shown = list(values)[-width:]
    known = [v for v in shown if v is not None]
    if not known:
        return GAP * width
    low, high = min(known), max(known)
    span = high - low
    top = len(BLOCKS) - 1
    cells = [
        GAP if v is None else BLOCKS[(v - low) * top // span if span else top // 2] for v in shown
    ]
    return GAP * (width - len(cells)) + "".join(cells)


def trend(values: Sequence[int | None], width: int) -> float | None:
    """The change over the newest ``width`` samples, as a fraction of the first of them
    (what the sparkline shows, for sorting by it); None with fewer than two mids."""
    known = [v for v in list(values)[-width:] if v is not None]
    if len(known) < 2 or not known[0]:
        return None
    return (known[-1] - known[0]) / known[0]
