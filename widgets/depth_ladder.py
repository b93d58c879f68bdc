"""DepthLadder: one market's book as a price ladder, asks above, bids below.

Two modes. *List* (the default): the best levels of each side, either side of the spread
line; a move of the touch shifts every row of its side. *Fixed tick* (:attr:`DepthLadder.fixed`):
every price on the market's tick (or the grouping step) in a window of ``2 x depth + 1``
rows, empty ones included, standing still while the touch moves inside it
(:class:`app.ladder.FixedWindow`: it re-centres when the touch comes within two rows of an
edge, or on :meth:`DepthLadder.recentre`), the spread line under it. A move of the touch
there changes only the rows between the old and the new touch, and only those are
repainted.

Rendered with the Line API (``render_line`` returning a :class:`Strip`): the screen calls
:meth:`DepthLadder.show` at most once per refresh tick for a dirty market, which computes
the visible rows once; the strips are built lazily at the widget's width and cached until
the next change. Measured at ~1.4 ms per repaint against ~11 ms for a ``DataTable``.

Columns: price and amount, then those chosen in :attr:`DepthLadder.columns` (each shown
when it fits): the cumulative amount, the notional (price x amount, exact integers) and the
volume traded at the price this session by inferred side (:class:`app.volume.VolumeAtPrice`),
then a bar proportional to the cumulative depth. Figures are exact decimals aligned on the
point by padding zeros (which never changes a value), with the market's decimals
(:class:`app.ladder.MarketPrecision`) in columns that only grow. The touch (best bid and
ask) is emphasised; a level whose amount changed flashes for
:attr:`DepthLadder.FLASH_SECONDS`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import ClassVar, Final

from rich.segment import Segment
from rich.style import Style
from textual.geometry import Region, Size
from textual.strip import Strip

from app.books import Book, BookLevel, cumulative, group_levels
from app.ladder import (
    FixedRow,
    FixedWindow,
    MarketPrecision,
    auto_multiple,
    bucket_of,
    fixed_rows,
    format_thousands,
    notional_units,
    window_levels,
)
from app.protocol import decimal_places, format_scaled, to_scaled
from app.volume import VolumeAtPrice
from widgets.quiet import CachedStyles

_EIGHTHS: Final = " ▏▎▍▌▋▊▉"
GROUP_MULTIPLES: Final = (0, 10, 100, 1000)
"""Grouping steps cycled by ``g``, as multiples of the market's tick (0: no grouping)."""
DEFAULT_COLUMNS: Final = frozenset({"cumulative"})
"""The optional columns (:data:`app.config.LADDER_COLUMNS`) shown unless told otherwise."""


@dataclass(frozen=True)
class _Row:
    price: str
    amount: str
    total: str
    total_units: int
    price_units: int
    is_bid: bool
    touch: bool
    flash: bool
    notional: str = ""
    bought: str = ""
    sold: str = ""
    empty: bool = False
    """A fixed-tick row with no level at its price (its price alone is shown)."""


_TOUCH: Final = 3
"""Where the touch flag is in a row key's fast part (:meth:`DepthLadder._row_key`)."""


@dataclass(frozen=True)
class _Cols:
    """Column widths as laid out (0: the column is not shown), and the bar's."""

    price: int
    amount: int
    total: int
    notional: int
    volume: int
    """Each of the two volume columns (bought, sold)."""
    bar: int


_NO_COLS: Final = _Cols(0, 0, 0, 0, 0, 0)
_TITLES: Final = {"total": "Total", "notional": "Notional", "bought": "Vol b*", "sold": "Vol s*"}


def format_bps(bps: float) -> str:
    """Basis points with two decimals below 10 (tight books), one above."""
    return f"{bps:.2f} bps" if abs(bps) < 10 else f"{bps:.1f} bps"


