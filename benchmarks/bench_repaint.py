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

- The ladder (``repaint_ladder_*``, issue 13), at a paced 1,000 frames/s on one simulator,
  each set of views in a fresh dashboard, the sets interleaved (:data:`LADDER_ROUNDS`
  rounds, the CPU summed per set): every optional column on (cumulative, notional, volume
  at price) against the default ladder (cumulative only; goal <= 1.15x), and the
  fixed-tick mode against the list mode (both with the default columns), ungrouped and
  grouped by 10 ticks (the simulator's books are sparser than their 0.01 tick: the
  grouped window holds levels on most of its rows). These run at 320x60: the grid's
  ladders are wide enough there to show every column. Besides the CPU and the screen
  updates' cost, the ladder lines the dashboard asks Textual to repaint per second.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar, Final

from rich.segment import Segment
from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.pilot import Pilot
from textual.screen import Screen
from textual.strip import Strip
from textual.widget import Widget

from app.auth import Credentials
from app.books import BookState
from app.config import LADDER_COLUMNS, Config, LadderConfig
from app.dashboard import DashboardApp
from app.feed import FeedClient
from benchmarks.common import report
from benchmarks.simproc import CLIENT_ID, CLIENT_SECRET, FRAMES_PER_UPDATE, MARKETS, simulator
from widgets.depth_ladder import DepthLadder

SIZE: Final = (200, 60)
WINDOW: Final = 6.0
RATES: Final = (0, 200, 1_000)
LADDER_RATE: Final = 1_000
LADDER_SIZE: Final = (320, 60)
LADDER_ROUNDS: Final = 2
LADDER_SETS: Final = {
    "default": (Config(), 0),
    "columns_on": (Config(ladder=LadderConfig(columns=list(LADDER_COLUMNS))), 0),
    "fixed": (Config(ladder=LadderConfig(mode="fixed")), 0),
    "list_grouped": (Config(), 10),
    "fixed_grouped": (Config(ladder=LadderConfig(mode="fixed")), 10),
}
"""Each ladder set: its config and the grouping (tick multiple) every view is given. The
default (list mode, cumulative column only) is the baseline of the columns and of the
ungrouped fixed-tick mode."""
LADDER_PAIRS: Final = (
    ("columns_on", "default", "every ladder column on", "columns off"),
    ("fixed", "default", "fixed-tick mode", "list mode"),
    ("fixed_grouped", "list_grouped", "fixed-tick mode, grouped x10", "list mode, grouped x10"),
)


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


class LadderLines:
    """Counts the ladder lines the dashboard asks Textual to repaint (a whole-widget
    refresh counts the widget's height) while :attr:`counting`."""

    def __init__(self) -> None:
        self.count = 0
        self.counting = False

    @contextmanager
    def watching(self) -> Iterator[None]:
        """Wrap ``DepthLadder.refresh`` for the block."""
        original = DepthLadder.refresh
        counter = self

        def counted(ladder: DepthLadder, *regions: Region, **kwargs: Any) -> Any:
            if counter.counting:
                counter.count += len(regions) if regions else ladder.size.height
            return original(ladder, *regions, **kwargs)

        DepthLadder.refresh = counted  # type: ignore[method-assign,assignment]
        try:
            yield
        finally:
            DepthLadder.refresh = original  # type: ignore[method-assign]


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


async def _dashboard(
    token_url: str,
    ws_url: str,
    config: Config | None = None,
    *,
    size: tuple[int, int] = SIZE,
    grouping: int = 0,
    lines: LadderLines | None = None,
) -> tuple[float, ScreenUpdates, float, int]:
    """(CPU share, screen updates, frames/s received, refresh ticks that painted); the
    ladder lines repainted over the window are added to ``lines``."""
    updates = ScreenUpdates()
    lines = lines or LadderLines()
    feed = FeedClient(Credentials(CLIENT_ID, CLIENT_SECRET), token_url, ws_url, label="bench")
    for market in MARKETS:
        feed.subscribe(market)
    app = DashboardApp(feed=feed, config=config or Config())
    with updates.watching(), lines.watching():
        async with app.run_test(size=size) as pilot:
            await books_live(feed, pilot)
            for view in app.dashboard.views.values():
                view.grouping = grouping
            await pilot.pause(1.0)
            updates.start()
            lines.counting = True
            ticks0, frames0 = app.dashboard.repaints, feed.stats.frames
            cpu0, start = time.process_time(), time.perf_counter()
            await asyncio.sleep(WINDOW)
            updates.stop()
            lines.counting = False
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
    _ladder()


def _ladder() -> None:
    """The ladder's columns and modes at a paced 1k frames/s, each set against its
    baseline in the same run (interleaved rounds on one simulator)."""
    per_market = LADDER_RATE / FRAMES_PER_UPDATE / len(MARKETS)
    cpu = dict.fromkeys(LADDER_SETS, 0.0)
    update_cpu = dict.fromkeys(LADDER_SETS, 0.0)
    update_count = dict.fromkeys(LADDER_SETS, 0)
    lines = {name: LadderLines() for name in LADDER_SETS}
    seconds = dict.fromkeys(LADDER_SETS, 0.0)
    with simulator("--rate", f"{per_market:.4f}", "--steady") as (token_url, ws_url, _pid):
        for _ in range(LADDER_ROUNDS):
            for name, (config, grouping) in LADDER_SETS.items():
                share, updates, _received, _ticks = asyncio.run(
                    _dashboard(
                        token_url,
                        ws_url,
                        config,
                        size=LADDER_SIZE,
                        grouping=grouping,
                        lines=lines[name],
                    )
                )
                cpu[name] += share / LADDER_ROUNDS
                update_cpu[name] += updates.cpu
                update_count[name] += updates.count
                seconds[name] += updates.elapsed
    for name, baseline, what, against in LADDER_PAIRS:
        figure = f"repaint_ladder_{LADDER_RATE}_{name}"
        report(f"{figure}_cpu", cpu[name] * 100, "%core", cpu[name] / cpu[baseline], against)
        ms, base_ms = (
            update_cpu[n] / update_count[n] * 1000 if update_count[n] else 0.0
            for n in (name, baseline)
        )
        report(f"{figure}_ms_per_update", ms, "ms CPU", ms / base_ms if base_ms else None, against)
        rate, base_rate = (lines[n].count / seconds[n] for n in (name, baseline))
        report(
            f"{figure}_lines",
            rate,
            "ladder lines/s",
            rate / base_rate if base_rate else None,
            against,
        )
        print(f"# {figure}: {what}; baseline {baseline}: {cpu[baseline] * 100:.1f} %core")
