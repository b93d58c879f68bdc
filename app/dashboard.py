"""The dashboard: a Textual app that shows the FeedClient's books, tapes and subscriptions.

The feed runs in one async worker of the app and mutates the :class:`~app.books.BookStore`
and :class:`~app.tape.TapeStore` in place. The :class:`DashboardScreen` owns everything on
screen: the view state (current market, layout, frozen) as reactives, the market views,
the repaint clock and the banner. It hears the feed only through low-rate events
(:meth:`FeedClient.add_listener` -> :class:`DashboardScreen.FeedEventReceived`) and
repaints on its own clock: at most ``refresh_hz`` times a second it takes the dirty
markets from the store and tape and repaints only those, inside ``batch_update()``. No
Textual message is posted per frame and nothing is recomposed at data rates. The app is a
thin shell: the feed's lifecycle, the keymap, help and the command palette.

Everything time-dependent (ages, the token countdown, ladder flashes) reads the injected
``clock``, so tests can freeze time and snapshots are deterministic.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import ClassVar

import msgspec
from rich.text import Text as RichText
from textual import work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Container
from textual.events import Resize
from textual.message import Message
from textual.reactive import var
from textual.screen import Screen
from textual.widgets import Footer, Static
from textual.worker import Worker, WorkerState

from app.alerts import AlertEngine, AlertRule
from app.commands import COMMAND_BY_ID, COMMANDS, Command
from app.config import LADDER_COLUMNS, Config, ConfigError, LadderConfig, check_tape, ladder_problem
from app.events import (
    BookResynced,
    ConnectionChanged,
    ConnectionState,
    FeedError,
    FeedEvent,
    SubscriptionChanged,
)
from app.feed import FeedClient
from app.fills import FillSize
from app.history import MidHistory
from app.keymap import check_keymap
from app.keymap import display as display_keys
from app.live_recording import LiveRecording, default_record_dir
from app.protocol import SCOPE
from app.recording import Recorder
from app.redact import redact
from app.replay import ReplayTransport
from app.session import Session
from app.state_file import StateFileError
from app.tape import TapeSettings
from app.view_settings import ViewSettings, view_settings_file
from app.watchlist import watch_rows
from styles import STYLES_DIR
from styles.themes import SORDASH_THEMES, check_theme
from widgets.alert_dialog import AlertDialog
from widgets.alerts_panel import AlertsPanel
from widgets.goto_time_dialog import GoToTimeDialog
from widgets.help_screen import HelpRow, HelpScreen
from widgets.lean_compositor import LeanCompositor
from widgets.market_tabs import GridPage, MarketTabs
from widgets.market_view import MarketView, market_badge
from widgets.min_size_dialog import MinSizeDialog
from widgets.quiet import CachedContainer, QuietStatic, update_static
from widgets.replay_bar import ReplayBar
from widgets.size_dialog import SizeDialog
from widgets.status_bar import StatusBar
from widgets.subscribe_dialog import SubscribeChoice, SubscribeDialog
from widgets.trade_tape import TradeTape
from widgets.watchlist import Watchlist

log = logging.getLogger(__name__)

GRID_MIN_SIZE = (120, 36)
"""The smallest terminal (columns, rows) on which several markets are shown at once."""
GRID_MAX = 4
"""Markets shown at once in the grid layout; past it the grid has pages, and the
watchlist is the view shown unless the user chose another."""
WATCHLIST_PERIOD = 0.25
"""Seconds between two repaints while the watchlist is shown (about 4 Hz): a table of
every market is read at a glance, not tick by tick."""
MIN_REFRESH_HZ = 24.0
"""The refresh rate the adaptive period never goes below: above 20 screen updates a second
with room for a late tick, key effects painted within about 40 ms."""
CPU_BUDGET = 0.7
"""Share of a core the repaint cycles (with the feed) may take before the dashboard backs
off: first the slow parts' pace, then the refresh period."""
MAX_PACE = 3.0
"""The most the slow parts (rows behind the touch, totals, the tape) are slowed under load."""
ALERT_TOASTS = 3
"""Alerts shown as notifications from one refresh; the rest are counted in one more."""
APP_ACTIONS = frozenset({"quit", "help", "reconnect", "record"})
"""Commands the app carries out (the feed's lifecycle, screens of their own); the rest act
on the dashboard screen's state."""


def _bindings() -> list[BindingType]:
    return [
        Binding(
            c.keys,
            f"app.{c.action}" if c.action in APP_ACTIONS else c.action,
            c.footer or c.description,
            show=c.show,
            key_display=c.key_display,
            id=c.id,
        )
        for c in COMMANDS
    ]


def command_keys(config: Config, command: Command) -> str:
    """The keys of ``command`` as shown to the user, with the config's keymap applied."""
    keys = config.keys.get(command.id)
    if keys is None:
        return command.key_display or command.keys
    return display_keys(keys)


def first_key(config: Config, binding_id: str) -> str:
    """The one key to name in a hint (the first, if the keymap gives several)."""
    return command_keys(config, COMMAND_BY_ID[binding_id]).split(",")[0]


class MarketsContainer(CachedContainer, Container):
    """The markets' area (single or grid): a container that keeps its lines."""


