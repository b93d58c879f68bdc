"""Small files of what a trader set with keys, kept across restarts (view settings,
later alerts), in the user's state directory (``platformdirs``:
``~/.local/state/sordash`` on Linux).

Written atomically: the new content goes to a temporary file in the same directory, is
flushed to disk, then replaces the old file in one rename, so a crash or a full disk
leaves the old file whole, never half a file. A file that cannot be read or decoded is
never overwritten: it is moved aside (``NAME.bad``, the newest such kept) and the reason
is given in one line, so that nothing the trader set is lost without a word.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Generic, TypeVar

import msgspec
import platformdirs

T = TypeVar("T")


def default_state_dir() -> Path:
    """Where sordash keeps what a trader set (view settings, alerts)."""
    return platformdirs.user_state_path("sordash", appauthor=False)


class StateFileError(Exception):
    """A state file could not be written (the message says which file and why)."""


class StateFile(Generic[T]):
    """One JSON file holding a ``msgspec`` type ``kind``."""

    def __init__(self, path: Path, kind: type[T]) -> None:
        self.path = path
        self.kind = kind
        self.problem = ""
        """Why the file last read was not used (empty: it was, or there was none)."""

    def load(self, default: T) -> T:
        """What the file holds, else ``default``: when there is no file, or when it cannot
        be used (then :attr:`problem` says why and the file is moved aside, not lost)."""
        self.problem = ""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return default
        except OSError as exc:
            self.problem = f"{self.path}: cannot be read ({exc.strerror or exc}); using defaults"
            return default
        try:
            return msgspec.json.decode(data, type=self.kind)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            aside = self.path.with_name(self.path.name + ".bad")
            with contextlib.suppress(OSError):
                os.replace(self.path, aside)
            self.problem = (
                f"{self.path}: not a sordash settings file ({exc}); kept as {aside.name}, "
                "using defaults"
            )
            return default

    def save(self, value: T) -> None:
        """Replace the file's content with ``value`` at once (see the module docstring);
        :class:`StateFileError` when it cannot be written (the old file is then whole)."""
        data = msgspec.json.format(msgspec.json.encode(value), indent=2) + b"\n"
        directory = self.path.parent
        try:
            directory.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=directory)
        except OSError as exc:
            why = exc.strerror or str(exc)
            if directory.exists() and not directory.is_dir():
                why = f"{directory} is a file, not a folder"
            raise StateFileError(f"{self.path}: cannot be written ({why})") from None
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise StateFileError(
                f"{self.path}: cannot be written ({exc.strerror or exc})"
            ) from None
