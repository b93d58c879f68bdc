"""Raw-frame recording and replay.

A recording is JSON Lines: a header ``{"sordash_recording": 1, "source": ..., "started": ...}``
then one line per received frame, ``{"t": <ns since epoch>, "frame": "<text>"}`` (or ``"b64"``
for bytes that are not UTF-8). Only what the server sent is written, through
:mod:`app.redact`: no token, no secret, even where the server quoted one.

Writing never takes the feed down: when the disk fills or the file breaks, the recorder
stops, keeps what it wrote, and reports the error once through ``on_error``.
"""

from __future__ import annotations

import base64
import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Final

import msgspec

from app.protocol import format_time
from app.redact import redact_bytes

FORMAT_VERSION: Final = 1
_FLUSH_EVERY: Final = 256


class RecordingError(Exception):
    """A recording that cannot be read; the message names the file and the line."""


class _Line(msgspec.Struct, omit_defaults=True):
    t: int = 0
    frame: str | None = None
    b64: str | None = None
    sordash_recording: int | None = None
    source: str | None = None
    started: str | None = None


_encoder: Final = msgspec.json.Encoder()
_decoder: Final = msgspec.json.Decoder(_Line)


class Recorder:
    """Appends received frames to a file; usable as ``FeedClient(recorder=...)``."""

    def __init__(
        self,
        path: Path,
        source: str = "",
        on_error: Callable[[str], None] | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.path = path
        self.on_error = on_error
        self._clock_ns = clock_ns
        self.frames = 0
        self.error: str | None = None
        """Why recording stopped, if it did."""
        self._pending = 0
        # A new regular file, never overwriting one; a device or pipe (say /dev/full, or a
        # FIFO read by another program) is opened for writing as it is.
        special = path.exists() and not path.is_file()
        try:
            self._file: IO[bytes] | None = path.open("wb" if special else "xb")
        except FileExistsError:
            raise RecordingError(f"{path} already exists; choose a new file name") from None
        except OSError as exc:
            raise RecordingError(f"cannot create {path}: {exc.strerror or exc}") from None
        header = _Line(
            sordash_recording=FORMAT_VERSION, source=source, started=format_time(clock_ns())
        )
        self._write(_encoder.encode(header) + b"\n")

    def __call__(self, data: bytes) -> None:
        """Record one frame as received."""
        if self._file is None:
            return
        data = redact_bytes(data)  # a server that quotes our token must not get it on disk
        try:
            line = _Line(t=self._clock_ns(), frame=data.decode())
        except UnicodeDecodeError:
            line = _Line(t=self._clock_ns(), b64=base64.b64encode(data).decode())
        self.frames += 1
        self._write(_encoder.encode(line) + b"\n")

    def _write(self, data: bytes) -> None:
        file = self._file
        if file is None:
            return
        try:
            file.write(data)
            self._pending += 1
            if self._pending >= _FLUSH_EVERY:
                file.flush()
                self._pending = 0
        except OSError as exc:
            self._fail(exc)

    def _fail(self, exc: OSError) -> None:
        reason = exc.strerror or str(exc)
        self.error = (
            f"recording to {self.path} stopped after {self.frames} frames: {reason}; "
            "the feed goes on, what was written is kept"
        )
        file, self._file = self._file, None
        if file is not None:
            # The data that did not fit is lost; everything flushed before is on disk.
            with contextlib.suppress(OSError):
                file.close()
        if self.on_error is not None:
            self.on_error(self.error)

    def close(self) -> None:
        """Flush and close."""
        file, self._file = self._file, None
        if file is not None:
            try:
                file.close()
            except OSError as exc:
                self._file = file
                self._fail(exc)


def read_recording(path: Path) -> Iterator[tuple[int, bytes]]:
    """Yield ``(t_ns, frame)`` from a recording; raises :class:`RecordingError` on bad lines."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise RecordingError(f"cannot read recording {path}: {exc.strerror or exc}") from None
    with handle:
        for number, raw in enumerate(handle, 1):
            try:
                line = _decoder.decode(raw)
            except msgspec.DecodeError as exc:
                raise RecordingError(f"{path}:{number}: not a recording line ({exc})") from None
            if number == 1:
                if line.sordash_recording != FORMAT_VERSION:
                    raise RecordingError(f"{path} is not a sordash recording")
                continue
            if line.frame is not None:
                yield line.t, line.frame.encode()
            elif line.b64 is not None:
                yield line.t, base64.b64decode(line.b64)
            else:
                raise RecordingError(f"{path}:{number}: a line without a frame")
