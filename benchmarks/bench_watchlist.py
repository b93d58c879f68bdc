"""The watchlist under load: eight markets in it against the four-ladder grid, same rate.

The real DashboardApp runs headless at 200x60 on a real FeedClient against the simulator
in its own process, paced at 5,000 frames/s in all, spread over the markets subscribed:

- the baseline, ``watchlist_grid_5k_cpu``: four markets, the grid of four ladders;
- ``watchlist_8_5k_cpu``: eight markets, so the watchlist is the view (more than the
  grid holds), repainting at its 4 Hz; the ratio is against the grid of the same run.

Each is the process's CPU share (feed and UI) over a 6 s window, the median of three
rounds taken in turns (grid, watchlist, grid, ...) so that the shared machine's drift
falls on both. Screen updates per second and frames received are reported beside them.
Goal (issue 14): the watchlist at no more than the grid's CPU (x1.0).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Final

from textual.pilot import Pilot

from app.auth import Credentials
from app.books import BookState
from app.config import Config
from app.dashboard import DashboardApp
from app.feed import FeedClient
from benchmarks.bench_repaint import ScreenUpdates
from benchmarks.common import report
from benchmarks.simproc import CLIENT_ID, CLIENT_SECRET, FRAMES_PER_UPDATE, MARKETS, simulator

EIGHT: Final = [*MARKETS, "LINKUSD", "MATICUSD", "AAVEUSD", "UNIUSD"]
RATE: Final = 5_000
WINDOW: Final = 6.0
ROUNDS: Final = 3
SIZE: Final = (200, 60)


async def _live(feed: FeedClient, markets: list[str], pilot: Pilot[None]) -> None:
    deadline = time.monotonic() + 20
    while not all(
        (book := feed.store.get(m)) is not None and book.state is BookState.LIVE for m in markets
    ):
        if time.monotonic() > deadline:
            raise RuntimeError("the books did not go live")
        await pilot.pause(0.05)


async def _measure(
    token_url: str, ws_url: str, markets: list[str], mode: str
) -> tuple[float, float, float]:
    """(CPU share, screen updates/s, frames/s received) with ``markets`` subscribed, the
    dashboard showing ``mode``."""
    feed = FeedClient(Credentials(CLIENT_ID, CLIENT_SECRET), token_url, ws_url, label="bench")
    for market in markets:
        feed.subscribe(market)
    app = DashboardApp(feed=feed, config=Config())
    updates = ScreenUpdates()
    with updates.watching():
        async with app.run_test(size=SIZE) as pilot:
            await _live(feed, markets, pilot)
            await pilot.pause(1.0)
            if app.dashboard.layout_mode != mode:
                raise RuntimeError(f"expected the {mode}, got {app.dashboard.layout_mode}")
            updates.start()
            frames0, cpu0, start = feed.stats.frames, time.process_time(), time.perf_counter()
            await asyncio.sleep(WINDOW)
            updates.stop()
            elapsed = time.perf_counter() - start
            cpu = (time.process_time() - cpu0) / elapsed
            received = (feed.stats.frames - frames0) / elapsed
            await app.stop_feed()
    return cpu, updates.per_second, received


def _round(markets: list[str], mode: str) -> tuple[float, float, float]:
    per_market = RATE / FRAMES_PER_UPDATE / len(markets)
    with simulator("--rate", f"{per_market:.1f}", "--steady", markets=markets) as (
        token_url,
        ws_url,
        _pid,
    ):
        return asyncio.run(_measure(token_url, ws_url, markets, mode))


def run() -> None:
    """The grid and the watchlist in turns, then the medians and their ratio."""
    grid: list[tuple[float, float, float]] = []
    watch: list[tuple[float, float, float]] = []
    for _ in range(ROUNDS):
        grid.append(_round(list(MARKETS), "grid"))
        watch.append(_round(EIGHT, "watchlist"))
    label = f"{RATE // 1000}k"
    for name, runs in (("grid", grid), ("8", watch)):
        cpu = statistics.median(r[0] for r in runs)
        ratio = None if name == "grid" else cpu / statistics.median(r[0] for r in grid)
        report(
            f"watchlist_{name}_{label}_cpu",
            cpu * 100,
            "%core",
            ratio,
            "the four-ladder grid" if ratio is not None else None,
        )
        report(
            f"watchlist_{name}_{label}_updates",
            statistics.median(r[1] for r in runs),
            "screen updates/s",
        )
        report(
            f"watchlist_{name}_{label}_received",
            statistics.median(r[2] for r in runs),
            "frames/s",
        )
