"""MarketView: everything about one market — header, depth ladder, trade tape, channels.

The view reads the feed's store, tape and subscriptions when the screen tells it to
(:meth:`MarketView.refresh_data` on a dirty tick, :meth:`MarketView.refresh_clock` once a
second for ages); it never subscribes to data itself. State is shown with classes:
``-stale``, ``-syncing``, ``-failed``, ``-crossed``, ``-current``; the header's badge and
colours come from the shared palette (:mod:`widgets.palette`). Its own view state, the
ladder's depth and grouping, and its tape's settings, are reactives: setting one repaints
at once.
ladder's depth, grouping, columns and mode, are reactives: setting one repaints the ladder
at once. It keeps the market's volume at price (:class:`app.volume.VolumeAtPrice`) fed
from its tape, for the ladder's volume column.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.events import Click, DescendantFocus
from textual.message import Message
from textual.reactive import var

from app.books import Book, BookLevel, BookState, mid_units_of, spread_bps_of, spread_units_of
from app.events import ConnectionState, Subscription, SubState
from app.feed import HEARTBEAT_KEY, FeedClient
from app.fills import FillSize
from app.protocol import EXECUTION_DATA, MARKET_DATA, decimal_places, format_scaled
from app.tape import MarketTape, TapeSettings
from app.volume import VolumeAtPrice
from widgets.depth_ladder import GROUP_MULTIPLES, DepthLadder, format_bps
from widgets.fill_panel import FillPanel, imbalance_bar
from widgets.palette import (
    BAD,
    TEXT_ASK,
    TEXT_BAD,
    TEXT_BID,
    TEXT_MUTED,
    TEXT_WARN,
    WARN,
    badge_class,
    badge_label,
)
from widgets.quiet import CachedContainer
from widgets.subscription_panel import SubscriptionPanel, format_age
from widgets.text_lines import TextLines
from widgets.trade_tape import SIDE_TEXT, TradeTape

_WAITING_BADGE = {
    ConnectionState.AUTHENTICATING: "AUTHENTICATING",
    ConnectionState.CONNECTING: "CONNECTING",
    ConnectionState.RECONNECTING: "OFFLINE",
    ConnectionState.AUTH_FAILED: "FAILED",
    ConnectionState.FAILED: "FAILED",
}
"""What a market still waiting for its first data says while the connection is not up:
SYNCING would claim a snapshot is on its way when no token or socket exists yet."""


def market_badge(feed: FeedClient, market: str) -> str:
    """What a market's state badge says: LIVE, SYNCING, STALE, RESYNC, FAILED, ..."""
    md = feed.subscriptions.get((MARKET_DATA, market))
    return MarketView.badge_for(feed.store.get(market), md, feed.channels_for(market), feed.state)


class MarketBody(Horizontal):
    """The ladder beside the tape (a container that keeps its lines)."""


