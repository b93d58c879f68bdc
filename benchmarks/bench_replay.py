"""The replay transport: seeking back, and replaying at full speed.

Recordings are made synthetically but in the real format, by the real Recorder: four
markets, a snapshot of 125 levels a side each, then 1,000 frames a second of recording
time (UPDATEs of one to three levels, a trade every tenth frame, a heartbeat a second), at
1, 10 and 60 minutes. Each is generated once into a temporary directory.

- ``replay_index_{1,10,60}min``: frames/s the index thread reads, replays and checkpoints
  (what the transport does in the background after opening a file), and the checkpoints'
  memory.
- ``replay_seek_back_{1,10,60}min``: the time from asking for a seek back to the state
  being the feed's (the nearest checkpoint unpickled, the records after it replayed, the
  result adopted), median and worst of 40 seeks to seeded random times, as a ratio of the
  1-minute recording's median (how it grows with length). Goal, issue 12: < 250 ms on 60.
- ``replay_transport_rate``: frames/s the transport plays the 10-minute recording at full
  speed once indexed (each chunk taken on the loop once read, played a slice at a time through
  ``FeedClient.replay_run`` on the loop), as a ratio of the live decode + apply figure, the
  same frames handed to ``FeedClient.ingest`` from memory, measured just before and just
  after it in the same run (goal, issue 12: >= 0.8); ``replay_transport_cold_rate``: the
  same while the index is still being built beside it (read on one thread, checkpointed on
  another that rests while the player plays as fast as possible).
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

from app.feed import FeedClient
from app.protocol import NS_PER_S, format_time
from app.recording import Recorder
from app.replay import ReplayIndex, ReplayTransport, TransportState, replay_twin
from app.session import Session, SessionOptions
from benchmarks.common import report

MARKETS = ("BTCUSD", "ETHUSD", "LTCUSD", "BCHUSD")
RATE = 1000
"""Frames a second of recording time."""
T0 = 1_705_314_600 * NS_PER_S
LENGTHS = (1, 10, 60)
"""Minutes of recording."""
SEEKS = 40


def _frames(count: int, seed: int = 7) -> list[bytes]:
    """A pool of realistic frames, cycled through: small UPDATEs, some trades."""
    rng = random.Random(seed)
    frames = []
    for n in range(count):
        market = MARKETS[n % len(MARKETS)]
        mid = 50_000 + 1000 * MARKETS.index(market)
        when = format_time(T0 + n * 1_000_000)
        if n % 10 == 9:
            trade = {
                "market": market,
                "price": f"{mid + rng.randrange(-3, 4)}.00",
                "amount": f"0.{rng.randrange(1, 10**8):08d}",
                "executed_at": when,
            }
            frames.append(json.dumps({"channel": "execution_data", "payload": trade}).encode())
            continue
        side = "bids" if rng.random() < 0.5 else "asks"
        sign = -1 if side == "bids" else 1
        levels = [
            {
                "price": f"{mid + sign * rng.randrange(1, 126)}.00",
                "amount": "0" if rng.random() < 0.1 else f"{rng.randrange(1, 50)}.{n % 997:08d}",
            }
            for _ in range(rng.randrange(1, 4))
        ]
        payload: dict[str, object] = {"market": market, "type": "UPDATE", "time": when}
        payload[side] = levels
        frames.append(json.dumps({"channel": "market_data", "payload": payload}).encode())
    return frames


def _snapshot(market: str) -> bytes:
    mid = 50_000 + 1000 * MARKETS.index(market)
    bids = [{"price": f"{mid - i}.00", "amount": f"{i % 40 + 1}.5"} for i in range(1, 126)]
    asks = [{"price": f"{mid + i}.00", "amount": f"{i % 40 + 1}.5"} for i in range(1, 126)]
    payload: dict[str, object] = {"market": market, "type": "SNAPSHOT", "time": format_time(T0)}
    payload |= {"bids": bids, "asks": asks}
    return json.dumps({"channel": "market_data", "payload": payload}).encode()


def generate(path: Path, minutes: int, pool: list[bytes]) -> int:
    """Write a recording of ``minutes`` at :data:`RATE` frames/s; the number of records."""
    now = [T0]
    recorder = Recorder(path, source="bench", markets=list(MARKETS), clock_ns=lambda: now[0])
    recorder.connection("connecting", "bench")
    recorder.connection("connected", "bench")
    channels = [
        {"type": kind, "params": {"market": m}}
        for m in MARKETS
        for kind in ("market_data", "execution_data")
    ]
    recorder.sent(json.dumps({"type": "subscribe", "channels": channels}))
    answer = [dict(c, success=True) for c in channels]
    recorder(json.dumps({"type": "subscribe", "channels": answer}).encode())
    for market in MARKETS:
        recorder(_snapshot(market))
    heartbeat = b'{"channel":"heartbeat","payload":{"timestamp":"2024-01-15T10:30:00Z"}}'
    total = minutes * 60 * RATE
    step = NS_PER_S // RATE
    size = len(pool)
    for n in range(total):
        now[0] = T0 + (n + 1) * step
        recorder(pool[n % size])
        if n % RATE == 0:
            recorder(heartbeat)
        if n % 50_000 == 0:
            while recorder.backlog > 100_000:  # what waits in memory: keep it short
                time.sleep(0.01)
    recorder.connection("stopped", "stopped")
    recorder.close()
    return total + total // RATE + 8


def _seek_latencies(index: ReplayIndex, feed: FeedClient, rng: random.Random) -> list[float]:
    """Seconds per seek back (checkpoint, records after it, adopted), at random targets."""
    first, last = index.first_t, index.last_t
    assert first is not None and last is not None
    times = []
    for _ in range(SEEKS):
        target = rng.randrange(first + (last - first) // 10, last)
        start = time.perf_counter()
        checkpoint = index.checkpoint_for(target)
        state, _ = index.rebuild(checkpoint, target, replay_twin(feed))
        feed.adopt_replay_state(state)
        times.append(time.perf_counter() - start)
    return times


async def _play(path: Path, index: ReplayIndex | None) -> tuple[float, int]:
    """(seconds, frames) the transport takes to play ``path`` to its end at full speed."""
    feed = Session.create(SessionOptions(replay=path)).feed
    transport = ReplayTransport(feed, path, speed=0, index=index)
    task = asyncio.create_task(transport.run())
    while not transport.idle:  # noqa: ASYNC110 (polling a counter, as bench_feed does)
        await asyncio.sleep(0.001)
    start, frames0 = time.perf_counter(), feed.stats.frames
    while transport.state is not TransportState.ENDED:  # noqa: ASYNC110
        await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - start
    frames = feed.stats.frames - frames0
    await transport.stop()
    await task
    return elapsed, frames


def _frames_of(path: Path) -> list[bytes]:
    """The recording's frames, as received."""
    from app.recording import Frame, read_recording

    return [r.data for r in read_recording(path) if isinstance(r, Frame)]


