"""Recording from the dashboard: the record key starts and stops a recording of the live
session, to a new timestamped file in the user's data directory.

The file is ``sordash-YYYYMMDDTHHMMSSZ.rec.zst`` (UTC, the moment the key was pressed) in
``[dashboard] record_dir`` or ``--record-dir`` if set, else the platform's user data
directory (``platformdirs``: ``~/.local/share/sordash/recordings`` on Linux).

A recording that starts in the middle of a session begins with a *starting point*
(:meth:`app.feed.FeedClient.record_from_here`): what a replay needs to stand where the live
client stood (the channels held and their answers, each book as held as a SNAPSHOT, each
tape as held), so that the frames after it replay exactly as they were applied live. It is
taken at an instant when nothing is under way (every subscribed book LIVE, no request
waiting for its answer); until then the recording waits, and the status bar says for what.
Not connected, the recording begins at once and its first connection is the next one.

Headless (no Textual): the dashboard calls :meth:`LiveRecording.toggle` on the key and
:meth:`LiveRecording.poll` on its once-a-second update, and shows :meth:`status`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Final

import platformdirs

from app.feed import FeedClient
from app.recording import Recorder, RecordingError
from app.redact import redact

SUFFIX: Final = ".rec.zst"


def default_record_dir() -> Path:
    """Where recordings go unless the config or ``--record-dir`` says otherwise."""
    return platformdirs.user_data_path("sordash", appauthor=False) / "recordings"


def recording_name(now: dt.datetime, attempt: int = 0) -> str:
    """``sordash-20261203T140512Z.rec.zst`` (``-2``, ``-3``, ... when that one exists)."""
    stamp = now.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"sordash-{stamp}{f'-{attempt + 1}' if attempt else ''}{SUFFIX}"


def format_size(size: int) -> str:
    """``512 B``, ``12.3 KiB``, ``1.20 MiB``, ``2.05 GiB``."""
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            return f"{value:.1f} {unit}" if value >= 10 else f"{value:.2f} {unit}"
    raise AssertionError("unreachable")


class LiveRecording:
    """The record key's recording of one feed (at most one at a time)."""

    def __init__(
        self,
        feed: FeedClient,
        directory: Path,
        *,
        session_recorder: Recorder | None = None,
        on_error: Callable[[str], None] | None = None,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.feed = feed
        self.directory = directory
        self.session_recorder = session_recorder
        """The ``--record FILE`` recorder, if any: the key does not start a second one."""
        self.on_error = on_error
        """Told (on the loop) why a recording stopped on its own (the disk full, ...)."""
        self.now = now
        """The clock the file name is read from (UTC)."""
        self.recorder: Recorder | None = None
        """The recording under way (or waiting to begin)."""
        self.waiting: str | None = None
        """Why the recording has not begun yet (None once it has)."""
        self.failed = ""
        """Why the last recording stopped on its own ("" if it did not)."""
        self.last: Recorder | None = None
        """The last recording, once stopped."""

    @property
    def recording(self) -> bool:
        """True from the key press that started a recording to the one that stops it."""
        return self.recorder is not None

    def start(self) -> tuple[str, bool]:
        """Start a recording; (what to tell the user, whether it is an error)."""
        feed = self.feed
        if feed.replaying:
            return "Nothing to record: this is a replay of a recording already", True
        external = self.session_recorder
        if external is not None and not external.stopped:
            return (
                f"Already recording to {external.path} (--record); the record key makes "
                "no second recording",
                True,
            )
        if self.recorder is not None:
            return f"Already recording to {self.recorder.path}", True
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            recorder = self._new_recorder()
        except (OSError, RecordingError) as exc:
            detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            return redact(f"Cannot record in {self.directory}: {detail}"), True
        self.recorder = recorder
        self.failed = ""
        self.waiting = "starting"
        if self.poll():
            return f"Recording to {recorder.path}", False
        return (
            f"Recording to {recorder.path} begins when nothing is under way (now: {self.waiting})",
            False,
        )

    def _new_recorder(self) -> Recorder:
        now = self.now()
        feed = self.feed
        for attempt in range(100):
            path = self.directory / recording_name(now, attempt)
            if path.is_file() or (path.exists() and path.is_dir()):
                continue  # taken (a device or pipe of that name is written as it is)
            return Recorder(
                path,
                source=feed.label,
                on_error=self._failed,
                markets=feed.markets(),
                channels=list(feed.subscriptions),
                mid_session=True,
            )
        raise RecordingError(f"{self.directory} has 100 recordings of this second already")

    def poll(self) -> bool:
        """Begin a waiting recording if nothing stands in the way now; True once begun."""
        recorder = self.recorder
        if recorder is None:
            return False
        if self.waiting is None:
            return True
        blocked = self.feed.recording_blocked()
        if blocked is not None:
            self.waiting = blocked
            return False
        self.feed.record_from_here(recorder)
        self.waiting = None
        return True

    def stop(self) -> Recorder | None:
        """Stop recording: the feed stops queuing frames at once; the caller closes the
        returned recorder (which writes what is queued and ends the file) off the loop.
        A recording that never began leaves no file behind."""
        recorder, self.recorder = self.recorder, None
        if recorder is None:
            return None
        if self.feed.recorder is recorder:
            self.feed.recorder = None
        if self.waiting is not None:
            recorder.close()
            with contextlib.suppress(OSError):
                recorder.path.unlink()
            self.waiting = None
            return None
        self.last = recorder
        return recorder

    def _failed(self, message: str) -> None:
        """The recorder stopped on an error (called on the loop)."""
        recorder = self.recorder
        if recorder is None or recorder.error != message:
            return
        self.stop()
        self.failed = message
        if self.on_error is not None:
            self.on_error(message)

    def status(self) -> str:
        """The status bar's words for the recording: ``REC name 1.20 MiB``, what it waits
        for, why it stopped; "" when nothing is recorded."""
        recorder = self.recorder
        if recorder is not None:
            if self.waiting is not None:
                return f"REC waiting: {self.waiting}"
            return f"REC {recorder.path.name} {format_size(recorder.size)}"
        external = self.session_recorder
        if external is not None:
            if external.error is not None:
                return f"REC STOPPED {external.path.name}: {external.failure}"
            return f"REC {external.path.name} {format_size(external.size)}"
        if self.failed and self.last is not None:
            return f"REC STOPPED {self.last.path.name}: {self.last.failure}"
        return ""

    def summary(self, recorder: Recorder) -> str:
        """What a stopped recording holds, for the user (after it is closed)."""
        size = recorder.size
        with contextlib.suppress(OSError):
            size = recorder.path.stat().st_size
        return f"Recorded {recorder.frames:,} frames to {recorder.path} ({format_size(size)})"
