"""Replay with a transport: play, pause, speeds, steps and seeks through a recording.

:class:`ReplayIndex` reads the recording once, on a thread of its own. It keeps the records
in chunks of :data:`CHUNK_RECORDS` (each compressed on its own, in a temporary spill file,
so any chunk can be read back without decompressing what comes before it), and replays
them through a *twin* of the dashboard's feed, a :class:`~app.feed.FeedClient` configured
the same way: every :data:`CHECKPOINT_RECORDS` records or :data:`CHECKPOINT_SECONDS` of
recording time, whichever comes first, it keeps a **checkpoint**, the twin's whole replay
state (:meth:`FeedClient.replay_state`: books, tapes, counters, connection and subscription
state) pickled and compressed.

:class:`ReplayTransport` plays the chunks into the dashboard's feed on the event loop, at a
speed, and answers the keys. A seek backwards (or forwards past a checkpoint) rebuilds the
state on a worker thread: the nearest checkpoint at or before the target is unpickled into
a fresh twin, the records from there to the target are replayed into it, and the loop only
takes the result (:meth:`FeedClient.adopt_replay_state`). A straight replay and a seek end
in the same state because both are the same records through the same
:meth:`FeedClient.replay` from the same start.

**Memory.** Checkpoints are bounded by :data:`CHECKPOINT_BUDGET` bytes in all: when they
pass it, every other one is dropped and the interval doubles, so a long recording costs at
most the budget and a seek replays at most one interval (which then grows with the
recording's length). Records are on disk (about the recording's own size), not in memory;
the index holds a few numbers per chunk.

:func:`begin_replay` and :func:`finish_replay` are how every replay starts and ends, this
one and ``sordash stream --replay``'s (:meth:`app.session.Session._run_replay`).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import pickle
import tempfile
import threading
import time
from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final, cast

import msgspec
import zstandard

from app import feed as _feed_module
from app.books import BookStore
from app.events import ConnectionState
from app.feed import DEFAULT_CHANNELS, FeedClient, ReplayState
from app.recording import (
    Connection,
    ConnectionBoundary,
    Frame,
    Header,
    Record,
    RecordingError,
    RecordingReader,
    Sent,
    TapeStart,
)
from app.tape import TapeStore

CHUNK_RECORDS: Final = 2000
"""Records per chunk of the spill file (and per trip of the player to its reading thread)."""
CHECKPOINT_RECORDS: Final = 5_000
"""A checkpoint at least this often, in records: a seek replays at most this many (until
the budget doubles the interval), 50-100 ms of work at this machine's replay rate (10,000
made the worst seek back 255 ms on a slow run)."""
CHECKPOINT_SECONDS: Final = 10.0
"""... and at least this often in recording time, for quiet recordings."""
CHECKPOINT_BUDGET: Final = 64 * 2**20
"""Bytes all checkpoints may take together (compressed); past it, every other one goes."""
YIELD_EVERY: Final = 0.01
"""Seconds of replaying before the loop is handed to the screen and the keys once."""
SPEEDS: Final = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 0.0)
"""The speeds slower/faster step through, slowest first; 0 is as fast as possible."""
SEEK_SMALL_NS: Final = 10 * 10**9
SEEK_LARGE_NS: Final = 60 * 10**9
STEP_NS: Final = 10**9

_ZSTD_LEVEL: Final = 1


# ---------------------------------------------------------------------- starting and ending


def begin_replay(feed: FeedClient, header: Header, path: Path) -> None:
    """What every replay does before its first record: no socket from now on, a format-1
    file (frames only) counts as one connection, and the recording's markets are wanted."""
    feed.start_replay()
    if header.version < 2:
        feed.set_connection_state(ConnectionState.CONNECTED, f"replaying {path}")
    # The channels the live client intended, as the recording says (older files name
    # the markets only: their default channels then).
    intended: dict[str, list[str]] = {}
    for kind, market in header.channels:
        if market is not None:
            intended.setdefault(market, []).append(kind)
    for market in header.markets:
        if market not in feed.markets():
            feed.subscribe(market, intended.get(market, DEFAULT_CHANNELS))


