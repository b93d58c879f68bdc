"""TradeTape: one market's executions, newest first (Line API, repainted when told).

Each row shows the execution time to the millisecond (UTC), price, amount and the side.
The API gives no aggressor side, so the side is *inferred* (:mod:`app.tape`) and always
written with an asterisk (``b*`` / ``s*``, ``?`` when unknown), explained by a legend line.
A trade at least ``large_multiple`` times the median size on the tape is highlighted, and
marked :data:`LARGE_MARK` in a column of its own, so it reads without colour too.

Focused (``e``, a click or the mouse wheel), the tape scrolls back through every trade it
keeps: up/down a row, page up/down, Home the oldest, End the newest again, Escape leaves.
Scrolled back, the view stays on the same trades while new ones arrive, and a line at the
top says how many are newer (:data:`NEWER_MARK`). A minimum size and aggregation
(:class:`~app.tape.TapeSettings`) are named in a title line while on; what is shown is
computed by :func:`app.tape.tape_window`.
"""

from __future__ import annotations

import time
from statistics import median_low
from typing import ClassVar, Final

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.strip import Strip

from app.protocol import decimal_places, format_scaled
from app.tape import (
    OLDEST,
    MarketTape,
    RowKey,
    Side,
    TapeRow,
    TapeSettings,
    scroll_anchor,
    tape_window,
)
from widgets.quiet import CachedStyles

SIDE_TEXT: Final = {Side.BUY: "b*", Side.SELL: "s*", Side.UNKNOWN: "?"}
LARGE_MARK: Final = "▮"
"""Marks a large trade (one cell, after the side; the column is there for every row while
large trades are marked, so no column moves when one prints)."""
NEWER_MARK: Final = "▲"
"""Starts the line that says the view is scrolled back, and by how many rows."""
PRINTS_MARK: Final = "\u00d7"
"""Before the number of prints an aggregated row sums (the multiplication sign)."""
WHEEL_ROWS: Final = 3
"""Rows one notch of the mouse wheel scrolls."""
_SIDE_CLASS: Final = {
    Side.BUY: "trade-tape--buy",
    Side.SELL: "trade-tape--sell",
    Side.UNKNOWN: "trade-tape--unknown",
}


def format_ms(ns: int, *, short: bool = False) -> str:
    """UTC time of day to the millisecond: ``HH:MM:SS.mmm`` (``MM:SS.mmm`` when short)."""
    seconds, rest = divmod(ns, 1_000_000_000)
    tm = time.gmtime(seconds)
    ms = rest // 1_000_000
    if short:
        return f"{tm.tm_min:02d}:{tm.tm_sec:02d}.{ms:03d}"
    return f"{tm.tm_hour:02d}:{tm.tm_min:02d}:{tm.tm_sec:02d}.{ms:03d}"


LARGE_EVERY = 32
"""Trades between recomputations of the "large trade" threshold (the tape's median size)."""


