"""Recording a session and reading it back for replay.

**Format 3** (what :class:`Recorder` writes): JSON Lines, compressed with zstd as a run of
zstd frames (see below). The first line is the header ``{"sordash_recording": 3, "source":
..., "started": ..., "markets": [...],
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
measures it again). Each batch the recorder writes (:data:`BATCH_BYTES` of text, or what
came in :data:`FLUSH_SECONDS`) is one zstd frame of its own, compressed in one call and
written whole, so a killed process leaves a file that replays up to its last batch. One
call per batch rather than a stream: on a recording of the paced 20k frames/s benchmark,
the stream's compressor (``stream_writer``, level 1) took 490-530 ns of CPU a frame, one
``compress`` a batch 270-340 ns (in the same run), for the same size on disk (21.3-21.7
bytes a frame against 21.6). Level 1 stays: level -1 saved 0-60 ns a frame for 40 % more
bytes, and no parameter of level 1 (hash, window, match length) moved either figure by
more than 5 %. A recording is rotated to ``NAME.1.EXT``,
``NAME.2.EXT``, ... by size or age; replaying ``NAME`` continues through the segments of the
same session.

Compression and writing happen on a thread of their own, never on the event loop. All the
loop does per frame is append the receive time and the frame's bytes to two deques
(:attr:`Recorder.queue_time`, :attr:`Recorder.queue`: bound ``deque.append``, no Python call,
no tuple); every :data:`HAND_OVER_SECONDS` its timer makes what was queued
one block (C calls over the lot: the joins and the checks for a newline or a non-ASCII
byte) and frees the frames, on the thread that made them. The thread takes the blocks,
searches each batch once for secrets, compresses it and writes it (zstandard releases the
GIL while it compresses). Nothing secret is written: every text goes through
:mod:`app.redact` (a server that quotes the token does not get it on disk), and the client
never hands the recorder a header or credentials. Writing never takes the feed down: when
the disk fills or the file breaks, the recorder stops, keeps what it wrote, and reports the
error once through ``on_error``.

**Format 2** (older files, still replayed): the same lines in one zstd stream. Format 3
differs only in its many zstd frames, and says so for the builds that read a stream's first
frame alone: they refuse the file rather than replay its first second.

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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path
from typing import IO, Final, Literal, Protocol, TypeVar

import msgspec
import zstandard

from app.protocol import format_time
from app.redact import redact, redact_bytes
from app.tape import TapeState

FORMAT_VERSION: Final = 3
READABLE_VERSIONS: Final = (1, 2, 3)
ZSTD_LEVEL: Final = 1
FLUSH_SECONDS: Final = 1.0
"""The longest a record waits before it reaches the disk."""
BATCH_BYTES: Final = 256 * 1024
"""Text written as one zstd frame once this much is waiting (about 70 ms of a 20k frames/s
feed; zstd took as much CPU a frame for 64 KB as for 1 MB, and a frame's size on disk
was the same within 2 %)."""
DEFAULT_ROTATE_BYTES: Final = 256 * 1024 * 1024
"""A segment is closed and the next begun past this many compressed bytes..."""
DEFAULT_ROTATE_SECONDS: Final = 3600.0
"""... or after this long."""
QUEUE_LIMIT: Final = 250_000
"""Records that may wait for the thread (12 s of a 20k frames/s feed): past this the disk
is not keeping up, and the recording stops saying so rather than grow without bound."""
HAND_OVER_SECONDS: Final = 0.02
"""How often the loop makes the frames queued a block for the thread: at 20k frames/s 400
frames, about 75 KB, freed after 20 ms at most."""
WAKE_SECONDS: Final = 0.1
"""How often the thread takes the blocks handed over."""
_T = TypeVar("_T")
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
    def queue_time(self) -> Callable[[int], None]:
        """Queue a received frame's receive time (read from :attr:`clock_ns`), then..."""

    @property
    def queue(self) -> Callable[[bytes], None]:
        """... its bytes: what the feed calls per frame, both a bound ``deque.append`` (no
        Python function call on the loop's hot path, no tuple)."""

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


@dataclass(frozen=True, slots=True)
class _Block:
    """Frames handed to the thread at once, each of them fit to be a block line (ASCII, no
    newline)."""

    times: bytes
    """Their receive times: the JSON array of the block's first line."""
    count: int
    lines: bytes
    """The frames joined by ``_BLOCK_SEP``: the block's frame lines, less the first one's
    opening and the last one's end."""


@dataclass(frozen=True, slots=True)
class _Run:
    """Frames handed over at once, one of them not fit to be a block line (a newline or a
    non-ASCII byte: a faulty server's garbage, almost never)."""

    times: list[int]
    frames: list[bytes]


