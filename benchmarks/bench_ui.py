"""The dashboard under load: the real app headless, four markets visible, a paced simulator.

For each paced rate (1k, 5k, 20k and 50k frames/s over four markets, the simulator in its own
process) the real DashboardApp runs headless at 200x60 on a real FeedClient and reports:

- ``ui_repaints_<rate>``: refresh ticks per second that repainted something;
- ``ui_updates_<rate>`` / ``ui_ms_per_update_<rate>``: Textual screen updates per second
  (what the terminal receives; target >= 20) and the CPU each took;
- ``ui_key_p50_<rate>`` / ``ui_key_p99_<rate>``: keypress (``tab``) to the key handled and
  the newly current market's widgets repainted, in ms (target p99 < 100); the compositor's
  write to the (headless) terminal follows on the next refresh and is not included;
- ``ui_cpu_<rate>``: the app process's share of one core (feed + UI);
- ``ui_rss_<rate>`` / ``ui_rss_growth_<rate>``: the process's resident memory at the end
  of the window and how much it grew during it (bounded stores: it should not);
- ``ui_best_rate``: the highest rate at which both targets still hold.

The issue asks for 1k, 5k and 20k; 50k is the design's "sustained with the UI responsive"
aim, measured to see where the ceiling is. A ``tab`` every 0.1 s over a 6 s window gives
about 55 latency samples per rate, so p99 is close to the worst one seen.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Final

from app.auth import Credentials
from app.config import Config
from app.dashboard import DashboardApp
from app.feed import FeedClient
from benchmarks.bench_repaint import ScreenUpdates, books_live
from benchmarks.common import report, rss_mib
from benchmarks.simproc import CLIENT_ID, CLIENT_SECRET, FRAMES_PER_UPDATE, MARKETS, simulator

RATES: Final = (1_000, 5_000, 20_000, 50_000)
WINDOW: Final = 6.0
KEY_PERIOD: Final = 0.1


async def _measure(
    token_url: str, ws_url: str, updates: ScreenUpdates
) -> tuple[float, list[float], float, float, float, float]:
    """(repaints/s, key latencies in ms, CPU share, frames/s received, RSS MiB at the end,
    RSS growth over the window in MiB); ``updates`` counts the screen updates."""
    feed = FeedClient(Credentials(CLIENT_ID, CLIENT_SECRET), token_url, ws_url, label="bench")
    for market in MARKETS:
        feed.subscribe(market)
    app = DashboardApp(feed=feed, config=Config())
    async with app.run_test(size=(200, 60)) as pilot:
        await books_live(feed, pilot)
        await pilot.pause(0.5)
        repaints0, frames0, rss0 = app.dashboard.repaints, feed.stats.frames, rss_mib()
        updates.start()
        cpu0, start = time.process_time(), time.perf_counter()
        latencies: list[float] = []
        while time.perf_counter() - start < WINDOW:
            before = app.dashboard.current
            t = time.perf_counter()
            app.simulate_key("tab")
            # Polling is the measurement: the app offers no event for "key handled".
            while app.dashboard.current == before and time.perf_counter() - t < 2.0:  # noqa: ASYNC110
                await asyncio.sleep(0.001)
            latencies.append((time.perf_counter() - t) * 1000)
            await asyncio.sleep(KEY_PERIOD)
        updates.stop()
        elapsed = time.perf_counter() - start
        result = (
            (app.dashboard.repaints - repaints0) / elapsed,
            latencies,
            (time.process_time() - cpu0) / elapsed,
            (feed.stats.frames - frames0) / elapsed,
            rss1 := rss_mib(),
            rss1 - rss0,
        )
        await app.stop_feed()
    return result


def run() -> None:
    """Measure at each paced rate and report."""
    best = 0
    for rate in RATES:
        per_market = rate / FRAMES_PER_UPDATE / len(MARKETS)
        with simulator("--rate", f"{per_market:.1f}", "--steady") as (token_url, ws_url, _pid):
            updates = ScreenUpdates()
            with updates.watching():
                repaints, latencies, cpu, received, rss, growth = asyncio.run(
                    _measure(token_url, ws_url, updates)
                )
        label = f"{rate // 1000}k"
        ordered = sorted(latencies)
        p50 = statistics.median(ordered)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        report(f"ui_repaints_{label}", repaints, "ticks/s that painted")
        report(f"ui_updates_{label}", updates.per_second, "screen updates/s")
        report(f"ui_ms_per_update_{label}", updates.ms_each, "ms CPU")
        report(f"ui_key_p50_{label}", p50, "ms")
        report(f"ui_key_p99_{label}", p99, "ms")
        report(f"ui_cpu_{label}", cpu * 100, "%core")
        report(f"ui_received_{label}", received, "frames/s")
        report(f"ui_rss_{label}", rss, "MiB")
        report(f"ui_rss_growth_{label}", growth, "MiB over the window")
        if updates.per_second >= 20 and p99 < 100:
            best = rate
    report("ui_best_rate", best, "frames/s")
