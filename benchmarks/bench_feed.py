"""End-to-end feed throughput and CPU, against the simulator in a separate process.

- ``feed_e2e_firehose``: frames/s that the real FeedClient decodes and applies from a
  firehose over loopback, with the ratio to a plain aiohttp receive-only client measured
  in the same run against the same firehose (target: at least 35% of it).
- ``feed_rss_growth_firehose``: how much the process's resident memory grew over the
  firehose window (bounded buffers and tapes: it should stay near zero).
- ``feed_cpu_paced_20k``: the share of one core the FeedClient process uses while the
  simulator paces about 20k frames/s (the rate actually received is reported too).

The simulator runs as ``python -m app.cli sim`` in its own process, so the client's
figures are its own; on this 2-core machine the two processes each get a core.
"""

from __future__ import annotations

import asyncio
import os
import time

from app.auth import Credentials
from app.feed import FeedClient
from app.recording import Recorder
from benchmarks.common import report, rss_mib
from benchmarks.simproc import (
    CLIENT_ID,
    CLIENT_SECRET,
    FRAMES_PER_UPDATE,
    MARKETS,
    WINDOW,
    receive_only,
    simulator,
)


async def feed_rate(
    token_url: str, ws_url: str, recorder: Recorder | None = None
) -> tuple[float, float, float]:
    """(frames/s applied by the FeedClient, CPU share of this process, RSS growth in MiB)
    over the window; with ``recorder``, recording the session (closed at the end)."""
    await asyncio.sleep(1.0)  # let the token endpoint's 1 request/s limit pass
    feed = FeedClient(Credentials(CLIENT_ID, CLIENT_SECRET), token_url, ws_url, label="bench")
    feed.recorder = recorder
    for market in MARKETS:
        feed.subscribe(market)
    task = asyncio.create_task(feed.run())
    # Warm-up: poll a counter the reader bumps per frame (no event exists per frame, on
    # purpose: that would cost what this benchmark measures).
    while feed.stats.frames < 1000:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    frames0, cpu0, wall0 = feed.stats.frames, time.process_time(), time.perf_counter()
    rss0 = rss_mib()
    await asyncio.sleep(WINDOW)
    frames1, cpu1, wall1 = feed.stats.frames, time.process_time(), time.perf_counter()
    growth = rss_mib() - rss0
    await feed.stop()
    await task
    if recorder is not None:
        recorder.close()
    return (frames1 - frames0) / (wall1 - wall0), (cpu1 - cpu0) / (wall1 - wall0), growth


def run() -> None:
    """Print the feed's BENCH lines."""
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    with simulator("--firehose") as (token_url, ws_url, _):
        baseline, baseline_cpu, _ = asyncio.run(receive_only(token_url, ws_url))
        rate, cpu, growth = asyncio.run(feed_rate(token_url, ws_url))
    # On two cores the simulator (one core) may be what limits both clients; frames per
    # second of the client's own CPU is the comparison that limit cannot hide.
    report("feed_e2e_firehose", rate, "frames/s", rate / baseline, "aiohttp receive-only")
    report("aiohttp_receive_only_firehose", baseline, "frames/s")
    report("feed_rss_growth_firehose", growth, "MiB over the window")
    per_core, baseline_per_core = rate / max(cpu, 1e-9), baseline / max(baseline_cpu, 1e-9)
    report(
        "feed_e2e_per_core",
        per_core,
        "frames/s",
        per_core / baseline_per_core,
        "aiohttp receive-only per core",
    )
    report("aiohttp_receive_only_per_core", baseline_per_core, "frames/s")
    # A steady 20k frames/s in all: updates plus the executions that come with trades.
    per_market = 20_000 / len(MARKETS) / FRAMES_PER_UPDATE
    with simulator("--steady", "--rate", f"{per_market:.0f}") as (token_url, ws_url, _):
        received, cpu, _ = asyncio.run(feed_rate(token_url, ws_url))
    report("feed_paced_rate_received", received, "frames/s")
    report("feed_cpu_paced_20k", cpu * 100, "%core")