class DashboardScreen(Screen[None]):
    """The main screen: status bar, market tabs, a banner, the markets, the footer.

    It owns the view state (the reactives below), the market views and the repaint clock.
    The bindings live here (not on the app) so they are inactive under modal dialogs.
    """

    BINDINGS: ClassVar[list[BindingType]] = _bindings()
    AUTO_FOCUS = ""
    """Nothing takes focus by itself: a tape has it only when asked (``e``, a click)."""

    current: var[str | None] = var[str | None](None, init=False)
    """The market that keys act on (highlighted; the one shown in the single layout)."""
    layout_choice: var[str | None] = var[str | None](None, init=False)
    """``single`` or ``grid`` once the user chose; None follows the terminal size."""
    frozen: var[bool] = var(False, init=False)
    """The display is frozen (``p``); data keeps flowing into the store."""
    layout_mode: var[str] = var("single", init=False)
    """The layout in effect, ``single``, ``grid`` or ``watchlist`` (set by
    :meth:`apply_layout`, read by the tabs and tests)."""
    watchlist_choice: var[bool | None] = var[bool | None](None, init=False)
    """Whether the user chose the watchlist (``w``) or the ladders (``l``, Enter on a row);
    None: the watchlist is shown while more markets are subscribed than the grid holds."""
    ladder_columns: var[frozenset[str]] = var(frozenset({"cumulative"}), init=False)
    """The optional columns of every market's ladder (``[ladder] columns``; ``C``, ``n``,
    ``v`` toggle them): one setting for all ladders, as the config file has it."""
    ladder_mode: var[str] = var("list", init=False)
    """Every ladder's mode, ``list`` or ``fixed`` (``[ladder] mode``; ``f`` toggles it)."""

    class FeedEventReceived(Message):
        """A low-rate feed event (connection, subscription, error) reached the screen."""

        def __init__(self, event: FeedEvent) -> None:
            super().__init__()
            self.event = event

    class TransportChanged(Message):
        """The replay transport's state, speed or position changed (not sent per record)."""

    def __init__(
        self,
        feed: FeedClient,
        config: Config,
        clock: Callable[[], float] = time.monotonic,
        *,
        transport: ReplayTransport | None = None,
        alerts: AlertEngine | None = None,
    ) -> None:
        super().__init__()
        # Partial updates ask only the widgets whose lines the terminal receives (issue 10).
        self._compositor = LeanCompositor()
        self.feed = feed
        self.config = config
        self.transport = transport
        """The replay's transport (``sordash --replay``), None in a live session."""
        self.alerts = alerts if alerts is not None else AlertEngine(config.alert_rules())
        """The alert rules, evaluated on every refresh tick (:meth:`_check_alerts`)."""
        self.alerts_unseen = 0
        """Alerts fired since the alerts panel was last opened (the status bar's count)."""
        self.alert_times: dict[str, int] = {}
        """When each rule last fired, UTC ns (the recording's time in a replay)."""
        self.wall_clock: Callable[[], int] = time.time_ns
        """The wall clock (ns) alert times are read from in a live session (tests freeze it)."""
        self._jumps_shown = 0
        self.clock = clock
        self.views: dict[str, MarketView] = {}
        """The market views, in the feed's market order."""
        self.general_error = ""
        """The newest error that belongs to no market."""
        self.repaints = 0
        """Refresh ticks that repainted something (for the UI benchmark)."""
        self.refresh_period = 1.0 / 30
        """Seconds between refresh ticks now (adaptive, see :meth:`_adapt`)."""
        self.pace = 1.0
        """How much the slow parts are slowed now (adaptive, see :meth:`_adapt`)."""
        self._banner_shown: RichText | None = None
        self._next_clock_update = 0.0
        self.retry_at = 0.0
        """When the feed's next connection attempt is due (on :attr:`clock`)."""
        self._retrying_token = False
        """The token endpoint failed and the feed is waiting to ask it again."""
        self._syncing_views = False
        self._sync_again = False
        self._views_to_repaint: set[str] = set()
        """Markets whose views must repaint on the next tick though their data did not
        change (a state, an error): the screen's own list, not the feed's dirty set."""
        self.recording: LiveRecording | None = None
        """The record key's recording (the app's), shown in the status bar."""
        self.view_file = view_settings_file()
        saved = self.view_file.load(ViewSettings())
        if self.view_file.problem:
            log.warning("%s", self.view_file.problem)
            self.general_error = self.view_file.problem
        self.view_settings = saved
        """What was set with keys (kept in ``view.json``, :mod:`app.view_settings`)."""
        self.tape_settings: dict[str, TapeSettings] = dict(saved.tape)
        """Each market's tape settings as they are now (from ``[tape]``, then the keys,
        remembered across restarts); kept when a market goes, so it comes back with them."""
        ladder = saved.ladder
        if ladder is None or ladder_problem(ladder) is not None:
            ladder = config.ladder  # no saved setting (or one this version cannot show)
        self.set_reactive(DashboardScreen.ladder_columns, frozenset(ladder.columns))
        self.set_reactive(DashboardScreen.ladder_mode, ladder.mode)
        self.history = MidHistory()
        """Every known market's recent mids (the watchlist's sparklines), sampled on the
        chrome's once-a-second clock whatever is shown."""
        self._next_watchlist = 0.0
        self._large: bool | None = None
        """Whether the terminal was large enough for the grid at the last layout."""

    def compose(self) -> ComposeResult:
        """The fixed frame; market views are mounted into ``#markets`` as markets come."""
        yield StatusBar(id="status")
        yield MarketTabs(id="tabs")
        yield QuietStatic(id="banner")
        with MarketsContainer(id="markets"):
            yield Static(id="empty")
        yield Watchlist(hints=self._watchlist_hints(), id="watchlist")
        if self.transport is not None:
            yield ReplayBar(self.transport, hints=self._replay_hints(), id="replay-bar")
        yield Footer()

    def on_mount(self) -> None:
        """Listen to the feed, start the repaint clock, then show the markets.

        The markets come after the first refresh: while this handler runs the screen is not
        laid out yet, and a dashboard that waited for a feed event to show its markets
        showed none at all when the feed never connected (offline, refused credentials).
        """
        self.feed.add_listener(self._on_feed_event)
        if self.transport is not None:
            self.transport.add_listener(self._on_transport_change)
        hz = self.config.dashboard.refresh_hz
        self.run_worker(self._repaint_clock(1.0 / hz if hz > 0 else 1 / 30), group="clock")
        self.call_after_refresh(self._show_markets)
        problem = self.alerts.file.problem if self.alerts.file is not None else ""
        if problem:
            log.warning("alerts: %s", problem)
            self.notify(problem, title="Alerts file", severity="error", timeout=20)

    async def _show_markets(self) -> None:
        await self.sync_markets()
        self.apply_layout()
        self.repaint_now()

    def _going(self) -> bool:
        """True before the screen is mounted and once the app is shutting down (Textual
        stops the app's message processing first, then closes the screens)."""
        return not (self.app.is_running and self.is_mounted and self.is_attached)

    def key_for(self, binding_id: str) -> str:
        """The one key to name in a hint, as the keymap has it."""
        return first_key(self.config, binding_id)

    # ------------------------------------------------------------------ view state

    def watch_current(self, new: str | None) -> None:
        """Another market became current: highlight it (and show it in the single layout).
        A market just subscribed has no view yet: the sync that mounts it lays it out."""
        focused = self.focused
        if isinstance(focused, TradeTape) and focused is not self._current_tape():
            self.set_focus(None)  # keys act on the current market: its tape, not another's
        if new is not None:
            self.query_one(Watchlist).cursor = new
        if new in self.views:
            self.apply_layout()

    def watch_layout_choice(self) -> None:
        """The user chose a layout."""
        self.apply_layout()

    def watch_watchlist_choice(self) -> None:
        """The user chose the watchlist or the ladders."""
        self.apply_layout()

    def watch_frozen(self, frozen: bool) -> None:
        """Frozen: only the chrome (the FROZEN mark) repaints; resumed: everything at once."""
        if frozen:
            self._update_chrome(self.clock())
        else:
            self.repaint_now()

    def watch_ladder_columns(self, columns: frozenset[str]) -> None:
        """Every ladder shows the new columns at once."""
        for view in self.views.values():
            view.columns = columns
        self._remember_ladder()

    def watch_ladder_mode(self, mode: str) -> None:
        """Every ladder shows the new mode at once."""
        for view in self.views.values():
            view.fixed = mode == "fixed"
        self._remember_ladder()

    def _remember_ladder(self) -> None:
        self.view_settings.ladder = self.ladder_settings
        self._save_view_settings()

    @property
    def ladder_settings(self) -> LadderConfig:
        """The ladders' columns and mode as they are now, as the config file's ``[ladder]``
        table would say them (for whoever saves them)."""
        return LadderConfig(
            columns=[c for c in LADDER_COLUMNS if c in self.ladder_columns], mode=self.ladder_mode
        )

    def show_changes_soon(self) -> None:
        """Repaint the chrome on the next tick (the app learnt something the banner shows)."""
        self._next_clock_update = 0.0
        self.feed.activity.set()

    # ------------------------------------------------------------------ feed events

    def _on_feed_event(self, event: FeedEvent) -> None:
        # Called by the feed on the asyncio loop: hand over as a message, never repaint here.
        self.post_message(self.FeedEventReceived(event))

    async def on_dashboard_screen_feed_event_received(self, message: FeedEventReceived) -> None:
        """Route a feed event: structure changes, per-market errors, connection state."""
        if self._going():
            return  # shutting down: the screen is going away
        event = message.event
        if isinstance(event, SubscriptionChanged):
            market = event.key[1]
            if market is not None:
                if event.removed or market not in self.views:
                    await self.sync_markets()
                self._views_to_repaint.add(market)
        elif isinstance(event, FeedError):
            view = self.views.get(event.market) if event.market else None
            failed_codes = {s.error for s in self.feed.channels_for(event.market or "")}
            if view is not None and event.code is not None and event.code in failed_codes:
                self._views_to_repaint.add(view.market)  # the panel shows the code already
            elif view is not None:
                view.note_error(event.message)
                self._views_to_repaint.add(view.market)
            else:
                self.general_error = event.message
        elif isinstance(event, BookResynced):
            view = self.views.get(event.market)
            if view is not None:
                view.note_error(f"resync: {event.reason}")
        elif isinstance(event, ConnectionChanged):
            self._views_to_repaint.update(self.views)
            self.retry_at = self.clock() + (event.retry_in or 0.0)
            self._retrying_token = (
                event.state is ConnectionState.AUTHENTICATING and event.retry_in is not None
            )
        self._next_clock_update = 0.0  # show the change on the next tick
        self.feed.activity.set()

    async def sync_markets(self) -> None:
        """Mount a view for each market in the intended set, remove the views of the rest."""
        if self._going():
            return
        if self._syncing_views:
            self._sync_again = True  # the running sync goes round once more
            return
        self._syncing_views = True
        try:
            self._sync_again = True
            while self._sync_again and not self._going():
                self._sync_again = False
                await self._sync_once()
        finally:
            self._syncing_views = False

    async def _sync_once(self) -> None:
        wanted = self.feed.markets()
        container = self.query_one("#markets", Container)
        gone = [self.views.pop(m) for m in list(self.views) if m not in wanted]
        dashboard = self.config.dashboard
        new = [
            MarketView(
                market,
                self.feed,
                depth=dashboard.depth,
                large_multiple=dashboard.large_trade_multiple,
                sizes=self.config.fill_sizes(market),
                bands=self.config.bands.bps,
                tape_settings=self.tape_settings.setdefault(
                    market, self.config.tape.settings_for(market)
                ),
                clock=self.clock,
            )
            for market in wanted
            if market not in self.views
        ]
        for view in new:
            view.display = False  # apply_layout shows it, and paints it as it does
            view.set_pace(self.pace)
            view.set_reactive(MarketView.columns, self.ladder_columns)
            view.ladder.columns = self.ladder_columns
            view.set_reactive(MarketView.fixed, self.ladder_mode == "fixed")
            view.ladder.fixed = self.ladder_mode == "fixed"
            self.views[view.market] = view
        if self.current not in self.views:
            # No watcher: the layout is applied below, once the new views are mounted.
            self.set_reactive(DashboardScreen.current, next(iter(self.views), None))
        if gone:
            await container.remove_children(gone)
        if new:
            await container.mount_all(new)
        if gone or new:
            self.apply_layout()

    # ------------------------------------------------------------------ layout

    def on_resize(self, event: Resize) -> None:
        """The terminal changed size: lay the markets out again. A layout the user chose
        with ``l`` holds while the terminal stays on the same side of
        :data:`GRID_MIN_SIZE`; growing past it or shrinking below it gives the choice back
        to the size (the watchlist, chosen or not, is not a matter of size)."""
        large = self._is_large()
        if self._large is not None and large != self._large:
            self.set_reactive(DashboardScreen.layout_choice, None)
        self.apply_layout()

    def _is_large(self) -> bool:
        size = self.size
        return size.width >= GRID_MIN_SIZE[0] and size.height >= GRID_MIN_SIZE[1]

    def watchlist_shown(self) -> bool:
        """Whether the watchlist is the view now: chosen, or (no choice) more markets
        than the grid holds."""
        choice = self.watchlist_choice
        return choice if choice is not None else len(self.views) > GRID_MAX

    def grid_page(self) -> tuple[int, int]:
        """(page of the current market, pages): the grid shows :data:`GRID_MAX` at once."""
        markets = list(self.views)
        pages = max(1, -(-len(markets) // GRID_MAX))
        page = markets.index(self.current) // GRID_MAX if self.current in markets else 0
        return page, pages

    def apply_layout(self) -> None:
        """Show one market large or a grid of up to four, and the empty state or banner."""
        if self._going():
            return
        views = self.views
        self._large = large = self._is_large()
        auto = "grid" if len(views) > 1 and large else "single"
        watching = self.watchlist_shown()
        mode = "watchlist" if watching else self.layout_choice or auto
        self.layout_mode = mode
        container = self.query_one("#markets", Container)
        self._show_watchlist(watching)
        container.display = not watching
        markets = list(views)
        visible: list[str] = []
        current = self.current
        if current is not None and current in views:
            if mode == "grid":
                page = markets.index(current) // GRID_MAX
                visible = markets[page * GRID_MAX : (page + 1) * GRID_MAX]
            elif mode == "single":
                visible = [current]
        container.set_class(mode == "grid", "-grid")
        if mode == "grid":
            columns = 1 if len(visible) == 1 else 2
            rows = (len(visible) + 1) // 2
            container.styles.grid_size_columns = columns
            container.styles.grid_size_rows = max(rows, 1)
        now = self.clock()
        for market, view in views.items():
            shown = market in visible
            compact = mode == "grid"
            # Only a view that just came into sight or changed its form needs painting here:
            # the others are current (the clock keeps them so), and a frozen display must
            # not take new data because a key moved the highlight.
            changed = shown and (not view.display or view.compact != compact)
            view.compact = compact
            view.set_class(market == self.current, "-current")
            view.display = shown
            if changed:
                view.refresh_data(now)
        empty = self.query_one("#empty", Static)
        empty.display = not views and not watching
        if not views:
            key = self.key_for("subscribe")
            empty.update(
                "No subscriptions yet.\n\n"
                f"Press [b]{key}[/b] to subscribe to a market (e.g. BTCUSD).\n"
                f"Press [b]{self.key_for('help')}[/b] for every key, "
                f"[b]{self.key_for('quit')}[/b] to quit."
            )
        self._update_chrome(now)

    def _show_watchlist(self, shown: bool) -> None:
        """Show the watchlist (focused, so its keys work) or hide it (giving focus back)."""
        watchlist = self.query_one(Watchlist)
        if shown and not watchlist.display:
            watchlist.display = True
            if self.current is not None:
                watchlist.cursor = self.current
            self._next_watchlist = 0.0
            self._update_watchlist(self.clock())
        elif not shown:
            watchlist.display = False
        if shown and self.focused is not watchlist:
            self.set_focus(watchlist)
        elif not shown and self.focused is watchlist:
            self.set_focus(None)

    def _update_watchlist(self, now: float) -> None:
        """The watchlist's rows from the feed and the mid history, and the subscribe queue."""
        feed = self.feed
        self._next_watchlist = now + WATCHLIST_PERIOD
        queue = feed.subscribe_queue()
        rows = watch_rows(
            feed, self.history, now, lambda market: market_badge(feed, market), queue.waiting
        )
        self.query_one(Watchlist).show(rows, queue)

    def _watchlist_hints(self) -> str:
        """The watchlist's keys, as the keymap has them, for its title line."""
        key = self.key_for
        return (
            f"{key('watchlist-sort')} sort · {key('watchlist-reverse')} reverse · "
            f"{key('watchlist-open')} open · {key('subscribe')} {key('unsubscribe')} "
            f"(un)subscribe · {key('watchlist')} ladders"
        )

    # ------------------------------------------------------------------ repainting

    async def _repaint_clock(self, period: float) -> None:
        """Call :meth:`_tick` when something changed, at most once per ``period``.

        With nothing new (no frame, no event, no flash ending) the clock sleeps until the
        once-a-second chrome update (ages, the token countdown): an idle dashboard wakes
        about once a second, not thirty times. Under load the period adapts: when the
        cycles cost more than :data:`CPU_BUDGET` of a core (our tick, Textual's screen
        update that follows it, and the feed), the period grows towards ``1 /
        MIN_REFRESH_HZ``; it shrinks back when they cost less than half of that. A late
        tick runs at once and the schedule restarts from then: no catch-up bursts.
        """
        loop = asyncio.get_running_loop()
        activity = self.feed.activity
        self.refresh_period = period
        wall0, cpu0 = loop.time(), time.process_time()
        while True:
            if not activity.is_set():
                timeout = self._idle_timeout()
                if timeout > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(activity.wait(), timeout)
                wall0, cpu0 = loop.time(), time.process_time()  # idle time is not load
            started = loop.time()
            activity.clear()
            self._tick()
            # The next tick is due a period after this one started (not after it ended, nor
            # after the screen update that follows it): the rate holds under load. The
            # watchlist alone on screen repaints at its own slower pace.
            period = self.refresh_period
            if self.layout_mode == "watchlist":
                period = max(period, WATCHLIST_PERIOD)
            await asyncio.sleep(max(0.0, started + period - loop.time()))
            wall, cpu = loop.time(), time.process_time()
            if wall > wall0:
                self._adapt(period, (cpu - cpu0) / (wall - wall0))
            wall0, cpu0 = wall, cpu

    def _idle_timeout(self) -> float:
        """Seconds until the next thing due without new data: the chrome, a flash's end."""
        now = self.clock()
        due = self._next_clock_update
        for view in self.views.values():
            deadline = view.due_at() if view.display else None  # a hidden view waits
            if deadline is not None and deadline < due:
                due = deadline
        return max(0.0, due - now)

    def _adapt(self, base: float, load: float) -> None:
        """Back off under load, the slow parts first: the rows behind the touch, totals and
        the tape slow down (up to :data:`MAX_PACE` times their pace) before the refresh
        period itself grows towards ``1 / MIN_REFRESH_HZ``; both come back when the cycles
        cost less than half the budget."""
        slowest = max(base, 1.0 / MIN_REFRESH_HZ)
        pace = self.pace
        if load > CPU_BUDGET:
            if pace < MAX_PACE:
                pace = min(MAX_PACE, pace * 1.25)
            else:
                self.refresh_period = min(slowest, self.refresh_period * 1.25)
        elif load < CPU_BUDGET / 2:
            if self.refresh_period > base:
                self.refresh_period = max(base, self.refresh_period / 1.25)
            else:
                pace = max(1.0, pace / 1.25)
        if pace != self.pace:
            self.pace = pace
            for view in self.views.values():
                view.set_pace(pace)

    def _tick(self) -> None:
        """The repaint clock: repaint dirty markets (and once a second, ages and status)."""
        if self._going():
            return
        now = self.clock()
        if self._check_alerts(now):
            self._next_clock_update = 0.0  # the status bar counts it on this tick
        clock_due = now >= self._next_clock_update
        if clock_due:
            feed = self.feed
            self.history.sample(now, feed.store, [*feed.known_markets, *feed.markets()])
        for view in self.views.values():
            view.follow_trades()  # hidden and frozen views too: the volume at price misses none
        if self.frozen:
            if clock_due:
                self._next_clock_update = now + 1.0
                self._update_chrome(now)
            return
        feed = self.feed
        books = feed.store.take_dirty()
        if self._views_to_repaint:
            books |= self._views_to_repaint
            self._views_to_repaint = set()
        tapes = feed.tape.take_dirty()
        views = self.views
        for market, view in views.items():
            due = view.due_at() if view.display else None
            if due is not None and due <= now:
                books.add(market)
                tapes.add(market)
        dirty = books | tapes
        watchlist_due = self.layout_mode == "watchlist" and now >= self._next_watchlist
        if not dirty and not clock_due and not watchlist_due:
            return
        self.repaints += 1
        if watchlist_due:
            self._update_watchlist(now)
        with self.app.batch_update():
            for market in dirty:
                dirty_view = views.get(market)
                if dirty_view is not None and dirty_view.display:
                    dirty_view.refresh_data(
                        now,
                        book_changed=market in books,
                        tape_changed=market in tapes,
                        urgent=False,
                    )
            if not clock_due:
                # The tabs name every market's state, hidden ones included (in the single
                # layout they are a hidden market's only sign): they follow on the same
                # tick. They repaint only when their text changed.
                self._update_tabs()
            if clock_due:
                self._next_clock_update = now + 1.0
                for market, view in views.items():
                    if view.display and market not in dirty:
                        view.refresh_clock(now)
                self._update_chrome(now)

    def repaint_now(self) -> None:
        """Repaint everything at once (after a layout change, and for tests)."""
        now = self.clock()
        self.feed.store.take_dirty()
        self.feed.tape.take_dirty()
        self._views_to_repaint = set()
        with self.app.batch_update():
            for view in self.views.values():
                if view.display:
                    view.refresh_data(now)
            if self.layout_mode == "watchlist":
                self._update_watchlist(now)
            self._update_chrome(now)

    def _update_chrome(self, now: float) -> None:
        """Status bar, market tabs and the connection banner."""
        if self._going():
            return
        feed = self.feed
        recording = self.recording
        if recording is not None:
            recording.poll()  # a recording waiting for a quiet instant to begin
        self.query_one(StatusBar).show(
            feed,
            now,
            frozen=self.frozen,
            note=self.general_error,
            resume_key=self.key_for("freeze"),
            recording=recording.status() if recording is not None else "",
            alerts=self._alerts_text(),
        )
        self._update_tabs()
        banner = self.query_one("#banner", Static)
        text, warn = self._banner_text()
        banner.set_class(bool(text), "-shown")
        banner.set_class(warn, "-warn")
        self._banner_shown = update_static(banner, RichText(text), self._banner_shown)

    def _update_tabs(self) -> None:
        """The market tabs: every market with its state badge."""
        entries = [(m, market_badge(self.feed, m)) for m in self.views]
        tabs = self.query_one(MarketTabs)
        tabs.display = bool(entries)
        page, pages = self.grid_page()
        shown = None
        if self.layout_mode == "grid" and pages > 1:
            on_page = frozenset(list(self.views)[page * GRID_MAX : (page + 1) * GRID_MAX])
            shown = GridPage(page + 1, pages, on_page)
        tabs.show(entries, self.current, self.layout_mode, shown)

    def _banner_text(self) -> tuple[str, bool]:
        """What a trader must know about the connection right now ("" if nothing)."""
        feed = self.feed
        state = feed.state
        detail = feed.state_detail
        if state is ConnectionState.AUTH_FAILED:
            lowered = detail.lower()
            if "403" in detail or "scope" in lowered:
                fix = f"The credentials work but lack the scope {SCOPE}: ask Paxos to grant it."
            else:
                fix = (
                    "Check PAXOS_CLIENT_ID and PAXOS_CLIENT_SECRET (or the config file's "
                    "[credentials]); run with --demo to use the simulator instead."
                )
            return (
                f"Authentication failed: {detail}\n{fix} "
                f"Press {self.key_for('reconnect')} to retry.",
                False,
            )
        if state is ConnectionState.RECONNECTING:
            wait = self.retry_at - self.clock()
            when = (
                f"next attempt in {wait:.0f}s ({self.key_for('reconnect')} tries now)"
                if wait >= 1
                else "reconnecting now"
            )
            return (
                f"Connection lost: {detail}. Attempt {feed.attempts}, {when}; books are "
                "STALE until their new snapshots land.",
                True,
            )
        if state is ConnectionState.AUTHENTICATING and self._retrying_token:
            wait = self.retry_at - self.clock()
            when = f"next in {wait:.0f}s" if wait >= 1 else "asking again now"
            return (
                f"No access token yet: {detail}. Attempt {feed.token_retries} failed, {when} "
                f"({self.key_for('reconnect')} tries now). Books stay STALE until the "
                "connection is back.",
                True,
            )
        if state is ConnectionState.FAILED:
            return (
                f"The feed stopped: {detail}. Nothing on screen is current. "
                f"{self.key_for('reconnect')} starts it again; the log file (--log-file) has "
                "the details.",
                False,
            )
        return "", False

    # ------------------------------------------------------------------ actions

    def _current_view(self) -> MarketView | None:
        return self.views.get(self.current) if self.current else None

    def _live_only(self, what: str) -> bool:
        """In a replay, say that ``what`` needs a live connection; True if it may go on."""
        if not self.feed.replaying:
            return True
        self.notify(f"{what} does nothing in a replay: the recording is what it is", timeout=4)
        return False

    def _highlighted(self) -> str | None:
        """In the watchlist, the highlighted row's market (what ``s`` and ``u`` act on)."""
        if self.layout_mode != "watchlist":
            return None
        return self.query_one(Watchlist).cursor

    def action_subscribe(self) -> None:
        """Open the subscribe dialog; in the watchlist, subscribe the highlighted market (one
        already subscribed opens the dialog)."""
        if not self._live_only("Subscribing"):
            return
        market = self._highlighted()
        if market is not None and market not in self.feed.markets():
            self.feed.subscribe(market)
            self.show_changes_soon()
            return
        feed = self.feed
        known = list(feed.known_markets) + list(self.config.known_markets)
        dialog = SubscribeDialog(known, feed.markets())
        self.app.push_screen(dialog, self._subscribe_chosen)

    def _subscribe_chosen(self, choice: SubscribeChoice | None) -> None:
        if choice is None:
            return
        market, channels = choice
        self.feed.subscribe(market, channels)
        self.current = market

    def action_unsubscribe(self) -> None:
        """Unsubscribe the current market (in the watchlist, the highlighted one); its view
        goes once the server confirms."""
        market = self._highlighted() or self.current
        if market is None or not self._live_only("Unsubscribing"):
            return
        if market not in self.feed.markets():
            self.notify(f"{market} is not subscribed", timeout=3)
            return
        self.feed.unsubscribe(market)
        self._views_to_repaint.add(market)
        self.show_changes_soon()

    def action_resync(self) -> None:
        """Ask for a fresh snapshot of the current market."""
        if self.current is not None and self._live_only("Resync"):
            self.feed.resync(self.current, "requested from the keyboard")

    def action_next_market(self) -> None:
        """Make the next market current."""
        self._move(1)

    def action_previous_market(self) -> None:
        """Make the previous market current."""
        self._move(-1)

    def _move(self, step: int) -> None:
        markets = list(self.views)
        if not markets:
            return
        index = markets.index(self.current) if self.current in markets else 0
        self.select(markets[(index + step) % len(markets)])

    def action_select_market(self, number: int) -> None:
        """Make market number ``number`` (1-based, as in the tabs) current."""
        markets = list(self.views)
        if 1 <= number <= len(markets):
            self.select(markets[number - 1])

    def select(self, market: str) -> None:
        """Make ``market`` the current market and show it."""
        self.current = market

    def on_market_view_selected(self, message: MarketView.Selected) -> None:
        """A click on a market view selects it."""
        if message.market != self.current:
            self.select(message.market)

    def action_depth(self, delta: int) -> None:
        """Show more or fewer levels in the current market's ladder."""
        view = self._current_view()
        if view is not None:
            view.change_depth(delta)

    def action_group(self) -> None:
        """Cycle the current ladder's price grouping (off, 10, 100, 1000 ticks)."""
        view = self._current_view()
        if view is not None:
            view.cycle_grouping()

    def action_next_fill_size(self) -> None:
        """Cost the next of the current market's sizes."""
        view = self._current_view()
        if view is not None:
            view.fills.next_size()

    def action_set_fill_size(self) -> None:
        """Ask for any size to cost in the current market (base, or ``$`` for the quote)."""
        view = self._current_view()
        if view is None:
            return
        market = view.market

        def chosen(size: FillSize | None) -> None:
            target = self.views.get(market)
            if size is not None and target is not None:
                target.fills.choose_size(size)

        self.app.push_screen(SizeDialog(market, view.fills.chosen), chosen)

    def _current_tape(self) -> TradeTape | None:
        view = self._current_view()
        return view.trades if view is not None else None

    def action_focus_tape(self) -> None:
        """Focus the current market's tape: its keys scroll it back (Escape gives focus
        back)."""
        view = self._current_view()
        if view is not None and view.display:  # not a hidden one (the watchlist shown)
            self.set_focus(view.trades)

    def set_tape_settings(self, market: str, settings: TapeSettings) -> None:
        """Show ``market``'s tape with ``settings`` (and keep them in :attr:`tape_settings`)."""
        self.tape_settings[market] = settings
        view = self.views.get(market)
        if view is not None:
            view.tape_settings = settings
        self.view_settings.tape[market] = settings
        self._save_view_settings()

    def _save_view_settings(self) -> None:
        """Remember what was set with keys; a file that cannot be written is said, and the
        settings hold for this session all the same."""
        try:
            self.view_file.save(self.view_settings)
        except StateFileError as exc:
            log.warning("%s", exc)
            self.notify(f"{exc}: the setting holds until you quit", severity="error")

    def action_tape_min_size(self) -> None:
        """Ask for the smallest trade the current market's tape shows."""
        market = self.current
        if market is None:
            return
        current = self.tape_settings.get(market, TapeSettings()).min_size

        def chosen(size: str | None) -> None:
            if size is not None:
                settings = self.tape_settings.get(market, TapeSettings())
                self.set_tape_settings(market, msgspec.structs.replace(settings, min_size=size))

        self.app.push_screen(MinSizeDialog(market, current), chosen)

    def action_tape_aggregate(self) -> None:
        """Aggregate the current tape's prints of one time and price, or show each again."""
        market = self.current
        if market is not None:
            settings = self.tape_settings.get(market, TapeSettings())
            aggregate = not settings.aggregate
            self.set_tape_settings(market, msgspec.structs.replace(settings, aggregate=aggregate))

    def action_ladder_column(self, column: str) -> None:
        """Show or hide one of the ladders' optional columns, in every market's ladder."""
        if column in LADDER_COLUMNS:
            self.ladder_columns = self.ladder_columns ^ {column}

    def action_ladder_mode(self) -> None:
        """Every ladder between the list of levels and the fixed-tick price axis."""
        self.ladder_mode = "list" if self.ladder_mode == "fixed" else "fixed"

    def action_ladder_recentre(self) -> None:
        """Centre the current market's fixed-tick ladder on its touch (in list mode the
        key says what it is for)."""
        view = self._current_view()
        if view is None:
            return
        if not view.fixed:
            key = self.key_for("ladder-fixed")
            self.notify(f"Re-centring is for the fixed-tick ladder ({key} shows it)", timeout=4)
            return
        view.recentre()

    def action_freeze(self) -> None:
        """Freeze or resume the display; the store keeps taking data meanwhile."""
        self.frozen = not self.frozen

    def action_toggle_layout(self) -> None:
        """Switch between one large market and the grid (from the watchlist: the grid)."""
        with self.app.batch_update():
            self.set_reactive(DashboardScreen.watchlist_choice, False)
            choice = "single" if self.layout_mode == "grid" else "grid"
            if choice == self.layout_choice:
                self.apply_layout()  # from the watchlist back to the same layout
            self.layout_choice = choice

    def action_toggle_watchlist(self) -> None:
        """Show the watchlist, or go back from it to the ladders."""
        self.watchlist_choice = self.layout_mode != "watchlist"

    def _watchlist(self, what: str) -> Watchlist | None:
        """The watchlist if it is shown; else None, after saying ``what`` needs it."""
        if self.layout_mode != "watchlist":
            self.notify(f"{what} works in the watchlist ({self.key_for('watchlist')})", timeout=3)
            return None
        return self.query_one(Watchlist)

    def action_watchlist_sort(self) -> None:
        """Sort the watchlist by its next column."""
        if (watchlist := self._watchlist("Sorting")) is not None:
            watchlist.next_sort()

    def action_watchlist_reverse(self) -> None:
        """Reverse the watchlist's order."""
        if (watchlist := self._watchlist("Reversing the order")) is not None:
            watchlist.descending = not watchlist.descending

    def action_watchlist_open(self) -> None:
        """Open the highlighted market's ladder (one large market)."""
        watchlist = self._watchlist("Opening a market")
        if watchlist is not None and watchlist.cursor is not None:
            self.open_market(watchlist.cursor)

    def open_market(self, market: str) -> None:
        """Show ``market`` alone, large; one not subscribed is subscribed first (its view
        comes with its subscription)."""
        if market not in self.feed.markets():
            if not self._live_only("Subscribing"):
                return
            self.feed.subscribe(market)
        with self.app.batch_update():
            self.set_reactive(DashboardScreen.watchlist_choice, False)
            self.set_reactive(DashboardScreen.layout_choice, "single")
            self.current = market
            self.apply_layout()

    def on_watchlist_highlighted(self, message: Watchlist.Highlighted) -> None:
        """A row highlighted in the watchlist: a subscribed market becomes current, so the
        keys that act on the current market act on it."""
        watchlist = self.query_one(Watchlist)
        # A key pressed while the message travelled moved the highlight on: it settles there.
        if message.market in self.views and message.market == watchlist.cursor:
            self.current = message.market

    def on_watchlist_opened(self, message: Watchlist.Opened) -> None:
        """A row double-clicked: open its market."""
        self.open_market(message.market)

    def action_page(self, step: int) -> None:
        """Show the grid's next page of markets (``step`` 1) or the previous (-1), wrapping;
        its first market becomes current."""
        page, pages = self.grid_page()
        if pages < 2:
            self.notify(f"All {len(self.views)} markets fit one page of the grid", timeout=3)
            return
        markets = list(self.views)
        self.current = markets[((page + step) % pages) * GRID_MAX]

    # ------------------------------------------------------------------ alerts

    def _check_alerts(self, now: float) -> bool:
        """Evaluate the alert rules (cheap: each market's touch read once); say what fired
        (notifications, the bell, the log, the status bar's count). True if any did."""
        fired = self.alerts.evaluate(now, self.feed)
        if not fired:
            return False
        self.alerts_unseen += len(fired)
        at_ns = self._alert_time_ns()
        for alert in fired:
            self.alert_times[alert.rule_id] = at_ns
            log.warning("alert %s fired: %s", alert.rule_id, alert.message)
        for alert in fired[:ALERT_TOASTS]:
            title = f"Alert {alert.rule_id}"
            self.notify(alert.message, title=title, severity="warning", timeout=10)
        if len(fired) > ALERT_TOASTS:
            more = len(fired) - ALERT_TOASTS
            self.notify(
                f"{more} more alert{'s' if more > 1 else ''} fired: "
                f"{self.key_for('alerts')} lists them",
                title="Alert",
                severity="warning",
                timeout=10,
            )
        if self.config.dashboard.alert_bell:
            self.app.bell()
        return True

    def _alert_time_ns(self) -> int:
        """Now on the wall clock, UTC ns; in a replay, the recording's time at the position."""
        if self.transport is not None:
            position = self.transport.status().position_ns
            if position is not None:
                return position
        return self.wall_clock()

    def _alerts_text(self) -> str:
        """The status bar's count of alerts not yet seen in the panel ("" for none)."""
        count = self.alerts_unseen
        if not count:
            return ""
        # ▲ as the panel's fired state: one cell wide, like every glyph here (an emoji bell
        # is two cells, or one, or a box, depending on the terminal and its font).
        return f"▲ {count} alert{'s' if count > 1 else ''} ({self.key_for('alerts')})"

    def action_alerts(self) -> None:
        """List the alert rules, with keys to mute, re-arm and delete (the count is seen)."""
        self.alerts_unseen = 0
        self.show_changes_soon()
        self.app.push_screen(AlertsPanel(self.alerts, lambda: self.alert_times))

    def action_new_alert(self) -> None:
        """Make an alert rule, on the current market unless another is typed."""
        market = self.current or ""
        book = self.feed.store.get(market) if market else None
        prices = ""
        if book is not None and book.best_bid is not None and book.best_ask is not None:
            prices = f"bid {book.best_bid.price} · ask {book.best_ask.price}"
        self.app.push_screen(AlertDialog(market, prices), self._alert_made)

    def _alert_made(self, rule: AlertRule | None) -> None:
        if rule is None:
            return
        try:
            rule_id = self.alerts.add(rule)
        except StateFileError as exc:
            # The engine holds the rule already: only keeping it across restarts failed.
            log.warning("alerts: %s", exc)
            self.notify(
                f"{exc}. The alert holds for this session only.",
                title="Alert not kept",
                severity="error",
                timeout=20,
            )
            return
        self.notify(f"Alert {rule_id}: {rule.describe()}", title="Alert set", timeout=4)

    # ------------------------------------------------------------------ the replay transport

    def _replay_hints(self) -> str:
        """The transport's keys for the replay bar, as the keymap has them."""
        key = self.key_for
        return (
            f"{key('replay-play')} play/pause · {key('replay-slower')} {key('replay-faster')} "
            f"speed · {key('replay-back')} {key('replay-forward')} 10s · "
            f"{key('replay-back-minute')} {key('replay-forward-minute')} 1min · "
            f"{key('replay-step')} frame · {key('replay-step-second')} 1s · "
            f"{key('replay-start')} {key('replay-end')} · {key('replay-goto')} go to time"
        )

    def _on_transport_change(self) -> None:
        # Called by the transport on the loop, inside a key's action or the replay's run:
        # handed over as a message, as the feed's events are.
        self.post_message(self.TransportChanged())

    def on_dashboard_screen_transport_changed(self, message: TransportChanged) -> None:
        """Show the transport's new state at once (the bar keeps itself current while it
        plays). After a seek the books changed wholesale: nothing flashes as if it had just
        traded, and every view repaints in full."""
        transport = self.transport
        if self._going() or transport is None:
            return
        self.query_one(ReplayBar).show_status()
        if transport.jumps != self._jumps_shown:
            self._jumps_shown = transport.jumps
            self.history.clear()  # the mids sampled belong to another stretch of time
            for view in self.views.values():
                view.ladder.reset_flashes()
            self.repaint_now()

    def _replay(self, what: str) -> ReplayTransport | None:
        """The transport; in a live session, None after saying ``what`` needs a replay."""
        if self.transport is None:
            self.notify(f"{what} works only in a replay (sordash --replay FILE)", timeout=4)
        return self.transport

    def action_replay_toggle(self) -> None:
        """Play or pause the replay (at the end: play it again from the start)."""
        if (transport := self._replay("Play/pause")) is not None:
            transport.toggle()

    def action_replay_slower(self) -> None:
        """Replay slower (down to 0.25x)."""
        if (transport := self._replay("Slower")) is not None:
            transport.slower()

    def action_replay_faster(self) -> None:
        """Replay faster (up to 64x, then as fast as possible)."""
        if (transport := self._replay("Faster")) is not None:
            transport.faster()

    def action_replay_step_frame(self) -> None:
        """Pause and replay one more frame (record)."""
        if (transport := self._replay("Stepping")) is not None:
            transport.step_frame()

    def action_replay_step_second(self) -> None:
        """Pause and replay one more second of the recording."""
        if (transport := self._replay("Stepping")) is not None:
            transport.step_second()

    def action_replay_seek(self, seconds: int) -> None:
        """Move ``seconds`` of recording time on (negative: back)."""
        if (transport := self._replay("Seeking")) is not None:
            transport.seek_by(seconds * 1_000_000_000)

    def action_replay_start(self) -> None:
        """Go to the start of the recording."""
        if (transport := self._replay("Going to the start")) is not None:
            transport.to_start()

    def action_replay_end(self) -> None:
        """Go to the end of the recording."""
        if (transport := self._replay("Going to the end")) is not None:
            transport.to_end()

    def action_replay_goto(self) -> None:
        """Ask for a time of the recording (UTC) and go there."""
        transport = self._replay("Going to a time")
        if transport is None:
            return
        status = transport.status()
        dialog = GoToTimeDialog(status.first_ns, status.last_ns, complete=status.complete)
        self.app.push_screen(dialog, self._goto_chosen)

    def _goto_chosen(self, t: int | None) -> None:
        if t is not None and self.transport is not None:
            self.transport.seek_to(t)


def _freeze_startup_objects() -> None:
    """Collect once, then move every surviving object out of the collector's reach."""
    gc.collect()
    gc.freeze()


class DashboardApp(App[None]):
    """The sordash dashboard: the feed's lifecycle, the keymap, help and the palette around
    one :class:`DashboardScreen`, which owns everything on screen."""

    CSS_PATH = STYLES_DIR / "dashboard.tcss"
    TITLE = "sordash"

    def __init__(
        self,
        session: Session | None = None,
        *,
        feed: FeedClient | None = None,
        config: Config | None = None,
        clock: Callable[[], float] = time.monotonic,
        start_feed: bool = True,
        transport: ReplayTransport | None = None,
        alerts: AlertEngine | None = None,
    ) -> None:
        super().__init__()
        if feed is None:
            if session is None:
                raise ValueError("DashboardApp needs a session or a feed")
            feed = session.feed
        if transport is None and session is not None and session.replay is not None:
            transport = session.use_transport()
        self.session = session
        self.feed = feed
        self.transport = transport
        """A replay's transport (its keys act on it); None in a live session."""
        self.config = config if config is not None else Config()
        check_keymap(self.config.keys)  # a bad [keys] table is refused, never half-applied
        check_theme(self.config.dashboard.theme)
        tape_problem = check_tape(self.config.tape)  # sizes as typed in code, not a file
        if tape_problem is not None:
            raise ConfigError(tape_problem)
        if (problem := ladder_problem(self.config.ladder)) is not None:
            raise ConfigError(problem)  # a config built in code is checked as a file's is
        for theme in SORDASH_THEMES:
            self.register_theme(theme)
        self.theme = self.config.dashboard.theme
        self.clock = clock
        self.start_feed = start_feed
        if alerts is None:  # the config's rules and those kept in the alerts file
            alerts = AlertEngine.open(self.config.alert_rules())
        self.dashboard = DashboardScreen(
            feed, self.config, clock, transport=transport, alerts=alerts
        )
        record_dir = self.config.dashboard.record_dir
        self.recording = LiveRecording(
            feed,
            Path(record_dir).expanduser() if record_dir else default_record_dir(),
            session_recorder=session.recorder if session is not None else None,
            on_error=self._recording_failed,
        )
        self.dashboard.recording = self.recording
        if session is not None:
            session.on_recording_error.append(self._recording_failed)
        self._feed_worker: Worker[None] | None = None
        self.feed_failure = ""
        """Why the feed worker stopped with an error ("" while it runs or ended cleanly)."""

    def get_default_screen(self) -> Screen[None]:
        """The dashboard screen is the base of the screen stack."""
        return self.dashboard

    # ------------------------------------------------------------------ lifecycle

    async def on_unmount(self) -> None:
        """Stop the feed however the app ends (not only through ``q``: an exception, a
        signal, ctrl+q), then hand the frozen objects back to the collector."""
        await self.stop_feed()
        recorder = self.recording.stop()
        if recorder is not None:
            await asyncio.to_thread(recorder.close)
        gc.unfreeze()

    def on_mount(self) -> None:
        """Apply the keymap and start the feed."""
        if self.config.keys:
            self.set_keymap(self.config.keys)
        # Everything built so far (widgets, styles, the theme) lives as long as the app.
        # Freezing it takes it out of the garbage collector's full passes, which otherwise
        # scanned it all a few times a second under load: 30-70 ms pauses, felt as stalls
        # of the screen and of key presses.
        self.call_after_refresh(_freeze_startup_objects)
        if self.start_feed:
            self._feed_worker = self.run_feed()

    @work(exclusive=True, group="feed", exit_on_error=False)
    async def run_feed(self) -> None:
        """Run the session (or the bare feed) until the app stops it."""
        if self.session is not None:
            await self.session.run()
        elif self.transport is not None:
            await self.transport.run()
        else:
            await self.feed.run()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A feed that stopped on an error (a bad replay file, a bug) says so on screen and
        in the log, instead of leaving the last state it reported (CONNECTED) up."""
        worker = event.worker
        if worker is not self._feed_worker or event.state is not WorkerState.ERROR:
            return
        error = worker.error
        text = redact(f"{error}" if error is not None else "unknown error")
        log.error("the feed stopped: %s", text, exc_info=error)
        self.feed_failure = text
        if self.feed.state is not ConnectionState.FAILED:
            self.feed.set_connection_state(ConnectionState.FAILED, text)
        self.dashboard.show_changes_soon()

    async def stop_feed(self, limit: float = 2.0) -> None:
        """Stop the feed cleanly (closing the socket and any simulator), then the worker."""
        worker = self._feed_worker
        if worker is None or worker.is_finished:
            return
        with contextlib.suppress(Exception):
            if self.session is not None:
                await asyncio.wait_for(self.session.stop(), limit)
            elif self.transport is not None:
                await asyncio.wait_for(self.transport.stop(), limit)
            else:
                await asyncio.wait_for(self.feed.stop(), limit)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(worker.wait(), limit)
        if not worker.is_finished:
            worker.cancel()

    # ------------------------------------------------------------------ actions

    async def action_quit(self) -> None:
        """Quit at once, closing the connection cleanly."""
        await self.stop_feed()
        self.exit()

    def action_reconnect(self) -> None:
        """Drop the connection and connect afresh (also retries after an auth failure, and
        starts a feed that stopped on an error again)."""
        worker = self._feed_worker
        if self.feed.replaying:
            self.dashboard.notify("Reconnect does nothing in a replay: there is no connection")
            return
        if self.start_feed and worker is not None and worker.state is WorkerState.ERROR:
            self.feed_failure = ""
            self._feed_worker = self.run_feed()
            return
        self.feed.reconnect()

    def action_record(self) -> None:
        """Start recording the live session to a new file, or stop the recording."""
        recording = self.recording
        if recording.recording:
            recorder = recording.stop()
            if recorder is None:
                self.dashboard.notify("Recording stopped before it began: no file was written")
            else:
                self.run_worker(self._close_recording(recorder), group="recording")
        else:
            message, failed = recording.start()
            self.dashboard.notify(
                message, severity="error" if failed else "information", timeout=8 if failed else 4
            )
        self.dashboard.show_changes_soon()

    async def _close_recording(self, recorder: Recorder) -> None:
        """Write what is queued and end the file, off the loop; then say what it holds."""
        await asyncio.to_thread(recorder.close)
        if recorder.error is None:
            self.dashboard.notify(self.recording.summary(recorder), timeout=6)
        else:
            self._recording_failed(recorder.error)
        self.dashboard.show_changes_soon()

    def _recording_failed(self, message: str) -> None:
        """A recording stopped on its own (the disk full, the file broken): say so loudly;
        what it wrote is kept and the feed goes on."""
        self.dashboard.notify(message, title="Recording stopped", severity="error", timeout=20)
        self.dashboard.show_changes_soon()

    def action_help(self) -> None:
        """Show every binding."""
        self.push_screen(HelpScreen(self.help_rows()))

    def help_rows(self) -> list[HelpRow]:
        """(keys, description) for every command, with the keymap applied."""
        rows: list[HelpRow] = []
        numbers = [c for c in COMMANDS if c.id.startswith("market-")]
        for command in COMMANDS:
            if command in numbers:
                continue
            rows.append((command_keys(self.config, command), command.description))
        keys = [command_keys(self.config, c) for c in numbers]
        rows.insert(8, (f"{keys[0]}…{keys[-1]}", "Go to market 1 to 9 (as numbered in the tabs)"))
        rows.append(("ctrl+p", "Command palette (every action by name)"))
        return rows

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """Every keyboard action is also in the command palette."""
        for command in COMMANDS:
            if command.id.startswith("market-"):
                continue
            yield SystemCommand(
                command.description,
                f"key: {command_keys(self.config, command)}",
                self._palette_callback(
                    f"app.{command.action}" if command.action in APP_ACTIONS else command.action
                ),
            )
        for index, market in enumerate(self.dashboard.views, start=1):
            yield SystemCommand(
                f"Go to {market}", f"key: {index}" if index <= 9 else "", self._goto(market)
            )
        yield SystemCommand("Theme", "Change the colour theme", self.action_change_theme)

    def _palette_callback(self, action: str) -> Callable[[], object]:
        async def run() -> None:
            # the screen's actions by their own names, the app's with their prefix
            await self.run_action(action, self.dashboard)

        return run

    def _goto(self, market: str) -> Callable[[], None]:
        return lambda: self.dashboard.select(market)
