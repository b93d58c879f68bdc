"""The watchlist's rows, headless: every known market's figures in one row, and their order.

:func:`watch_rows` reads the feed (books, tapes, subscriptions), the mid history and the
subscribe queue into one :class:`WatchRow` per known market, subscribed or not; a row
keeps each figure exact (10**-18 units) for sorting beside its text for display.
:func:`sort_rows` orders them by any :data:`COLUMNS` entry, either way, rows without that
figure last whichever way, ties in the known markets' order. The screen
(``widgets/watchlist.py``) only lays them out.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from app.books import mid_units_of, spread_bps_of, spread_units_of
from app.history import MidHistory, trend
from app.protocol import MARKET_DATA, decimal_places, format_scaled

if TYPE_CHECKING:
    from app.feed import FeedClient

COLUMNS: Final = (
    "market",
    "state",
    "bid",
    "ask",
    "spread",
    "bps",
    "mid",
    "last",
    "change",
    "volume",
    "vwap",
    "trend",
    "age",
)
"""The columns, left to right; each sorts (``trend``: the sparkline's change)."""
STATE_ORDER: Final = (
    "LIVE",
    "SYNCING",
    "QUEUED",
    "RESYNC",
    "CONNECTING",
    "AUTHENTICATING",
    "LEAVING",
    "STALE",
    "OFFLINE",
    "NO BOOK",
    "FAILED",
)
"""States sorted by state, the most current first (an unsubscribed market comes last)."""
QUEUED: Final = "QUEUED"
"""The state of a market whose subscribe request waits for its turn (one a second)."""
SPARK_SAMPLES: Final = 24
"""Samples the sparkline shows, and ``trend`` measures over (two minutes at 5 s)."""


@dataclass(frozen=True, slots=True)
class WatchRow:
    """One market's figures: exact units for sorting, text for display ("" when none)."""

    market: str
    subscribed: bool
    state: str
    """The state badge's word (``LIVE``, ``QUEUED``, ...); "" when not subscribed."""
    stale: bool
    """The figures are kept from before (the book not LIVE): shown dimmed."""
    bid: int | None
    bid_text: str
    ask: int | None
    ask_text: str
    spread: int | None
    spread_text: str
    bps: float | None
    mid: int | None
    mid_text: str
    last: int | None
    last_text: str
    change: float | None
    """The mid's change since the session's open (:meth:`MidHistory.open`), a fraction."""
    volume: int | None
    volume_text: str
    vwap: int | None
    vwap_text: str
    spark: tuple[int | None, ...]
    """The mid history, oldest first (the widget draws as many as fit)."""
    trend: float | None
    age: float | None
    """Seconds since the market's newest ``market_data`` frame."""

    def key(self, column: str) -> SortKey:
        """The figure ``column`` sorts by (None: this row has none)."""
        if column == "state":
            if not self.state:
                return None
            return STATE_ORDER.index(self.state) if self.state in STATE_ORDER else len(STATE_ORDER)
        if column not in COLUMNS:
            raise ValueError(f"no watchlist column {column!r}")
        value: SortKey = getattr(self, column)
        return value


SortKey = str | int | float | None
"""What a row sorts by in one column: one kind per column, None when it has none."""


def watch_rows(
    feed: FeedClient,
    history: MidHistory,
    now: float,
    badge: Callable[[str], str],
    queued: Collection[str] = (),
) -> list[WatchRow]:
    """A row for each known market (the feed's, then any other subscribed), in that order;
    ``badge(market)`` is a subscribed market's state word, ``queued`` the markets whose
    subscribe waits its turn (:meth:`~app.feed.FeedClient.subscribe_queue`)."""
    subscribed = feed.markets()
    names = list(dict.fromkeys([*feed.known_markets, *subscribed]))
    held = set(subscribed)
    return [_row(feed, history, now, m, m in held, m in queued, badge) for m in names]


def _row(
    feed: FeedClient,
    history: MidHistory,
    now: float,
    market: str,
    subscribed: bool,
    queued: bool,
    badge: Callable[[str], str],
) -> WatchRow:
    state = (QUEUED if queued else badge(market)) if subscribed else ""
    book = feed.store.get(market)
    bid = ask = None
    places = 0
    stale = True
    if book is not None and book.has_data:
        bid, ask = book.best_bid, book.best_ask
        places = max(
            decimal_places(bid.price) if bid else 0, decimal_places(ask.price) if ask else 0
        )
        stale = state != "LIVE"
    spread = spread_units_of(bid, ask)
    mid = mid_units_of(bid, ask)
    mid_text = "" if mid is None else format_scaled(mid)
    if mid is not None:
        mid_text = format_scaled(mid, max(places, decimal_places(mid_text)))
    opened = history.open(market)
    change = None if mid is None or not opened else (mid - opened) / opened
    tape = feed.tape.get(market)
    last = tape.last if tape is not None else None
    vwap = tape.vwap_units if tape is not None else None
    volume = tape.volume_units if tape is not None and tape.count else None
    md = feed.subscriptions.get((MARKET_DATA, market))
    spark = tuple(history.values(market))
    return WatchRow(
        market=market,
        subscribed=subscribed,
        state=state,
        stale=stale,
        bid=None if bid is None else bid.price_units,
        bid_text="" if bid is None else bid.price,
        ask=None if ask is None else ask.price_units,
        ask_text="" if ask is None else ask.price,
        spread=spread,
        spread_text="" if spread is None else format_scaled(spread, places),
        bps=spread_bps_of(bid, ask),
        mid=mid,
        mid_text=mid_text,
        last=None if last is None else last.price_units,
        last_text="" if last is None else last.price,
        change=change,
        volume=volume,
        volume_text="" if volume is None or tape is None else tape.volume,
        vwap=vwap,
        vwap_text="" if vwap is None else format_scaled(vwap, places + 2),
        spark=spark,
        trend=trend(spark, SPARK_SAMPLES),
        age=md.age(now) if md is not None and subscribed else None,
    )


def sort_rows(rows: Sequence[WatchRow], column: str, descending: bool = False) -> list[WatchRow]:
    """``rows`` ordered by ``column`` (either way); rows without the figure last, ties in
    the order given."""
    keyed = [(row.key(column), index, row) for index, row in enumerate(rows)]
    present = [k for k in keyed if k[0] is not None]
    absent = [k for k in keyed if k[0] is None]
    # One kind of key per column; the sort is stable either way, so ties keep their order.
    present.sort(key=lambda k: k[0], reverse=descending)  # type: ignore[arg-type,return-value]
    return [row for _, _, row in present + absent]
