"""Pacing shared between processes: the API's per-IP limits, kept by every sordash at once.

Paxos allows about one token request and one subscription a second *per IP*. One sordash
paces its own (``app.auth``, ``FeedClient``), but ``sordash serve`` runs a dashboard process
per browser session, all from one IP. :class:`SharedPace` keeps one kind of request at
least ``interval`` apart across every process that names the same folder: each request
takes the next free slot from a small file under an exclusive ``flock`` (held for the
read and the write, a few microseconds) and waits for it. ``serve`` makes the folder and
names it to its sessions in :data:`PACE_DIR_ENV`; without it, pacing is per process as
before. Where ``fcntl`` is missing (Windows), too.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

PACE_DIR_ENV: Final = "SORDASH_PACE_DIR"
"""A folder whose pace files every sordash process that names it shares (set by serve)."""
TOKEN: Final = "token"
SUBSCRIBE: Final = "subscribe"


class SharedPace:
    """One kind of request, spaced ``interval`` seconds apart across processes."""

    def __init__(
        self, path: Path, interval: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.path = path
        self.interval = interval
        self._clock = clock
        """CLOCK_MONOTONIC: one clock for every process of the machine (Linux, macOS)."""

    def reserve(self) -> float:
        """Take the next free slot; the seconds to wait until it (0 when it is now)."""
        assert fcntl is not None
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                last = float(os.pread(fd, 64, 0) or b"-inf")
            except ValueError:
                last = float("-inf")  # a torn or foreign file: start afresh
            now = self._clock()
            slot = max(now, last + self.interval)
            data = repr(slot).encode()
            os.pwrite(fd, data, 0)
            os.ftruncate(fd, len(data))
            return slot - now
        finally:
            os.close(fd)  # and with it the lock


def shared_pace(
    kind: str, interval: float, environ: dict[str, str] | None = None
) -> SharedPace | None:
    """The pace of ``kind`` shared through :data:`PACE_DIR_ENV`, or None when unset."""
    folder = (os.environ if environ is None else environ).get(PACE_DIR_ENV)
    if not folder or fcntl is None:
        return None
    return SharedPace(Path(folder) / f"{kind}.pace", interval)