def _ingest_rate(frames: list[bytes]) -> float:
    """Frames/s of ``FeedClient.ingest`` over the recording's frames, from memory (live
    decode + apply without the socket). Only the frames' bytes are held meanwhile: a list
    of 600k records as well made the collector's full passes slow this baseline by ~5%."""
    feed = FeedClient(adopt_channels=True, heartbeat_channel=False)
    feed.start_replay()  # no loop here: the core's clock is the recording's
    for market in MARKETS:
        feed.subscribe(market)
    start = time.perf_counter()
    for data in frames:
        feed.ingest(data)
    return len(frames) / (time.perf_counter() - start)


def _transport_rates(path: Path, index: ReplayIndex) -> None:
    """The transport at full speed, indexed and while indexing, each between two live
    baselines: the machine's speed drifts within seconds, so each ratio is to the mean of
    the live figure just before and just after it."""
    frames = _frames_of(path)
    before = _ingest_rate(frames)
    seconds, played = asyncio.run(_play(path, index))
    after = _ingest_rate(frames)
    rate, live = played / seconds, (before + after) / 2
    report("replay_transport_rate", rate, "frames/s", rate / live, "live ingest")
    seconds, played = asyncio.run(_play(path, None))
    later = _ingest_rate(frames)
    cold, live_cold = played / seconds, (after + later) / 2
    report("replay_transport_cold_rate", cold, "frames/s", cold / live_cold, "live ingest")
    report(
        "replay_live_ingest_rate",
        live,
        f"frames/s (before, between, after: {before:.0f}, {after:.0f}, {later:.0f})",
    )


def run() -> None:
    """Generate the recordings, then index, seek and play them."""
    pool = _frames(20_000)
    rng = random.Random(12)
    with tempfile.TemporaryDirectory() as tmp:
        medians: dict[int, float] = {}
        paths: dict[int, Path] = {}
        for minutes in LENGTHS:
            path = paths[minutes] = Path(tmp) / f"bench-{minutes}min.rec.zst"
            records = generate(path, minutes, pool)
            feed = Session.create(SessionOptions(replay=path)).feed
            index = ReplayIndex(path, replay_twin(feed), spill_dir=Path(tmp))
            start = time.perf_counter()
            index.build()
            built = time.perf_counter() - start
            assert index.error == "", index.error
            report(f"replay_index_{minutes}min", index.records / built, "frames/s")
            report(
                f"replay_checkpoints_{minutes}min",
                index.checkpoint_bytes / 2**20,
                f"MiB ({index.checkpoints} checkpoints, every {index.checkpoint_records} "
                f"records; spill {index.spill_bytes / 2**20:.0f} MiB on disk, "
                f"{records} records)",
            )
            feed.start_replay()
            times = _seek_latencies(index, feed, rng)
            median = statistics.median(times)
            medians[minutes] = median
            ratio = median / medians[LENGTHS[0]]
            report(
                f"replay_seek_back_{minutes}min",
                median * 1000,
                "ms median",
                ratio,
                f"the {LENGTHS[0]}-minute recording",
            )
            report(f"replay_seek_back_{minutes}min_worst", max(times) * 1000, "ms")
            if minutes == 10:
                _transport_rates(path, index)
            index.close()