def finish_replay(feed: FeedClient, path: Path, problem: str = "") -> None:
    """What every replay does after its last record: say why it ended early, if it did."""
    if problem:
        feed.report_error(problem)
    feed.set_connection_state(ConnectionState.STOPPED, f"replay of {path} finished")


def replay_twin(feed: FeedClient) -> FeedClient:
    """A fresh feed configured as ``feed`` (limits, label, replay options), for replaying
    on a thread: its state comes from a checkpoint or from the records."""
    store = BookStore(feed.store.buffer_limit, feed.store.buffer_levels)
    twin = FeedClient(
        label=feed.label,
        store=store,
        tape=TapeStore(feed.tape.limit),
        known_markets=feed.known_markets,
        heartbeat_channel=feed.heartbeat_channel,
        adopt_channels=feed.adopt_channels,
        drift_check_delay=feed.drift_check_delay,
    )
    twin.resync_backoff = feed.resync_backoff
    return twin


class _TwinFilter(logging.Filter):
    """Drops the feed's log lines while a twin replays on this thread: the dashboard's own
    feed logs the recording's story once, the twins would tell it again at every seek."""

    local = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(self.local, "quiet", False)


_feed_module.log.addFilter(_TwinFilter())


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    _TwinFilter.local.quiet = True
    try:
        yield
    finally:
        _TwinFilter.local.quiet = False