class MarketView(CachedContainer, Vertical):
    """One market's header, ladder, tape and subscription panel.

    Not focusable: the current market is the app's ``current`` and shown by the
    ``-current`` class. Moving focus on every ``tab`` made Textual's Footer recompose
    (its bindings are refreshed on each focus change), which cost more than the repaint.
    """

    can_focus = False

    depth: var[int] = var(15, init=False)
    """Levels shown per side of the ladder (``+``/``-``), 1 to 200."""
    grouping: var[int] = var(0, init=False)
    """Price grouping of the ladder as a multiple of the tick (``g``; 0: none)."""
    tape_settings: var[TapeSettings] = var(TapeSettings(), init=False)
    """The tape's minimum size (``m``) and aggregation (``x``)."""
    columns: var[frozenset[str]] = var(frozenset({"cumulative"}), init=False)
    """The ladder's optional columns (``C``, ``n``, ``v``): of ``cumulative``, ``notional``,
    ``volume``."""
    fixed: var[bool] = var(False, init=False)
    """The ladder's fixed-tick mode (``f``); False: the list of levels."""

    class Selected(Message):
        """The user clicked this market."""

        def __init__(self, market: str) -> None:
            super().__init__()
            self.market = market

    def __init__(
        self,
        market: str,
        feed: FeedClient,
        *,
        depth: int = 15,
        large_multiple: float = 5.0,
        sizes: list[FillSize] | None = None,
        bands: list[int] | None = None,
        tape_settings: TapeSettings | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(classes="-syncing")
        self.clock = clock
        self.market = market
        self.feed = feed
        self.border_title = market
        self.badge = "SYNCING"
        """What the header's state badge says: SYNCING, LIVE, STALE, RESYNC, FAILED, ..."""
        self.error = ""
        """The newest error that belongs to this market."""
        self.compact = False
        """Grid layout: leave out rows that are the same for every market."""
        self.ladder = DepthLadder(depth=depth)
        self.set_reactive(MarketView.depth, depth)
        self.volume = VolumeAtPrice()
        """Traded amount per price this session, by inferred side (the volume column)."""
        self.ladder.volume = self.volume
        self.trades = TradeTape(large_multiple=large_multiple)
        if tape_settings is not None:
            self.set_reactive(MarketView.tape_settings, tape_settings)
            self.trades.settings = tape_settings
        self.header = TextLines(classes="market-header")
        self._header_key: tuple[object, ...] = ()
        self.panel = SubscriptionPanel()
        self.fills = FillPanel(market, sizes, bands, classes="fill-panel")
        self.fills.precision = self.ladder.precision

    def compose(self) -> ComposeResult:
        """Header, then ladder beside tape, then the channel panel."""
        yield self.header
        with MarketBody(classes="market-body"):
            yield self.ladder
            yield self.trades
        yield self.fills
        yield self.panel

    def on_click(self, event: Click) -> None:
        """Clicking a market makes it the current one."""
        self.post_message(self.Selected(self.market))

    def on_descendant_focus(self, event: DescendantFocus) -> None:
        """The tape took focus (a key, a click, the wheel): its market becomes current."""
        self.post_message(self.Selected(self.market))

    # ------------------------------------------------------------------ commands

    def change_depth(self, delta: int) -> None:
        """Show ``delta`` more (or fewer) levels per side."""
        self.depth += delta

    def cycle_grouping(self) -> int:
        """Next grouping step (tick multiples, then off); returns the new multiple."""
        index = GROUP_MULTIPLES.index(self.grouping) if self.grouping in GROUP_MULTIPLES else 0
        self.grouping = GROUP_MULTIPLES[(index + 1) % len(GROUP_MULTIPLES)]
        return self.grouping

    def toggle_column(self, column: str) -> bool:
        """Show or hide one of the ladder's optional columns; whether it is now shown."""
        self.columns = self.columns ^ {column}
        return column in self.columns

    def toggle_fixed(self) -> bool:
        """Fixed-tick ladder or list of levels; whether it is now fixed."""
        self.fixed = not self.fixed
        return self.fixed

    def recentre(self) -> None:
        """Centre the fixed-tick ladder on the touch now (a key's effect)."""
        self.ladder.recentre()
        self._ladder_changed()

    def validate_depth(self, depth: int) -> int:
        """At least one level per side, at most 200."""
        return max(1, min(200, depth))

    def watch_depth(self, depth: int) -> None:
        """Show the new depth at once (a key's effect), nothing flashing for it."""
        self.ladder.depth = depth
        self._ladder_changed()

    def watch_grouping(self, multiple: int) -> None:
        """Regroup the ladder at once (a key's effect), nothing flashing for it."""
        self.ladder.group_multiple = multiple
        self._ladder_changed()

    def watch_tape_settings(self, settings: TapeSettings) -> None:
        """Show the tape with its new minimum size or aggregation at once."""
        self.trades.apply_settings(settings)

    def watch_columns(self, columns: frozenset[str]) -> None:
        """Show the ladder with these columns at once (a key's effect)."""
        self.ladder.columns = columns
        self.ladder.relayout()
        self._ladder_changed()

    def watch_fixed(self, fixed: bool) -> None:
        """Show the ladder in its new mode at once, centred on the touch."""
        self.ladder.set_fixed(fixed)
        self._ladder_changed()

    def _ladder_changed(self) -> None:
        self.ladder.reset_flashes()
        if self.is_mounted:
            self.refresh_data(self.clock())

    def note_error(self, message: str) -> None:
        """Show an error that belongs to this market (kept until the next one)."""
        self.error = message

    # ------------------------------------------------------------------ repainting

    def refresh_data(
        self,
        now: float,
        *,
        book_changed: bool = True,
        tape_changed: bool = True,
        urgent: bool = True,
    ) -> None:
        """Repaint from the store and tape (once per tick, only the parts that changed).

        Not ``urgent`` (the refresh clock's ticks), the ladder repaints the touch at once and
        the rows behind it, and the tape, at their own slower pace (:meth:`due_at` says when
        the rest is due); a key's effect is always urgent and painted in full.
        """
        feed = self.feed
        self.follow_trades()
        if tape_changed and "volume" in self.columns:
            book_changed = True  # the volume column follows the tape (at the rows' pace)
        if book_changed:
            book = feed.store.get(self.market)
            md = feed.subscriptions.get((MARKET_DATA, self.market))
            message = ""
            if md is not None and md.state is SubState.FAILED:
                why = "reason" if md.given_up else "server code"
                message = f"market_data FAILED ({why} above)"
            elif md is None:
                message = "market_data not subscribed"
            elif feed.state in _WAITING_BADGE and (book is None or not book.has_data):
                message = f"{_WAITING_BADGE[feed.state]} · no book until connected"
            self.ladder.show(book, now, message, urgent=urgent)
            self.fills.show(book, None if urgent else now)
        if tape_changed:
            self.trades.show(feed.tape.get(self.market), None if urgent else now)
        self.refresh_clock(now)

    def follow_trades(self) -> None:
        """Count the tape's new trades in the volume at price (cheap when there are none;
        the screen calls it on every tick, for hidden views too, so no trade is missed)."""
        self.volume.follow(self.feed.tape.get(self.market))

    def set_pace(self, pace: float) -> None:
        """Slow the parts that may go slower (rows behind the touch, totals, the tape) by
        ``pace`` (1: their own pace); the touch and the header keep the refresh rate."""
        self.ladder.pace = pace
        self.trades.pace = pace
        self.fills.pace = pace

    def due_at(self) -> float | None:
        """The earliest time a part of this view wants repainting without new data: a flash
        ending, ladder rows or trades held back to their slower pace."""
        times = [
            t
            for t in (
                self.ladder.flash_deadline,
                self.ladder.due_at,
                self.trades.due_at,
                self.fills.due_at,
            )
            if t is not None
        ]
        return min(times) if times else None

    def refresh_clock(self, now: float) -> None:
        """Repaint the time-dependent parts (header age, channel ages)."""
        feed = self.feed
        book = feed.store.get(self.market)
        subs = feed.channels_for(self.market)
        md = feed.subscriptions.get((MARKET_DATA, self.market))
        self.badge = self.badge_for(book, md, subs, feed.state)
        bid, ask = self._touch(book)
        spread = spread_units_of(bid, ask)
        crossed = book is not None and book.has_data and spread is not None and spread <= 0
        self.set_class(self.badge == "STALE", "-stale")
        self.set_class(self.badge in ("SYNCING", "RESYNC"), "-syncing")
        self.set_class(self.badge == "FAILED", "-failed")
        self.set_class(crossed, "-crossed")
        tape = feed.tape.get(self.market)
        age = md.age(now) if md is not None else None
        key = (
            self.badge,
            # The header shows the touch's prices, not its amounts: a change of amount at the
            # touch (most updates) does not rebuild it.
            None
            if book is None
            else (
                None if bid is None else bid.price_units,
                None if ask is None else ask.price_units,
                book.has_data,
            ),
            None if md is None else (md.state, md.error),
            None if age is None else format_age(age),
            # The imbalance bar follows the cost-to-fill panel's reading (at its pace).
            None if (imbalance := self.fills.imbalance) is None else round(imbalance * 100),
            # The last trade, volume and VWAP follow the tape as it is painted (at its pace).
            None if tape is None else (self.trades.shown_count, tape.count == 0),
            None
            if (ed := feed.subscriptions.get((EXECUTION_DATA, self.market))) is None
            else (ed.state, ed.error),
            feed.state,
            feed.state_detail,
        )
        if key != self._header_key:  # building the header's text is most of a tick's cost
            self._header_key = key
            self.header.show_lines(self._header(book, md, tape, now))
        heartbeat = feed.subscriptions.get(HEARTBEAT_KEY)
        self.panel.show(subs, heartbeat, now, self.error, self.compact)

    @staticmethod
    def badge_for(
        book: Book | None,
        md: Subscription | None,
        subs: list[Subscription],
        connection: ConnectionState = ConnectionState.CONNECTED,
    ) -> str:
        """The badge for a market's book, subscription and channels, and the connection."""
        if subs and all(s.state is SubState.FAILED for s in subs):
            return "FAILED"
        if md is None:
            return "NO BOOK"
        if md.state is SubState.FAILED:
            return "FAILED"
        if md.state is SubState.UNSUBSCRIBING:
            return "LEAVING"
        waiting = _WAITING_BADGE.get(connection)
        if waiting is not None and (book is None or not book.has_data):
            return waiting
        if book is None:
            return "SYNCING"
        return book.state.value

    def _touch(self, book: Book | None) -> tuple[BookLevel | None, BookLevel | None]:
        """The best bid and ask the header shows: as the ladder painted them (a move of the
        touch waits for its turn there; the header shows the same), else the book's."""
        if book is None:
            return None, None
        painted = self.ladder.painted_touch
        return painted if painted is not None else (book.best_bid, book.best_ask)

    def _header(
        self, book: Book | None, md: Subscription | None, tape: MarketTape | None, now: float
    ) -> list[Text]:
        """The header's three lines: the state and touch; spread, mid and age; the last trade."""
        text = Text(no_wrap=True, overflow="ellipsis")
        lines = [text]
        text.append(self.market, style="bold")
        text.append("  ")
        text.append(f" {badge_label(self.badge)} ", style=badge_class(self.badge))
        places = 0
        bid, ask = self._touch(book)
        spread = spread_units_of(bid, ask)
        if book is not None and book.has_data:
            places = max(
                decimal_places(bid.price) if bid else 0, decimal_places(ask.price) if ask else 0
            )
            text.append("  Bid ", style=TEXT_MUTED)
            text.append(bid.price if bid else "—", style=f"bold {TEXT_BID}")
            text.append("  Ask ", style=TEXT_MUTED)
            text.append(ask.price if ask else "—", style=f"bold {TEXT_ASK}")
            if spread is not None and spread < 0:
                text.append("  ")
                text.append(" CROSSED ", style=BAD)
            elif spread == 0:
                text.append("  ")
                text.append(" LOCKED ", style=WARN)
        text = Text(no_wrap=True, overflow="ellipsis")
        lines.append(text)
        if md is not None and md.state is SubState.FAILED:
            text.append(f"market_data: {md.error}", style=TEXT_BAD)
        elif book is not None and book.has_data:
            mid = mid_units_of(bid, ask)
            if spread is not None and mid is not None:
                bps = spread_bps_of(bid, ask) or 0.0
                text.append("Sprd ", style=TEXT_MUTED)
                text.append(f"{format_scaled(spread, places)} ({format_bps(bps)})")
                mid_text = format_scaled(mid)
                text.append("  Mid ", style=TEXT_MUTED)
                text.append(format_scaled(mid, max(places, decimal_places(mid_text))))
                if self.fills.imbalance is not None:
                    text.append(f"  Imb±{self.fills.bands[0]}bps ", style=TEXT_MUTED)
                    text.append_text(imbalance_bar(self.fills.imbalance))
            else:
                text.append("one side of the book is empty", style=TEXT_WARN)
        elif self.feed.state in _WAITING_BADGE and (book is None or not book.has_data):
            # No token or no socket yet: say why, not "waiting for the snapshot".
            feed = self.feed
            why = f": {feed.state_detail}" if feed.state_detail else ""
            style = TEXT_BAD if self.badge == "FAILED" else TEXT_WARN
            text.append(f"not connected ({feed.state.value}){why}", style=style)
        elif book is not None and book.state is BookState.SYNCING:
            text.append("waiting for the snapshot", style=TEXT_WARN)
        age = md.age(now) if md is not None else None
        if age is not None:
            text.append("  upd ", style=TEXT_MUTED)
            text.append(f"{format_age(age)} ago")
        text = Text(no_wrap=True, overflow="ellipsis")
        lines.append(text)
        last = tape.last if tape is not None else None
        ed = self.feed.subscriptions.get((EXECUTION_DATA, self.market))
        if ed is not None and ed.state is SubState.FAILED:
            text.append(f"execution_data: {ed.error}", style=TEXT_BAD)
        elif tape is None or last is None:
            text.append("Last ", style=TEXT_MUTED)
            text.append("— no trades yet")
        else:
            text.append("Last ", style=TEXT_MUTED)
            text.append(last.price, style="bold")
            text.append(f" {SIDE_TEXT[last.side]}")
            high_low = tape.high_low(max(places, decimal_places(last.price)))
            if high_low is not None:
                text.append("  Hi ", style=TEXT_MUTED)
                text.append(high_low[0])
                text.append(" Lo ", style=TEXT_MUTED)
                text.append(high_low[1])
            text.append("  Vol ", style=TEXT_MUTED)
            text.append(tape.volume)
            vwap = tape.vwap_units
            if vwap is not None:
                text.append("  VWAP ", style=TEXT_MUTED)
                text.append(format_scaled(vwap, places + 2))
        return lines
