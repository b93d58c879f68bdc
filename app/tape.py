"""The trade tape: executions per market ordered by ``executed_at``, bounded, with session figures.

Executions may arrive out of order; a late one is inserted in its place. The API gives no
side, so each trade's aggressor side is *inferred* at arrival: at or above the best ask a
buy, at or below the best bid a sell, otherwise the tick rule against the trade before it.

How a tape is *shown* is computed here too, without a screen: :class:`TapeSettings` (a
minimum size, aggregation of the prints of one ``executed_at`` at one price) and
:func:`tape_window`, the rows of one page, newest first, following the newest trade or
anchored on a row scrolled back to (:func:`scroll_anchor`).

The session figures (count, volume, VWAP, high and low) cover every trade since the
market's tape was created in this run, not only the trades still kept. A dropped
connection, a reconnect and a resync keep the tape as it is (only the book is reset); an
unsubscribe of ``execution_data`` drops it. A replay's tape holds what the recording says:
the figures from its starting point on, as they stood at the moment sought to.
"""

from __future__ import annotations

import enum
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Sequence
from decimal import Decimal
from itertools import islice
from typing import Final, NamedTuple

import msgspec

from app.books import Book
from app.protocol import (
    ONE,
    DecimalFormatError,
    Execution,
    TimeFormatError,
    decimal_places,
    format_scaled,
    parse_time,
    to_scaled,
)
from app.registry import MarketRegistry

DEFAULT_TAPE_LIMIT: Final = 500


class Side(enum.Enum):
    """An inferred aggressor side."""

    BUY = "buy"
    SELL = "sell"
    UNKNOWN = "?"


class Trade(NamedTuple):
    """One execution as held: wire spellings, exact integers, and the inferred side."""

    executed_ns: int
    seq: int
    """Arrival order, to keep equal times stable."""
    price: str
    amount: str
    executed_at: str
    price_units: int
    amount_units: int
    side: Side


class TapeState(msgspec.Struct, array_like=True):
    """A market's tape as held, exactly (a mid-session recording's starting point): the
    trades as ``[seq, executed_at, price, amount, side]`` oldest first, and the session
    figures (integers as decimal strings: the notional outgrows 64 bits)."""

    market: str
    trades: list[tuple[int, str, str, str, str]]
    seq: int
    count: int
    volume_units: str
    notional: str
    high_units: str | None
    low_units: str | None
    late: int
    errors: int


