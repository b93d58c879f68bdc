"""Shared helpers for tests of the replay transport: a recorded session and exact states.

The fixture recording is a real session: the real simulator, the real FeedClient over
loopback, the real Recorder. Only the recorder's clock runs faster than the wall's
(:data:`STRETCH` times), so a few seconds of test make minutes of recording time, and
seeks of ten seconds and a minute have somewhere to go. Frames, requests and connection
boundaries are as they came, in the order they came.
"""

from __future__ import annotations

import enum
import time
from collections import deque
from pathlib import Path
from typing import Any

import msgspec

from app.feed import FeedClient
from app.recording import Recorder, RecordingReader
from app.replay import begin_replay
from app.session import Session, SessionOptions
from tests.dashboard_data import (
    T0_NS,
    book_levels,
    execution_frames,
    heartbeat,
    snapshot_frame,
    subscribe_result,
    update_frame,
)
from tests.feedkit import live, make_feed, running, running_sim, until

MARKETS = ["BTCUSD", "ETHUSD"]
STRETCH = 40.0
"""Recording time per second of the session recorded."""
SPAN_NS = 150 * 10**9
"""At least this much recording time (so about 3.75 s of session)."""

_WALL_CLOCK_FIELDS = frozenset(
    {"last_frame_at", "last_message_at", "bad_frames", "_window", "clock_offset_ns"}
)
"""What differs between two replays of the same records by when they ran, not by what they
replayed: the monotonic instants of the newest frames (ages on screen), the report
throttle's window, the rate sampler's window, and the server clock's offset from this
machine's clock now (a replay shows none)."""


async def record_session(path: Path) -> None:
    """Record a session with a malformed frame and a dropped connection (see the module
    docstring) until the recording spans :data:`SPAN_NS`."""
    start = time.time_ns()

    def stretched() -> int:
        return start + int((time.time_ns() - start) * STRETCH)

    async with running_sim(markets=MARKETS, rate=200.0) as sim:
        feed = make_feed(sim)
        recorder = Recorder(path, source="test", markets=MARKETS, clock_ns=stretched)
        feed.recorder = recorder
        for market in MARKETS:
            feed.subscribe(market)
        async with running(feed):
            await until(lambda: all(live(feed, m) for m in MARKETS), "LIVE")
            await sim.send_malformed()
            await until(lambda: feed.stats.decode_errors > 0, "the bad frame counted")
            await sim.drop_connections(1011)
            await until(
                lambda: feed.stats.reconnects > 0 and all(live(feed, m) for m in MARKETS),
                "back LIVE after the drop",
            )
            await until(lambda: stretched() - start >= SPAN_NS, "the recording long enough")
        recorder.close()


def replay_feed(path: Path) -> FeedClient:
    """A feed as ``sordash --replay`` builds it (not started)."""
    return Session.create(SessionOptions(replay=path)).feed


def straight_to(path: Path, t: int | None) -> FeedClient:
    """A fresh replay feed with every record at or before ``t`` replayed, one by one from
    the start (None: none): what a seek to ``t`` must end in."""
    feed = replay_feed(path)
    reader = RecordingReader(path)
    records = iter(reader)
    first = next(records, None)
    assert reader.header is not None
    begin_replay(feed, reader.header, path)
    if first is not None:
        for record in (first, *records):
            if t is None or record.t > t:
                break
            feed.replay(record)
    return feed


def everything(feed: FeedClient) -> Any:
    """The whole replay state of ``feed`` (books level by level, tapes trade by trade,
    buffered updates, counters, states, the subscription core's queues and timers) as
    plain data, without what differs by when it ran (:data:`_WALL_CLOCK_FIELDS`)."""
    return _plain(feed.replay_state())


def _plain(obj: Any) -> Any:
    if obj is None or isinstance(obj, str | int | float | bool | bytes | enum.Enum):
        return obj
    if isinstance(obj, dict):
        return {_plain(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | deque):
        return (type(obj).__name__, *(_plain(x) for x in obj))
    if isinstance(obj, set | frozenset):
        return ("set", *sorted((_plain(x) for x in obj), key=repr))
    if isinstance(obj, msgspec.Struct):
        return _plain(msgspec.structs.asdict(obj))
    names: list[str] = []
    for cls in type(obj).__mro__:
        names.extend(getattr(cls, "__slots__", ()))
    fields = dict(getattr(obj, "__dict__", {}))
    fields.update({n: getattr(obj, n) for n in names if hasattr(obj, n)})
    return {
        "type": type(obj).__name__,
        **{k: None if k in _WALL_CLOCK_FIELDS else _plain(v) for k, v in sorted(fields.items())},
    }


def craft_recording(path: Path) -> None:
    """A deterministic two-minute recording of one market for snapshots: connected, the
    subscribe and its answer, a snapshot, then an update, a trade and a heartbeat every
    second, then the session's end (crafted frames, the real Recorder, a fixed clock)."""
    t0 = T0_NS + 5 * 10**9
    clock_at: list[int] = [t0]
    recorder = Recorder(path, source="snapshot", markets=["BTCUSD"], clock_ns=lambda: clock_at[0])
    recorder.connection("connected", "wss://ws.sandbox.paxos.com/")
    recorder.sent(
        '{"type":"subscribe","channels":[{"type":"market_data","params":{"market":"BTCUSD"}},'
        '{"type":"execution_data","params":{"market":"BTCUSD"}}]}'
    )
    recorder(subscribe_result("BTCUSD", ("market_data", "execution_data")))
    bids, asks = book_levels("BTCUSD")
    recorder(snapshot_frame("BTCUSD", bids, asks))
    trades = execution_frames("BTCUSD", count=120)
    for second in range(1, 121):
        clock_at[0] = t0 + second * 10**9 + 250_000_000
        level = dict(bids[second % 10], amount=f"{second % 7 + 1}.25000000")
        recorder(update_frame("BTCUSD", second * 1000, bids=[level]))
        recorder(trades[second - 1])
        recorder(heartbeat(second * 1000))
    recorder.connection("stopped", "stopped")
    recorder.close()
