"""What recording costs, on a live feed and on disk.

- ``recording_cpu_paced_20k``: the share of a core the FeedClient process takes at a paced
  20k frames/s while recording (the recorder's thread included), as a ratio of the same
  feed not recording (goal, issue 12: <= 1.10). One connection, the recorder set on it and
  cleared again: :data:`PAIRS` pairs of windows, one recording and one not, in an order
  drawn for each pair; the figure is the median of the pairs' ratios, with their quartiles
  (this machine's speed moves by 20 % within seconds: three pairs of 4 s windows on
  connections of their own gave medians from x1.12 to x1.32 for the same build).
- ``recording_bytes_per_frame``: compressed bytes on disk per frame, as a ratio of the raw
  JSON bytes received.
- ``replay_rate``: frames/s a full-speed ``sordash stream --replay`` of that recording goes
  through (read ahead on its thread, played a slice at a time through
  ``FeedClient.replay_run``), as a ratio of the live decode + apply figure: the same frames
  handed to ``FeedClient.ingest`` in a loop, in memory, just before and just after (goal,
  issue 12: >= 0.8). Earlier builds divided by ``FeedClient.replay`` of the records from
  memory, itself ~1.4x slower than ingesting: a kinder baseline than live.
- ``recording_zstd_*`` / ``recording_gzip_*``: the two candidates on the same recorded
  text: how much smaller, and MB/s of CPU compressing it (why the format uses zstd).
"""

from __future__ import annotations

import asyncio
import gzip
import random
import statistics
import tempfile
import time
from pathlib import Path

import zstandard

from app.auth import Credentials
from app.feed import FeedClient
from app.recording import ZSTD_LEVEL, Frame, Recorder, read_recording
from app.session import Session, SessionOptions
from benchmarks.bench_feed import feed_rate
from benchmarks.common import report
from benchmarks.simproc import (
    CLIENT_ID,
    CLIENT_SECRET,
    FRAMES_PER_UPDATE,
    MARKETS,
    simulator,
)

PAIRS = 24
"""Pairs of windows, one recording and one not."""
PAIR_WINDOW = 1.0
"""Seconds of each window of a pair."""
SETTLE = 0.3
"""Seconds between setting or clearing the recorder and a window: the recorder's thread
writes what it was handed within it, so a window not recording pays nothing of it."""


async def _paired_cpu(token_url: str, ws_url: str, directory: Path) -> list[tuple[float, float]]:
    """(CPU share not recording, recording) of each pair of windows on one connection."""
    await asyncio.sleep(1.0)  # let the token endpoint's 1 request/s limit pass
    feed = FeedClient(Credentials(CLIENT_ID, CLIENT_SECRET), token_url, ws_url, label="bench")
    for market in MARKETS:
        feed.subscribe(market)
    task = asyncio.create_task(feed.run())
    while feed.stats.frames < 2000:  # noqa: ASYNC110  (no event per frame, on purpose)
        await asyncio.sleep(0.05)
    draw = random.Random(12)
    pairs = []
    for pair in range(PAIRS):
        shares = {}
        for recording in draw.sample((False, True), 2):
            recorder = None
            if recording:
                recorder = Recorder(directory / f"pair{pair}.rec.zst", source="bench")
            feed.recorder = recorder
            await asyncio.sleep(SETTLE)
            cpu0, wall0 = time.process_time(), time.perf_counter()
            await asyncio.sleep(PAIR_WINDOW)
            shares[recording] = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
            feed.recorder = None
            if recorder is not None:
                await asyncio.to_thread(recorder.close)
        pairs.append((shares[False], shares[True]))
    await feed.stop()
    await task
    return pairs


def _replay_rates(path: Path) -> tuple[float, float, int, int]:
    """(frames/s replaying the file, frames/s of the live decode + apply of its frames from
    memory, frames, the frames' raw bytes). The baseline is measured just before and just
    after the replay (the mean of the two): the machine's speed drifts within seconds."""
    frames = [r.data for r in read_recording(path) if isinstance(r, Frame)]

    def ingest_rate() -> float:
        feed = FeedClient(adopt_channels=True, heartbeat_channel=False)
        feed.start_replay()
        for market in MARKETS:
            feed.subscribe(market)
        start = time.perf_counter()
        for data in frames:  # the frames the socket would hand over, minus the socket
            feed.ingest(data)
        return len(frames) / (time.perf_counter() - start)

    before = ingest_rate()
    session = Session.create(SessionOptions(replay=path, replay_speed=0))
    start = time.perf_counter()
    asyncio.run(session.run())
    replayed = session.feed.stats.frames / (time.perf_counter() - start)
    live = (before + ingest_rate()) / 2
    return replayed, live, len(frames), sum(map(len, frames))


def _compression(text: bytes) -> None:
    for name, compress in (
        ("zstd", zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress),
        ("gzip", lambda data: gzip.compress(data, compresslevel=1)),
    ):
        start = time.process_time()
        packed = compress(text)
        cpu = time.process_time() - start
        report(f"recording_{name}_ratio", len(text) / len(packed), "x smaller than raw")
        report(f"recording_{name}_speed", len(text) / max(cpu, 1e-9) / 1e6, "MB/s CPU")


def run() -> None:
    """Recording on and off at a paced 20k frames/s; bytes on disk; zstd against gzip."""
    per_market = 20_000 / len(MARKETS) / FRAMES_PER_UPDATE
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.rec.zst"
        with simulator("--steady", "--rate", f"{per_market:.0f}") as (token_url, ws_url, _):
            pairs = asyncio.run(_paired_cpu(token_url, ws_url, Path(tmp)))
            # A recording of a whole connection, for its size and its replay.
            asyncio.run(feed_rate(token_url, ws_url, Recorder(path, source="bench")))
        ratios = [on / off for off, on in pairs]
        low, median, high = statistics.quantiles(ratios, n=4)
        report("recording_off_cpu_paced_20k", statistics.median(p[0] for p in pairs) * 100, "%core")
        report(
            "recording_cpu_paced_20k",
            statistics.median(p[1] for p in pairs) * 100,
            "%core",
            median,
            "not recording (median of the pairs' ratios)",
        )
        report(
            "recording_cpu_ratio_quartiles",
            low,
            f"to x{high:.2f} (of {PAIRS} pairs' on/off; all: x{min(ratios):.2f}-{max(ratios):.2f})",
        )
        replayed, live, frames, raw = _replay_rates(path)
        size = path.stat().st_size
        report("recording_bytes_per_frame", size / frames, "bytes", size / raw, "the raw JSON")
        report("replay_rate", replayed, "frames/s", replayed / live, "live ingest from memory")
        report("replay_live_ingest_rate", live, f"frames/s ({frames} frames)")
        reader = zstandard.ZstdDecompressor().decompressobj(read_across_frames=True)
        text = reader.decompress(path.read_bytes())
        _compression(bytes(text))