class MarketTape:
    """One market's trades, oldest first by ``executed_at``, and its session figures."""

    __slots__ = (
        "_notional",
        "_seq",
        "count",
        "errors",
        "high_units",
        "last_error",
        "late",
        "limit",
        "low_units",
        "market",
        "trades",
        "volume_units",
    )

    def __init__(self, market: str, limit: int = DEFAULT_TAPE_LIMIT) -> None:
        self.market = market
        self.limit = limit
        self.trades: list[Trade] = []
        self.count = 0
        self.volume_units = 0
        self._notional = 0  # sum(price * amount) in 10**-36 units, exact
        self.high_units: int | None = None
        self.low_units: int | None = None
        self.late = 0
        """Executions that arrived after a later-executed one (inserted in place)."""
        self.errors = 0
        self.last_error = ""
        self._seq = 0

    @property
    def last(self) -> Trade | None:
        """The newest trade by ``executed_at``."""
        return self.trades[-1] if self.trades else None

    @property
    def vwap_units(self) -> int | None:
        """Volume-weighted average price of the session, 10**-18 units (rounded down)."""
        if not self.volume_units:
            return None
        return self._notional // self.volume_units

    @property
    def vwap(self) -> Decimal | None:
        """The session VWAP as an exact-as-possible Decimal for display."""
        units = self.vwap_units
        return None if units is None else Decimal(units) / ONE

    @property
    def volume(self) -> str:
        """Session volume as a decimal string."""
        return format_scaled(self.volume_units)

    def high_low(self, places: int | None = None) -> tuple[str, str] | None:
        """The session's highest and lowest traded prices as decimal strings (``places``
        fraction digits, else as few as exact), None before the first trade."""
        if self.high_units is None or self.low_units is None:
            return None
        return format_scaled(self.high_units, places), format_scaled(self.low_units, places)

    def add(self, execution: Execution, book: Book | None = None) -> Trade | None:
        """Insert one execution in ``executed_at`` order; returns it, or None if unreadable."""
        try:
            t = parse_time(execution.executed_at)
            p = to_scaled(execution.price)
            a = to_scaled(execution.amount)
        except (DecimalFormatError, TimeFormatError) as exc:
            self.errors += 1
            self.last_error = f"unreadable execution: {exc}"
            return None
        trades = self.trades
        self._seq += 1
        index = len(trades)
        if trades and trades[-1].executed_ns > t:
            index = bisect_right(trades, (t, self._seq))
            self.late += 1
        side = self._infer_side(p, book, trades[index - 1] if index else None)
        trade = Trade(
            t, self._seq, execution.price, execution.amount, execution.executed_at, p, a, side
        )
        trades.insert(index, trade)
        if len(trades) > self.limit:
            del trades[: len(trades) - self.limit]
        self.count += 1
        self.volume_units += a
        self._notional += p * a
        if self.high_units is None or p > self.high_units:
            self.high_units = p
        if self.low_units is None or p < self.low_units:
            self.low_units = p
        return trade

    @staticmethod
    def _infer_side(price: int, book: Book | None, previous: Trade | None) -> Side:
        if book is not None and book.synced:
            ask, bid = book.best_ask, book.best_bid
            if ask is not None and price >= ask.price_units:
                return Side.BUY
            if bid is not None and price <= bid.price_units:
                return Side.SELL
        if previous is None:
            return Side.UNKNOWN
        if price > previous.price_units:
            return Side.BUY
        if price < previous.price_units:
            return Side.SELL
        return previous.side

    def state(self) -> TapeState:
        """Everything this tape holds, for :meth:`restore` to hold exactly elsewhere."""
        return TapeState(
            self.market,
            [(t.seq, t.executed_at, t.price, t.amount, t.side.value) for t in self.trades],
            self._seq,
            self.count,
            str(self.volume_units),
            str(self._notional),
            None if self.high_units is None else str(self.high_units),
            None if self.low_units is None else str(self.low_units),
            self.late,
            self.errors,
        )

    def restore(self, state: TapeState) -> None:
        """Hold what ``state`` says (from :meth:`state`), trades and figures alike.

        Raises ``ValueError`` for a state that cannot be this tape's (unreadable times,
        prices or sides).
        """
        trades = []
        try:
            for seq, executed_at, price, amount, side in state.trades[-self.limit :]:
                trades.append(
                    Trade(
                        parse_time(executed_at),
                        seq,
                        price,
                        amount,
                        executed_at,
                        to_scaled(price),
                        to_scaled(amount),
                        Side(side),
                    )
                )
        except ValueError as exc:  # a time, decimal or side that cannot be read
            raise ValueError(f"unreadable tape state: {exc}") from None
        self.trades = trades
        self._seq = state.seq
        self.count = state.count
        self.volume_units = int(state.volume_units)
        self._notional = int(state.notional)
        self.high_units = None if state.high_units is None else int(state.high_units)
        self.low_units = None if state.low_units is None else int(state.low_units)
        self.late = state.late
        self.errors = state.errors

    def newest(self, n: int) -> list[Trade]:
        """The newest ``n`` trades, newest first."""
        return self.trades[: -n - 1 : -1] if n > 0 else []


class TapeStore(MarketRegistry[MarketTape]):
    """Every market's tape; the feed adds executions, the screen reads and clears ``dirty``."""

    def __init__(self, limit: int = DEFAULT_TAPE_LIMIT) -> None:
        super().__init__()
        self.limit = limit

    @property
    def tapes(self) -> dict[str, MarketTape]:
        """Market -> tape."""
        return self.items

    def _create(self, market: str) -> MarketTape:
        return MarketTape(market, self.limit)

    def tape(self, market: str) -> MarketTape:
        """The tape for ``market``, created empty on first use."""
        return self.obtain(market)

    def add(self, execution: Execution, book: Book | None = None) -> Trade | None:
        """Add one execution to its market's tape and mark the market dirty."""
        self.dirty.add(execution.market)
        return self.obtain(execution.market).add(execution, book)


# --------------------------------------------------------------------------- how a tape is shown


class TapeSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """How one market's tape is shown: what a user sets with keys, and what an integrator
    persists (it encodes as ``{"min_size": "0.5", "aggregate": true}``)."""

    min_size: str = ""
    """Only rows of at least this amount (base units, a decimal string); "" shows all.
    Aggregated, the row's summed amount counts: a sweep of small prints shows whole."""
    aggregate: bool = False
    """Prints with the same ``executed_at`` and price are one row (amount summed, prints
    counted), as aggr and Jigsaw's reconstructed tape show them."""

    @property
    def min_units(self) -> int:
        """:attr:`min_size` in units of 10**-18 (0: no minimum)."""
        return to_scaled(self.min_size) if self.min_size else 0

    @property
    def active(self) -> bool:
        """A filter or aggregation is on (the tape says so in its title)."""
        return bool(self.min_units) or self.aggregate


def parse_min_size(text: str) -> str:
    """A typed minimum size as :attr:`TapeSettings.min_size`: "" for none (empty or zero),
    else the decimal as typed (``.5`` as ``0.5``). Raises ``ValueError`` saying why not."""
    text = text.strip()
    if not text:
        return ""
    spelled = f"0{text}" if text.startswith(".") else text
    try:
        units = to_scaled(spelled)
    except DecimalFormatError:
        raise ValueError(
            f"{text!r} is not a size: a decimal amount in base units, e.g. 0.5"
        ) from None
    return spelled if units else ""


RowKey = tuple[int, int]
"""A row's place on the tape: ``(executed_ns, seq)`` of its first print (the earliest to
arrive); rows are ordered by it, as trades are."""
OLDEST: Final[RowKey] = (-1, 0)
"""A key older than every row: anchored there, the window shows the oldest page."""


class TapeRow(NamedTuple):
    """One row of the tape as shown: one print, or the prints of one ``executed_at`` at one
    price summed (``prints`` > 1). Hashable: a widget keeps its painted line by it."""

    executed_ns: int
    seq: int
    """The first print's arrival order (with ``executed_ns``, the row's :data:`RowKey`)."""
    price: str
    amount: str
    """The wire spelling of one print; for a sum, written with the most fraction digits
    any of its prints had."""
    price_units: int
    amount_units: int
    side: Side
    """The prints' inferred side; ``UNKNOWN`` if summed prints disagree."""
    prints: int = 1

    @property
    def key(self) -> RowKey:
        """Where the row sits on the tape."""
        return (self.executed_ns, self.seq)


def row_of(trade: Trade) -> TapeRow:
    """One print as a row."""
    return TapeRow(
        trade.executed_ns,
        trade.seq,
        trade.price,
        trade.amount,
        trade.price_units,
        trade.amount_units,
        trade.side,
    )


def aggregate_prints(prints: Sequence[Trade]) -> list[TapeRow]:
    """The rows of prints that share one ``executed_at``: one per price, summed exactly,
    oldest first (by each price's first print)."""
    by_price: dict[int, list[Trade]] = {}
    for trade in prints:
        by_price.setdefault(trade.price_units, []).append(trade)
    rows = []
    for group in by_price.values():
        first = group[0]
        if len(group) == 1:
            rows.append(row_of(first))
            continue
        total = sum(t.amount_units for t in group)
        places = max(decimal_places(t.amount) for t in group)
        sides = {t.side for t in group}
        rows.append(
            TapeRow(
                first.executed_ns,
                first.seq,
                first.price,
                format_scaled(total, places),
                first.price_units,
                total,
                first.side if len(sides) == 1 else Side.UNKNOWN,
                len(group),
            )
        )
    return rows


def rows_newest_first(
    trades: Sequence[Trade], settings: TapeSettings, end: int | None = None, start: int = 0
) -> Iterator[TapeRow]:
    """The rows of ``trades[start:end]`` newest first, filtered and aggregated as
    ``settings`` say. ``start`` and ``end`` must not cut an ``executed_at`` in two when
    aggregating (the oldest kept one may be cut by the tape's bound: its kept prints sum)."""
    minimum = settings.min_units
    i = len(trades) if end is None else end
    if not settings.aggregate:
        while i > start:
            i -= 1
            trade = trades[i]
            if trade.amount_units >= minimum:
                yield row_of(trade)
        return
    while i > start:
        ns = trades[i - 1].executed_ns
        lo = i - 1
        while lo > start and trades[lo - 1].executed_ns == ns:
            lo -= 1
        for row in reversed(aggregate_prints(trades[lo:i])):
            if row.amount_units >= minimum:
                yield row
        i = lo