class DepthLadder(CachedStyles):
    """A fixed-height price ladder for one book (Line API, repainted only when told)."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "depth-ladder--header",
        "depth-ladder--bid",
        "depth-ladder--ask",
        "depth-ladder--bid-bar",
        "depth-ladder--ask-bar",
        "depth-ladder--touch",
        "depth-ladder--flash",
        "depth-ladder--amount",
        "depth-ladder--spread",
        "depth-ladder--alert",
        "depth-ladder--stale",
        "depth-ladder--empty",
    }

    DEFAULT_CSS = """
    DepthLadder {
        height: 1fr;
    }
    """

    DIRECT: ClassVar[bool] = True
    FLASH_SECONDS: ClassVar[float] = 0.6
    DEEP_SECONDS: ClassVar[float] = 0.25
    """How often the rows behind the touch are repainted on the refresh clock's ticks (an
    amount changing at the touch is repainted on every tick)."""
    SLOW_SECONDS: ClassVar[float] = 0.5
    """How often cumulative totals and depth bars are repainted when nothing else in their
    row changed."""
    AUTO_FINER_SECONDS: ClassVar[float] = 5.0
    """How long the spread must stay narrow before the automatic fixed-tick grid gets finer
    (it gets coarser at once)."""
    MOVE_SECONDS: ClassVar[float] = 0.1
    """How often the touch's price may move on screen. A move shifts every row of its side,
    so it repaints the side whole; the ladder holds its last picture whole until then (never
    a new touch over old rows), and the market's header shows the same touch."""

    def __init__(self, *, depth: int = 15, name: str | None = None, id: str | None = None) -> None:
        super().__init__(name=name, id=id)
        self.depth = depth
        """Most levels shown per side (fewer when the widget is short)."""
        self.group_multiple = 0
        """Grouping step as a multiple of the tick; 0 shows every level as it is."""
        self.group_step_units = 0
        """The current grouping step in 10**-18 units (0: none)."""
        self.auto_multiple = 1
        """The ungrouped fixed-tick grid's step in ticks (:func:`app.ladder.auto_multiple`:
        more than one while the spread is too wide for the window on the tick)."""
        self._finer_since: float | None = None
        """Since when the spread would have a finer automatic grid (None: it would not)."""
        self.columns: frozenset[str] = DEFAULT_COLUMNS
        """The optional columns shown (of :data:`app.config.LADDER_COLUMNS`), each when it
        fits, always in that order."""
        self.volume: VolumeAtPrice | None = None
        """The market's volume at price (the view's, fed from its tape): the volume column."""
        self.fixed = False
        """Fixed-tick mode: every price of :attr:`window`, the view standing still."""
        self.window = FixedWindow()
        """The prices the fixed-tick mode shows (placed around the touch, kept while it
        stays inside)."""
        self._fixed_rows: list[_Row] | None = None
        """The fixed-tick window's rows as last read (None: the list layout is shown)."""
        self._built_layout: object = None
        self._lines_top: int | None = None
        """The fixed-tick window's top price its lines were last laid out for."""
        self._book: Book | None = None
        self._now = 0.0
        self._message = ""
        self._asks: list[_Row] = []
        self._bids: list[_Row] = []
        self._max_total = 0
        self._middle = ""
        self._middle_alert = False
        self._stale = False
        self._previous: dict[tuple[bool, int], int] = {}
        self._flash_until: dict[tuple[bool, int], float] = {}
        self.flash_deadline: float | None = None
        """Clock time at which the earliest flash ends (the screen repaints then)."""
        self._strips: list[Strip] | None = None
        self._strips_width = -1
        self._computed_for: tuple[int, int] | None = None
        """The sizes (levels per side, fixed-tick rows) the rows were last read for."""
        self._shown: tuple[object, ...] = ()
        self._line_keys: list[object] = []
        """What each built line shows (to rebuild and repaint only the lines that change)."""
        self._cols = _NO_COLS
        self._bar_scale = 0
        """The cumulative total a full-width bar stands for, as last painted."""
        self._built_stale = False
        self.precision = MarketPrecision()
        """The market's decimals and tick as seen this session (only ever finer)."""
        self._sticky_places = (0, 0)
        """The decimals the rows were last formatted with (the precision's, then)."""
        self._sticky_widths: dict[str, int] = {}
        """Column widths: they grow with what is shown and never shrink while this ladder
        lives (one market's view), so no column moves sideways while data flows."""
        self._built_n = -1
        self._built_group = 0
        self._slow_at = 0.0
        self._deep_at = float("-inf")
        self._deep_pending = False
        self._slow_pending = False
        self.pace = 1.0
        """How much slower than :attr:`DEEP_SECONDS` and :attr:`SLOW_SECONDS` the rows behind
        the touch go (the screen raises it under load: the slow parts back off first)."""
        self._painted_touch: tuple[object, ...] = ()
        self._size_now: Size | None = None
        self._moved_at = float("-inf")
        self.due_at: float | None = None
        """When rows held back behind the touch are to be repainted (None: none held)."""
        self._combos: dict[tuple[bool, bool, bool], tuple[Style, ...]] = {}
        self._combos_stale = False

    # ------------------------------------------------------------------ model

    @property
    def levels_per_side(self) -> int:
        """Levels that fit per side at the current height (header and spread lines aside)."""
        return max(1, min(self.depth, (self._current_size.height - 2) // 2))

    @property
    def window_rows(self) -> int:
        """Rows of the fixed-tick window at the current height: ``2 x depth + 1``, fewer
        when the widget is short (the title and spread lines aside)."""
        return max(1, min(2 * self.depth + 1, self._current_size.height - 2))

    def _size_key(self) -> tuple[int, int]:
        return (self.levels_per_side, self.window_rows if self.fixed else 0)

    def set_fixed(self, fixed: bool) -> None:
        """Fixed-tick mode on or off; the next show lays every line out again."""
        self.fixed = fixed
        self.window.recentre()
        self.relayout()

    def recentre(self) -> None:
        """Centre the fixed-tick window on the touch at the next show."""
        self.window.recentre()

    @property
    def _current_size(self) -> Size:
        """The content size: read once per :meth:`show` (Textual works it out from the
        screen's map each time it is asked, a tenth of a tick's cost when asked per use)."""
        return self._size_now or self.size

    def show(
        self, book: Book | None, now: float, message: str = "", *, urgent: bool = True
    ) -> None:
        """Repaint from ``book`` as of ``now`` (:meth:`_show`), the size read once."""
        self._size_now = self.size
        try:
            self._show(book, now, message, urgent=urgent)
        finally:
            self._size_now = None

    def _show(
        self, book: Book | None, now: float, message: str = "", *, urgent: bool = True
    ) -> None:
        """Repaint from ``book`` as of ``now`` (call once per tick, only when it changed).

        ``message`` replaces the spread line (e.g. a failed subscription's code). The rows
        are read at once; when they come out the same as on screen (the change was deeper
        than the ladder shows), nothing is repainted. Only the lines that changed are.

        Not ``urgent`` (the refresh clock's data ticks): the touch (best bid and ask, the
        spread line) is repainted at once, the rows behind it at most every
        :attr:`DEEP_SECONDS` (:attr:`due_at` says when the rest is due), unless the touch
        price moved, which shifts every row. A key's effect is always urgent.
        """
        self._book = book
        self._now = now
        self._message = message
        if not self._current_size.height:
            self._invalidate()  # not laid out yet: rows are read at the first paint
            return
        touch = self._touch_of(book, message)
        painted = self._painted_touch
        width = self._current_size.width
        if not urgent and self._strips is not None and self._strips_width == width:
            if self._fixed_rows is not None:
                self._show_fixed(book, now, touch)
                return
            moved = self._touch_prices(touch) != self._touch_prices(painted)
            if moved and touch[2:] == painted[2:]:  # the prices alone moved, no state
                move_due = self._moved_at + self.MOVE_SECONDS * self.pace
                if now < move_due:
                    self.due_at = move_due if self.due_at is None else min(self.due_at, move_due)
                    return  # the picture on screen stays whole until the move is due
            elif now - self._deep_at < self.DEEP_SECONDS * self.pace:
                if touch == painted:
                    self._hold_deep()  # the touch is as painted and the rest is not due
                    return
                if not moved and self._update_touch(book, now):
                    self._painted_touch = touch
                    self._hold_deep()
                    return
            if moved:
                self._moved_at = now
        self._painted_touch = touch
        self._read_and_update(now, urgent)

    def _show_fixed(self, book: Book | None, now: float, touch: tuple[object, ...]) -> None:
        """A refresh tick of the fixed-tick ladder: the list's pacing (a move of the touch
        at most every :attr:`MOVE_SECONDS`, the picture held whole until then; the rows
        behind the touch every :attr:`DEEP_SECONDS`), but a move repaints only the rows
        from the old touch to the new one (:meth:`_update_fixed_touch`), not a side.
        Only a move of the window itself (a re-centre) reads and repaints every row."""
        painted = self._painted_touch
        moved = self._touch_prices(touch) != self._touch_prices(painted)
        deep_due = now - self._deep_at >= self.DEEP_SECONDS * self.pace
        if moved and touch[2:] == painted[2:]:  # the prices alone moved, no state
            move_due = self._moved_at + self.MOVE_SECONDS * self.pace
            if now < move_due:
                self.due_at = move_due if self.due_at is None else min(self.due_at, move_due)
                return  # the picture on screen stays whole until the move is due
        elif not deep_due and touch == painted:
            self._hold_deep()  # the touch is as painted and the rest is not due
            return
        if moved:
            self._moved_at = now
        if not deep_due and self._update_fixed_touch(book, now):
            self._painted_touch = touch
            self._hold_deep()
            return
        self._painted_touch = touch
        self._read_and_update(now, urgent=False)

    def _read_and_update(self, now: float, urgent: bool) -> None:
        """Read the rows, then repaint the lines that changed (those due now)."""
        self._compute(self.levels_per_side)
        shown = self._shown_key()
        if shown == self._shown and self._strips is not None:
            self.due_at = None
            return
        if self._strips is None or self._strips_width != self._current_size.width:
            self._shown = shown
            self._strips = None
            self.due_at = None
            self.refresh()
            return
        deep = urgent or now - self._deep_at >= self.DEEP_SECONDS * self.pace
        changed = self._update_lines(self._current_size.width, now, deep)
        if changed is None:
            self._deep_pending = self._slow_pending = False
        if changed is None or deep or not self._deep_pending:
            self._deep_at = now
            self._deep_pending = False
        held = [self._deep_at + self.DEEP_SECONDS * self.pace] if self._deep_pending else []
        if self._slow_pending:
            held.append(self._slow_at + self.SLOW_SECONDS * self.pace)
        self.due_at = min(held) if held else None
        if not held:
            self._shown = shown  # everything the rows say is on screen
        if changed is None:
            self.refresh()  # the columns moved: every line was rebuilt
        elif changed:
            width = self._current_size.width
            self.refresh(*(Region(0, y, width, 1) for y in changed))

    @property
    def painted_touch(self) -> tuple[BookLevel | None, BookLevel | None] | None:
        """The best bid and ask as the ladder last painted them (None: nothing painted yet).
        The market's header shows these, so the two never disagree while a move waits."""
        touch = self._painted_touch
        if len(touch) < 5 or self._strips is None:
            return None
        bid, ask = touch[0], touch[1]
        return (
            bid if isinstance(bid, BookLevel) else None,
            ask if isinstance(ask, BookLevel) else None,
        )

    def _hold_deep(self) -> None:
        """The book changed behind the touch (or may have): its rows are read when due."""
        self._deep_pending = True
        due = self._deep_at + self.DEEP_SECONDS * self.pace
        self.due_at = due if self.due_at is None else min(self.due_at, due)

    @staticmethod
    def _touch_prices(touch: tuple[object, ...]) -> tuple[object, ...]:
        """The touch's prices and state (what moves every row when it changes)."""
        if len(touch) < 5:
            return touch
        bid, ask = touch[0], touch[1]
        return (
            bid.price_units if isinstance(bid, BookLevel) else None,
            ask.price_units if isinstance(ask, BookLevel) else None,
            *touch[2:],
        )

    def _update_touch(self, book: Book | None, now: float) -> bool:
        """Repaint only the best bid, best ask and spread lines from ``book`` (their prices
        unchanged, an amount at the touch changed): the rows behind them are read when due.

        False when that cannot be done exactly in place (a side is empty, the decimals or
        column widths would change, lines were built for another layout): then the whole
        ladder is read as usual, and nothing was changed here.
        """
        if book is None or not book.has_data or not self._bids or not self._asks:
            return False  # (the fixed-tick layout has no list rows: never in place here)
        bids, asks = self._levels(book, 1, self.group_step_units)
        price_places, amount_places = self._sticky_places
        n, keys = self.levels_per_side, self._line_keys
        if not bids or not asks or n != self._built_n or len(keys) < n + 3:
            return False
        precision = self.precision
        precision.see((bids[0], asks[0]))
        if (precision.price_places, precision.amount_places) != self._sticky_places:
            return False  # more decimals than the rows were written with: read them all
        bid = self._rows(bids, True, price_places, amount_places)[0]
        ask = self._rows(asks, False, price_places, amount_places)[0]
        if not (self._fits(bid) and self._fits(ask)):
            return False  # a column would grow: every line is rebuilt
        middle_text, middle_alert = self._spread_text(book, price_places, self._message)
        if "\n" in middle_text:
            return False
        if self._cols.total:
            for row, out in ((ask, n - 1), (bid, n + 3)):
                shown = self._shown_total(out)
                if shown is not None and row.total_units > shown:
                    return False  # beside the next row's older total: read every total
        # Every check passed: from here the touch is shown in place.
        previous, flash_until = self._previous, self._flash_until
        for level, is_bid in ((bids[0], True), (asks[0], False)):
            key = (is_bid, level.price_units)
            if previous.get(key, level.amount_units) != level.amount_units:
                flash_until[key] = now + self.FLASH_SECONDS
            previous[key] = level.amount_units
        self.flash_deadline = min(flash_until.values()) if flash_until else None
        bid = self._rows(bids, True, price_places, amount_places)[0]  # with its flash
        ask = self._rows(asks, False, price_places, amount_places)[0]
        self._bids[0], self._asks[0] = bid, ask
        self._middle, self._middle_alert = middle_text, middle_alert
        strips = self._strips
        assert strips is not None
        width, cols = self._current_size.width, self._cols
        base = self.base_style()
        self._ensure_combos(base)
        changed: list[int] = []
        for y, row in ((n, ask), (n + 2, bid)):
            row_key = self._row_key(row, cols)
            if keys[y] != row_key:
                keys[y] = row_key
                strips[y] = self._row_strip(row, cols, width, base)
                changed.append(y)
        if self._repaint_middle(n + 1, width, base):
            changed.append(n + 1)
        if changed:
            self.refresh(*(Region(0, y, width, 1) for y in changed))
        return True

    def _levels(self, book: Book, n: int, step: int) -> tuple[list[BookLevel], list[BookLevel]]:
        """The best ``n`` bids and asks as shown: grouped by ``step`` units (0: as they are)."""
        if step:
            return (
                group_levels(book.bids.iter(), step, is_bid=True, limit=n),
                group_levels(book.asks.iter(), step, is_bid=False, limit=n),
            )
        return book.top(n)

    def _repaint_middle(self, y: int, width: int, base: Style) -> bool:
        """Rebuild the spread line at ``y`` if what it says changed; whether it did."""
        key = self._middle_key()
        if self._line_keys[y] == key:
            return False
        assert self._strips is not None
        self._line_keys[y] = key
        self._strips[y] = self._middle_strips(width, base)[0]
        return True

    @staticmethod
    def _touch_of(book: Book | None, message: str) -> tuple[object, ...]:
        """What the touch rows and the spread line are made of (cheap to read)."""
        if book is None:
            return (None, message)
        return (book.best_bid, book.best_ask, book.stale, book.resync_reason, message)

    def _shown_key(self) -> tuple[object, ...]:
        return (
            self._computed_for,  # the depth: its title and padding rows change with it
            tuple(self._asks),
            tuple(self._bids),
            self._middle,
            self._middle_alert,
            self._stale,
            self.group_step_units,
            None if self._fixed_rows is None else (tuple(self._fixed_rows), self.window.top),
        )

    def _compute(self, n: int) -> None:
        """Read the top ``n`` levels per side (or the fixed-tick window) into rows, flashes
        and the middle line."""
        self._computed_for = self._size_key()
        book, now, message = self._book, self._now, self._message
        self._stale = book is not None and book.stale
        self._fixed_rows = None
        if book is None or not book.has_data:
            self._asks, self._bids, self._max_total = [], [], 0
            self.reset_flashes()
            self._middle = message or self._waiting_text(book)
            self._middle_alert = bool(message)
            return
        # Decimals come from the market (every level of each snapshot, and every level
        # shown since), not from the rows on screen now, and the column widths only grow:
        # a column that moved sideways each time the widest visible level changed was hard
        # to read, and every move repainted the whole ladder.
        precision = self.precision
        precision.see_book(book)
        multiple = self.group_multiple
        self.group_step_units = precision.tick_units * multiple if multiple else 0
        if self.fixed and self._compute_fixed(book, now, message):
            return
        bids, asks = self._levels(book, n, self.group_step_units)
        precision.see(bids)
        precision.see(asks)
        self._flash(bids, asks, now)
        price_places, amount_places = precision.price_places, precision.amount_places
        self._sticky_places = (price_places, amount_places)
        self._bids = self._rows(bids, True, price_places, amount_places)
        self._asks = self._rows(asks, False, price_places, amount_places)
        self._max_total = max(
            self._bids[-1].total_units if self._bids else 0,
            self._asks[-1].total_units if self._asks else 0,
        )
        self._middle, self._middle_alert = self._spread_text(book, price_places, message)

    def _compute_fixed(self, book: Book, now: float, message: str) -> bool:
        """Read the fixed-tick window's rows (placing the window first); False when there is
        nothing to place it on (both sides empty, a message over several lines): then the
        list layout says so."""
        precision, window = self.precision, self.window
        step = self._fixed_step(book, now)
        best_bid, best_ask = book.best_bid, book.best_ask
        window.follow(
            None if best_bid is None else bucket_of(best_bid.price_units, step, True),
            None if best_ask is None else bucket_of(best_ask.price_units, step, False),
            self.window_rows,
            step,
        )
        top, bottom = window.top, window.bottom
        if top is None or bottom is None or "\n" in message:
            return False
        off_grid: list[BookLevel] = []
        bids = window_levels(book.bids.iter(), step, True, bottom, off_grid)
        asks = window_levels(book.asks.iter(), step, False, top, off_grid)
        precision.see(off_grid)
        precision.see(bids)
        precision.see(asks)
        multiple = self.group_multiple
        if self._fixed_step(book, now) != step:
            # A price finer than the tick seen so far (the tick only gets finer): the grid
            # is the new tick's, and the window is placed on it afresh.
            self.group_step_units = precision.tick_units * multiple if multiple else 0
            return self._compute_fixed(book, now, message)
        self._flash(bids, asks, now)
        self._sticky_places = (precision.price_places, precision.amount_places)
        rows = [self._fixed_row(fixed, step) for fixed in fixed_rows(window, bids, asks)]
        self._fixed_rows = rows
        self._asks, self._bids = [], []
        self._max_total = max((row.total_units for row in rows), default=0)
        self._middle, self._middle_alert = self._spread_text(book, precision.price_places, message)
        return True

    def _fixed_step(self, book: Book, now: float) -> int:
        """The fixed-tick window's step: the grouping step when grouped, else the tick, or a
        few ticks while the spread is too wide for the window (:attr:`auto_multiple`).

        A wider spread coarsens the grid at once (else the window shows empty prices); a
        narrower one makes it finer only once it has been narrow for
        :attr:`AUTO_FINER_SECONDS`, so a spread that opens and closes several times a
        second does not lay the window out again each time."""
        tick = self.precision.tick_units
        if self.group_multiple:
            return tick * self.group_multiple
        bid, ask = book.best_bid, book.best_ask
        if bid is not None and ask is not None:
            spread = ask.price_units - bid.price_units
            current = self.auto_multiple
            wanted = auto_multiple(spread, tick, self.window_rows, current)
            if wanted > current:
                self.auto_multiple, self._finer_since = wanted, None
            elif wanted == current:
                self._finer_since = None
            elif self._finer_since is None:
                self._finer_since = now
            elif now - self._finer_since >= self.AUTO_FINER_SECONDS:
                self.auto_multiple, self._finer_since = wanted, None
        return tick * self.auto_multiple

    def _fixed_row(self, fixed: FixedRow, step: int) -> _Row:
        """One fixed-tick row as shown, at the decimals of :attr:`_sticky_places`."""
        price_places, amount_places = self._sticky_places
        price = format_scaled(fixed.price_units, price_places)
        level = fixed.level
        if level is None:
            row = _Row(price, "", "", 0, fixed.price_units, fixed.is_bid, False, False, empty=True)
        else:
            row = _Row(
                price,
                format_scaled(level.amount_units, amount_places),
                format_scaled(fixed.total_units, amount_places),
                fixed.total_units,
                fixed.price_units,
                fixed.is_bid,
                fixed.best,
                (fixed.is_bid, fixed.price_units) in self._flash_until,
            )
        if "notional" in self.columns or "volume" in self.columns:
            row = self._with_columns(row, level, price_places, amount_places, step)
        return row

    def _fixed_touch(self, book: Book) -> tuple[int | None, int | None]:
        """The touch's buckets on the fixed-tick window's grid (None: a side is empty)."""
        step = self.window.step
        bid, ask = book.best_bid, book.best_ask
        return (
            None if bid is None else bucket_of(bid.price_units, step, True),
            None if ask is None else bucket_of(ask.price_units, step, False),
        )

    def _update_fixed_touch(self, book: Book | None, now: float) -> bool:
        """The fixed-tick ladder's touch in place: read and repaint only the rows from the
        painted touch to the new one (a move of the touch changes nothing else but totals,
        which follow at their slow pace); the rows behind it are read when due.

        False when that cannot be done exactly (the window would move, a column would grow,
        the decimals or the layout changed): then the whole window is read, as usual.
        """
        rows, strips, window = self._fixed_rows, self._strips, self.window
        if book is None or not book.has_data or rows is None or strips is None:
            return False
        if self._layout_key() != self._built_layout or window.top != self._lines_top:
            return False
        bid_bucket, ask_bucket = self._fixed_touch(book)
        if self._fixed_step(book, now) != window.step or not window.holds(bid_bucket, ask_bucket):
            return False  # the grid changes (the spread widened or narrowed), or the window
        keys = self._line_keys
        ys = [y for y, row in enumerate(rows, start=1) if row.touch]
        for bucket in (bid_bucket, ask_bucket):
            y = None if bucket is None else window.row_of(bucket)
            if y is not None:
                ys.append(y + 1)
        if not ys:
            return False
        first, last = min(ys), max(ys)
        low, high = window.price_at(last - 1), window.price_at(first - 1)
        step = window.step
        bids = window_levels(book.bids.iter(), step, True, low)
        asks = window_levels(book.asks.iter(), step, False, high)
        precision = self.precision
        if any(level.price_units % step for level in (*bids, *asks)):
            return False  # off the grid (a finer tick): the window is placed anew
        precision.see(bids)
        precision.see(asks)
        if (precision.price_places, precision.amount_places) != self._sticky_places:
            return False
        previous, flash_until = self._previous, self._flash_until
        for levels, is_bid in ((bids, True), (asks, False)):
            for level in levels:
                key = (is_bid, level.price_units)
                if previous.get(key, level.amount_units) != level.amount_units:
                    flash_until[key] = now + self.FLASH_SECONDS
                previous[key] = level.amount_units
        prices = [window.price_at(y - 1) for y in range(first, last + 1)]
        new = [self._fixed_row(fixed, step) for fixed in fixed_rows(window, bids, asks, prices)]
        if not all(self._fits(row) for row in new):
            return False
        middle_text, middle_alert = self._spread_text(book, self._sticky_places[0], self._message)
        if "\n" in middle_text:
            return False
        # Every check passed: from here the rows are changed in place.
        self.flash_deadline = min(flash_until.values()) if flash_until else None
        width, cols = self._current_size.width, self._cols
        base = self.base_style()
        self._ensure_combos(base)
        changed: list[int] = []
        for y, row in enumerate(new, start=first):
            rows[y - 1] = row
            row_key = self._row_key(row, cols)
            if keys[y] != row_key:
                keys[y] = row_key
                strips[y] = self._row_strip(row, cols, width, base)
                changed.append(y)
        self._middle, self._middle_alert = middle_text, middle_alert
        middle_y = len(rows) + 1
        if self._repaint_middle(middle_y, width, base):
            changed.append(middle_y)
        if changed:
            self.refresh(*(Region(0, y, width, 1) for y in changed))
        return True

    @staticmethod
    def _waiting_text(book: Book | None) -> str:
        if book is None:
            return "no book"
        if book.needs_resync:
            return f"RESYNC · {book.resync_reason}"
        buffered = book.buffered
        extra = f" ({buffered} updates buffered)" if buffered else ""
        return f"SYNCING · waiting for the snapshot{extra}"

    def _spread_text(self, book: Book, places: int, message: str) -> tuple[str, bool]:
        if message:
            return message, True
        spread = book.spread_units
        state = "STALE · " if book.stale else ""
        if book.needs_resync:
            return f"RESYNC · {book.resync_reason}", True
        if spread is None:
            return f"{state}one side empty", False
        if spread < 0:
            return f"{state}CROSSED by {format_scaled(-spread, places)}", True
        if spread == 0:
            return f"{state}LOCKED bid = ask", True
        bps = format_bps(book.spread_bps or 0.0)
        if self.group_step_units:
            # The rows are grouped, the spread is the book's own touch (as in the header),
            # at the touch's decimals: the grouped rows' decimals would round 0.77 to 0.
            bid, ask = book.best_bid, book.best_ask
            if bid is not None and ask is not None:
                places = max(places, decimal_places(bid.price), decimal_places(ask.price))
            return f"{state}touch spread {format_scaled(spread, places)} · {bps}", False
        return f"{state}spread {format_scaled(spread, places)} · {bps}", False

    def _rows(
        self, levels: list[BookLevel], is_bid: bool, price_places: int, amount_places: int
    ) -> list[_Row]:
        totals = cumulative(levels)
        flash_until = self._flash_until
        rows = [
            _Row(
                format_scaled(level.price_units, price_places),
                format_scaled(level.amount_units, amount_places),
                format_scaled(total, amount_places),
                total,
                level.price_units,
                is_bid,
                index == 0,
                (is_bid, level.price_units) in flash_until,
            )
            for index, (level, total) in enumerate(zip(levels, totals, strict=True))
        ]
        columns = self.columns
        if "notional" in columns or "volume" in columns:
            rows = [
                self._with_columns(row, level, price_places, amount_places)
                for row, level in zip(rows, levels, strict=True)
            ]
        return rows

    def _with_columns(
        self,
        row: _Row,
        level: BookLevel | None,
        price_places: int,
        amount_places: int,
        step: int | None = None,
    ) -> _Row:
        """``row`` with its notional and volume at price (the columns that are on); a row
        stands for the prices of ``step`` (default: the grouping step) from its own."""
        notional = bought = sold = ""
        columns = self.columns
        if "notional" in columns and level is not None:
            notional = format_thousands(
                notional_units(level.price_units, level.amount_units), price_places
            )
        volume = self.volume
        if "volume" in columns and volume is not None:
            low, high = self._price_range(
                row.price_units, self.group_step_units if step is None else step
            )
            bought_units, sold_units = volume.between(low, high)
            bought = format_scaled(bought_units, amount_places) if bought_units else ""
            sold = format_scaled(sold_units, amount_places) if sold_units else ""
        return _Row(
            row.price,
            row.amount,
            row.total,
            row.total_units,
            row.price_units,
            row.is_bid,
            row.touch,
            row.flash,
            notional,
            bought,
            sold,
            row.empty,
        )

    @staticmethod
    def _price_range(price: int, step: int) -> tuple[int, int]:
        """The traded prices a row's volume counts, inclusive: its own price, or (grouped,
        or in the fixed-tick mode) those nearest it on the ``step`` grid, within half a step
        (halfway goes down, as :meth:`app.ladder.FixedWindow.snap`). Rows of one grid share
        no price, so the column adds up to the session's volume in view."""
        if not step:
            return price, price
        return price - (step - 1) // 2, price + step // 2

    def _flash(self, bids: list[BookLevel], asks: list[BookLevel], now: float) -> None:
        """Start flashes for levels whose amount changed since the last show; expire old ones."""
        current = {(True, lv.price_units): lv.amount_units for lv in bids}
        current.update({(False, lv.price_units): lv.amount_units for lv in asks})
        previous = self._previous
        flash_until = self._flash_until
        for key in [k for k, until in flash_until.items() if until <= now]:
            del flash_until[key]
        if previous:
            changed = [k for k, amount in current.items() if previous.get(k) != amount]
            # A wholesale change (new snapshot, regrouping) is not news level by level.
            if len(changed) <= max(2, len(current) // 2):
                until = now + self.FLASH_SECONDS
                for key in changed:
                    flash_until[key] = until
        self._previous = current
        self.flash_deadline = min(flash_until.values()) if flash_until else None

    def reset_flashes(self) -> None:
        """Forget previous amounts (after a depth or grouping change nothing should flash)."""
        self._previous.clear()
        self._flash_until.clear()
        self.flash_deadline = None

    def relayout(self) -> None:
        """Build every line again on the next paint (the columns or the mode changed)."""
        self._strips = None
        self.refresh()

    def _invalidate(self) -> None:
        """Read the rows again at the next paint (depth, grouping or size changed)."""
        self._strips = None
        self._computed_for = None
        self.refresh()

    def on_resize(self) -> None:
        """The size changed: rebuild the strips at the new size on the next paint."""
        self._strips = None
        self._computed_for = None

    # ------------------------------------------------------------------ rendering

    def render_line(self, y: int) -> Strip:
        """One line of the ladder (Line API)."""
        width = self._current_size.width
        if self._strips is None or self._strips_width != width:
            if self._computed_for != self._size_key():
                self._compute(self.levels_per_side)
                self._shown = self._shown_key()
            self._strips = self._build(width, self._current_size.height)
            self._strips_width = width
            self._slow_at = self._now
        strips = self._strips
        return strips[y] if y < len(strips) else Strip.blank(width, self.base_style())

    def _plan(self) -> tuple[list[_Row | None], int]:
        """The lines under the title as painted, top to bottom, and the spread line's ``y``
        (its place in the list holds None). List layout: the asks (padded above), the
        spread line, the bids (padded below). Fixed tick: the window's rows, then the
        spread line."""
        fixed = self._fixed_rows
        if fixed is not None:
            return [*fixed, None], len(fixed) + 1
        n = self.levels_per_side
        rows: list[_Row | None] = [None] * (n - len(self._asks))
        rows.extend(reversed(self._asks))
        rows.append(None)
        rows.extend(self._bids)
        rows.extend([None] * (n - len(self._bids)))
        return rows, n + 1

    def _layout_key(self) -> object:
        """What every line's place depends on: the list's depth, or the fixed window's
        rows and step (a move of the window is a shift of its rows, as a list's move is:
        :meth:`_update_lines` moves the lines that stay in it, and rebuilds the others)."""
        if self._fixed_rows is None:
            return ("list", self.levels_per_side)
        window = self.window
        return ("fixed", window.step, window.rows)

    def _columns(self, width: int, plan: list[_Row | None]) -> _Cols:
        """Widths for these rows: as wide as any row shown so far (and as the market's
        snapshots need), never narrower; each optional column shown when it fits with two
        cells of bar to spare."""
        all_rows = [r for r in plan if r is not None]
        sticky = self._sticky_widths
        if all_rows:  # as wide as the market's book needs, from its first snapshot
            precision, (pp, ap) = self.precision, self._sticky_places
            seeds = {
                "price": len(format_scaled(precision.price_max, pp)),
                "amount": len(format_scaled(precision.amount_max, ap)),
                "total": len(format_scaled(precision.side_total_max, ap)),
                "notional": len(format_thousands(precision.notional_max, pp)),
                # The volume at a price grows all session: room from the start for as much
                # as a whole side of the book.
                "volume": len(format_scaled(precision.side_total_max, ap)),
            }
            for name, seed in seeds.items():
                if seed > sticky.get(name, 0):
                    sticky[name] = seed
        widths = {
            "price": max([len("Price"), *(len(r.price) for r in all_rows)]),
            "amount": max([len("Amount"), *(len(r.amount) for r in all_rows)]),
            "total": max([len(_TITLES["total"]), *(len(r.total) for r in all_rows)]),
            "notional": max([len(_TITLES["notional"]), *(len(r.notional) for r in all_rows)]),
            "volume": max(
                [len(_TITLES["bought"]), *(max(len(r.bought), len(r.sold)) for r in all_rows)]
            ),
        }
        for name, w in widths.items():
            if w > sticky.get(name, 0):
                sticky[name] = w
        pw, aw = sticky["price"], sticky["amount"]
        used = 1 + pw + 2 + aw + 1
        shown = {"total": 0, "notional": 0, "volume": 0}
        for column, name, cells in (
            ("cumulative", "total", 1),
            ("notional", "notional", 1),
            ("volume", "volume", 2),
        ):
            if column not in self.columns:
                continue
            extra = cells * (2 + sticky[name])
            if used + extra + 2 <= width:
                shown[name] = sticky[name]
                used += extra
        return _Cols(
            pw, aw, shown["total"], shown["notional"], shown["volume"], max(0, width - used)
        )

    def _fits(self, row: _Row) -> bool:
        """Whether ``row`` fits the columns' widths as they are (no column would grow)."""
        sticky = self._sticky_widths
        return (
            len(row.price) <= sticky.get("price", 0)
            and len(row.amount) <= sticky.get("amount", 0)
            and len(row.total) <= sticky.get("total", 0)
            and len(row.notional) <= sticky.get("notional", 0)
            and max(len(row.bought), len(row.sold)) <= sticky.get("volume", 0)
        )

    def _update_lines(self, width: int, now: float, deep: bool = True) -> list[int] | None:
        """Rebuild only the lines whose content changed; their ``y``s, or None when the
        columns moved (then every line was rebuilt).

        Prices, amounts, the touch and flashes are repainted on every show; a row's
        cumulative total and bar, which change on every row below a changed level, only
        every :attr:`SLOW_SECONDS` (or with the row itself): the part of the ladder that
        moves fastest is the part the eye follows, and repainting all the rows below it 30
        times a second cost most of each screen update.
        """
        strips = self._strips
        assert strips is not None
        plan, middle_y = self._plan()
        cols = self._columns(width, plan)
        if (
            cols != self._cols
            or self._layout_key() != self._built_layout  # the depth or the window: lines move
            or self.group_step_units != self._built_group  # so did the title
            or self._stale != self._built_stale  # every row's style changes
            or "\n" in self._middle  # a message over several lines covers rows
        ):
            self._strips = self._build(width, self._current_size.height)
            self._slow_at = now
            return None
        keys = self._line_keys
        if self._fixed_rows is not None and self.window.top != self._lines_top:
            deep = True  # the window moved (re-centred): every row shifts
            self._lines_top = self.window.top
        if self._fixed_rows is not None:
            # Fixed tick: the rows from the old touch to the new one (those a move changes)
            # are repainted now, the rest when due; no row moves to another line.
            touch_ys = [y for y, row in enumerate(plan, start=1) if row is not None and row.touch]
            touch_ys += [
                y
                for y, key in enumerate(keys)
                if isinstance(key, tuple) and len(key) == 2 and key[0] and key[0][_TOUCH]
            ]
            touch_rows: range | tuple[int, ...] = (
                range(min(touch_ys), max(touch_ys) + 1) if touch_ys else ()
            )
        else:
            touch_rows = (middle_y - 1, middle_y + 1)  # the best ask above, the best bid below
            if not deep:
                for y in touch_rows:
                    old, row = keys[y], plan[y - 1]
                    price = None if row is None else row.price
                    if not isinstance(old, tuple) or old[0] is None or old[0][0] != price:
                        deep = True  # the touch price moved: every row behind it shifts
        slow = deep and now - self._slow_at >= self.SLOW_SECONDS * self.pace
        if not slow and cols.total and self._totals_disordered(plan, keys, deep, touch_rows):
            # The rows repainted now would show running totals out of order beside the
            # rows whose totals wait for the slow pass (a total smaller than one nearer the
            # touch: a column no book can have). Every total is repainted now instead.
            deep = slow = True
        if slow:
            self._slow_at = now
            self._bar_scale = self._max_total
        base = self.base_style()
        self._ensure_combos(base)
        changed: list[int] = []
        self._deep_pending = False
        self._slow_pending = False
        shown_rows = {
            key[0]: (key, strips[y])
            for y, key in enumerate(keys)
            if isinstance(key, tuple) and len(key) == 2 and key[0] is not None
        }
        for y, row in enumerate(plan, start=1):
            if not deep and y not in touch_rows and y != middle_y:
                self._deep_pending = True  # (whether they differ is found out when due)
                continue
            if y == middle_y:
                if self._repaint_middle(y, width, base):
                    changed.append(y)
                continue
            old = keys[y]
            key = self._row_key(row, cols)
            if key == old:
                continue
            if not slow and isinstance(old, tuple) and old[0] == key[0]:
                self._slow_pending = True  # only the total and bar differ: the slow pass
                continue
            shown = shown_rows.get(key[0]) if not slow and row is not None else None
            if shown is not None:
                # The row was on screen on another line (its side shifted when the touch
                # moved): the same line moves here, its total and bar as they were until the
                # slow pass, and nothing is built or filtered again for it.
                keys[y], strips[y] = shown
                if shown[0] != key:
                    self._slow_pending = True
                changed.append(y)
                continue
            keys[y] = key
            strips[y] = self._row_strip(row, cols, width, base)
            changed.append(y)
        return changed

    def _middle_key(self) -> object:
        return ("middle", self._middle, self._middle_alert, self._stale)

    def _middle_strips(self, width: int, base: Style) -> list[Strip]:
        middle_style = base + self.component_style(
            "depth-ladder--alert" if self._middle_alert else "depth-ladder--spread"
        )
        if self._stale and not self._middle_alert:
            middle_style += self.component_style("depth-ladder--stale")
        return [
            self.line([Segment(f" {line}", middle_style)], width, middle_style)
            for line in self._middle.split("\n")
        ]

    def _ensure_combos(self, base: Style) -> None:
        if not self._combos or self._combos_stale != self._stale:
            self._combos = self._row_styles(base)
            self._combos_stale = self._stale

    def _bar_eighths(self, row: _Row, cols: _Cols) -> int:
        bar_width = cols.bar
        scale = self._bar_scale
        if bar_width <= 0 or scale <= 0 or row.empty:
            return 0
        return min(bar_width * 8, max(row.total_units * bar_width * 8 // scale, 1))

    def _build(self, width: int, height: int) -> list[Strip]:
        base = self.base_style()
        self._ensure_combos(base)
        header = base + self.component_style("depth-ladder--header")
        n = self.levels_per_side
        plan, middle_y = self._plan()
        cols = self._columns(width, plan)
        self._cols = cols
        self._bar_scale = self._max_total
        self._built_stale = self._stale
        self._built_n = n
        self._built_layout = self._layout_key()
        self._lines_top = self.window.top
        self._built_group = self.group_step_units

        title = f" {'Price':>{cols.price}}  {'Amount':>{cols.amount}}"
        for name, w in (
            ("total", cols.total),
            ("notional", cols.notional),
            ("bought", cols.volume),
            ("sold", cols.volume),
        ):
            if w:
                title += f"  {_TITLES[name]:>{w}}"
        if self._fixed_rows is not None:
            step = self.group_step_units or self.window.step
            kind = "grp" if self.group_step_units else "auto" if self.auto_multiple > 1 else "tick"
            extra = f"fixed · {kind} {format_scaled(step)}"
        else:
            extra = f"depth {n}"
            if self.group_step_units:
                extra += f" · grp {format_scaled(self.group_step_units)}"
        gap = width - len(title) - len(extra) - 1
        title = title + " " * gap + extra if gap >= 1 else title
        strips = [self.line([Segment(title, header)], width, base)]
        keys: list[object] = [("title", title)]
        middle = self._middle_strips(width, base)
        for y, row in enumerate(plan, start=1):
            if y == middle_y:
                strips.append(middle[0])
                keys.append(self._middle_key())
            else:
                strips.append(self._row_strip(row, cols, width, base))
                keys.append(self._row_key(row, cols))
        # Further message lines (a failed subscription's code) go under the first.
        for offset, line in enumerate(middle[1:], start=middle_y + 1):
            if offset < len(strips):
                strips[offset] = line
                keys[offset] = ("message", offset)
        self._line_keys = keys
        return strips

    def _totals_disordered(
        self,
        plan: list[_Row | None],
        keys: list[object],
        deep: bool,
        touch_rows: range | tuple[int, ...],
    ) -> bool:
        """Whether repainting the rows due now (those whose prices or amounts changed, with
        their new totals), the others keeping theirs until the slow pass, would show a side
        whose running totals do not grow away from the touch."""
        lines: dict[object, object] = {
            key[0]: key[1] for key in keys if isinstance(key, tuple) and len(key) == 2
        }
        """The slow part (total, bar) of each line on screen, by its fast part."""
        asks: list[int] = []
        bids: list[int] = []
        for y, row in enumerate(plan, start=1):
            if row is None or row.empty:
                continue
            old = keys[y] if y < len(keys) else None
            fast = self._fast_key(row)
            if not (deep or y in touch_rows):
                shown = old[1] if isinstance(old, tuple) and len(old) == 2 else None
            else:
                # Unchanged but for its total: as it was; else a line moving here keeps
                # its own (None: built anew, with the new total).
                shown = lines.get(fast)
            total = row.total_units
            if (
                isinstance(shown, tuple)
                and shown
                and isinstance(shown[0], str)
                and shown[0].strip()
            ):
                total = to_scaled(shown[0].strip())
            (bids if row.is_bid else asks).append(total)
        asks.reverse()  # asks from the touch upwards: the rows are top first
        return any(b < a for side in (asks, bids) for a, b in itertools.pairwise(side))

    def _shown_total(self, y: int) -> int | None:
        """The running total line ``y`` shows now (None: no row with a total there)."""
        keys = self._line_keys
        key = keys[y] if 0 <= y < len(keys) else None
        if not (isinstance(key, tuple) and len(key) == 2 and isinstance(key[1], tuple)):
            return None
        text = key[1][0] if key[1] else None
        return to_scaled(text.strip()) if isinstance(text, str) and text.strip() else None

    def _fast_key(self, row: _Row) -> tuple[object, ...]:
        """The part of a row's key that is repainted on every show (:meth:`_row_key`)."""
        return (
            row.price,
            row.amount,
            row.is_bid and not row.empty,  # an empty row looks the same on either side
            row.touch,
            row.flash,
            row.empty,
            row.notional,
            row.bought,
            row.sold,
        )

    def _row_key(self, row: _Row | None, cols: _Cols) -> tuple[object, object]:
        """(what changes fast: price, amount, touch, flash, notional, volume; what changes
        slowly: total, bar)."""
        if row is None:
            return (None, None)
        return (self._fast_key(row), (row.total, self._bar_eighths(row, cols)))

    def forget_styles(self) -> None:
        """Styles changed (a theme, a class): the combined row styles and the built lines
        go too, or rows that no data touched kept the old theme's colours."""
        super().forget_styles()
        self._combos = {}
        self._strips = None

    def _row_styles(self, base: Style) -> dict[tuple[bool, bool, bool], tuple[Style, ...]]:
        """(text, amount, bar, bought, sold, empty price) styles per (is_bid, touch, flash),
        combined once per build. Volume bought is in the bids' colour and sold in the asks'
        (as the tape colours its sides), whatever the row's side."""
        combos: dict[tuple[bool, bool, bool], tuple[Style, ...]] = {}
        touch = self.component_style("depth-ladder--touch")
        flash = self.component_style("depth-ladder--flash")
        dim = self.component_style("depth-ladder--stale") if self._stale else None
        for is_bid in (True, False):
            side = "depth-ladder--bid" if is_bid else "depth-ladder--ask"
            for at_touch in (True, False):
                for flashing in (True, False):
                    text = base + self.component_style(side)
                    amount = base + self.component_style("depth-ladder--amount")
                    bar = base + self.component_style(f"{side}-bar")
                    bought = base + self.component_style("depth-ladder--bid")
                    sold = base + self.component_style("depth-ladder--ask")
                    empty = base + self.component_style("depth-ladder--empty")
                    if at_touch:
                        text += touch
                        amount += touch
                        bought += touch
                        sold += touch
                    if flashing:
                        amount += flash
                    styles: tuple[Style, ...] = (text, amount, bar, bought, sold, empty)
                    if dim is not None:
                        styles = tuple(style + dim for style in styles)
                    combos[(is_bid, at_touch, flashing)] = styles
        return combos

    def _row_strip(self, row: _Row | None, cols: _Cols, width: int, base: Style) -> Strip:
        if row is None:
            return Strip.blank(width, base)
        text, amount, bar, bought, sold, empty = self._combos[(row.is_bid, row.touch, row.flash)]
        head = f" {row.price:>{cols.price}}  "
        amount_text = f"{row.amount:>{cols.amount}}"
        segments = [Segment(head, empty if row.empty else text), Segment(amount_text, amount)]
        used = len(head) + len(amount_text) + 1
        if cols.total:
            total = f"  {row.total:>{cols.total}}"
            segments.append(Segment(total, text))
            used += len(total)
        if cols.notional:
            notional = f"  {row.notional:>{cols.notional}}"
            segments.append(Segment(notional, text))
            used += len(notional)
        if cols.volume:
            w = cols.volume
            segments.append(Segment(f"  {row.bought:>{w}}", bought))
            segments.append(Segment(f"  {row.sold:>{w}}", sold))
            used += 4 + 2 * w
        segments.append(Segment(" ", base))
        if cols.bar > 0 and self._bar_scale > 0:
            full, part = divmod(self._bar_eighths(row, cols), 8)
            blocks = "█" * full + (_EIGHTHS[part] if part else "")
            segments.append(Segment(blocks, bar))
            used += len(blocks)  # one cell per block character
        if used > width:
            return self.line(segments, width, base)
        if used < width:
            segments.append(Segment(" " * (width - used), base))
        return Strip(segments, width)
