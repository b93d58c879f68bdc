"""What repainting costs: the dashboard's CPU against a floor measured in the same run.

- The floor (``repaint_floor_*``): a minimal Textual app of four Line-API widgets in a 2x2
  grid at 200x60, each repainting every line with new text 30 times a second. It is what any
  Textual dashboard of that size pays if it repaints everything at 30 Hz.
- The dashboard (``repaint_dash_<rate>_*``): the real DashboardApp, four markets at 200x60,
  on a real FeedClient against the simulator in its own process, paced at 0 (subscribed, no
  book updates: only heartbeats), 200 and 1,000 frames/s.

For each: the process's CPU as a share of one core and as a ratio of the floor's CPU,
screen updates per second (Textual compositor passes that painted something: what the
terminal receives) and the CPU milliseconds each took, separately from the dashboard's own
refresh ticks. Goals (issue 10): at 200 frames/s <= 0.35x the floor, at 1k <= 0.5x, idle
<= 0.05x.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import ClassVar, Final

from rich.segment import Segment
from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.screen import Screen
from textual.strip import Strip
from textual.widget import Widget

from app.auth import Credentials
from app.books import BookState
from app.config import Config
from app.dashboard import DashboardApp
from app.feed import FeedClient
from benchmarks.common import report
from benchmarks.simproc import CLIENT_ID, CLIENT_SECRET, FRAMES_PER_UPDATE, MARKETS, simulator

SIZE: Final = (200, 60)
WINDOW: Final = 6.0
RATES: Final = (0, 200, 1_000)


class ScreenUpdates:
    """Counts Textual's screen updates that painted something, and their CPU time, between
    :meth:`start` and :meth:`stop` (the measured window, not the setup or teardown)."""

    def __init__(self) -> None:
        self.count = 0
        self.cpu = 0.0
        self.elapsed = 0.0
        self._counting = False
        self._started = 0.0

    def start(self) -> None:
        """Count from now."""
        self.count, self.cpu, self._counting = 0, 0.0, True
        self._started = time.perf_counter()

    def stop(self) -> None:
        """Stop counting; :attr:`elapsed` is the window's length."""
        self._counting = False
        self.elapsed = time.perf_counter() - self._started

    @property
    def per_second(self) -> float:
        """Screen updates per second over the window."""
        return self.count / self.elapsed if self.elapsed else 0.0

    @property
    def ms_each(self) -> float:
        """CPU milliseconds per screen update."""
        return self.cpu / self.count * 1000 if self.count else 0.0

    @contextmanager
    def watching(self) -> Iterator[None]:
        """Wrap ``Screen._on_timer_update`` (the compositor pass) for the block."""
        original = Screen._on_timer_update

        def timed(screen: Screen[object]) -> None:
            painting = bool(screen._dirty_widgets) or screen._layout_required
            start = time.process_time()
            original(screen)
            if painting and self._counting:
                self.count += 1
                self.cpu += time.process_time() - start

        Screen._on_timer_update = timed  # type: ignore[method-assign,assignment]
        try:
            yield
        finally:
            Screen._on_timer_update = original  # type: ignore[method-assign]


class FloorPanel(Widget):
    """A Line-API widget that shows new text on every line each time it is refreshed."""

    DEFAULT_CSS = "FloorPanel { border: round $primary; }"
    frame = 0

    def render_line(self, y: int) -> Strip:
        """A line whose digits change every frame."""
        width = self.size.width
        text = f" {self.frame:>8} {y:>3} " + f"{(self.frame * 7919 + y * 104729) % 10**9:>12,}"
        return Strip([Segment(text.ljust(width)[:width])], width)


class FloorApp(App[None]):
    """Four FloorPanels in a grid, every line repainted at 30 Hz."""

    CSS: ClassVar[str] = "Screen { layout: grid; grid-size: 2 2; }"

    def compose(self) -> ComposeResult:
        for _ in range(4):
            yield FloorPanel()

    def on_mount(self) -> None:
        self.set_interval(1 / 30, self._repaint)

    def _repaint(self) -> None:
        for panel in self.query(FloorPanel):
            panel.frame += 1
            panel.refresh()


async def _floor() -> tuple[float, ScreenUpdates]:
    updates = ScreenUpdates()
    app = FloorApp()
    with updates.watching():
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause(0.5)
            updates.start()
            cpu0, start = time.process_time(), time.perf_counter()
            await asyncio.sleep(WINDOW)
            cpu = (time.process_time() - cpu0) / (time.perf_counter() - start)
            updates.stop()
    return cpu, updates


async def _dashboard(token_url: str, ws_url: str) -> tuple[float, ScreenUpdates, float, int]:
    """(CPU share, screen updates, frames/s received, refresh ticks that painted)."""
    updates = ScreenUpdates()
    feed = FeedClient(Credentials(CLIENT_ID, CLIENT_SECRET), token_url, ws_url, label="bench")
    for market in MARKETS:
        feed.subscribe(market)
    app = DashboardApp(feed=feed, config=Config())
    with updates.watching():
        async with app.run_test(size=SIZE) as pilot:
            await books_live(feed, pilot)
            await pilot.pause(1.0)
            updates.start()
            ticks0, frames0 = app.dashboard.repaints, feed.stats.frames
            cpu0, start = time.process_time(), time.perf_counter()
            await asyncio.sleep(WINDOW)
            updates.stop()
            elapsed = time.perf_counter() - start
            cpu = (time.process_time() - cpu0) / elapsed
            received = (feed.stats.frames - frames0) / elapsed
            ticks = app.dashboard.repaints - ticks0
            await app.stop_feed()
    return cpu, updates, received, ticks


async def books_live(feed: FeedClient, pilot: Pilot[None], limit: float = 20.0) -> None:
    """Wait until every benchmark market's book is LIVE (RuntimeError after ``limit`` s)."""
    deadline = time.monotonic() + limit
    while not all(
        (book := feed.store.get(m)) is not None and book.state is BookState.LIVE for m in MARKETS
    ):
        if time.monotonic() > deadline:
            raise RuntimeError("the books did not go live")
        await pilot.pause(0.05)


def _report_updates(name: str, updates: ScreenUpdates) -> None:
    report(f"{name}_updates", updates.per_second, "screen updates/s")
    report(f"{name}_ms_per_update", updates.ms_each, "ms CPU")


def run() -> None:
    """The floor, then the dashboard at each paced rate, as ratios of the floor."""
    floor_cpu, floor_updates = asyncio.run(_floor())
    report("repaint_floor_cpu", floor_cpu * 100, "%core")
    _report_updates("repaint_floor", floor_updates)
    for rate in RATES:
        per_market = max(rate, 0.004) / FRAMES_PER_UPDATE / len(MARKETS)
        with simulator("--rate", f"{per_market:.4f}", "--steady") as (token_url, ws_url, _pid):
            cpu, updates, received, ticks = asyncio.run(_dashboard(token_url, ws_url))
        name = f"repaint_dash_{rate}"
        report(f"{name}_cpu", cpu * 100, "%core", cpu / floor_cpu, "the floor")
        _report_updates(name, updates)
        report(f"{name}_ticks", ticks / updates.elapsed, "ticks/s that painted")
        report(f"{name}_received", received, "frames/s")
