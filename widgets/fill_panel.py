"""FillPanel: what the book means for an order — the cost to fill a size, and the depth
near the mid.

For the size chosen (``z`` cycles the configured sizes, ``Z`` sets any): for a buy and for
a sell, the average fill price, the worst price reached, the slippage against the mid in
basis points and the levels consumed; when the side cannot fill it, "too thin" with the
part it can. A last line gives the resting amount and notional within each depth band
(``[bands] bps``) of the mid. The figures are exact (:mod:`app.fills`); rounding is for
display only and always against the trader (a buy's average up, a sell's down, slippage up).

The panel follows the book at a slower pace than the touch (:attr:`FillPanel.MIN_INTERVAL`):
a figure a trader reads, not one that flickers, and the market's header shows the
imbalance bar from the same reading (:attr:`FillPanel.imbalance`).
"""

from __future__ import annotations

from typing import ClassVar, Final

from rich.text import Text

from app.books import Book
from app.fills import (
    DEFAULT_BANDS,
    DepthBand,
    FillCost,
    FillSize,
    OrderSide,
    SizeKind,
    cost_to_fill,
    depth_bands,
    lot_units,
)
from app.ladder import MarketPrecision
from app.protocol import ONE, decimal_places, format_scaled
from widgets.palette import TEXT_ASK, TEXT_BID, TEXT_MUTED, TEXT_WARN
from widgets.text_lines import TextLines

QUOTES: Final = ("USDC", "USDT", "USDG", "PYUSD", "USD", "EUR", "SGD", "GBP", "BTC", "ETH")
"""Quote currencies a market's name may end in (longest first where one ends another)."""
DEFAULT_SIZES: Final = (FillSize.notional("10000"), FillSize.notional("100000"))
"""What is costed when the config names no size for a market: two notionals in its quote."""


def split_market(market: str) -> tuple[str, str]:
    """(base, quote) of a market's name (``BTCUSD`` -> ``BTC``, ``USD``); ("", "") when its
    quote is not one of :data:`QUOTES` (sizes are then written without a currency)."""
    for quote in QUOTES:
        if market.endswith(quote) and len(market) > len(quote):
            return market[: -len(quote)], quote
    return "", ""


def size_label(size: FillSize, market: str) -> str:
    """A size as a trader reads it: ``5 BTC``, ``10000 USD``."""
    base, quote = split_market(market)
    unit = base if size.kind is SizeKind.BASE else quote
    if not unit:
        unit = "" if size.kind is SizeKind.BASE else "notional"
    return f"{size.text} {unit}".rstrip()


def parse_size(text: str, market: str) -> FillSize:
    """A size typed by the trader: ``5`` or ``5 BTC`` in the base asset, ``$250000``,
    ``250000 USD`` or ``250000 notional`` in the quote currency. ``ValueError`` says why
    the text is not a size."""
    words = text.strip().replace(",", "").split()
    if not words:
        raise ValueError("type a size, e.g. 0.5 (base) or $10000 (quote)")
    base, quote = split_market(market)
    number, unit = words[0], " ".join(words[1:]).upper()
    kind = SizeKind.BASE
    if number.startswith("$"):
        number, kind = number[1:], SizeKind.NOTIONAL
        if unit and unit not in (quote, "NOTIONAL"):
            raise ValueError(f"{text.strip()!r}: $ sizes are in {quote or 'the quote currency'}")
    elif unit in (quote, "NOTIONAL") and unit:
        kind = SizeKind.NOTIONAL
    elif unit and unit != base:
        known = " or ".join(u for u in (base, quote) if u) or "a currency of this market"
        raise ValueError(f"{text.strip()!r}: {unit} is not {known}")
    return FillSize.parse(number, kind)