class TradeTape(CachedStyles):
    """The newest trades of one market with inferred sides and large trades highlighted;
    focused, it scrolls back through the whole kept tape."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "trade-tape--header",
        "trade-tape--buy",
        "trade-tape--sell",
        "trade-tape--unknown",
        "trade-tape--large",
        "trade-tape--legend",
        "trade-tape--title",
        "trade-tape--newer",
    }

    # Only while the tape has focus: the screen's home/end (the replay transport) and
    # arrows act again once Escape gives focus back.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "scroll_rows(-1)", "Scroll", key_display="↑↓", id="tape-newer"),
        Binding("down", "scroll_rows(1)", "Older", show=False, id="tape-older"),
        Binding("pageup", "scroll_pages(-1)", "Page newer", show=False, id="tape-page-newer"),
        Binding("pagedown", "scroll_pages(1)", "Page older", show=False, id="tape-page-older"),
        Binding("home", "oldest", "Oldest", id="tape-oldest"),
        Binding("end", "follow", "Follow", id="tape-follow"),
        Binding("escape", "leave", "Leave tape", id="tape-leave"),
    ]

    can_focus = True

    DIRECT: ClassVar[bool] = True

    DEFAULT_CSS = """
    TradeTape {
        height: 1fr;
    }
    """

    def __init__(
        self, *, large_multiple: float = 5.0, name: str | None = None, id: str | None = None
    ) -> None:
        super().__init__(name=name, id=id)
        self.large_multiple = large_multiple
        """A trade this many times the median size is highlighted (0 turns it off)."""
        self._tape: MarketTape | None = None
        self.settings = TapeSettings()
        """The minimum size and aggregation shown (set through :meth:`apply_settings`)."""
        self._anchor: RowKey | None = None
        self._newer = 0
        self._trades: list[TapeRow] = []
        self._large_units: int | None = None
        self._large_key: tuple[int, float] = (0, 0.0)
        self._large_count = 0
        self._count = 0
        self._strips: list[Strip] | None = None
        self._strips_size = (-1, -1)
        self._computed = False
        self._row_layout: tuple[object, ...] = ()
        self._row_cache: dict[TapeRow, Strip] = {}

    MIN_INTERVAL: ClassVar[float] = 0.2
    """Seconds between two repaints of the tape. A new trade moves every row down, so each
    repaint is the whole widget; five a second reads as live (every trade is shown, a
    burst arrives together), thirty cost six times as much. A change that comes sooner
    waits (:attr:`due_at`), it is never lost."""

    due_at: float | None = None
    """When a change held back by :attr:`MIN_INTERVAL` is to be shown (None: none held)."""
    pace = 1.0
    """How much slower than :attr:`MIN_INTERVAL` the tape goes (raised under load)."""
    _shown_at = float("-inf")

    def show(self, tape: MarketTape | None, now: float | None = None) -> None:
        """Take the tape's newest trades and repaint if what shows changed (once per tick).

        With ``now`` (the screen's clock), at most one repaint per :attr:`MIN_INTERVAL`.
        """
        if now is not None:
            if now - self._shown_at < self.MIN_INTERVAL * self.pace:
                self._tape = tape
                self.due_at = self._shown_at + self.MIN_INTERVAL * self.pace
                return
            self._shown_at = now
        self.due_at = None
        self._tape = tape
        height = self.size.height
        if not height or self._strips is None:
            self._strips = None
            self._computed = False
            self._count = tape.count if tape is not None else 0  # what the header follows
            self.refresh()
            return
        shown = (self._trades, self._newer, self._count, self._large_units)
        self._compute(height)
        if (self._trades, self._newer, self._count, self._large_units) != shown:
            self._strips = None
            self.refresh()

    @property
    def shown_count(self) -> int:
        """The tape's trade count as last read for painting (what the header follows)."""
        return self._count

    @property
    def scrolled_back(self) -> bool:
        """The view stays on older trades (not following the newest)."""
        return self._anchor is not None

    @property
    def newer(self) -> int:
        """Rows newer than the top one shown (0 while following the newest)."""
        return self._newer

    @property
    def large_units(self) -> int | None:
        """The amount from which a row is marked large (the median print's multiple; a
        summed row is compared whole), None while nothing is marked."""
        return self._large_units

    @property
    def rows(self) -> list[TapeRow]:
        """The rows as last read for painting, newest first."""
        return self._trades

    def _page(self, height: int, scrolled: bool) -> int:
        """Rows of trades that fit: less the column header, the legend, the title line
        (while a filter or aggregation is on) and the newer-trades line (scrolled back)."""
        return max(0, height - 2 - self.settings.active - scrolled)

    def _compute(self, height: int) -> None:
        self._computed = True
        tape = self._tape
        trades = tape.trades if tape is not None else []
        settings = self.settings
        window = tape_window(
            trades, settings, self._page(height, self._anchor is not None), self._anchor
        )
        if window.anchor is None and self._anchor is not None:  # back at the newest
            window = tape_window(trades, settings, self._page(height, False))
        self._trades, self._newer, self._anchor = window
        self._count = tape.count if tape is not None else 0
        # The median trade size moves slowly; sorting the whole tape for it on every tick
        # (30 times a second per market) was the tape's largest cost. Recomputed when the
        # tape changes identity, multiplier or by LARGE_EVERY trades.
        key = (id(tape), self.large_multiple)
        if key != self._large_key or abs(self._count - self._large_count) >= LARGE_EVERY:
            self._large_key, self._large_count = key, self._count
            self._large_units = None
            if tape is not None and tape.trades and self.large_multiple > 0:
                typical = median_low(t.amount_units for t in tape.trades)
                self._large_units = int(typical * self.large_multiple) if typical else None

    def on_resize(self) -> None:
        """Rebuild at the new size on the next paint."""
        self._strips = None

    def forget_styles(self) -> None:
        """Styles changed (a theme, a class): every line is built again in the new colours."""
        super().forget_styles()
        self._strips = None
        self._row_cache = {}

    def render_line(self, y: int) -> Strip:
        """One line of the tape (Line API)."""
        size = (self.size.width, self.size.height)
        if self._strips is None or self._strips_size != size:
            if self._strips_size != size or not self._computed:
                self._compute(size[1])
            self._strips = self._build(*size)
            self._strips_size = size
        strips = self._strips
        return strips[y] if y < len(strips) else Strip.blank(size[0], self.base_style())

    def _build(self, width: int, height: int) -> list[Strip]:
        base = self.base_style()
        settings = self.settings
        scrolled = self._anchor is not None
        trades = self._trades[: self._page(height, scrolled)]
        price_places = max((decimal_places(t.price) for t in trades), default=0)
        amount_places = max((decimal_places(t.amount) for t in trades), default=0)
        prices = [format_scaled(t.price_units, price_places) for t in trades]
        amounts = [format_scaled(t.amount_units, amount_places) for t in trades]
        pw = max([len("Price"), *(len(p) for p in prices)])
        aw = max([len("Amount"), *(len(a) for a in amounts)])
        # Aggregated, a column says how many prints a row sums (blank for one).
        counts = [f"{PRINTS_MARK}{t.prints}" if t.prints > 1 else "" for t in trades]
        cw = max([2, *(len(c) for c in counts)]) + 1 if settings.aggregate else 0
        # Narrow: the time shortens to MM:SS.mmm, then goes; price, amount, side and the
        # large-trade mark stay.
        mark = 2 if self.large_multiple > 0 else 0
        core = pw + 1 + aw + cw + 3 + mark
        tw = 12 if width >= core + 13 else 9 if width >= core + 10 else 0
        head = f"{'Time UTC':<{tw}} " if tw else ""
        count_head = f"{PRINTS_MARK:>{cw}}" if cw else ""
        header = f"{head}{'Price':>{pw}} {'Amount':>{aw}}{count_head} Sd"
        header_style = base + self.component_style("trade-tape--header")
        strips = []
        if settings.active:
            strips.append(self._title_line(width, base))
        strips.append(self.line([Segment(header, header_style)], width, base))
        if scrolled:
            strips.append(self._newer_line(width, base))
        large = self._large_units
        large_style = self.component_style("trade-tape--large")
        # Trades stay on the tape tick after tick, shifting down: their lines are cached
        # for as long as the column layout and styles stay the same.
        layout = (width, pw, aw, cw, tw, price_places, amount_places, large, base)
        if layout != self._row_layout:
            self._row_layout = layout
            self._row_cache = {}
        cache = self._row_cache
        fresh: dict[TapeRow, Strip] = {}
        for trade, price, amount, count in zip(trades, prices, amounts, counts, strict=True):
            strip = cache.get(trade)
            if strip is None:
                style = base + self.component_style(_SIDE_CLASS[trade.side])
                amount_style = style
                is_large = large is not None and trade.amount_units >= large
                if is_large:
                    amount_style = style + large_style
                when = f"{format_ms(trade.executed_ns, short=tw == 9):<{tw}} " if tw else ""
                segments = [
                    Segment(f"{when}{price:>{pw}} ", style),
                    Segment(f"{amount:>{aw}}", amount_style),
                ]
                if cw:
                    segments.append(Segment(f"{count:>{cw}}", style))
                segments.append(Segment(f" {SIDE_TEXT[trade.side]:<2}", style))
                if is_large:
                    segments.append(Segment(f" {LARGE_MARK}", style))
                strip = self.line(segments, width, base)
            fresh[trade] = strip
            strips.append(strip)
        self._row_cache = fresh  # keep only what is still on screen
        if not trades:
            empty = ""
            if self._count == 0:
                empty = "no trades yet"
            elif settings.min_units:
                empty = f"no trades ≥ {settings.min_size} kept"
            strips.append(
                self.line(
                    [Segment(empty, base + self.component_style("trade-tape--legend"))], width, base
                )
            )
        while len(strips) < height - 1:
            strips.append(Strip.blank(width, base))
        legend = "b*/s* = inferred side"
        if self.large_multiple > 0 and width >= len(legend) + 16:
            legend += f" · ▮ ≥{self.large_multiple:g}x median"
        strips.append(
            self.line(
                [Segment(legend, base + self.component_style("trade-tape--legend"))], width, base
            )
        )
        return strips[:height]

    def _title_line(self, width: int, base: Style) -> Strip:
        """What the tape shows, while it is not every print: ``≥ 0.5 · aggregated``."""
        settings = self.settings
        parts = []
        if settings.min_units:
            parts.append(f"≥ {settings.min_size}")
        if settings.aggregate:
            parts.append("aggregated" if width >= 24 else "aggr")
        text = "Trades " + " · ".join(parts)
        style = base + self.component_style("trade-tape--title")
        return self.line([Segment(text, style)], width, base)

    def _newer_line(self, width: int, base: Style) -> Strip:
        """Scrolled back: how many rows are newer, and the key that follows them again."""
        count = f"{NEWER_MARK} {self._newer:,} newer"
        for text in (f"{count} — End to follow", f"{count} · End", count):
            if len(text) <= width:
                break
        style = base + self.component_style("trade-tape--newer")
        return self.line([Segment(text, style)], width, base)

    # ------------------------------------------------------------------ scrolling and settings

    def apply_settings(self, settings: TapeSettings) -> None:
        """Show the tape with ``settings`` at once (a key's effect); a view scrolled back
        stays at the same place on the tape."""
        if settings != self.settings:
            self.settings = settings
            self._repaint_now()

    def scroll_rows(self, rows: int) -> None:
        """Move the view ``rows`` rows older (negative: newer); at the newest it follows."""
        tape = self._tape
        if tape is None:
            return
        self._anchor = scroll_anchor(tape.trades, self.settings, self._anchor, rows)
        self._repaint_now()

    def follow(self) -> None:
        """Follow the newest trades again."""
        if self._anchor is not None:
            self._anchor = None
            self._repaint_now()

    def _repaint_now(self) -> None:
        """Read and repaint at once (keys are not held back to the tape's pace)."""
        if self.size.height:
            self._compute(self.size.height)
        else:
            self._computed = False
        self._strips = None
        self.refresh()

    def action_scroll_rows(self, rows: int) -> None:
        """Up/down: a row newer or older."""
        self.scroll_rows(rows)

    def action_scroll_pages(self, pages: int) -> None:
        """Page up/down: a page newer or older."""
        self.scroll_rows(pages * max(1, self._page(self.size.height, True)))

    def action_oldest(self) -> None:
        """Home: the oldest trades kept."""
        self._anchor = OLDEST
        self._repaint_now()

    def action_follow(self) -> None:
        """End: the newest trades, followed as they come."""
        self.follow()

    def action_leave(self) -> None:
        """Escape: give focus back to the dashboard (the tape follows the newest again)."""
        self.screen.set_focus(None)

    def on_blur(self) -> None:
        """Focus left the tape within the app (Escape, another market): follow the newest
        again. The terminal losing focus keeps the place: focus comes back to it."""
        if self.app.app_focus:
            self.follow()

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        """The wheel: newer rows (and the tape takes focus, so its keys work)."""
        event.stop()
        self._wheel(-WHEEL_ROWS)

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        """The wheel: older rows (and the tape takes focus, so its keys work)."""
        event.stop()
        self._wheel(WHEEL_ROWS)

    def _wheel(self, rows: int) -> None:
        if self.screen.focused is not self:
            self.focus()
        self.scroll_rows(rows)
