"""Watchlist: every known market in one row each, sortable, with a sparkline of its mid.

A Line-API table (measured against ``DataTable``: ``make bench`` ``watch_table``, about a
tenth of its CPU at 4 updates a second), built on :class:`~widgets.text_lines.TextLines`:
each line is a Rich ``Text`` naming palette classes, turned into a strip once and
repainted only when it changed. The screen hands it rows (:mod:`app.watchlist`) at about
4 Hz with :meth:`Watchlist.show`; the sort and the highlighted row are its reactives, so
a key, a click or the screen setting one repaints at once.

Lines: a title (the subscribe queue, the sort, the keys), the column header (click a
column to sort by it, again to reverse), then the rows, scrolled to keep the highlighted
one in sight. Columns too wide for the terminal are left out, least needed first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Final

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.events import Click
from textual.message import Message
from textual.reactive import var

from app.feed import SubscribeQueue
from app.history import SAMPLE_INTERVAL, sparkline
from app.watchlist import COLUMNS, SPARK_SAMPLES, WatchRow, sort_rows
from widgets.depth_ladder import format_bps
from widgets.palette import TEXT_ASK, TEXT_BAD, TEXT_BID, TEXT_GOOD, TEXT_MUTED, badge_class
from widgets.palette import badge_label as _badge_label
from widgets.subscription_panel import format_age
from widgets.text_lines import TextLines

TITLES: Final = {
    "market": "Market",
    "state": "State",
    "bid": "Bid",
    "ask": "Ask",
    "spread": "Spread",
    "bps": "bps",
    "mid": "Mid",
    "last": "Last",
    "change": "Chg",
    "volume": "Volume",
    "vwap": "VWAP",
    "trend": "Mid",
    "age": "Age",
}
"""Each column's header."""
LEFT: Final = frozenset({"market", "state", "trend"})
"""Columns aligned left (the rest are numbers, aligned right)."""
MAX_WIDTH: Final = 14
"""The widest a figure's column gets (longer decimals lose fraction digits)."""
DROP_ORDER: Final = ("vwap", "volume", "spread", "last", "age", "trend")
"""Columns left out, in this order, when the terminal is too narrow for all of them."""
SPARK_MIN: Final = 8
HEAD_LINES: Final = 2
"""The title and the column header, above the rows."""


def fit(text: str, width: int) -> str:
    """``text`` in at most ``width`` cells: a decimal loses fraction digits first (cut
    towards zero, as the screen shows figures), anything else is cut with ``…``."""
    if len(text) <= width:
        return text
    whole, dot, frac = text.partition(".")
    if dot and len(whole) <= width:
        keep = width - len(whole) - 1
        return f"{whole}.{frac[:keep]}" if keep > 0 else whole
    return text[: max(width - 1, 0)] + "…"


def span_text(seconds: float) -> str:
    """A sparkline's time span in few cells: ``40s``, ``2m``, ``1m30s``."""
    minutes, rest = divmod(int(seconds), 60)
    if not minutes:
        return f"{rest}s"
    return f"{minutes}m{rest:02d}s" if rest else f"{minutes}m"


def badge_label(state: str) -> str:
    """A state with its glyph; a market not subscribed is a dash."""
    return _badge_label(state) if state else "—"


def cells(row: WatchRow, spark_width: int) -> dict[str, str]:
    """The row's text in each column (before fitting)."""
    return {
        "market": row.market,
        "state": badge_label(row.state),
        "bid": row.bid_text,
        "ask": row.ask_text,
        "spread": row.spread_text,
        "bps": "" if row.bps is None else format_bps(row.bps).removesuffix(" bps"),
        "mid": row.mid_text,
        "last": row.last_text,
        "change": "" if row.change is None else f"{row.change * 100:+.2f}%",
        "volume": row.volume_text,
        "vwap": row.vwap_text,
        "trend": sparkline(row.spark, spark_width) if spark_width else "",
        "age": format_age(row.age) if row.age is not None else "",
    }