class FillPanel(TextLines):
    """Cost to fill the chosen size each way, and the depth bands (updated by its view)."""

    DEFAULT_CSS = """
    FillPanel {
        height: auto;
    }
    """

    MIN_INTERVAL: ClassVar[float] = 0.5
    """Seconds between repaints at data rates (times :attr:`pace`); a key's effect is shown
    at once."""
    BAR_CELLS: ClassVar[int] = 10
    """Cells of the header's imbalance bar."""

    due_at: float | None = None
    """When a change held back by :attr:`MIN_INTERVAL` is to be shown (None: none held)."""
    pace = 1.0
    """How much slower than :attr:`MIN_INTERVAL` the panel goes (raised under load)."""

    def __init__(
        self,
        market: str,
        sizes: list[FillSize] | None = None,
        bands: list[int] | None = None,
        *,
        classes: str | None = None,
    ) -> None:
        super().__init__(classes=classes)
        self.market = market
        self.sizes: list[FillSize] = list(sizes) if sizes else list(DEFAULT_SIZES)
        """The sizes ``z`` cycles through, in order."""
        self.index = 0
        """Which of :attr:`sizes` is costed."""
        self.bands: list[int] = sorted(set(bands)) if bands else list(DEFAULT_BANDS)
        self.imbalance: float | None = None
        """The narrowest band's imbalance as last painted (the header's bar shows it)."""
        self.costs: tuple[FillCost, FillCost] | None = None
        """(buy, sell) as last painted: None without a book."""
        self._shown_at = float("-inf")
        self._book: Book | None = None
        self.precision: MarketPrecision | None = None
        """The market's decimals as its ladder has seen them (only ever finer): the panel's
        figures are at those, so they keep their width as the touch's spelling changes."""

    @property
    def chosen(self) -> FillSize:
        """The size costed now."""
        return self.sizes[self.index % len(self.sizes)]

    def next_size(self) -> FillSize:
        """Cost the next size (after the last, the first); shown at once."""
        self.index = (self.index + 1) % len(self.sizes)
        self.show(self._book, None)
        return self.chosen

    def choose_size(self, size: FillSize) -> None:
        """Cost ``size`` (added to the sizes ``z`` cycles through when new); shown at once."""
        if size not in self.sizes:
            self.sizes.append(size)
        self.index = self.sizes.index(size)
        self.show(self._book, None)

    def show(self, book: Book | None, now: float | None) -> None:
        """Cost the size against ``book``; with ``now`` (the refresh clock's ticks) at most
        once per :attr:`MIN_INTERVAL`, else (a key's effect) at once."""
        self._book = book
        if now is not None:
            due = self._shown_at + self.MIN_INTERVAL * self.pace
            if now < due:
                self.due_at = due
                return
            self._shown_at = now
        self.due_at = None
        self.show_lines(self._lines_for(book))

    def _lines_for(self, book: Book | None) -> list[Text]:
        size = self.chosen
        title = Text(no_wrap=True, overflow="ellipsis")
        title.append("Cost to fill ", style=TEXT_MUTED)
        title.append(size_label(size, self.market), style="bold")
        if len(self.sizes) > 1:
            title.append(f"  ({self.index + 1}/{len(self.sizes)}, z next)", style=TEXT_MUTED)
        if book is None or not book.has_data or book.best_bid is None or book.best_ask is None:
            self.costs, self.imbalance = None, None
            empty = Text("no two-sided book to cost against", style=TEXT_MUTED)
            return [title, empty, Text(""), Text("")]
        lot = lot_units(book) if size.kind is SizeKind.NOTIONAL else 1
        buy = cost_to_fill(book, OrderSide.BUY, size, lot)
        sell = cost_to_fill(book, OrderSide.SELL, size, lot)
        self.costs = (buy, sell)
        price_places = max(decimal_places(book.best_bid.price), decimal_places(book.best_ask.price))
        amount_places = max(
            decimal_places(book.best_bid.amount), decimal_places(book.best_ask.amount)
        )
        if self.precision is not None:
            price_places = max(price_places, self.precision.price_places)
            amount_places = max(amount_places, self.precision.amount_places)
        bands = depth_bands(book, self.bands)
        self.imbalance = bands[0].imbalance if bands else None
        return [
            title,
            self._cost_line(buy, price_places, amount_places),
            self._cost_line(sell, price_places, amount_places),
            self._bands_line(bands or []),
        ]

    def _cost_line(self, cost: FillCost, price_places: int, amount_places: int) -> Text:
        buy = cost.side is OrderSide.BUY
        line = Text(no_wrap=True, overflow="ellipsis")
        line.append("Buy " if buy else "Sell", style=f"bold {TEXT_BID if buy else TEXT_ASK}")
        avg = cost.average_price_rounded(price_places)
        if avg is None:
            side = "asks" if buy else "bids"
            line.append(f"  nothing to fill: no {side}" if cost.too_thin else "  under one lot")
            return line
        if cost.too_thin:
            line.append("  too thin: ", style=TEXT_WARN)
            line.append(f"{self._filled(cost, amount_places)} fillable", style=TEXT_WARN)
            line.append(f" of {size_label(cost.size, self.market)}", style=TEXT_WARN)
        line.append("  avg ", style=TEXT_MUTED)
        line.append(f"{avg:f}", style="bold")
        line.append("  worst ", style=TEXT_MUTED)
        line.append(format_scaled(cost.worst_price or 0, price_places))
        slip = cost.slippage_bps_rounded(2)
        if slip is not None:
            line.append("  slip ", style=TEXT_MUTED)
            line.append(f"{slip:f} bps")
        line.append("  ", style=TEXT_MUTED)
        line.append(f"{cost.levels} lvl" + ("" if cost.levels == 1 else "s"), style=TEXT_MUTED)
        if cost.size.kind is SizeKind.NOTIONAL and not cost.too_thin:
            base, _ = split_market(self.market)
            line.append(f"  = {self._filled(cost, amount_places)} {base}".rstrip(), TEXT_MUTED)
        return line

    @staticmethod
    def _filled(cost: FillCost, amount_places: int) -> str:
        return format_scaled(cost.filled_amount, amount_places)

    def _bands_line(self, bands: list[DepthBand]) -> Text:
        line = Text(no_wrap=True, overflow="ellipsis")
        for i, band in enumerate(bands):
            if i:
                line.append("  ")
            line.append(f"±{band.bps}bps ", style=TEXT_MUTED)
            line.append(compact(band.bid_amount), style=TEXT_BID)
            line.append("/", style=TEXT_MUTED)
            line.append(compact(band.ask_amount), style=TEXT_ASK)
            bid_n, ask_n = band.bid_notional // ONE, band.ask_notional // ONE
            line.append(f" ({compact(bid_n)}/{compact(ask_n)})", style=TEXT_MUTED)
        return line


