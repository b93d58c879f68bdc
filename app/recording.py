"""Recording a session and reading it back for replay.

**Format 2** (what :class:`Recorder` writes): one zstd stream of JSON Lines. The first line
is the header ``{"sordash_recording": 2, "source": ..., "started": ..., "markets": [...],
"session": ..., "segment": 0}``; then one record per line, each with ``t`` (ns since the
epoch, as received or sent), except the frames of a block:

- ``{"ts":[t1,t2,...,tn]}`` followed by ``n`` lines ``{"r":<the frame as received>}``: a
  block of frames the server sent, with their receive times, each frame embedded as it
  came and read back by position (never parsed by the reader, so even a malformed frame
  comes back byte for byte). A block is written with one ``join`` and one encode of the
  times, no per-frame work in Python (the per-frame ``{"t":..,"r":..}`` lines of earlier
  builds cost the recorder's thread more CPU than the feed itself; they are still read).
  A frame with a newline or non-ASCII bytes is ``{"t": .., "f": "<frame text>"}`` or
  ``{"t": .., "b64": ...}`` instead;
- ``{"t": .., "c": "connecting" | "connected" | "closed" | "stopped", "why": "..."}``: a
  connection boundary, so a replay knows which frames belong to which connection (the
  UPDATEs a new connection sends before its SNAPSHOT must not land on the old book).
  ``closed`` is an attempt or connection that ended and will be made again (one
  reconnect, ``why`` says why); ``stopped`` is the end of the session;
- ``{"t": .., "s": "<request text>"}``: a request the client sent (subscribe, unsubscribe,
  subscription_list), so a replay pairs each result with its request as the live client did;
- a recording started in the middle of a session (the dashboard's record key) begins with
  its *starting point* (header ``"start": "mid-session"``): ``{"t": .., "p": "<frame>"}``
  are protocol frames the server did not send at that moment but that put a replay where
  the live client stood (the subscribe answer for the channels held, a SNAPSHOT of each
  live book as held), and ``{"t": .., "tape": {...}}`` is a market's tape as held (trades
  with their inferred sides, the session figures), restored as it is.

zstd rather than gzip: measured on a demo recording of four markets, zstd level 1 made the
file 9.3x smaller at 457 MB/s of CPU, gzip level 1 7.4x at 166 MB/s (``make bench``
measures it again). The stream is flushed block by block (at least once a second), so a
killed process leaves a file that replays up to its last flushed block. A recording is
rotated to ``NAME.1.EXT``, ``NAME.2.EXT``, ... by size or age; replaying ``NAME`` continues
through the segments of the same session.

Compression and writing happen on a thread of their own, never on the event loop: all the
loop does per frame is append (receive time, the frame's bytes) to a deque
(:attr:`Recorder.queue`); the thread builds the lines, searches them for secrets and
compresses, a batch at a time (zstandard releases the GIL while it compresses). Nothing
secret is written: every text goes through :mod:`app.redact` (a server that quotes the token
does not get it on disk), and the client never hands the recorder a header or credentials.
Writing never takes the feed down: when the disk fills or the file breaks, the recorder
stops, keeps what it wrote, and reports the error once through ``on_error``.

**Format 1** (older files, still replayed): plain JSON Lines, a header
``{"sordash_recording": 1, ...}`` then ``{"t": .., "frame": "..."}`` per received frame.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import operator
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path
from typing import IO, Final, Literal, Protocol

import msgspec
import zstandard

from app.protocol import format_time
from app.redact import redact, redact_bytes
from app.tape import TapeState

FORMAT_VERSION: Final = 2
READABLE_VERSIONS: Final = (1, 2)
ZSTD_LEVEL: Final = 1
FLUSH_SECONDS: Final = 1.0
"""The longest a written record waits in the compressor before it reaches the disk."""
DEFAULT_ROTATE_BYTES: Final = 256 * 1024 * 1024
"""A segment is closed and the next begun past this many compressed bytes..."""
DEFAULT_ROTATE_SECONDS: Final = 3600.0
"""... or after this long."""
QUEUE_LIMIT: Final = 250_000
"""Records that may wait for the thread (12 s of a 20k frames/s feed): past this the disk
is not keeping up, and the recording stops saying so rather than grow without bound."""
WAKE_SECONDS: Final = 0.02
"""How often the thread takes what is queued: at 20k frames/s a batch of 400 frames, about
80 KB. Measured at a paced 20k frames/s (medians of three windows, one run): taking the
queue every 0.2 s cost x1.36 of the feed not recording, every 30 ms x1.30, every 10 ms
x1.19; frames kept alive longer cost the loop more than the extra wake-ups cost the thread
(most likely the cache: the frames and tuples waiting are memory the loop's next
allocations no longer find warm)."""
_ZSTD_MAGIC: Final = b"\x28\xb5\x2f\xfd"
_READ_CHUNK: Final = 1 << 18

ConnectionBoundary = Literal["connecting", "connected", "closed", "stopped"]
_BOUNDARIES: Final[dict[str, ConnectionBoundary]] = {
    "connecting": "connecting",
    "connected": "connected",
    "closed": "closed",
    "stopped": "stopped",
}


class SessionRecorder(Protocol):
    """What the feed tells a recorder (:class:`Recorder` is one)."""

    @property
    def clock_ns(self) -> Callable[[], int]:
        """The clock the receive times are read from."""

    @property
    def queue(self) -> Callable[[tuple[int, bytes]], None]:
        """Queue a received frame as ``(receive time, bytes)``: what the feed calls per
        frame (a bound ``deque.append``: no Python function call on the loop's hot path)."""

    def __call__(self, data: bytes) -> None:
        """A frame was received."""

    def connection(self, boundary: ConnectionBoundary, why: str = "") -> None:
        """The connection is being made, was made, or ended (``why``)."""

    def sent(self, text: str) -> None:
        """A request went out, as this text."""

    def prelude(self, frame: bytes) -> None:
        """A frame of a mid-session recording's starting point."""

    def tape_state(self, state: TapeState) -> None:
        """A market's tape as held, for a mid-session recording's starting point."""


class RecordingError(Exception):
    """A recording that cannot be read or written; the message names the file and line."""


class _Line(msgspec.Struct, omit_defaults=True):
    t: int = 0
    f: str | None = None
    b64: str | None = None
    c: str | None = None
    why: str | None = None
    s: str | None = None
    p: str | None = None
    tape: TapeState | None = None
    frame: str | None = None  # format 1
    sordash_recording: int | None = None
    source: str | None = None
    started: str | None = None
    markets: list[str] | None = None
    session: str | None = None
    segment: int | None = None
    start: str | None = None
    channels: list[list[str | None]] | None = None


_encoder: Final = msgspec.json.Encoder()
_decoder: Final = msgspec.json.Decoder(_Line)


@dataclass(frozen=True, slots=True)
class Frame:
    """A frame the server sent."""

    t: int
    data: bytes
    prelude: bool = False
    """Part of a mid-session recording's starting point: not sent by the server then."""


@dataclass(frozen=True, slots=True)
class TapeStart:
    """A mid-session recording's starting point for one market's tape, as the live client
    held it (restored as it is: the sides were inferred against books not recorded)."""

    t: int
    state: TapeState


@dataclass(frozen=True, slots=True)
class Connection:
    """A connection boundary: ``connecting``, ``connected``, ``closed`` (with why; a
    reconnect follows) or ``stopped``."""

    t: int
    boundary: ConnectionBoundary
    why: str = ""


@dataclass(frozen=True, slots=True)
class Sent:
    """A request the client sent, as its JSON text."""

    t: int
    text: str


Record = Frame | Connection | Sent | TapeStart


class RecordRun:
    """Consecutive records in columns, how replay reads, keeps and plays them a batch at a
    time: ``times[i]`` is record ``i``'s time; ``items[i]`` is a frame the server sent as
    its bytes, any other record (prelude frames included) as itself.

    No :class:`Frame` is built per frame: building and matching one cost replay more than
    a third of what decoding and applying the frame costs (:meth:`FeedClient.replay_run`
    plays a run as :meth:`FeedClient.replay` plays each of its records).
    """

    __slots__ = ("items", "times")

    def __init__(self, times: list[int] | None = None, items: list[bytes | Record] | None = None):
        self.times: list[int] = times if times is not None else []
        self.items: list[bytes | Record] = items if items is not None else []

    def __len__(self) -> int:
        return len(self.times)

    def __bool__(self) -> bool:
        return bool(self.times)

    def record(self, index: int) -> Record:
        """Record ``index`` as a :class:`Record`."""
        item = self.items[index]
        return Frame(self.times[index], item) if isinstance(item, bytes) else item

    def __iter__(self) -> Iterator[Record]:
        for t, item in zip(self.times, self.items, strict=True):
            yield Frame(t, item) if isinstance(item, bytes) else item

    def add(self, record: Record) -> None:
        """Append one record."""
        self.times.append(record.t)
        if isinstance(record, Frame) and not record.prelude:
            self.items.append(record.data)
        else:
            self.items.append(record)

    def extend(self, other: RecordRun, start: int = 0, stop: int | None = None) -> None:
        """Append ``other``'s records ``start:stop``."""
        self.times += other.times[start:stop]
        self.items += other.items[start:stop]


@dataclass(frozen=True, slots=True)
class Header:
    """What a recording says about itself."""

    version: int
    source: str
    started: str
    markets: tuple[str, ...]
    mid_session: bool = False
    """The recording began in the middle of a session, with a starting point."""
    channels: tuple[tuple[str, str | None], ...] = ()
    """The channels the client intended when the recording began (empty in older files:
    the markets' default channels then)."""


_Item = tuple[int, "bytes | _Line"]
"""A queued record: its time and a frame's bytes (the feed's hot path) or another record."""


def _drain(queued: deque[_Item]) -> list[_Item]:
    """What is queued now (``popleft`` is atomic against the loop's ``append``)."""
    take = queued.popleft
    return [take() for _ in range(len(queued))]


_BLOCK_HEAD: Final = b'{"ts":['
_BLOCK_FRAME: Final = b'{"r":'
_BLOCK_SEP: Final = b'}\n{"r":'
_BLOCK_END: Final = b"}\n"


def _encode(items: list[_Item]) -> tuple[list[bytes], int]:
    """Recording lines for queued records, redacted (on the recorder's thread), and how many
    of them are frames. Runs of frames are handled a run at a time (see
    :func:`_encode_frames`); other records, a few per connection, one by one."""
    times, values = zip(*items, strict=True)
    kinds = list(map(type, values))
    parts: list[bytes] = []
    frames = kinds.count(bytes)  # by identity: no comparisons of types
    if frames == len(kinds):
        _encode_frames(times, values, parts)
        return parts, frames
    at = 0
    for other in [i for i, kind in enumerate(kinds) if kind is not bytes]:
        if other > at:
            _encode_frames(times[at:other], values[at:other], parts)
        parts.append(_encode_record(times[other], values[other]))
        at = other + 1
    if at < len(items):
        _encode_frames(times[at:], values[at:], parts)
    return parts, frames


def _encode_frames(times: tuple[int, ...], frames: tuple[bytes, ...], parts: list[bytes]) -> None:
    """Lines for a run of frames, appended to ``parts``.

    Nothing is done per frame in Python: the searches (for a secret, a newline, a non-ASCII
    byte) run once over the whole run, the times are one JSON array, the lines one join,
    all in C. A substring of one frame is a substring of the run, so a run without any of
    them has no frame with one; a run with one (almost never) is taken frame by frame.
    """
    joined = b"".join(frames)
    if redact_bytes(joined) is not joined:
        frames = tuple(map(redact_bytes, frames))  # a server that quoted our token: not on disk
        joined = b"".join(frames)
    if b"\n" in joined or not joined.isascii():
        parts.extend(_frame_record(t, data) for t, data in zip(times, frames, strict=True))
        return
    lines = _BLOCK_SEP.join(frames)  # the frames as received, one line each
    parts += (b'{"ts":', _encoder.encode(times), _BLOCK_END, _BLOCK_FRAME, lines, _BLOCK_END)


def _frame_record(t: int, data: bytes) -> bytes:
    """One frame's line, whatever its bytes (``data`` is redacted already)."""
    if b"\n" not in data and data.isascii():
        return b'{"t":%d,"r":%b}\n' % (t, data)
    try:
        line = _Line(t=t, f=data.decode())
    except UnicodeDecodeError:
        line = _Line(t=t, b64=base64.b64encode(data).decode())
    return _encoder.encode(line) + b"\n"


def _encode_record(t: int, line: _Line) -> bytes:
    """A record other than a received frame, redacted."""
    line.t = t
    if line.why is not None:
        line.why = redact(line.why)
    if line.s is not None:
        line.s = redact(line.s)
    if line.p is not None:
        line.p = redact(line.p)
    encoded = _encoder.encode(line)
    if line.tape is not None:
        encoded = redact_bytes(encoded)
    return encoded + b"\n"


_RAW_HEAD: Final = b'{"t":'
_RAW_KEY: Final = b',"r":'


class _Times(msgspec.Struct):
    ts: list[int]


_times_decoder: Final = msgspec.json.Decoder(_Times)


def _frame_line(line: bytes) -> Frame | None:
    """A frame line of earlier builds, ``{"t":<ns>,"r":<the frame's bytes as received>}``.

    The frame is written as it came (no escaping: most of a recording's size and of its
    CPU was escaping the quotes of JSON inside a JSON string) and read back by position,
    never parsed here, so even a malformed frame comes back byte for byte and the replay
    counts it as the live client did. Frames with a newline or non-ASCII bytes are written
    as a JSON string (``f``) or base64 (``b64``) instead.
    """
    end = line.find(_RAW_KEY, len(_RAW_HEAD))
    digits = line[len(_RAW_HEAD) : end]
    if end < 0 or not digits.isdigit() or not line.endswith(b"}"):
        return None
    return Frame(int(digits), line[end + len(_RAW_KEY) : -1])


def segment_path(path: Path, index: int) -> Path:
    """The ``index``-th segment of a recording (0 is ``path`` itself): ``a.rec.zst`` ->
    ``a.1.rec.zst``."""
    if index == 0:
        return path
    stem, dot, suffixes = path.name.partition(".")
    return path.with_name(f"{stem}.{index}{dot}{suffixes}")


class Recorder:
    """Writes a session (frames, connection boundaries, requests) to a recording.

    Usable as ``FeedClient(recorder=...)``: the feed queues each received frame with
    :attr:`queue` (calling the recorder does the same); :meth:`connection` and :meth:`sent`
    record the rest, :meth:`prelude` and :meth:`tape_state` a mid-session starting point.
    Each call only queues the record; a thread encodes, compresses and writes.
    """

    def __init__(
        self,
        path: Path,
        source: str = "",
        on_error: Callable[[str], None] | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
        *,
        markets: list[str] | None = None,
        channels: list[tuple[str, str | None]] | None = None,
        mid_session: bool = False,
        rotate_bytes: int = DEFAULT_ROTATE_BYTES,
        rotate_seconds: float = DEFAULT_ROTATE_SECONDS,
        flush_seconds: float = FLUSH_SECONDS,
    ) -> None:
        self.path = path
        self.on_error = on_error
        self.clock_ns = clock_ns
        self.source = redact(source)
        self.markets = list(markets or [])
        self.channels = [[kind, market] for kind, market in channels or []]
        """The channels of the intended set, for a replay to intend the same ones."""
        self.mid_session = mid_session
        self.rotate_bytes = rotate_bytes
        self.rotate_seconds = rotate_seconds
        self.flush_seconds = flush_seconds
        self.frames = 0
        """Frames written so far (handed to the compressor)."""
        self.segments = 1
        self.flushes = 0
        """Blocks flushed to the disk so far (what a killed process keeps)."""
        self.frames_on_disk = 0
        """Frames flushed to the disk so far (what survives a failure)."""
        self.size = 0
        """Compressed bytes flushed to the disk so far, every segment together."""
        self._closed_segments_size = 0
        self.error: str | None = None
        """Why recording stopped, if it did (a sentence naming the file)."""
        self.failure = ""
        """The same in a few words (``No space left on device``), for a status line."""
        self._session = secrets.token_hex(8)
        self._items: deque[_Item] = deque(maxlen=QUEUE_LIMIT)
        """Records waiting for the thread: (time, a frame's bytes or another record).
        Appending is all a record costs the event loop; the thread takes the lot a few
        times a second (waking it per record cost more than recording: a thread switch per
        frame)."""
        self.queue = self._items.append
        self._wake = threading.Event()
        self._closing = False
        self._stopped = False
        self._loop: asyncio.AbstractEventLoop | None = None
        """The loop errors are reported on: the one the records come from."""
        self._note_loop()
        self._file, self._writer = self._open(path, 0)  # errors here reach the caller
        self._segment_started = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="sordash recorder", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ the feed's side

    @property
    def stopped(self) -> bool:
        """True once the recorder was closed or stopped on an error (:attr:`error`)."""
        return self._stopped

    def __call__(self, data: bytes) -> None:
        """Record one frame as received (queued: the thread redacts, encodes, writes)."""
        if not self._stopped:
            self._items.append((self.clock_ns(), data))

    def connection(self, boundary: ConnectionBoundary, why: str = "") -> None:
        """Record a connection boundary."""
        if not self._stopped:
            if self._loop is None:
                self._note_loop()
            self._items.append((self.clock_ns(), _Line(c=boundary, why=why or None)))

    def sent(self, text: str) -> None:
        """Record a request as the client sent it."""
        if not self._stopped:
            self._items.append((self.clock_ns(), _Line(s=text)))

    def prelude(self, frame: bytes) -> None:
        """Record a frame of a mid-session starting point (not sent by the server now)."""
        if not self._stopped:
            self._items.append((self.clock_ns(), _Line(p=frame.decode())))

    def tape_state(self, state: TapeState) -> None:
        """Record a market's tape as held, for a mid-session starting point."""
        if not self._stopped:
            self._items.append((self.clock_ns(), _Line(tape=state)))

    def _note_loop(self) -> None:
        with contextlib.suppress(RuntimeError):  # not on a loop: errors are reported directly
            self._loop = asyncio.get_running_loop()

    def close(self) -> None:
        """Write what is queued, end the stream and close the file (waits for the thread)."""
        if not self._stopped:
            self._stopped = True
        self._closing = True
        self._wake.set()
        self._thread.join()

    # ------------------------------------------------------------------ the thread's side

    def _open(self, path: Path, segment: int) -> tuple[IO[bytes], zstandard.ZstdCompressionWriter]:
        # A new regular file, never overwriting one; a device or pipe (say /dev/full, or a
        # FIFO read by another program) is opened for writing as it is.
        special = path.exists() and not path.is_file()
        try:
            file: IO[bytes] = path.open("wb" if special else "xb")
        except FileExistsError:
            raise RecordingError(f"{path} already exists; choose a new file name") from None
        except OSError as exc:
            raise RecordingError(f"cannot create {path}: {exc.strerror or exc}") from None
        writer = zstandard.ZstdCompressor(level=ZSTD_LEVEL).stream_writer(
            file, closefd=False, write_return_read=True
        )
        header = _Line(
            sordash_recording=FORMAT_VERSION,
            source=self.source,
            started=format_time(self.clock_ns()),
            markets=self.markets,
            channels=self.channels or None,
            session=self._session,
            segment=segment,
            start="mid-session" if self.mid_session and segment == 0 else None,
        )
        writer.write(_encoder.encode(header) + b"\n")
        return file, writer

    def _run(self) -> None:
        flushed_at = time.monotonic()
        pending = False
        while True:
            self._wake.wait(min(self.flush_seconds, WAKE_SECONDS))
            closing = self._closing
            if self.error is not None:
                if closing:
                    return
                # Stopped on an error: whoever queues may not have heard yet; what they
                # queue meanwhile goes nowhere rather than pile up.
                self._items.clear()
                continue
            if len(self._items) == QUEUE_LIMIT and not closing:
                self._fall_behind()
                continue
            items = _drain(self._items)
            try:
                if items:
                    parts, frames = _encode(items)
                    write = self._writer.write
                    for part in parts:
                        write(part)
                    self.frames += frames
                    pending = True
                now = time.monotonic()
                if closing:
                    self._finish()
                    return
                if pending and now - flushed_at >= self.flush_seconds:
                    self._flush()
                    pending, flushed_at = False, now
                    self._maybe_rotate(now)
            except OSError as exc:
                self._fail(exc)
                if closing:
                    return

    def _flush(self) -> None:
        self._writer.flush(zstandard.FLUSH_BLOCK)
        self._file.flush()
        self.flushes += 1
        self.frames_on_disk = self.frames
        if self._file.seekable():
            self.size = self._closed_segments_size + self._file.tell()

    def _fall_behind(self) -> None:
        """More was queued than the disk took in time, and the oldest records waiting may
        have been pushed out: the file ends before them, whole, and says why."""
        self._items.clear()
        with contextlib.suppress(OSError, ValueError):
            self._end_segment()
        self.failure = "the disk did not keep up"
        self._report(
            f"recording to {self.path} stopped after {self.frames_on_disk} frames: the disk "
            f"did not keep up ({QUEUE_LIMIT} records waited); the feed goes on, what was "
            "written is kept"
        )

    def _maybe_rotate(self, now: float) -> None:
        size = self._file.tell() if self._file.seekable() else 0
        if size < self.rotate_bytes and now - self._segment_started < self.rotate_seconds:
            return
        self._end_segment()
        next_path = segment_path(self.path, self.segments)
        try:
            self._file, self._writer = self._open(next_path, self.segments)
        except RecordingError as exc:
            self.failure = "cannot open the next segment"
            self._report(f"recording stopped after {self.frames_on_disk} frames: {exc}")
            return
        self.segments += 1
        self._segment_started = now

    def _end_segment(self) -> None:
        self._writer.flush(zstandard.FLUSH_FRAME)
        self._file.flush()
        self.frames_on_disk = self.frames
        if self._file.seekable():
            self._closed_segments_size += self._file.tell()
            self.size = self._closed_segments_size
        self._file.close()

    def _finish(self) -> None:
        self._end_segment()

    def _fail(self, exc: OSError) -> None:
        if self._stopped and self.error is not None:
            return  # reported already
        with contextlib.suppress(OSError, ValueError):
            self._file.close()
        reason = exc.strerror or str(exc)
        self.failure = reason
        self._report(
            f"recording to {self.path} stopped after {self.frames_on_disk} frames: {reason}; "
            "the feed goes on, what was written is kept"
        )

    def _report(self, message: str) -> None:
        self._stopped = True
        self.error = message
        callback = self.on_error
        if callback is None:
            return
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(callback, message)
        else:
            callback(message)


RUN_RECORDS: Final = 2000
"""Records per run :meth:`RecordingReader.runs` yields by default."""
_FRAME_OF_LINE: Final = operator.itemgetter(slice(len(_BLOCK_FRAME), -1))
"""A block's frame line (``{"r":<frame>}``) to its frame, in C (no bytecode per frame)."""


def _frame_lines(lines: list[bytes]) -> int:
    """How many of ``lines``, from the first, are frame lines of a block (``{"r":..}``).
    The usual answer, all of them, is checked in C; a bad line is then looked for."""
    if all(map(bytes.startswith, lines, repeat(_BLOCK_FRAME))) and all(
        map(bytes.endswith, lines, repeat(b"}"))
    ):
        return len(lines)
    frame = _BLOCK_FRAME
    return next(
        i for i, line in enumerate(lines) if not (line.startswith(frame) and line[-1:] == b"}")
    )


class _Lines:
    """The lines of one file, decompressed if it is zstd, a piece at a time: :meth:`next`
    one line, :meth:`take` many at once. A cut-short file gives its whole lines and sets
    the reader's :attr:`~RecordingReader.cut_short`."""

    def __init__(self, reader: RecordingReader, path: Path) -> None:
        self.reader = reader
        self.path = path
        self.number = 0
        """The number of the last line handed out (the first is 1)."""
        self._lines: list[bytes] = []
        self._at = 0
        self._split = 0
        """Lines split out of the file so far."""
        self._rest = b""
        self._ended = False
        try:
            self._handle = path.open("rb")
        except OSError as exc:
            raise RecordingError(f"cannot read recording {path}: {exc.strerror or exc}") from None
        try:
            head = self._handle.read(4)
            self._handle.seek(0)
        except OSError as exc:
            self._handle.close()
            raise RecordingError(f"cannot read recording {path}: {exc.strerror or exc}") from None
        reader._compressed = head == _ZSTD_MAGIC
        self._decompressor = (
            zstandard.ZstdDecompressor().decompressobj() if reader._compressed else None
        )

    def __enter__(self) -> _Lines:
        return self

    def __exit__(self, *_: object) -> None:
        self._handle.close()

    def _fill(self) -> bool:
        """Read the next piece of whole lines; False at the end of the file."""
        while not self._ended:
            piece = self._handle.read(_READ_CHUNK)
            decompressor = self._decompressor
            if not piece:
                self._ended = True
                if decompressor is None:
                    if self._rest:
                        self._cut("the last line is incomplete")
                elif self._rest or not decompressor.eof:
                    self._cut("the recording was not closed (cut short)")
                return False
            if decompressor is not None:
                try:
                    piece = decompressor.decompress(piece)
                except zstandard.ZstdError as exc:
                    self._ended = True
                    self._cut(f"the data is damaged ({exc})")
                    return False
            *whole, self._rest = (self._rest + piece).split(b"\n")
            if whole:
                self._lines, self._at = whole, 0
                self._split += len(whole)
                return True
        return False

    def _cut(self, why: str) -> None:
        self.reader._cut(self.path, self._split + 1, why)

    def next(self) -> tuple[int, bytes] | None:
        """The next line and its number; None at the end."""
        if self._at == len(self._lines) and not self._fill():
            return None
        line = self._lines[self._at]
        self._at += 1
        self.number += 1
        return self.number, line

    def take(self, count: int) -> list[bytes]:
        """The next ``count`` lines (fewer at the end of the file)."""
        taken: list[bytes] = []
        while len(taken) < count:
            if self._at == len(self._lines) and not self._fill():
                break
            at = self._at
            piece = self._lines[at : at + count - len(taken)]
            taken += piece
            self._at = at + len(piece)
        self.number += len(taken)
        return taken


class RecordingReader:
    """Reads a recording (format 1 or 2, every segment of a session) record by record.

    A file that ends in the middle of a record (the recording process was killed) is read
    up to its last whole record; :attr:`cut_short` then says so. Anything else that cannot
    be read raises :class:`RecordingError` naming the file and the line.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.cut_short = ""
        """Why the last segment ended early ("" when it ended properly)."""
        self.header: Header | None = None
        self.segments = 0
        self._cut_why = ""
        self._compressed = False

    def __iter__(self) -> Iterator[Record]:
        for run in self.runs():
            yield from run

    def runs(self, size: int = RUN_RECORDS) -> Iterator[RecordRun]:
        """The records in runs of ``size`` (fewer at the end, or before a record that
        cannot be read: the error is raised after the records before it)."""
        session: str | None = None
        index = 0
        while True:
            path = segment_path(self.path, index)
            if index and not path.exists():
                return
            with _Lines(self, path) as lines:
                header = self._header(path, lines.next())
                if index == 0:
                    session = header[1]
                elif header[1] is None or header[1] != session:
                    return  # a file of that name from another recording: not ours to read
                self.segments = index + 1
                yield from self._runs(path, lines, size)
            if self.cut_short or self.header is None or self.header.version < 2:
                return
            index += 1

    def _header(self, path: Path, first: tuple[int, bytes] | None) -> tuple[Header, str | None]:
        if first is None:
            if self._cut_why and self._compressed:
                raise RecordingError(
                    f"{path} holds no whole record, not even its header: {self._cut_why}"
                )
            if self._cut_why:
                raise RecordingError(f"{path} is not a sordash recording (not a line of text)")
            raise RecordingError(f"{path} is empty: not a sordash recording")
        try:
            line = _decoder.decode(first[1])
        except msgspec.DecodeError:
            raise RecordingError(f"{path} is not a sordash recording") from None
        if line.sordash_recording not in READABLE_VERSIONS:
            raise RecordingError(f"{path} is not a sordash recording")
        header = Header(
            line.sordash_recording or 0,
            line.source or "",
            line.started or "",
            tuple(line.markets or ()),
            mid_session=line.start == "mid-session",
            channels=tuple((str(c[0]), c[1]) for c in line.channels or () if len(c) == 2),
        )
        if self.header is None:
            self.header = header
        return header, line.session

    def _runs(self, path: Path, lines: _Lines, size: int) -> Iterator[RecordRun]:
        run = RecordRun()
        while (item := lines.next()) is not None:
            number, raw = item
            if raw.startswith(_BLOCK_HEAD):
                try:
                    times = _times_decoder.decode(raw).ts
                except msgspec.DecodeError as exc:
                    if run:
                        yield run
                    raise RecordingError(f"{path}:{number}: not a recording line ({exc})") from None
                at = 0
                while at < len(times):
                    first = lines.number + 1
                    block = lines.take(min(len(times) - at, size - len(run)))
                    good = _frame_lines(block)
                    run.times += times[at : at + good]
                    run.items += map(_FRAME_OF_LINE, block[:good])
                    at += good
                    if good < len(block):
                        if run:
                            yield run
                        raise RecordingError(
                            f"{path}:{first + good}: frame {at + 1} of the block at line "
                            f"{number} is not a frame line"
                        )
                    if run and (not block or len(run) >= size):
                        yield run
                        run = RecordRun()
                    if not block:  # the file ended inside the block
                        if self.cut_short:
                            return
                        raise RecordingError(
                            f"{path}:{number}: the block of {len(times)} frames ends after {at}"
                        )
                continue
            run.add(self._record(path, number, raw))
            if len(run) >= size:
                yield run
                run = RecordRun()
        if run:
            yield run

    def _record(self, path: Path, number: int, raw: bytes) -> Record:
        """The record of one line that is not in a block."""
        if raw.startswith(_RAW_HEAD) and (frame := _frame_line(raw)) is not None:
            return frame
        try:
            line = _decoder.decode(raw)
        except msgspec.DecodeError as exc:
            raise RecordingError(f"{path}:{number}: not a recording line ({exc})") from None
        data = line.f if line.f is not None else line.frame
        if data is not None:
            return Frame(line.t, data.encode())
        if line.b64 is not None:
            return Frame(line.t, base64.b64decode(line.b64))
        if line.c is not None and line.c in _BOUNDARIES:
            return Connection(line.t, _BOUNDARIES[line.c], line.why or "")
        if line.s is not None:
            return Sent(line.t, line.s)
        if line.p is not None:
            return Frame(line.t, line.p.encode(), prelude=True)
        if line.tape is not None:
            return TapeStart(line.t, line.tape)
        raise RecordingError(f"{path}:{number}: a line without a record")

    def _cut(self, path: Path, number: int, why: str) -> None:
        self._cut_why = why
        self.cut_short = f"{path}:{number}: {why}; replayed up to the last whole record"


def read_recording(path: Path) -> Iterator[Record]:
    """Every record of a recording (see :class:`RecordingReader`)."""
    return iter(RecordingReader(path))
