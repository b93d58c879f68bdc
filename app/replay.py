"""Replay with a transport: play, pause, speeds, steps and seeks through a recording.

:class:`ReplayIndex` reads the recording once, on a thread of its own. It keeps the records
in chunks of :data:`CHUNK_RECORDS` (each compressed on its own, in a temporary spill file,
so any chunk can be read back without decompressing what comes before it; the newest also
in memory, as read), and a second thread replays them behind it through a *twin* of the
dashboard's feed, a :class:`~app.feed.FeedClient` configured the same way: every
:data:`CHECKPOINT_RECORDS` records or :data:`CHECKPOINT_SECONDS` of recording time,
whichever comes first, it keeps a **checkpoint**, the twin's whole replay state
(:meth:`FeedClient.replay_state`: books, tapes, counters, connection and subscription
state) pickled and compressed.

:class:`ReplayTransport` plays the chunks into the dashboard's feed on the event loop, at a
speed, and answers the keys. A chunk is played as soon as it is read, a slice of records at
a time (:meth:`FeedClient.replay_run`); while it plays as fast as possible, the
checkpointing thread mostly rests (on one GIL, the two would each go at half speed). A
seek backwards (or forwards past a checkpoint) rebuilds the state on a worker thread: the
nearest checkpoint at or before the target is unpickled into a fresh twin, the records
from there to the target are replayed into it, and the loop only takes the result
(:meth:`FeedClient.adopt_replay_state`). A straight replay and a seek end in the same state
because both are the same records through the same :meth:`FeedClient.replay` from the
same start.

**Memory.** Checkpoints are bounded by :data:`CHECKPOINT_BUDGET` bytes in all: when they
pass it, every other one is dropped and the interval doubles, so a long recording costs at
most the budget and a seek replays at most one interval (which then grows with the
recording's length). Records are on disk (about the recording's own size), not in memory,
but for the newest :data:`RECENT_CHUNKS` to :data:`RECENT_CHUNKS` + :data:`SPILL_BATCH`
chunks; the index holds a few numbers per chunk.

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
    RecordRun,
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
SPILL_BATCH: Final = 8
"""Chunks compressed and written to the spill file together."""
RECENT_CHUNKS: Final = 8
"""The newest chunks read kept as they are (see :meth:`ReplayIndex.chunk_at_hand`)."""
PLAY_SLICE: Final = 128
"""Records replayed between two looks at the clock (pacing, the loop's turn): 1-2 ms."""
CHECKPOINT_DUTY: Final = 10.0
"""While the player plays as fast as possible, the checkpointing thread works one part in
this many of the time and rests the rest (see :meth:`ReplayIndex.yield_to_player`)."""
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
    """Where a chunk is in the spill file."""

    offset: int
    size: int


_chunk_encoder: Final = msgspec.msgpack.Encoder()
_chunk_decoder: Final = msgspec.msgpack.Decoder()


def _encode_chunk(run: RecordRun) -> bytes:
    """A chunk for the spill file, uncompressed: ``[times, items, others]`` in msgpack, with
    frames as their bytes in ``items`` and every other record at its position in ``others``
    (a few per connection)."""
    items = run.items
    kinds = list(map(type, items))
    others: list[tuple[object, ...]] = []
    if kinds.count(bytes) != len(kinds):  # by identity: no comparisons of types
        items = list(items)
        for at in [i for i, kind in enumerate(kinds) if kind is not bytes]:
            record, items[at] = items[at], b""
            if isinstance(record, Frame):  # a mid-session recording's prelude
                others.append((at, 3, record.data))
            elif isinstance(record, Connection):
                others.append((at, 0, record.boundary, record.why))
            elif isinstance(record, Sent):
                others.append((at, 1, record.text))
            else:  # a mid-session recording's starting tape, restored as it is
                blob = pickle.dumps(cast(TapeStart, record).state, pickle.HIGHEST_PROTOCOL)
                others.append((at, 2, blob))
    return _chunk_encoder.encode((run.times, items, others))


def _compress_chunks(runs: list[RecordRun]) -> list[bytes]:
    """The chunks for the spill file, each compressed on its own (in one call: see
    :meth:`ReplayIndex._spill_chunks`)."""
    compressor = zstandard.ZstdCompressor(level=_ZSTD_LEVEL)
    packed: list[bytes | bytearray | memoryview] = [_encode_chunk(run) for run in runs]
    if len(packed) > 1 and hasattr(compressor, "multi_compress_to_buffer"):  # C backend
        blobs = compressor.multi_compress_to_buffer(packed)
        return [blobs[i].tobytes() for i in range(len(blobs))]
    return [compressor.compress(chunk) for chunk in packed]


def _decode_chunk(blob: bytes) -> RecordRun:
    times, items, others = _chunk_decoder.decode(zstandard.ZstdDecompressor().decompress(blob))
    for at, kind, *rest in others:
        t = times[at]
        if kind == 0:
            items[at] = Connection(t, cast(ConnectionBoundary, rest[0]), rest[1])
        elif kind == 1:
            items[at] = Sent(t, rest[0])
        elif kind == 2:
            items[at] = TapeStart(t, pickle.loads(rest[0]))
        else:
            items[at] = Frame(t, rest[0], prelude=True)
    return RecordRun(times, items)


class ReplayIndex:
    """A recording read once: its records in chunks on disk, and checkpoints.

    Two threads: one reads the records into chunks (cheap: decompressing and splitting
    lines), the other follows it, replaying the chunks through the twin and keeping the
    checkpoints (as costly as the replay itself). The player plays chunks as soon as they
    are read, not when they are checkpointed, and while it plays as fast as possible the
    checkpointing thread rests (:meth:`yield_to_player`): they would otherwise share the
    GIL half and half, and replay both times slower.

    Everything public may be read from any thread; the ``wait_*`` and ``read_chunk``
    methods block until the threads have got far enough (call them from a worker thread,
    never the event loop). :meth:`close` releases every waiter.
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
        """Records read into chunks so far."""
        self.first_t: int | None = None
        self.last_t: int | None = None
        """The time of the newest record read so far."""
        self.checkpointed = 0
        """Records replayed into the twin so far: the checkpoints cover these."""
        self.checkpointed_t: int | None = None
        """The time of the newest of those."""
        self.header: Header | None = None
        self.complete = False
        """True once every record was read (or reading stopped on an error): ``records``,
        ``last_t``, ``error`` and ``cut_short`` are final."""
        self.indexed = False
        """True once the checkpoints are done too (or stopped)."""
        self.error = ""
        """Why the recording could not be read (or indexed) to its end ("" when it could)."""
        self.cut_short = ""
        """Why the recording ended early (a killed recorder), from the reader."""
        self._twin = twin
        self._chunks: list[_Chunk] = []
        """The chunks on disk."""
        self._readable = 0
        """Chunks read: those on disk, and after them those waiting to be written."""
        self._unspilled: list[RecordRun] = []
        self._recent: dict[int, RecordRun] = {}
        """The newest chunks read, as read (every chunk not yet on disk among them): a
        player at the reading's heels takes them as they are (no thread, no decompressing)."""
        self._checkpoints: list[Checkpoint] = []
        self._checkpoint_times: list[float] = []
        """Each checkpoint's ``t`` (-inf for the first), for bisecting."""
        self._cond = threading.Condition()
        self._closed = False
        self._yielding = False
        # Open for the index's life, closed by close(): no one block holds it.
        self._spill = tempfile.TemporaryFile(prefix="sordash-replay-", dir=spill_dir)  # noqa: SIM115
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ building

    def start(self) -> None:
        """Index on threads of their own (nothing to do once started, or built already)."""
        if self._thread is not None or self.indexed:
            return
        self._thread = threading.Thread(target=self.build, name="sordash replay index", daemon=True)
        self._thread.start()

    def build(self) -> None:
        """Read and index the whole recording: read on a thread of its own, checkpoint on
        this one behind it (the index thread's body; tests may call it)."""
        reading = threading.Thread(target=self._read, name="sordash replay reader", daemon=True)
        reading.start()
        try:
            with _quiet():
                self._checkpoint_all()
        except Exception as exc:  # a bug of ours: say so rather than hang the player
            self._fail(f"indexing {self.path} failed: {exc!r}")
        finally:
            reading.join()
            with self._cond:
                self.indexed = True
                self._cond.notify_all()

    def yield_to_player(self, yielding: bool) -> None:
        """While ``yielding``, the checkpointing thread works one part of the time in
        :data:`CHECKPOINT_DUTY` and rests the rest: the player plays as fast as it can."""
        if yielding != self._yielding:
            with self._cond:
                self._yielding = yielding
                self._cond.notify_all()

    def _fail(self, message: str) -> None:
        with self._cond:
            self.error = self.error or message

    def _read(self) -> None:
        try:
            self._read_chunks()
        except RecordingError as exc:
            self._fail(str(exc))
        except Exception as exc:  # a bug of ours: say so rather than hang the player
            self._fail(f"reading {self.path} failed: {exc!r}")
        finally:
            try:
                self._spill_chunks()
            except OSError as exc:
                self._fail(f"writing the replay's spill file failed: {exc}")
            with self._cond:
                self.complete = True
                self._cond.notify_all()

    def _read_chunks(self) -> None:
        reader = RecordingReader(self.path)
        size = self.chunk_records
        runs = reader.runs(size)
        first = next(runs, None)  # reads the header, or raises for a file that is none
        with self._cond:
            self.header = reader.header
            self._cond.notify_all()
        chunk = RecordRun()
        for run in _chained(first, runs) if first is not None else ():
            at, end = 0, len(run)
            while at < end:
                if not chunk and at == 0 and end == size:
                    chunk, at = run, end  # a whole chunk as read: no copy
                else:
                    take = min(size - len(chunk), end - at)
                    chunk.extend(run, at, at + take)
                    at += take
                if len(chunk) == size:
                    self._add_chunk(chunk)
                    chunk = RecordRun()
                    if self._closed:
                        return
        if chunk:
            self._add_chunk(chunk)
        self.cut_short = reader.cut_short

    def _add_chunk(self, run: RecordRun) -> None:
        """Make a chunk readable: at once from memory, on disk once :data:`SPILL_BATCH` are
        waiting. Every chunk but the last holds exactly ``chunk_records`` records, so record
        ``i`` is in chunk ``i // chunk_records``."""
        times = run.times
        with self._cond:
            self._recent[self._readable] = run
            self._unspilled.append(run)
            self._readable += 1
            if self.first_t is None:
                self.first_t = times[0]
            self.last_t = times[-1]
            self.records += len(times)
            self._cond.notify_all()
        if len(self._unspilled) >= SPILL_BATCH:
            self._spill_chunks()

    def _spill_chunks(self) -> None:
        """Write the chunks waiting, in one compression call and one write. Each call that
        releases the GIL costs this thread up to the switch interval (5 ms) to get it back
        while the player plays: two calls a chunk kept the reading barely ahead of it."""
        runs, self._unspilled = self._unspilled, []
        if not runs:
            return
        blobs = _compress_chunks(runs)
        offset = self.spill_bytes
        os.pwrite(self._spill.fileno(), b"".join(blobs), offset)
        with self._cond:
            for blob in blobs:
                self._chunks.append(_Chunk(offset, len(blob)))
                offset += len(blob)
            self.spill_bytes = offset
            recent = self._recent
            while len(recent) > RECENT_CHUNKS:  # all on disk now
                del recent[next(iter(recent))]

    def _checkpoint_all(self) -> None:
        """Replay the chunks as they are read through the twin, keeping checkpoints: every
        ``checkpoint_records`` records or ``checkpoint_ns`` of recording time, whichever
        comes first (checked after each record, as the records go)."""
        with self._cond:
            self._cond.wait_for(lambda: self.header is not None or self.complete or self._closed)
            header = self.header
        if header is None:
            return
        feed = self._twin
        begin_replay(feed, header, self.path)
        self._keep_checkpoint(feed, 0, None)
        replay = feed.replay_run
        size = self.chunk_records
        last_index, last_t = 0, 0
        number = 0
        while (run := self.read_chunk(number)) is not None:
            started = time.perf_counter()
            base, times, end = number * size, run.times, len(run)
            if number == 0:
                last_t = times[0]
            at = 0
            while at < end:
                bound = min(end, last_index + self.checkpoint_records - base)
                due = last_t + self.checkpoint_ns
                stop = next((i + 1 for i in range(at, bound) if times[i] >= due), bound)
                replay(run, at, stop)
                at = stop
                count, t = base + at, times[at - 1]
                if count - last_index >= self.checkpoint_records or t >= due:
                    self._keep_checkpoint(feed, count, t)
                    last_index, last_t = count, t
            with self._cond:
                self.checkpointed, self.checkpointed_t = base + end, times[-1]
                self._cond.notify_all()
                if self._yielding:
                    rest = (time.perf_counter() - started) * (CHECKPOINT_DUTY - 1)
                    self._cond.wait_for(lambda: not self._yielding or self._closed, rest)
            number += 1

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
            self._cond.wait_for(lambda: self._checkpoints or self.indexed or self._closed)
            if not self._checkpoints:
                raise RecordingError(self.error or f"{self.path}: replay stopped")
            return self._checkpoints[0]

    def checkpoint_for(self, target: int) -> Checkpoint:
        """The newest checkpoint at or before recording time ``target``."""
        with self._cond:
            at = bisect_right(self._checkpoint_times, target) - 1
            return self._checkpoints[max(at, 0)]

    def read_chunk(self, number: int) -> RecordRun | None:
        """The records of chunk ``number``, waiting for them to be read; None past the end."""
        with self._cond:
            self._cond.wait_for(lambda: self.complete or self._closed or number < self._readable)
        return self.chunk_at_hand(number)

    def chunk_at_hand(self, number: int) -> RecordRun | None:
        """Chunk ``number`` if it was read already, at once (from any thread, the loop's
        too); None if the reading has not got there yet, or past the end (:meth:`read_chunk`
        waits for it). A chunk on disk is one ``pread`` of this index's own spill file
        (written moments ago: in the page cache) and ~0.2 us a record to decompress and
        decode, less than handing the work to a thread costs the loop."""
        with self._cond:
            if self._closed or number >= self._readable:
                return None
            if (recent := self._recent.get(number)) is not None:
                return recent
            chunk = self._chunks[number]
        return _decode_chunk(self.read_blob(chunk))

    def wait_until(self, t: int) -> None:
        """Until a record after recording time ``t`` was read, or there are no more."""
        with self._cond:
            self._cond.wait_for(
                lambda: (
                    self.complete or self._closed or (self.last_t is not None and self.last_t > t)
                )
            )

    def wait_complete(self) -> None:
        """Until the whole recording is read."""
        with self._cond:
            self._cond.wait_for(lambda: self.complete or self._closed)

    def wait_checkpointed(self, t: int) -> None:
        """Until the checkpoints cover recording time ``t`` (a record after it was replayed
        into the twin), or there are no more to take."""
        with self._cond:
            self._cond.wait_for(
                lambda: (
                    self.indexed
                    or self._closed
                    or (self.checkpointed_t is not None and self.checkpointed_t > t)
                )
            )

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
            replay = twin.replay_run
            while (run := self.read_chunk(position // size)) is not None:
                times, at, end = run.times, position % size, len(run)
                stop = next((i for i in range(at, end) if times[i] > target), end)
                replay(run, at, stop)
                position += stop - at
                if stop < end or end < size:
                    break  # past the target, or the last chunk: nothing after it
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


def _chained(first: RecordRun, rest: Iterator[RecordRun]) -> Iterator[RecordRun]:
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
        self._chunk = RecordRun()
        self._chunk_number = -1
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
            return self._chunk.times[offset]
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
        index = self.index
        try:
            while not self._stopping:
                # The checkpointing thread rests while the player plays as fast as it can.
                full_speed = self.state is TransportState.PLAYING and self.speed == 0
                index.yield_to_player(full_speed and self._target is None and not self._steps)
                if self._target is not None:
                    await self._seek()
                elif self._steps:
                    await self._step()
                elif self.state is TransportState.PLAYING:
                    await self._play_some()
                else:
                    self._wake.clear()
                    await self._wake.wait()
        finally:
            index.yield_to_player(False)

    async def _record(self) -> Record | None:
        """The next record to replay, reading its chunk (on a thread) if need be."""
        current = await self._current()
        if current is None:
            return None
        chunk, offset = current
        return chunk.record(offset)

    async def _current(self) -> tuple[RecordRun, int] | None:
        """The chunk the next record to replay is in and its offset there; None after the
        last record. A chunk read already is taken at once, on the loop
        (:meth:`ReplayIndex.chunk_at_hand`); only one not read yet is waited for, on a
        thread. Reading ahead on worker threads cost the player more than it saved: each of
        their calls that releases the GIL (the read, the decompression, waking the loop)
        made the loop hand it over and wait to get it back, and decoding a chunk is ~4 % of
        playing it (the transport at full speed, indexed, eight pairs of runs in one
        process: x0.61-0.87 of live ingest with the read-ahead, median x0.65; x0.67-1.01
        without, median x0.83)."""
        size = self.index.chunk_records
        number, offset = divmod(self.position, size)
        if number != self._chunk_number:
            run = self.index.chunk_at_hand(number)
            if run is None:  # not read yet (or past the end): wait for the reading
                run = await asyncio.to_thread(self.index.read_chunk, number)
            if run is None:
                return None
            self._chunk, self._chunk_number = run, number
        if offset >= len(self._chunk):
            return None
        return self._chunk, offset

    def _forget_chunks(self) -> None:
        self._chunk, self._chunk_number = RecordRun(), -1

    async def _play_some(self) -> None:
        """Replay records at the speed until a command or the loop's turn comes: a slice of
        :data:`PLAY_SLICE` records at a time between looks at the clock, each slice through
        :meth:`FeedClient.replay_run` (no record built per frame)."""
        replay = self.feed.replay_run
        clock = self._clock
        now = time.monotonic
        yielded = now()
        while self.state is TransportState.PLAYING and self._target is None and not self._steps:
            current = await self._current()
            if current is None:
                await asyncio.to_thread(self.index.wait_complete)  # cut_short is known then
                if not self._stopping:
                    self._end()
                return
            chunk, offset = current
            times = chunk.times
            stop = min(len(times), offset + PLAY_SLICE)
            if self.speed > 0:
                # The records due within 2 ms (sleep in batches, not per frame).
                wall, at = self._anchor
                due = at + (clock() - wall + 0.002) * self.speed * 1e9
                end, stop = stop, offset
                while stop < end and times[stop] <= due:
                    stop += 1
                if stop == offset:
                    wait = wall + (times[offset] - at) / 1e9 / self.speed - clock()
                    self._wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), max(wait, 0.0))
                    return
            replay(chunk, offset, stop)
            self.position += stop - offset
            self._playhead = times[stop - 1]
            if now() - yielded > YIELD_EVERY:
                await asyncio.sleep(0)  # the screen and the keys have the loop
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
        playhead = self._playhead
        forward = playhead is not None and target >= playhead
        if not forward:
            # Back: from the nearest checkpoint, once the checkpointing thread (which rests
            # while playing as fast as possible) has got there.
            await asyncio.to_thread(index.wait_checkpointed, target)
            if self._stopping:
                return
        checkpoint = index.checkpoint_for(target)
        if forward and checkpoint.index <= self.position:
            # On from here: no checkpoint between here and there would save anything.
            replay = self.feed.replay_run
            yielded = time.monotonic()
            while (current := await self._current()) is not None:
                chunk, offset = current
                times, end = chunk.times, min(len(chunk), offset + PLAY_SLICE)
                stop = next((i for i in range(offset, end) if times[i] > target), end)
                replay(chunk, offset, stop)
                self.position += stop - offset
                if stop < end:
                    break  # the next record is after the target
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