def _position(trades: Sequence[Trade], settings: TapeSettings, anchor: RowKey) -> tuple[int, int]:
    """``(end, newer)``: where the trades of the rows at and before ``anchor`` end, and how
    many rows are newer than it."""
    ns, seq = anchor
    if not settings.aggregate:
        end = bisect_left(trades, (ns, seq + 1))
        return end, sum(1 for _ in rows_newest_first(trades, settings, start=end))
    # Aggregated, a row is every print of its executed_at at its price: the anchor's
    # executed_at is read whole, and its rows after the anchor's are newer.
    end = bisect_left(trades, (ns + 1,))
    start = bisect_left(trades, (ns,))
    newer = sum(1 for _ in rows_newest_first(trades, settings, start=end))
    newer += sum(1 for row in rows_newest_first(trades, settings, end, start) if row.key > anchor)
    return end, newer


class TapeWindow(NamedTuple):
    """One page of a tape as shown."""

    rows: list[TapeRow]
    """Newest first."""
    newer: int
    """Rows newer than the first one shown (0 when following the newest)."""
    anchor: RowKey | None
    """The first row's key while scrolled back; None when following the newest."""


def tape_window(
    trades: Sequence[Trade], settings: TapeSettings, page: int, anchor: RowKey | None = None
) -> TapeWindow:
    """The ``page`` rows to show: the newest (``anchor`` None), or those at and before
    ``anchor``, which new trades do not move. An anchor too old for a full page (trades
    gone past the bound, :data:`OLDEST`) gives the oldest full page; one on a tape that
    fits a page whole gives the newest again (there is nothing to scroll)."""
    if page <= 0:
        return TapeWindow([], 0, anchor)
    if anchor is None:
        if not settings.active:  # the common case, as cheap as before
            return TapeWindow([row_of(t) for t in trades[: -page - 1 : -1]], 0, None)
        return TapeWindow(list(islice(rows_newest_first(trades, settings), page)), 0, None)
    end, newer = _position(trades, settings, anchor)
    older = (row for row in rows_newest_first(trades, settings, end) if row.key <= anchor)
    rows = list(islice(older, page))
    if len(rows) < page:
        total = newer + len(rows)
        if total <= page:
            return tape_window(trades, settings, page)
        oldest = list(islice(rows_oldest_first(trades, settings), page))[::-1]
        return TapeWindow(oldest, total - page, oldest[0].key)
    if newer == 0:
        return TapeWindow(rows, 0, None)  # scrolled back to the newest: following again
    return TapeWindow(rows, newer, rows[0].key)


def rows_oldest_first(trades: Sequence[Trade], settings: TapeSettings) -> Iterator[TapeRow]:
    """The rows of the whole tape oldest first (for the oldest page)."""
    minimum = settings.min_units
    if not settings.aggregate:
        for trade in trades:
            if trade.amount_units >= minimum:
                yield row_of(trade)
        return
    i, n = 0, len(trades)
    while i < n:
        ns = trades[i].executed_ns
        hi = i + 1
        while hi < n and trades[hi].executed_ns == ns:
            hi += 1
        for row in aggregate_prints(trades[i:hi]):
            if row.amount_units >= minimum:
                yield row
        i = hi


def scroll_anchor(
    trades: Sequence[Trade], settings: TapeSettings, anchor: RowKey | None, rows: int
) -> RowKey | None:
    """Where the top of the view is after moving ``rows`` rows older (negative: newer)
    from ``anchor`` (None: the newest). Back at the newest it is None (following); past
    the oldest, :data:`OLDEST` (:func:`tape_window` shows the oldest full page)."""
    newer = 0 if anchor is None else _position(trades, settings, anchor)[1]
    target = newer + rows
    if target <= 0:
        return None
    row = next(islice(rows_newest_first(trades, settings), target, None), None)
    return OLDEST if row is None else row.key