# ---------------------------------------------------------------------- the index


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A replay's whole state after its first ``index`` records (the last at time ``t``;
    None before any), pickled and compressed."""

    index: int
    t: int | None
    blob: bytes

    def state(self) -> ReplayState:
        """A fresh copy of the state (every call unpickles anew)."""
        state = pickle.loads(zstandard.ZstdDecompressor().decompress(self.blob))
        assert isinstance(state, ReplayState)
        return state


@dataclass(frozen=True, slots=True)
class _Chunk:
    first_t: int
    last_t: int
    offset: int
    size: int


_chunk_encoder: Final = msgspec.msgpack.Encoder()
_chunk_decoder: Final = msgspec.msgpack.Decoder()


def _encode_chunk(records: list[Record]) -> bytes:
    rows: list[tuple[object, ...]] = []
    add = rows.append
    for record in records:
        if isinstance(record, Frame):
            add((record.t, record.data))
        elif isinstance(record, Connection):
            add((record.t, 0, record.boundary, record.why))
        elif isinstance(record, Sent):
            add((record.t, 1, record.text))
        else:  # a mid-session recording's starting tape, restored as it is
            add((record.t, 2, pickle.dumps(record.state, protocol=pickle.HIGHEST_PROTOCOL)))
    return zstandard.ZstdCompressor(level=_ZSTD_LEVEL).compress(_chunk_encoder.encode(rows))


def _decode_chunk(blob: bytes) -> list[Record]:
    rows = _chunk_decoder.decode(zstandard.ZstdDecompressor().decompress(blob))
    records: list[Record] = []
    add = records.append
    for row in rows:
        if len(row) == 2:
            add(Frame(row[0], row[1]))
        elif row[1] == 0:
            add(Connection(row[0], cast(ConnectionBoundary, row[2]), row[3]))
        elif row[1] == 1:
            add(Sent(row[0], row[2]))
        else:
            add(TapeStart(row[0], pickle.loads(row[2])))
    return records


class ReplayIndex:
    """A recording read once on a thread: its records in chunks on disk, and checkpoints.

    Everything public may be read from any thread; the ``wait_*`` and ``read_chunk``
    methods block until the indexing thread has got far enough (call them from a worker
    thread, never the event loop). :meth:`close` releases every waiter.
    """

    def __init__(
        self,
        path: Path,
        twin: FeedClient,
        *,
        chunk_records: int = CHUNK_RECORDS,
        checkpoint_records: int = CHECKPOINT_RECORDS,
        checkpoint_seconds: float = CHECKPOINT_SECONDS,
        checkpoint_budget: int = CHECKPOINT_BUDGET,
        spill_dir: Path | None = None,
    ) -> None:
        self.path = path
        self.chunk_records = chunk_records
        self.checkpoint_records = checkpoint_records
        """Records between two checkpoints now (doubles when the budget is reached)."""
        self.checkpoint_ns = int(checkpoint_seconds * 1e9)
        """Recording time between two checkpoints now (doubles with the above)."""
        self.checkpoint_budget = checkpoint_budget
        self.checkpoint_bytes = 0
        """What the checkpoints kept take now, in bytes."""
        self.spill_bytes = 0
        """What the chunks take on disk."""
        self.records = 0
        """Records indexed so far."""
        self.first_t: int | None = None
        self.last_t: int | None = None
        """The time of the newest record indexed so far."""
        self.header: Header | None = None
        self.complete = False
        """True once the thread read all there is (or stopped on an error)."""
        self.error = ""
        """Why the recording could not be read to its end ("" when it could)."""
        self.cut_short = ""
        """Why the recording ended early (a killed recorder), from the reader."""
        self._twin = twin
        self._chunks: list[_Chunk] = []
        self._checkpoints: list[Checkpoint] = []
        self._checkpoint_times: list[float] = []
        """Each checkpoint's ``t`` (-inf for the first), for bisecting."""
        self._cond = threading.Condition()
        self._closed = False
        # Open for the index's life, closed by close(): no one block holds it.
        self._spill = tempfile.TemporaryFile(prefix="sordash-replay-", dir=spill_dir)  # noqa: SIM115
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ building

    def start(self) -> None:
        """Index on a thread of its own (nothing to do once started, or built already)."""
        if self._thread is not None or self.complete:
            return
        self._thread = threading.Thread(target=self.build, name="sordash replay index", daemon=True)
        self._thread.start()

    def build(self) -> None:
        """Read and index the whole recording (the thread's body; tests may call it)."""
        try:
            with _quiet():
                self._build()
        except RecordingError as exc:
            self.error = str(exc)
        except Exception as exc:  # a bug of ours: say so rather than hang the player
            self.error = f"indexing {self.path} failed: {exc!r}"
        finally:
            with self._cond:
                self.complete = True
                self._cond.notify_all()

    def _build(self) -> None:
        reader = RecordingReader(self.path)
        records = iter(reader)
        feed = self._twin
        first = next(records, None)  # reads the header, or raises for a file that is none
        header = reader.header
        assert header is not None
        begin_replay(feed, header, self.path)
        with self._cond:
            self.header = header
        self._keep_checkpoint(feed, 0, None)
        if first is None:
            self.cut_short = reader.cut_short
            return
        replay = feed.replay
        chunk: list[Record] = []
        last_index, last_t = 0, first.t
        size = self.chunk_records
        for count, record in enumerate(_chained(first, records), start=1):
            replay(record)
            chunk.append(record)
            t = record.t
            if len(chunk) == size:
                self._add_chunk(chunk)
                chunk = []
                if self._closed:
                    return
            if count - last_index >= self.checkpoint_records or t - last_t >= self.checkpoint_ns:
                self._keep_checkpoint(feed, count, t)
                last_index, last_t = count, t
        if chunk:
            self._add_chunk(chunk)
        self.cut_short = reader.cut_short

    def _add_chunk(self, records: list[Record]) -> None:
        """Write a chunk: every chunk but the last holds exactly ``chunk_records`` records,
        so record ``i`` is in chunk ``i // chunk_records``."""
        blob = _encode_chunk(records)
        offset = self.spill_bytes
        os.pwrite(self._spill.fileno(), blob, offset)
        with self._cond:
            self._chunks.append(_Chunk(records[0].t, records[-1].t, offset, len(blob)))
            self.spill_bytes = offset + len(blob)
            if self.first_t is None:
                self.first_t = records[0].t
            self.last_t = records[-1].t
            self.records += len(records)
            self._cond.notify_all()

    def _keep_checkpoint(self, feed: FeedClient, index: int, t: int | None) -> None:
        pickled = pickle.dumps(feed.replay_state(), protocol=pickle.HIGHEST_PROTOCOL)
        blob = zstandard.ZstdCompressor(level=_ZSTD_LEVEL).compress(pickled)
        with self._cond:
            self._checkpoints.append(Checkpoint(index, t, blob))
            self._checkpoint_times.append(float("-inf") if t is None else float(t))
            self.checkpoint_bytes += len(blob)
            if self.checkpoint_bytes > self.checkpoint_budget and len(self._checkpoints) > 2:
                kept = self._checkpoints[::2]  # the first (the start) is always kept
                self._checkpoints = kept
                self._checkpoint_times = [float("-inf") if c.t is None else c.t for c in kept]
                self.checkpoint_bytes = sum(len(c.blob) for c in kept)
                self.checkpoint_records *= 2
                self.checkpoint_ns *= 2
            self._cond.notify_all()

    # ------------------------------------------------------------------ reading

    @property
    def checkpoints(self) -> int:
        """Checkpoints kept now."""
        return len(self._checkpoints)

    def read_blob(self, chunk: _Chunk) -> bytes:
        return os.pread(self._spill.fileno(), chunk.size, chunk.offset)

    def first_checkpoint(self) -> Checkpoint:
        """The state before any record (waits for the header); raises
        :class:`RecordingError` for a file that cannot be read at all."""
        with self._cond:
            self._cond.wait_for(lambda: self._checkpoints or self.complete or self._closed)
            if not self._checkpoints:
                raise RecordingError(self.error or f"{self.path}: replay stopped")
            return self._checkpoints[0]

    def checkpoint_for(self, target: int) -> Checkpoint:
        """The newest checkpoint at or before recording time ``target``."""
        with self._cond:
            at = bisect_right(self._checkpoint_times, target) - 1
            return self._checkpoints[max(at, 0)]

    def read_chunk(self, number: int) -> list[Record] | None:
        """The records of chunk ``number``, waiting for them to be indexed; None past the end."""
        with self._cond:
            self._cond.wait_for(lambda: self.complete or self._closed or number < len(self._chunks))
            if self._closed or number >= len(self._chunks):
                return None
            chunk = self._chunks[number]
        return _decode_chunk(self.read_blob(chunk))

    def wait_until(self, t: int) -> None:
        """Until a record after recording time ``t`` was indexed, or there are no more."""
        with self._cond:
            self._cond.wait_for(
                lambda: (
                    self.complete or self._closed or (self.last_t is not None and self.last_t > t)
                )
            )

    def wait_complete(self) -> None:
        """Until the whole recording is indexed."""
        with self._cond:
            self._cond.wait_for(lambda: self.complete or self._closed)

    def rebuild(
        self, checkpoint: Checkpoint, target: int, twin: FeedClient
    ) -> tuple[ReplayState, int]:
        """The state after every record at or before ``target``: ``checkpoint`` into
        ``twin``, then the records after it replayed (on a worker thread). Returns the state
        and how many records it stands after."""
        with _quiet():
            twin.start_replay()
            twin.adopt_replay_state(checkpoint.state())
            position = checkpoint.index
            size = self.chunk_records
            replay = twin.replay
            while (records := self.read_chunk(position // size)) is not None:
                for record in records[position % size :]:
                    if record.t > target:
                        return twin.replay_state(), position
                    replay(record)
                    position += 1
                if position % size:
                    break  # the last chunk: nothing after it
            return twin.replay_state(), position

    def release(self) -> None:
        """Stop indexing and release every waiter (at once: from the event loop too)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def close(self) -> None:
        """:meth:`release`, then wait for the thread and let the spill file go."""
        self.release()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        with contextlib.suppress(OSError):
            self._spill.close()


def _chained(first: Record, rest: Iterator[Record]) -> Iterator[Record]:
    yield first
    yield from rest


# ---------------------------------------------------------------------- the transport


class TransportState(enum.Enum):
    """Where the transport stands, as the replay bar writes it."""

    PLAYING = "REPLAY"
    PAUSED = "PAUSED"
    ENDED = "ENDED"


@dataclass(frozen=True)
class TransportStatus:
    """What the replay bar shows, at one moment."""

    state: TransportState
    speed: float
    """Times the recorded pace; 0 is as fast as possible."""
    position_ns: int | None
    """The recording's wall-clock time (ns since the epoch) the replay stands at."""
    first_ns: int | None
    last_ns: int | None
    """The newest record's time indexed so far (the end, once ``complete``)."""
    frame: int
    """Records replayed (the position, in records)."""
    frames: int
    """Records indexed so far (all of them once ``complete``)."""
    complete: bool
    busy: str = ""
    """What the transport is waiting for ("seeking", ...), "" when it is not."""


class _Mark(enum.Enum):
    START = "start"
    END = "end"


class ReplayTransport:
    """Plays a recording into ``feed`` under the keys' control (see the module docstring).

    The key handlers call the commands (:meth:`toggle`, :meth:`faster`, :meth:`seek_by`,
    ...), which only note what is asked; :meth:`run`, the one coroutine that changes the
    feed, does it between records. Listeners are told every change of state, speed or
    position (not every record: the bar reads :meth:`status` on its own clock).
    """

    def __init__(
        self,
        feed: FeedClient,
        path: Path,
        *,
        speed: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        index: ReplayIndex | None = None,
    ) -> None:
        self.feed = feed
        self.path = path
        self.index = index if index is not None else ReplayIndex(path, replay_twin(feed))
        self.speed = max(0.0, speed)
        self.state = TransportState.PLAYING
        self.position = 0
        """Records replayed into the feed."""
        self.busy = ""
        self.jumps = 0
        """Seeks done so far: the books changed wholesale, not record by record."""
        self._clock = clock
        self._playhead: int | None = None
        """The recording time the replay stands at (paused, or the last record replayed)."""
        self._anchor = (0.0, 0)
        """(clock, recording time) pacing counts from."""
        self._chunk: list[Record] = []
        self._chunk_number = -1
        self._prefetch: tuple[int, asyncio.Future[list[Record] | None]] | None = None
        self._target: int | _Mark | None = None
        """A seek asked for and not yet begun."""
        self._in_flight: int | _Mark | None = None
        """The seek being done now."""
        self._steps = 0
        """Single records asked for and not yet replayed."""
        self._wake = asyncio.Event()
        self._stopping = False
        self._started = False
        self._listeners: list[Callable[[], None]] = []

    # ------------------------------------------------------------------ reading it

    def add_listener(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (on the loop) after every change a replay bar shows."""
        self._listeners.append(callback)

    def status(self) -> TransportStatus:
        """Where the replay stands now."""
        index = self.index
        return TransportStatus(
            state=self.state,
            speed=self.speed,
            position_ns=self.position_ns(),
            first_ns=index.first_t,
            last_ns=index.last_t,
            frame=self.position,
            frames=index.records,
            complete=index.complete,
            busy=self.busy,
        )

    @property
    def idle(self) -> bool:
        """Nothing asked for is left to do (no seek or step pending); playing may go on."""
        return (
            self._target is None and self._in_flight is None and not self._steps and self._started
        )

    def position_ns(self) -> int | None:
        """The recording time now: between records, at 1x, it moves as the clock does."""
        playhead = self._playhead
        if playhead is None or self.state is not TransportState.PLAYING or self.speed <= 0:
            return playhead
        if self._target is not None or self._in_flight is not None:
            return playhead
        wall, at = self._anchor
        moving = at + int((self._clock() - wall) * self.speed * 1e9)
        upcoming = self._upcoming_t()
        if upcoming is not None:
            moving = min(moving, upcoming)
        elif self.index.last_t is not None:
            moving = min(moving, self.index.last_t)
        return max(playhead, moving)

    def _upcoming_t(self) -> int | None:
        offset = self.position - self._chunk_number * self.index.chunk_records
        if self._chunk_number >= 0 and 0 <= offset < len(self._chunk):
            return self._chunk[offset].t
        return None

    # ------------------------------------------------------------------ commands

    def toggle(self) -> None:
        """Play or pause; at the end, play again from the start."""
        if self.state is TransportState.PLAYING:
            self._playhead = self.position_ns()
            self.state = TransportState.PAUSED
        elif self.state is TransportState.ENDED:
            self._target = _Mark.START
            self.state = TransportState.PLAYING
        else:
            self.state = TransportState.PLAYING
            self._reanchor()
        self._changed()

    def faster(self) -> None:
        """The next speed up (64x, then as fast as possible)."""
        self._set_speed(next((s for s in SPEEDS if s == 0 or (self.speed and s > self.speed)), 0.0))

    def slower(self) -> None:
        """The next speed down (from as fast as possible, 64x; never below 0.25x)."""
        if self.speed == 0:
            self._set_speed(SPEEDS[-2])
            return
        lower = [s for s in SPEEDS if 0 < s < self.speed]
        self._set_speed(lower[-1] if lower else SPEEDS[0])

    def _set_speed(self, speed: float) -> None:
        if self.state is TransportState.PLAYING:
            self._playhead = self.position_ns()
        self.speed = speed
        self._reanchor()
        self._changed()

    def step_frame(self) -> None:
        """Pause, and replay the next record."""
        self._pause()
        self._steps += 1
        self._changed()

    def step_second(self) -> None:
        """Pause, and move one second of recording time on."""
        self._pause()
        self.seek_by(STEP_NS)

    def seek_by(self, delta_ns: int) -> None:
        """Move ``delta_ns`` of recording time (negative: back); kept within the recording.
        Seeks asked for before the first is done add up."""
        pending = self._target if self._target is not None else self._in_flight
        base: int | None
        if pending is _Mark.END:
            base = self.index.last_t
        elif pending is _Mark.START:
            base = self.index.first_t
        elif pending is not None:
            base = pending
        else:
            base = self.position_ns()
        if base is not None:
            self.seek_to(base + delta_ns)

    def seek_to(self, t: int) -> None:
        """Stand at recording time ``t``: every record at or before it replayed, none after."""
        first = self.index.first_t
        if first is not None and t < first:
            self._target = _Mark.START
        else:
            self._target = t
        self._changed()

    def to_start(self) -> None:
        """Back to before the first record."""
        self._target = _Mark.START
        self._changed()

    def to_end(self) -> None:
        """On to after the last record (waits for the indexing to get there)."""
        self._target = _Mark.END
        self._changed()

    def _pause(self) -> None:
        if self.state is TransportState.PLAYING:
            self._playhead = self.position_ns()
            self.state = TransportState.PAUSED

    def _reanchor(self) -> None:
        self._anchor = (self._clock(), self._playhead or 0)

    def _changed(self) -> None:
        self._wake.set()
        self.feed.activity.set()
        for callback in list(self._listeners):
            callback()

    async def stop(self) -> None:
        """Make :meth:`run` return (soon: between records, or once a wait is released)."""
        self._stopping = True
        self._wake.set()
        self.index.release()

    # ------------------------------------------------------------------ playing

    async def run(self) -> None:
        """Index the recording on its thread and play it until :meth:`stop`.

        Raises :class:`RecordingError` for a file that is no recording at all; a recording
        that breaks off later plays up to there and says why when it ends.
        """
        index = self.index
        index.start()
        try:
            start = await asyncio.to_thread(index.first_checkpoint)
            if self._stopping:
                return
            self.feed.start_replay()
            self.feed.adopt_replay_state(start.state())
            self._started = True
            await asyncio.to_thread(index.wait_until, -1)  # the first record, if any
            self._playhead = index.first_t
            self._reanchor()
            self._changed()
            await self._play()
        finally:
            await asyncio.to_thread(index.close)

    async def _play(self) -> None:
        while not self._stopping:
            if self._target is not None:
                await self._seek()
            elif self._steps:
                await self._step()
            elif self.state is TransportState.PLAYING:
                await self._play_some()
            else:
                self._wake.clear()
                await self._wake.wait()

    async def _record(self) -> Record | None:
        """The next record to replay, reading its chunk (on a thread) if need be."""
        size = self.index.chunk_records
        number, offset = divmod(self.position, size)
        if number != self._chunk_number:
            prefetch, self._prefetch = self._prefetch, None
            if prefetch is not None and prefetch[0] == number:
                records = await prefetch[1]
            else:
                records = await asyncio.to_thread(self.index.read_chunk, number)
            if records is None:
                return None
            self._chunk, self._chunk_number = records, number
            if len(records) == size:  # read the next while this one plays
                self._prefetch = (
                    number + 1,
                    asyncio.ensure_future(asyncio.to_thread(self.index.read_chunk, number + 1)),
                )
        if offset >= len(self._chunk):
            return None
        return self._chunk[offset]

    def _forget_chunks(self) -> None:
        self._chunk, self._chunk_number = [], -1
        prefetch, self._prefetch = self._prefetch, None
        if prefetch is not None:
            prefetch[1].cancel()

    async def _play_some(self) -> None:
        """Replay records at the speed until a command or the loop's turn comes."""
        replay = self.feed.replay
        clock = self._clock
        yielded = time.monotonic()
        while self.state is TransportState.PLAYING and self._target is None and not self._steps:
            record = await self._record()
            if record is None:
                await asyncio.to_thread(self.index.wait_complete)  # cut_short is known then
                if not self._stopping:
                    self._end()
                return
            if self.speed > 0:
                wall, at = self._anchor
                wait = wall + (record.t - at) / 1e9 / self.speed - clock()
                if wait > 0.002:  # sleep in batches, not per frame
                    self._wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), wait)
                    return
            else:
                # As fast as possible: the rest of this chunk in a tight loop.
                chunk = self._chunk
                offset = self.position - self._chunk_number * self.index.chunk_records
                end = len(chunk)
                now = time.monotonic
                while offset < end:
                    replay(chunk[offset])
                    offset += 1
                    if not offset & 63 and now() - yielded > YIELD_EVERY:
                        break
                self.position = offset + self._chunk_number * self.index.chunk_records
                self._playhead = chunk[offset - 1].t
                if now() - yielded > YIELD_EVERY:
                    await asyncio.sleep(0)  # the screen and the keys have the loop
                    return
                continue
            replay(record)
            self.position += 1
            self._playhead = record.t
            if time.monotonic() - yielded > YIELD_EVERY:
                await asyncio.sleep(0)
                return

    def _end(self) -> None:
        self.state = TransportState.ENDED
        index = self.index
        finish_replay(self.feed, self.path, index.error or index.cut_short)
        self._changed()

    async def _step(self) -> None:
        self._steps -= 1
        record = await self._record()
        if record is None:
            self._steps = 0
            await asyncio.to_thread(self.index.wait_complete)
            if not self._stopping and self.state is not TransportState.ENDED:
                self._end()
            return
        self.feed.replay(record)
        self.position += 1
        self._playhead = record.t
        self._changed()

    async def _seek(self) -> None:
        index = self.index
        target, self._target = self._target, None
        self._in_flight = target
        self.busy = "seeking"
        self._changed()
        try:
            if target is _Mark.END:
                await asyncio.to_thread(index.wait_complete)
                target = index.last_t
            elif isinstance(target, int):
                await asyncio.to_thread(index.wait_until, target)
                if index.last_t is not None and target > index.last_t:
                    target = index.last_t
            if self._stopping:
                return
            if target is _Mark.START or target is None:
                start = index.first_checkpoint()
                self.feed.adopt_replay_state(start.state())
                self.position = 0
                self._forget_chunks()
                self._playhead = index.first_t
            else:
                await self._stand_at(target)
        finally:
            self._in_flight = None
            self.busy = ""
            self.jumps += 1
        if index.complete and self.position >= index.records:
            if self.state is not TransportState.ENDED:
                self._end()
        elif self.state is TransportState.ENDED:
            self.state = TransportState.PAUSED
        self._reanchor()
        self._changed()

    async def _stand_at(self, target: int) -> None:
        index = self.index
        checkpoint = index.checkpoint_for(target)
        playhead = self._playhead
        if playhead is not None and target >= playhead and checkpoint.index <= self.position:
            # On from here: no checkpoint between here and there would save anything.
            replay = self.feed.replay
            yielded = time.monotonic()
            while (record := await self._record()) is not None and record.t <= target:
                replay(record)
                self.position += 1
                if time.monotonic() - yielded > YIELD_EVERY:
                    await asyncio.sleep(0)
                    yielded = time.monotonic()
                    if self._stopping:
                        return
        else:
            twin = replay_twin(self.feed)
            state, position = await asyncio.to_thread(index.rebuild, checkpoint, target, twin)
            if self._stopping:
                return
            self.feed.adopt_replay_state(state)
            self.position = position
            self._forget_chunks()
        self._playhead = target


# ---------------------------------------------------------------------- times of day


def parse_time_of_day(text: str, first_ns: int | None, last_ns: int | None) -> int | str:
    """The recording time ``text`` (``HH:MM:SS`` or ``HH:MM:SS.mmm``, UTC) names, or why it
    names none: not such a time, or outside the recording (whose first and last record are
    at ``first_ns`` and ``last_ns``). A recording that runs past midnight takes the first
    day on which the time falls within it."""
    text = text.strip()
    example = "e.g. 14:03:12 or 14:03:12.250"
    clock, dot, fraction = text.partition(".")
    parts = clock.split(":")
    if (
        len(parts) != 3
        or not all(len(p) == 2 and p.isascii() and p.isdigit() for p in parts)
        or (dot and not (1 <= len(fraction) <= 3 and fraction.isascii() and fraction.isdigit()))
    ):
        shown = repr(text) if text else "nothing"
        return f"{shown} is not a time: type HH:MM:SS or HH:MM:SS.mmm (UTC), {example}"
    hours, minutes, seconds = (int(p) for p in parts)
    if hours > 23 or minutes > 59 or seconds > 59:
        return f"{text} is not a time of day: hours 00-23, minutes and seconds 00-59"
    if first_ns is None or last_ns is None:
        return "the recording has no records to go to"
    millis = int(fraction.ljust(3, "0")) if dot else 0
    of_day = ((hours * 60 + minutes) * 60 + seconds) * 10**9 + millis * 10**6
    day = 86_400 * 10**9
    midnight = first_ns - first_ns % day
    while midnight <= last_ns:
        candidate = midnight + of_day
        if first_ns <= candidate <= last_ns or (
            candidate < first_ns and candidate // 10**6 == first_ns // 10**6
        ):
            return max(candidate, first_ns)
        midnight += day
    return (
        f"{text} is outside the recording: it runs from {format_clock(first_ns)} "
        f"to {format_clock(last_ns)} UTC"
    )


def format_clock(t_ns: int, *, date: bool = False) -> str:
    """``14:03:12.250`` (UTC, to the millisecond), with the date before it if ``date``."""
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=t_ns // 1000)
    text = moment.strftime("%Y-%m-%d %H:%M:%S" if date else "%H:%M:%S")
    return f"{text}.{t_ns // 10**6 % 1000:03d}"


def format_span(ns: int) -> str:
    """A length of recording time: ``0:12.345``, ``1:02:03.456``."""
    millis = max(0, ns) // 10**6
    seconds, ms = divmod(millis, 1000)
    minutes, secs = divmod(seconds, 60)
    hours, mins = divmod(minutes, 60)
    if hours:
        return f"{hours}:{mins:02d}:{secs:02d}.{ms:03d}"
    return f"{mins}:{secs:02d}.{ms:03d}"