class Watchlist(TextLines):
    """One row per known market: state, touch, spread, mid, last, change, volume, VWAP,
    a sparkline of the mid and the age of the newest update."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "move(-1)", "Row", key_display="↑↓", id="watchlist-up"),
        Binding("down", "move(1)", "Row", show=False, id="watchlist-down"),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "watchlist--title",
        "watchlist--header",
        "watchlist--sorted",
        "watchlist--cursor",
    }

    DEFAULT_CSS = """
    Watchlist {
        height: 1fr;
    }
    """

    can_focus = True

    sort_column: var[str] = var("market", init=False)
    """The column the rows are ordered by (one of :data:`app.watchlist.COLUMNS`)."""
    descending: var[bool] = var(False, init=False)
    """The order is reversed (highest first)."""
    cursor: var[str | None] = var[str | None](None, init=False)
    """The highlighted market (what Enter opens, ``s`` / ``u`` act on)."""

    class Highlighted(Message):
        """The user moved the highlight to ``market`` (a key or a click)."""

        def __init__(self, market: str) -> None:
            super().__init__()
            self.market = market

    class Opened(Message):
        """The user double-clicked ``market``'s row."""

        def __init__(self, market: str) -> None:
            super().__init__()
            self.market = market

    def __init__(self, *, hints: str = "", id: str | None = None) -> None:
        super().__init__()
        if id is not None:
            self.id = id
        self.hints = hints
        """The keys, as the keymap has them, for the title line."""
        self.rows: list[WatchRow] = []
        """The rows as shown, sorted."""
        self._given: Sequence[WatchRow] = ()
        self._queue = SubscribeQueue([], [], None)
        self._offset = 0
        self._spans: list[tuple[str, int, int]] = []
        """(column, first cell, last cell + 1) of each column shown, for clicks."""

    # ------------------------------------------------------------------ data in

    def show(self, rows: Sequence[WatchRow], queue: SubscribeQueue) -> None:
        """Show ``rows`` (any order: they are sorted here) and the subscribe queue."""
        self._given = rows
        self._queue = queue
        self._rebuild()

    def watch_sort_column(self) -> None:
        """Another column: order the rows by it at once."""
        self._rebuild()

    def watch_descending(self) -> None:
        """Reversed: order the rows the other way at once."""
        self._rebuild()

    def watch_cursor(self) -> None:
        """The highlight moved: repaint the rows it left and reached."""
        self._rebuild()

    def sort_by(self, column: str) -> None:
        """Sort by ``column``, lowest first; by the column already sorted by: the other way."""
        if column == self.sort_column:
            self.descending = not self.descending
        else:
            self.set_reactive(Watchlist.descending, False)
            self.sort_column = column

    def next_sort(self) -> None:
        """Sort by the next column (after the last, the first again), lowest first."""
        index = COLUMNS.index(self.sort_column) if self.sort_column in COLUMNS else -1
        self.sort_by(COLUMNS[(index + 1) % len(COLUMNS)])

    # ------------------------------------------------------------------ keys and mouse

    def action_move(self, step: int) -> None:
        """Highlight the row ``step`` rows down (up when negative), stopping at the ends."""
        markets = [row.market for row in self.rows]
        if not markets:
            return
        index = markets.index(self.cursor) if self.cursor in markets else 0
        market = markets[max(0, min(len(markets) - 1, index + step))]
        if market != self.cursor:
            self.cursor = market
            self.post_message(self.Highlighted(market))

    def on_click(self, event: Click) -> None:
        """A header sorts by its column (again: the other way); a row is highlighted, and a
        double click opens it."""
        if event.y == HEAD_LINES - 1:
            for column, start, end in self._spans:
                if start <= event.x < end:
                    self.sort_by(column)
                    return
            return
        index = self._offset + event.y - HEAD_LINES
        if event.y >= HEAD_LINES and 0 <= index < len(self.rows):
            market = self.rows[index].market
            if market != self.cursor:
                self.cursor = market
                self.post_message(self.Highlighted(market))
            if event.chain >= 2:
                self.post_message(self.Opened(market))

    def on_resize(self) -> None:
        """Another size: other columns may fit, and another number of rows."""
        super().on_resize()
        self._rebuild()

    # ------------------------------------------------------------------ lines

    def _rebuild(self) -> None:
        rows = sort_rows(self._given, self.sort_column, self.descending)
        self.rows = rows
        markets = [row.market for row in rows]
        if self.cursor not in markets and markets:
            self.set_reactive(Watchlist.cursor, markets[0])
        width = self.size.width or 120
        height = self.size.height or len(rows) + HEAD_LINES
        room = max(1, height - HEAD_LINES)
        index = markets.index(self.cursor) if self.cursor in markets else 0
        offset = min(self._offset, index)
        if index >= offset + room:
            offset = index - room + 1
        self._offset = max(0, min(offset, max(0, len(rows) - room)))
        shown = rows[self._offset : self._offset + room]
        columns, widths, spark = self._layout(rows, width)
        lines = [self._title(rows), self._header(columns, widths)]
        lines += [self._line(row, columns, widths, spark, width) for row in shown]
        self.show_lines(lines)

    def _layout(
        self, rows: Sequence[WatchRow], width: int
    ) -> tuple[list[str], dict[str, int], int]:
        """The columns that fit ``width``, each one's width, and the sparkline's: columns
        as wide as their widest text (at most :data:`MAX_WIDTH`); when they do not fit,
        the sparkline narrows to :data:`SPARK_MIN`, then columns go in :data:`DROP_ORDER`."""
        texts = [cells(row, 0) for row in rows]
        widths = {
            column: max(
                len(TITLES[column]), min(max((len(t[column]) for t in texts), default=0), MAX_WIDTH)
            )
            for column in COLUMNS
            if column != "trend"
        }
        if self.sort_column in widths:  # room for the arrow beside its title
            widths[self.sort_column] = max(
                widths[self.sort_column], len(TITLES[self.sort_column]) + 1
            )
        columns = list(COLUMNS)
        spark = SPARK_SAMPLES

        def needed() -> int:
            fixed = sum(widths[c] for c in columns if c != "trend")
            return 1 + fixed + (spark if "trend" in columns else 0) + len(columns) - 1

        drops = iter(DROP_ORDER)
        while needed() > width:
            if "trend" in columns and spark > SPARK_MIN:
                spark = max(SPARK_MIN, spark - (needed() - width))
                continue
            column = next(drops, None)
            if column is None:
                break
            columns.remove(column)
        widths["trend"] = spark
        return columns, widths, spark

    def _title(self, rows: Sequence[WatchRow]) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(" Watchlist", style="bold watchlist--title")
        subscribed = sum(row.subscribed for row in rows)
        text.append(f"  {len(rows)} markets, {subscribed} subscribed", style=TEXT_MUTED)
        queue = self._queue
        if queue.waiting:
            n = len(queue.waiting)
            when = (
                "until connected"
                if queue.next_in is None
                else f"next request in {queue.next_in:.1f}s, one a second"
            )
            text.append("  ")
            text.append(f" {n} waiting ", style=badge_class("QUEUED"))
            text.append(f" {', '.join(queue.waiting)} ({when})")
        if queue.sent:
            text.append(f"  {len(queue.sent)} sent, awaiting answer", style=TEXT_MUTED)
        arrow = "▼" if self.descending else "▲"
        text.append(f"  sorted by {TITLES[self.sort_column]} {arrow}", style=TEXT_MUTED)
        if self.hints:
            text.append(f"  {self.hints}", style=TEXT_MUTED)
        return text

    def _header(self, columns: list[str], widths: dict[str, int]) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        spans: list[tuple[str, int, int]] = []
        x = 1
        text.append(" ")
        for n, column in enumerate(columns):
            if n:
                text.append(" ")
                x += 1
            width = widths[column]
            title = TITLES[column]
            if column == "trend":
                span = span_text(width * SAMPLE_INTERVAL)
                title = f"Mid, last {span}" if width >= len(span) + 11 else f"Mid {span}"
            if column == self.sort_column:
                title = f"{title}{'▼' if self.descending else '▲'}"
            title = fit(title, width)
            cell = title.ljust(width) if column in LEFT else title.rjust(width)
            sorted_here = column == self.sort_column
            text.append(cell, style="watchlist--sorted" if sorted_here else "watchlist--header")
            spans.append((column, x, x + width))
            x += width
        self._spans = spans
        return text

    def _line(
        self,
        row: WatchRow,
        columns: list[str],
        widths: dict[str, int],
        spark: int,
        width: int,
    ) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        values = cells(row, spark)
        dim = row.stale
        text.append(" ")
        for n, column in enumerate(columns):
            if n:
                text.append(" ")
            cell = fit(values[column], widths[column])
            pad = " " * (widths[column] - len(cell))
            style = self._cell_style(row, column, dim)
            if column in LEFT:
                text.append(cell, style=style)
                text.append(pad)
            else:
                text.append(pad)
                text.append(cell, style=style)
        if row.market == self.cursor:
            text.pad_right(max(0, width - len(text)))
            text.stylize("watchlist--cursor", 0, len(text))
            # The cursor's background under every cell; the badge keeps its own.
            text.spans.insert(0, text.spans.pop())
        return text

    @staticmethod
    def _cell_style(row: WatchRow, column: str, dim: bool) -> str:
        if column == "market":
            return "bold" if row.subscribed else TEXT_MUTED
        if column == "state":
            return badge_class(row.state) if row.state else TEXT_MUTED
        if dim and column in ("bid", "ask", "spread", "bps", "mid", "change", "trend"):
            return TEXT_MUTED
        if column == "bid":
            return TEXT_BID
        if column == "ask":
            return TEXT_ASK
        if column == "change" and row.change:
            return TEXT_GOOD if row.change > 0 else TEXT_BAD
        if column in ("age", "volume", "vwap", "last") and not row.subscribed:
            return TEXT_MUTED
        return ""
