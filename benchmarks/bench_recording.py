"""What recording costs, on a live feed and on disk.

- ``recording_cpu_paced_20k``: the share of a core the FeedClient process takes at a paced
  20k frames/s while recording (the recorder's thread included), as a ratio of the same
  feed not recording, measured in the same run (goal, issue 12: <= 1.10): the median of
  three windows each, taken in turn, and the range of the three pairs' ratios.
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
import statistics
import tempfile
import time
from pathlib import Path

import zstandard

from app.feed import FeedClient
from app.recording import ZSTD_LEVEL, Frame, Recorder, read_recording
from app.session import Session, SessionOptions
from benchmarks.bench_feed import feed_rate
from benchmarks.common import report
from benchmarks.simproc import FRAMES_PER_UPDATE, MARKETS, simulator

PAIRS = 3
"""Windows not recording and recording, taken in turn."""


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
        plain: list[float] = []
        recording: list[float] = []
        with simulator("--steady", "--rate", f"{per_market:.0f}") as (token_url, ws_url, _):
            # Off and on in turn, PAIRS times: this machine's speed drifts within minutes,
            # and one window of each was as likely to measure the drift as the recorder.
            for pair in range(PAIRS):
                plain.append(asyncio.run(feed_rate(token_url, ws_url))[1])
                target = path if pair == PAIRS - 1 else Path(tmp) / f"pair{pair}.rec.zst"
                recorder = Recorder(target, source="bench")
                recording.append(asyncio.run(feed_rate(token_url, ws_url, recorder))[1])
        plain_cpu, cpu = statistics.median(plain), statistics.median(recording)
        ratios = sorted(on / off for off, on in zip(plain, recording, strict=True))
        report("recording_off_cpu_paced_20k", plain_cpu * 100, "%core")
        report("recording_cpu_paced_20k", cpu * 100, "%core", cpu / plain_cpu, "not recording")
        report(
            "recording_cpu_ratio_range",
            ratios[0],
            f"to x{ratios[-1]:.2f} (each pair's on/off, {PAIRS} pairs)",
        )
        replayed, live, frames, raw = _replay_rates(path)
        size = path.stat().st_size
        report("recording_bytes_per_frame", size / frames, "bytes", size / raw, "the raw JSON")
        report("replay_rate", replayed, "frames/s", replayed / live, "live ingest from memory")
        report("replay_live_ingest_rate", live, f"frames/s ({frames} frames)")
        text = zstandard.ZstdDecompressor().decompressobj().decompress(path.read_bytes())
        _compression(bytes(text))