def compact(units: int) -> str:
    """An amount or notional (10**-18 units) in three significant digits, rounded down (a
    depth is never overstated): ``0.155``, ``25.3``, ``308``, ``12.3k``, ``4.56M``, ``1.2B``."""
    if units <= 0:
        return "0"
    suffix, unit = "", ONE
    for limit, name in ((10**9, "B"), (10**6, "M"), (10**3, "k")):
        if units >= limit * ONE:
            suffix, unit = name, limit * ONE
            break
    whole = units // unit
    places = max(0, 3 - len(str(whole))) if whole else 3
    if not whole:  # below one: three significant digits after the leading zeros
        scaled = units * 10**places // unit
        while scaled < 100 and places < 18:
            places += 1
            scaled = units * 10**places // unit
    scaled = units * 10**places // unit
    text = str(scaled).rjust(places + 1, "0")
    value = f"{text[:-places]}.{text[-places:]}".rstrip("0").rstrip(".") if places else text
    return value + suffix


def imbalance_bar(imbalance: float | None, cells: int = FillPanel.BAR_CELLS) -> Text:
    """The bid share of the band's depth as a bar: bid cells then ask cells, and the figure
    (``+30%``: bids outweigh asks by 30 % of the two)."""
    bar = Text(no_wrap=True)
    if imbalance is None:
        bar.append("—", style=TEXT_MUTED)
        return bar
    bid_cells = round(cells * (1 + imbalance) / 2)
    bar.append("█" * bid_cells, style=TEXT_BID)
    bar.append("░" * (cells - bid_cells), style=TEXT_ASK)
    bar.append(f" {imbalance * 100:+.0f}%")
    return bar
