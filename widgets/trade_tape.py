"""TradeTape: one market's executions, newest first (Line API, repainted when told).

Each row shows the execution time to the millisecond (UTC), price, amount and the side.
The API gives no aggressor side, so the side is *inferred* (:mod:`app.tape`) and always
written with an asterisk (``b*`` / ``s*``, ``?`` when unknown), explained by a legend line.
A trade at least ``large_multiple`` times the median size on the tape is highlighted, and
marked :data:`LARGE_MARK` in a column of its own, so it reads without colour too.
"""

from __future__ import annotations

import time
from statistics import median_low
from typing import ClassVar, Final

from rich.segment import Segment
from textual.strip import Strip

from app.protocol import decimal_places, format_scaled
from app.tape import MarketTape, Side, Trade
from widgets.quiet import CachedStyles

SIDE_TEXT: Final = {Side.BUY: "b*", Side.SELL: "s*", Side.UNKNOWN: "?"}
LARGE_MARK: Final = "▮"
"""Marks a large trade (one cell, after the side; the column is there for every row while
large trades are marked, so no column moves when one prints)."""
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
    """The newest trades of one market with inferred sides and large trades highlighted."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "trade-tape--header",
        "trade-tape--buy",
        "trade-tape--sell",
        "trade-tape--unknown",
        "trade-tape--large",
        "trade-tape--legend",
    }

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
        self._trades: list[Trade] = []
        self._large_units: int | None = None
        self._large_key: tuple[int, float] = (0, 0.0)
        self._large_count = 0
        self._count = 0
        self._strips: list[Strip] | None = None
        self._strips_size = (-1, -1)
        self._computed = False
        self._row_layout: tuple[object, ...] = ()
        self._row_cache: dict[Trade, Strip] = {}

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
        shown = (self._trades, self._count, self._large_units)
        self._compute(max(0, height - 2))
        if (self._trades, self._count, self._large_units) != shown:
            self._strips = None
            self.refresh()

    @property
    def shown_count(self) -> int:
        """The tape's trade count as last read for painting (what the header follows)."""
        return self._count

    def _compute(self, rows: int) -> None:
        self._computed = True
        tape = self._tape
        self._trades = tape.newest(rows) if tape is not None else []
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
                self._compute(max(0, size[1] - 2))
            self._strips = self._build(*size)
            self._strips_size = size
        strips = self._strips
        return strips[y] if y < len(strips) else Strip.blank(size[0], self.base_style())

    def _build(self, width: int, height: int) -> list[Strip]:
        base = self.base_style()
        trades = self._trades[: max(0, height - 2)]
        price_places = max((decimal_places(t.price) for t in trades), default=0)
        amount_places = max((decimal_places(t.amount) for t in trades), default=0)
        prices = [format_scaled(t.price_units, price_places) for t in trades]
        amounts = [format_scaled(t.amount_units, amount_places) for t in trades]
        pw = max([len("Price"), *(len(p) for p in prices)])
        aw = max([len("Amount"), *(len(a) for a in amounts)])
        # Narrow: the time shortens to MM:SS.mmm, then goes; price, amount, side and the
        # large-trade mark stay.
        mark = 2 if self.large_multiple > 0 else 0
        core = pw + 1 + aw + 3 + mark
        tw = 12 if width >= core + 13 else 9 if width >= core + 10 else 0
        head = f"{'Time UTC':<{tw}} " if tw else ""
        header = f"{head}{'Price':>{pw}} {'Amount':>{aw}} Sd"
        header_style = base + self.component_style("trade-tape--header")
        strips = [self.line([Segment(header, header_style)], width, base)]
        large = self._large_units
        large_style = self.component_style("trade-tape--large")
        # Trades stay on the tape tick after tick, shifting down: their lines are cached
        # for as long as the column layout and styles stay the same.
        layout = (width, pw, aw, tw, price_places, amount_places, large, base)
        if layout != self._row_layout:
            self._row_layout = layout
            self._row_cache = {}
        cache = self._row_cache
        fresh: dict[Trade, Strip] = {}
        for trade, price, amount in zip(trades, prices, amounts, strict=True):
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
                    Segment(f" {SIDE_TEXT[trade.side]:<2}", style),
                ]
                if is_large:
                    segments.append(Segment(f" {LARGE_MARK}", style))
                strip = self.line(segments, width, base)
            fresh[trade] = strip
            strips.append(strip)
        self._row_cache = fresh  # keep only what is still on screen
        if not trades:
            empty = "no trades yet" if self._count == 0 else ""
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