_Item = _Block | _Run | tuple[int, "_Line"]
"""What the thread is handed: frames in bulk, or another record with its time."""


def _drain(queued: deque[_T]) -> list[_T]:
    """What is queued now (``popleft`` is atomic against another thread's ``append``)."""
    take = queued.popleft
    return [take() for _ in range(len(queued))]


_BLOCK_HEAD: Final = b'{"ts":['
_BLOCK_FRAME: Final = b'{"r":'
_BLOCK_SEP: Final = b'}\n{"r":'
_BLOCK_END: Final = b"}\n"
_times_decoder_list: Final = msgspec.json.Decoder(list[int])


def _frames_item(times: list[int], frames: list[bytes]) -> _Block | _Run:
    """Frames as the thread takes them: one block, made by C calls over the lot (on the
    loop, so that the frames are freed where they were made and while fresh in its cache).
    A substring of one frame is a substring of the lot: without a newline or a non-ASCII
    byte, no frame has one."""
    plain = b"".join(frames)
    if b"\n" in plain or not plain.isascii():
        return _Run(times, frames)
    return _Block(_encoder.encode(times), len(frames), _BLOCK_SEP.join(frames))


def _frames_in(item: _Item) -> int:
    if isinstance(item, _Block):
        return item.count
    return len(item.frames) if isinstance(item, _Run) else 0


def _text_size(item: _Item) -> int:
    """About how much text ``item`` makes (for the size of a batch)."""
    if isinstance(item, _Block):
        return len(item.lines)
    return sum(map(len, item.frames)) if isinstance(item, _Run) else 100


def _encode(items: list[_Item], *, frame_by_frame: bool = False) -> tuple[bytes, int]:
    """The recording's text for what the thread was handed, and how many frames it holds.

    Only the other records are redacted here, one by one: the caller searches the text
    once for every secret and, when it finds one (a server that quoted our token), encodes
    again ``frame_by_frame``, each frame redacted on its own so that it is masked whole.
    """
    parts: list[bytes] = []
    frames = 0
    for item in items:
        if isinstance(item, _Block):
            frames += item.count
            if frame_by_frame:  # no frame of a block holds a newline: the separators split it
                times = _times_decoder_list.decode(item.times)
                _encode_frames(times, item.lines.split(_BLOCK_SEP), parts)
            else:
                parts += (b'{"ts":', item.times, _BLOCK_END, _BLOCK_FRAME, item.lines, _BLOCK_END)
        elif isinstance(item, _Run):
            frames += len(item.frames)
            _encode_frames(item.times, item.frames, parts)
        else:
            parts.append(_encode_record(*item))
    return b"".join(parts), frames


