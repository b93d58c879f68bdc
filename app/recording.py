"""Recording a session and reading it back for replay.

**Format 2** (what :class:`Recorder` writes): one zstd stream of JSON Lines. The first line
is the header ``{"sordash_recording": 2, "source": ..., "started": ..., "markets": [...],
"session": ..., "segment": 0}``; then one record per line, each with ``t`` (ns since the
epoch, as received or sent):

- ``{"t":..,"r":<the frame as received>}``: a frame the server sent, embedded as it came
  and read back by position (see :func:`_frame_line`); one with a newline or non-ASCII
  bytes is ``{"t": .., "f": "<frame text>"}`` or ``{"t": .., "b64": ...}`` instead;
- ``{"t": .., "c": "connecting" | "connected" | "closed" | "stopped", "why": "..."}``: a
  connection boundary, so a replay knows which frames belong to which connection (the
  UPDATEs a new connection sends before its SNAPSHOT must not land on the old book).
  ``closed`` is an attempt or connection that ended and will be made again (one
  reconnect, ``why`` says why); ``stopped`` is the end of the session;
- ``{"t": .., "s": "<request text>"}``: a request the client sent (subscribe, unsubscribe,
  subscription_list), so a replay pairs each result with its request as the live client did.

zstd rather than gzip: measured on a demo recording of four markets, zstd level 1 made the
file 9.3x smaller at 457 MB/s of CPU, gzip level 1 7.4x at 166 MB/s (``make bench``
measures it again). The stream is flushed block by block (at least once a second), so a
killed process leaves a file that replays up to its last flushed block. A recording is
rotated to ``NAME.1.EXT``, ``NAME.2.EXT``, ... by size or age; replaying ``NAME`` continues
through the segments of the same session.

Compression and writing happen on a thread of their own, never on the event loop. Nothing
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
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final, Literal, Protocol

import msgspec
import zstandard

from app.protocol import format_time
from app.redact import redact, redact_bytes

FORMAT_VERSION: Final = 2
READABLE_VERSIONS: Final = (1, 2)
ZSTD_LEVEL: Final = 1
FLUSH_SECONDS: Final = 1.0
"""The longest a written record waits in the compressor before it reaches the disk."""
DEFAULT_ROTATE_BYTES: Final = 256 * 1024 * 1024
"""A segment is closed and the next begun past this many compressed bytes..."""
DEFAULT_ROTATE_SECONDS: Final = 3600.0
"""... or after this long."""
_ZSTD_MAGIC: Final = b"\x28\xb5\x2f\xfd"
_READ_CHUNK: Final = 1 << 16

ConnectionBoundary = Literal["connecting", "connected", "closed", "stopped"]
_BOUNDARIES: Final[dict[str, ConnectionBoundary]] = {
    "connecting": "connecting",
    "connected": "connected",
    "closed": "closed",
    "stopped": "stopped",
}


class SessionRecorder(Protocol):
    """What the feed tells a recorder (:class:`Recorder` is one)."""

    def __call__(self, data: bytes) -> None:
        """A frame was received."""

    def connection(self, boundary: ConnectionBoundary, why: str = "") -> None:
        """The connection is being made, was made, or ended (``why``)."""

    def sent(self, text: str) -> None:
        """A request went out, as this text."""


class RecordingError(Exception):
    """A recording that cannot be read or written; the message names the file and line."""


class _Line(msgspec.Struct, omit_defaults=True):
    t: int = 0
    f: str | None = None
    b64: str | None = None
    c: str | None = None
    why: str | None = None
    s: str | None = None
    frame: str | None = None  # format 1
    sordash_recording: int | None = None
    source: str | None = None
    started: str | None = None
    markets: list[str] | None = None
    session: str | None = None
    segment: int | None = None


_encoder: Final = msgspec.json.Encoder()
_decoder: Final = msgspec.json.Decoder(_Line)


@dataclass(frozen=True, slots=True)
class Frame:
    """A frame the server sent."""

    t: int
    data: bytes


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


Record = Frame | Connection | Sent


@dataclass(frozen=True, slots=True)
class Header:
    """What a recording says about itself."""

    version: int
    source: str
    started: str
    markets: tuple[str, ...]


def _drain(
    queued: deque[tuple[int, bytes | None, _Line | None]],
) -> list[tuple[int, bytes | None, _Line | None]]:
    """Everything queued so far (``popleft`` is atomic against the loop's ``append``)."""
    items = []
    take = queued.popleft
    with contextlib.suppress(IndexError):
        while True:
            items.append(take())
    return items


def _encode(items: list[tuple[int, bytes | None, _Line | None]]) -> bytes:
    """Recording lines for queued records, redacted (on the recorder's thread)."""
    frames = [data for _, data, _ in items if data is not None]
    # One search of the whole batch finds whether any frame holds a secret (almost never):
    # only then is each frame redacted on its own. A substring of one frame is a substring
    # of the batch, so a batch without a secret has no frame with one.
    per_frame = _holds_secret(frames)
    lines: list[bytes] = []
    add = lines.append
    encode = _encoder.encode
    for t, data, record in items:
        if data is not None:
            if per_frame:
                data = redact_bytes(data)  # a server that quoted our token: not on disk
            if b"\n" not in data and data.isascii():
                add(b'{"t":%d,"r":%b}' % (t, data))  # as received: see _frame_line
                continue
            try:
                line = _Line(t=t, f=data.decode())
            except UnicodeDecodeError:
                line = _Line(t=t, b64=base64.b64encode(data).decode())
        else:
            assert record is not None
            line = record
            line.t = t
            if line.why is not None:
                line.why = redact(line.why)
            if line.s is not None:
                line.s = redact(line.s)
        add(encode(line))
    add(b"")
    return b"\n".join(lines)


def _holds_secret(frames: list[bytes]) -> bool:
    joined = b"".join(frames)
    return redact_bytes(joined) is not joined


_RAW_HEAD: Final = b'{"t":'
_RAW_KEY: Final = b',"r":'


def _frame_line(line: bytes) -> Frame | None:
    """A frame line, ``{"t":<ns>,"r":<the frame's bytes as received>}``.

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

    Usable as ``FeedClient(recorder=...)``: calling it records a received frame;
    :meth:`connection` and :meth:`sent` record the rest. Each call only queues the record;
    a thread compresses and writes.
    """

    def __init__(
        self,
        path: Path,
        source: str = "",
        on_error: Callable[[str], None] | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
        *,
        markets: list[str] | None = None,
        rotate_bytes: int = DEFAULT_ROTATE_BYTES,
        rotate_seconds: float = DEFAULT_ROTATE_SECONDS,
        flush_seconds: float = FLUSH_SECONDS,
    ) -> None:
        self.path = path
        self.on_error = on_error
        self._clock_ns = clock_ns
        self.source = redact(source)
        self.markets = list(markets or [])
        self.rotate_bytes = rotate_bytes
        self.rotate_seconds = rotate_seconds
        self.flush_seconds = flush_seconds
        self.frames = 0
        """Frames recorded (queued) so far."""
        self.segments = 1
        self.flushes = 0
        """Blocks flushed to the disk so far (what a killed process keeps)."""
        self.error: str | None = None
        """Why recording stopped, if it did."""
        self._session = secrets.token_hex(8)
        self._items: deque[tuple[int, bytes | None, _Line | None]] = deque()
        """Records waiting for the thread: (time, frame, or another record). Appending is
        all a record costs the event loop; the thread takes the list a few times a second
        (waking it per record cost more than recording: a thread switch per frame)."""
        self._wake = threading.Event()
        self._closing = False
        self._stopped = False
        self._loop: asyncio.AbstractEventLoop | None = None
        """The loop errors are reported on: the one the records come from."""
        self._file, self._writer = self._open(path, 0)  # errors here reach the caller
        self._segment_started = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="sordash recorder", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ the feed's side

    def __call__(self, data: bytes) -> None:
        """Record one frame as received (queued: the thread redacts, encodes, writes)."""
        if self._stopped:
            return
        if self._loop is None:
            self._note_loop()
        self.frames += 1
        self._items.append((self._clock_ns(), data, None))

    def connection(self, boundary: ConnectionBoundary, why: str = "") -> None:
        """Record a connection boundary."""
        if not self._stopped:
            self._note_loop()
            self._items.append((self._clock_ns(), None, _Line(c=boundary, why=why or None)))

    def sent(self, text: str) -> None:
        """Record a request as the client sent it."""
        if not self._stopped:
            self._items.append((self._clock_ns(), None, _Line(s=text)))

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
            started=format_time(self._clock_ns()),
            markets=self.markets,
            session=self._session,
            segment=segment,
        )
        writer.write(_encoder.encode(header) + b"\n")
        return file, writer

    def _run(self) -> None:
        flushed_at = time.monotonic()
        pending = False
        while True:
            self._wake.wait(min(self.flush_seconds, 0.1))
            closing = self._closing
            items = _drain(self._items)
            try:
                if items:
                    self._writer.write(_encode(items))
                    pending = True
                now = time.monotonic()
                if closing:
                    self._finish()
                    return
                if pending and now - flushed_at >= self.flush_seconds:
                    self._writer.flush(zstandard.FLUSH_BLOCK)
                    self._file.flush()
                    pending, flushed_at = False, now
                    self.flushes += 1
                    self._maybe_rotate(now)
            except OSError as exc:
                self._fail(exc)
                return

    def _maybe_rotate(self, now: float) -> None:
        size = self._file.tell() if self._file.seekable() else 0
        if size < self.rotate_bytes and now - self._segment_started < self.rotate_seconds:
            return
        self._end_segment()
        next_path = segment_path(self.path, self.segments)
        try:
            self._file, self._writer = self._open(next_path, self.segments)
        except RecordingError as exc:
            self._report(f"recording stopped after {self.frames} frames: {exc}")
            return
        self.segments += 1
        self._segment_started = now

    def _end_segment(self) -> None:
        self._writer.flush(zstandard.FLUSH_FRAME)
        self._file.close()

    def _finish(self) -> None:
        self._end_segment()

    def _fail(self, exc: OSError) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._file.close()
        reason = exc.strerror or str(exc)
        self._report(
            f"recording to {self.path} stopped after {self.frames} frames: {reason}; "
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

    def __iter__(self) -> Iterator[Record]:
        session: str | None = None
        index = 0
        while True:
            path = segment_path(self.path, index)
            if index and not path.exists():
                return
            lines = self._lines(path)
            header = self._header(path, next(lines, None))
            if index == 0:
                session = header[1]
            elif header[1] is None or header[1] != session:
                return  # a file of that name from another recording: not ours to read
            self.segments = index + 1
            yield from self._records(path, lines)
            if self.cut_short or self.header is None or self.header.version < 2:
                return
            index += 1

    def _header(self, path: Path, first: tuple[int, bytes] | None) -> tuple[Header, str | None]:
        if first is None:
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
        )
        if self.header is None:
            self.header = header
        return header, line.session

    def _records(self, path: Path, lines: Iterator[tuple[int, bytes]]) -> Iterator[Record]:
        for number, raw in lines:
            if raw.startswith(_RAW_HEAD) and (frame := _frame_line(raw)) is not None:
                yield frame
                continue
            try:
                line = _decoder.decode(raw)
            except msgspec.DecodeError as exc:
                raise RecordingError(f"{path}:{number}: not a recording line ({exc})") from None
            data = line.f if line.f is not None else line.frame
            if data is not None:
                yield Frame(line.t, data.encode())
            elif line.b64 is not None:
                yield Frame(line.t, base64.b64decode(line.b64))
            elif line.c is not None and line.c in _BOUNDARIES:
                yield Connection(line.t, _BOUNDARIES[line.c], line.why or "")
            elif line.s is not None:
                yield Sent(line.t, line.s)
            else:
                raise RecordingError(f"{path}:{number}: a line without a record")

    def _lines(self, path: Path) -> Iterator[tuple[int, bytes]]:
        """(line number, line) of a file, decompressed if it is zstd; a cut-short file
        yields its whole lines and sets :attr:`cut_short`."""
        try:
            handle = path.open("rb")
        except OSError as exc:
            raise RecordingError(f"cannot read recording {path}: {exc.strerror or exc}") from None
        with handle:
            head = handle.read(4)
            handle.seek(0)
            if head != _ZSTD_MAGIC:
                for number, raw in enumerate(handle, 1):
                    if not raw.endswith(b"\n"):
                        self._cut(path, number, "the last line is incomplete")
                        return
                    yield number, raw
                return
            decompressor = zstandard.ZstdDecompressor().decompressobj()
            rest = b""
            number = 0
            while chunk := handle.read(_READ_CHUNK):
                try:
                    data = decompressor.decompress(chunk)
                except zstandard.ZstdError as exc:
                    self._cut(path, number + 1, f"the data is damaged ({exc})")
                    return
                *whole, rest = (rest + data).split(b"\n")
                for raw in whole:
                    number += 1
                    yield number, raw
            if rest or not decompressor.eof:
                self._cut(path, number + 1, "the recording was not closed (cut short)")

    def _cut(self, path: Path, number: int, why: str) -> None:
        self.cut_short = f"{path}:{number}: {why}; replayed up to the last whole record"


def read_recording(path: Path) -> Iterator[Record]:
    """Every record of a recording (see :class:`RecordingReader`)."""
    return iter(RecordingReader(path))
