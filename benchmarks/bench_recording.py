"""What recording costs, on a live feed and on disk.

- ``recording_cpu_paced_20k``: the share of a core the FeedClient process takes at a paced
  20k frames/s while recording (the recorder's thread included), as a ratio of the same
  feed not recording, measured in the same run (goal, issue 12: <= 1.10).
- ``recording_bytes_per_frame``: compressed bytes on disk per frame, as a ratio of the raw
  JSON bytes received.
- ``replay_rate``: frames/s a full-speed replay of that recording goes through (read on its
  thread, decompressed, each record through ``FeedClient.replay``), as a ratio of the same
  frames handed to ``FeedClient.ingest`` in a loop, in memory (goal, issue 12: >= 0.8).
- ``recording_zstd_*`` / ``recording_gzip_*``: the two candidates on the same recorded
  text: how much smaller, and MB/s of CPU compressing it (why the format uses zstd).
"""

from __future__ import annotations

import asyncio
import gzip
import tempfile
import time
from pathlib import Path

import zstandard

from app.auth import Credentials
from app.feed import FeedClient
from app.recording import ZSTD_LEVEL, Frame, Recorder, read_recording
from app.session import Session, SessionOptions
from benchmarks.common import report
from benchmarks.simproc import (
    CLIENT_ID,
    CLIENT_SECRET,
    FRAMES_PER_UPDATE,
    MARKETS,
    WINDOW,
    simulator,
)


async def _feed_cpu(token_url: str, ws_url: str, record: Path | None) -> tuple[float, int, int]:
    """(CPU share over the window, frames received, raw bytes received) and, when ``record``
    is given, the whole session recorded there."""
    await asyncio.sleep(1.0)  # the token endpoint's 1 request/s limit
    feed = FeedClient(Credentials(CLIENT_ID, CLIENT_SECRET), token_url, ws_url, label="bench")
    recorder = Recorder(record, source="bench") if record is not None else None
    feed.recorder = recorder
    for market in MARKETS:
        feed.subscribe(market)
    task = asyncio.create_task(feed.run())
    while feed.stats.frames < 1000:  # noqa: ASYNC110 (no per-frame event, on purpose)
        await asyncio.sleep(0.05)
    frames0, bytes0 = feed.stats.frames, feed.stats.bytes
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.sleep(WINDOW)
    cpu1, wall1 = time.process_time(), time.perf_counter()
    frames, raw = feed.stats.frames - frames0, feed.stats.bytes - bytes0
    await feed.stop()
    await task
    if recorder is not None:
        recorder.close()
        frames, raw = recorder.frames, feed.stats.bytes  # the whole file against all received
    return (cpu1 - cpu0) / (wall1 - wall0), frames, raw


def _replay_rates(path: Path) -> tuple[float, float, int]:
    """(frames/s replaying the file, frames/s ingesting its frames from memory, frames)."""
    records = list(read_recording(path))
    frames = [r.data for r in records if isinstance(r, Frame)]
    feed = FeedClient(adopt_channels=True, heartbeat_channel=False)
    feed.start_replay()
    start = time.perf_counter()
    for record in records:  # the same records, minus the file, the thread and the pacing
        feed.replay(record)
    in_memory = len(frames) / (time.perf_counter() - start)
    session = Session.create(SessionOptions(replay=path, replay_speed=0))
    start = time.perf_counter()
    asyncio.run(session.run())
    replayed = session.feed.stats.frames / (time.perf_counter() - start)
    return replayed, in_memory, len(frames)


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
            plain_cpu, _, _ = asyncio.run(_feed_cpu(token_url, ws_url, None))
            cpu, frames, raw = asyncio.run(_feed_cpu(token_url, ws_url, path))
        report("recording_off_cpu_paced_20k", plain_cpu * 100, "%core")
        report("recording_cpu_paced_20k", cpu * 100, "%core", cpu / plain_cpu, "not recording")
        size = path.stat().st_size
        report(
            "recording_bytes_per_frame",
            size / max(frames, 1),
            "bytes",
            size / max(raw, 1),
            "the raw JSON",
        )
        replayed, in_memory, count = _replay_rates(path)
        report("replay_rate", replayed, "frames/s", replayed / in_memory, "ingest from memory")
        report("replay_in_memory_rate", in_memory, f"frames/s ({count} frames)")
        text = zstandard.ZstdDecompressor().decompressobj().decompress(path.read_bytes())
        _compression(bytes(text))