def _encode_frames(times: Sequence[int], frames: Sequence[bytes], parts: list[bytes]) -> None:
    """Lines for frames, each redacted, appended to ``parts``: a block if they can be one,
    else a line per frame (the rare path: a secret, a newline or a non-ASCII byte)."""
    redacted = [redact_bytes(data) for data in frames]
    plain = b"".join(redacted)
    if b"\n" in plain or not plain.isascii():
        parts.extend(_frame_record(t, data) for t, data in zip(times, redacted, strict=True))
        return
    lines = _BLOCK_SEP.join(redacted)
    parts += (b'{"ts":', _encoder.encode(list(times)), _BLOCK_END, _BLOCK_FRAME, lines, _BLOCK_END)


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
    :attr:`queue_time` and :attr:`queue` (calling the recorder does the same);
    :meth:`connection` and :meth:`sent` record the rest, :meth:`prelude` and
    :meth:`tape_state` a mid-session starting point. Each call only queues the record; the
    loop's timer hands frames over in blocks, a thread encodes, compresses and writes.
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
        self._times: deque[int] = deque(maxlen=QUEUE_LIMIT)
        self._frames: deque[bytes] = deque(maxlen=QUEUE_LIMIT)
        """The frames received and their receive times, not yet handed to the thread:
        appending to both is all a frame costs the loop; its timer hands them over every
        :data:`HAND_OVER_SECONDS` (see :meth:`_hand_over`)."""
        self.queue_time = self._times.append
        self.queue = self._frames.append
        self._handing = threading.Lock()
        """Held while frames are handed over (two hand-overs at once, the loop's and the
        thread's when the loop is held up, would each take some) and while another record
        follows them."""
        self._handed_at = time.monotonic()
        self._handed = 0
        """Frames handed to the thread so far (:attr:`frames` of them are written)."""
        self._behind = False
        self._items: deque[_Item] = deque()
        """What the thread is to write, in order: blocks of frames and the other records."""
        self._wake = threading.Event()
        self._closing = False
        self._stopped = False
        self._loop: asyncio.AbstractEventLoop | None = None
        """The loop errors are reported on and that hands the frames over: the one the
        records come from."""
        self._pending: list[_Item] = []
        """Taken by the thread, to be written as the next batch."""
        self._compress = zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress
        self._note_loop()
        self._file, self._header = self._open(path, 0)  # errors here reach the caller
        self._segment_started = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="sordash recorder", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ the feed's side

    @property
    def stopped(self) -> bool:
        """True once the recorder was closed or stopped on an error (:attr:`error`)."""
        return self._stopped

    @property
    def backlog(self) -> int:
        """Frames (and other records) received and not yet written: what waits in memory."""
        return len(self._frames) + self._handed - self.frames

    def __call__(self, data: bytes) -> None:
        """Record one frame as received (queued: the thread redacts, encodes, writes)."""
        if not self._stopped:
            self._times.append(self.clock_ns())
            self._frames.append(data)

    def connection(self, boundary: ConnectionBoundary, why: str = "") -> None:
        """Record a connection boundary."""
        if not self._stopped:
            if self._loop is None:
                self._note_loop()
            self._record(_Line(c=boundary, why=why or None))

    def sent(self, text: str) -> None:
        """Record a request as the client sent it."""
        if not self._stopped:
            self._record(_Line(s=text))

    def prelude(self, frame: bytes) -> None:
        """Record a frame of a mid-session starting point (not sent by the server now)."""
        if not self._stopped:
            self._record(_Line(p=frame.decode()))

    def tape_state(self, state: TapeState) -> None:
        """Record a market's tape as held, for a mid-session starting point."""
        if not self._stopped:
            self._record(_Line(tape=state))

    def _record(self, line: _Line) -> None:
        """A record other than a frame: to the thread at once, after the frames before it."""
        with self._handing:
            self._hand_over_locked(on_loop=False)
            self._items.append((self.clock_ns(), line))

    def _note_loop(self) -> None:
        with contextlib.suppress(RuntimeError):  # not on a loop: the thread hands over
            self._loop = asyncio.get_running_loop()
            self._loop.call_later(HAND_OVER_SECONDS, self._tick)

    def _tick(self) -> None:
        """The loop's timer: hand the queued records over, again until the recorder stops."""
        self._hand_over(on_loop=True)
        if not self._stopped and self._loop is not None:
            self._loop.call_later(HAND_OVER_SECONDS, self._tick)

    def _hand_over(self, *, on_loop: bool = False) -> None:
        """Hand the frames received so far to the thread as one block.

        Done by the loop's timer (``on_loop``), so that the frames are joined and freed on
        the thread that made them and while they are fresh in its cache. When the loop
        does not do it (there is none: a recording written by a script; or it is held up),
        the thread does it instead, taking one frame at a time: safe while the loop
        appends, as only frames whose bytes are queued are taken.
        """
        with self._handing:
            self._hand_over_locked(on_loop=on_loop)

    def _hand_over_locked(self, *, on_loop: bool) -> None:
        self._handed_at = time.monotonic()
        frames = self._frames
        if not frames:
            return
        if len(frames) == QUEUE_LIMIT:
            self._behind = True  # the oldest may have been pushed out: the thread stops
        if on_loop:  # nothing appends meanwhile: the loop is the one that appends
            taken, times = list(frames), list(self._times)
            frames.clear()
            self._times.clear()
        else:  # the time is queued first: each frame taken has its time
            count = len(frames)
            take_frame, take_time = frames.popleft, self._times.popleft
            taken = [take_frame() for _ in range(count)]
            times = [take_time() for _ in range(count)]
        if self.error is not None:
            return  # stopped on an error: what arrives meanwhile goes nowhere
        self._handed += len(taken)
        if self._handed - self.frames > QUEUE_LIMIT:
            self._behind = True  # the thread does not keep up: it stops
        self._items.append(_frames_item(times, taken))

    def close(self) -> None:
        """Write what is queued, end the file (waits for the thread)."""
        self._stopped = True
        self._hand_over()
        self._closing = True
        self._wake.set()
        self._thread.join()

    # ------------------------------------------------------------------ the thread's side

    def _open(self, path: Path, segment: int) -> tuple[IO[bytes], bytes]:
        """A segment's file, and its header line (written with its first batch: a file cut
        before that holds nothing, as a stream not yet flushed held nothing)."""
        # A new regular file, never overwriting one; a device or pipe (say /dev/full, or a
        # FIFO read by another program) is opened for writing as it is.
        special = path.exists() and not path.is_file()
        try:
            file: IO[bytes] = path.open("wb" if special else "xb")
        except FileExistsError:
            raise RecordingError(f"{path} already exists; choose a new file name") from None
        except OSError as exc:
            raise RecordingError(f"cannot create {path}: {exc.strerror or exc}") from None
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
        return file, _encoder.encode(header) + b"\n"

    def _run(self) -> None:
        written_at = time.monotonic()
        size = 0
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
            if self._behind and not closing:
                self._fall_behind()
                continue
            now = time.monotonic()
            if now - self._handed_at > 2 * HAND_OVER_SECONDS:
                self._hand_over()  # no loop does it (not on one, or it is held up)
            items = _drain(self._items)
            self._pending += items
            size += sum(map(_text_size, items))
            try:
                if self._pending and (
                    closing or size >= BATCH_BYTES or now - written_at >= self.flush_seconds
                ):
                    self._write_batch()
                    size, written_at = 0, now
                    self._maybe_rotate(now)
                if closing:
                    self._end_segment()
                    return
            except OSError as exc:
                self._fail(exc)
                if closing:
                    return

    def _write_batch(self) -> None:
        """What is pending, as one zstd frame, written whole."""
        items, self._pending = self._pending, []
        text, frames = _encode(items)
        if redact_bytes(text) is not text:  # one search for every secret in the lot
            text, frames = _encode(items, frame_by_frame=True)
        if self._header:
            text, self._header = self._header + text, b""
        self._file.write(self._compress(text))  # zstandard releases the GIL while it works
        self._file.flush()
        self.frames += frames
        self.flushes += 1
        self.frames_on_disk = self.frames
        if self._file.seekable():
            self.size = self._closed_segments_size + self._file.tell()

    def _fall_behind(self) -> None:
        """More was queued than the disk took in time, and the oldest records waiting may
        have been pushed out: the file ends before them, whole, and says why."""
        self._items.clear()
        self._pending.clear()
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
            self._file, self._header = self._open(next_path, self.segments)
        except RecordingError as exc:
            self.failure = "cannot open the next segment"
            self._report(f"recording stopped after {self.frames_on_disk} frames: {exc}")
            return
        self.segments += 1
        self._segment_started = now

    def _end_segment(self) -> None:
        if self._pending or self._header:
            self._write_batch()
        if self._file.seekable():
            self._closed_segments_size += self._file.tell()
            self.size = self._closed_segments_size
        self._file.close()

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
        self._zstd = zstandard.ZstdDecompressor() if reader._compressed else None
        self._frame = self._zstd.decompressobj() if self._zstd is not None else None
        """The zstd frame being read (format 3 writes one a batch, format 2 one in all)."""
        self._begun = False
        """:attr:`_frame` has begun: the file ending now ends it in the middle."""

    def __enter__(self) -> _Lines:
        return self

    def __exit__(self, *_: object) -> None:
        self._handle.close()

    def _fill(self) -> bool:
        """Read the next piece of whole lines; False at the end of the file."""
        while not self._ended:
            piece = self._handle.read(_READ_CHUNK)
            if not piece:
                self._ended = True
                if self._zstd is None:
                    if self._rest:
                        self._cut("the last line is incomplete")
                elif self._rest or self._begun:
                    self._cut("the recording was not closed (cut short)")
                return False
            damage = ""
            if self._zstd is not None:
                piece, damage = self._decompress(piece)
            *whole, self._rest = (self._rest + piece).split(b"\n")
            if whole:
                self._lines, self._at = whole, 0
                self._split += len(whole)
            if damage:  # the lines before the damage are read, and no more
                self._ended = True
                self._cut(f"the data is damaged ({damage})")
            if whole:
                return True
        return False

    def _decompress(self, piece: bytes) -> tuple[bytes, str]:
        """The text of ``piece``, through every zstd frame it ends or begins, and what is
        wrong with the data ("" when nothing): the text decompressed before the damage is
        kept (the whole batches before a damaged one replay)."""
        zstd, frame = self._zstd, self._frame
        assert zstd is not None and frame is not None
        text: list[bytes] = []
        try:
            while piece:
                text.append(frame.decompress(piece))
                self._begun = True
                if not frame.eof:
                    break
                piece = frame.unused_data  # the next zstd frame's beginning, if any
                frame = self._frame = zstd.decompressobj()
                self._begun = False
        except zstandard.ZstdError as exc:
            return b"".join(text), str(exc)
        return b"".join(text), ""

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
    """Reads a recording (format 1, 2 or 3, every segment of a session) record by record.

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
