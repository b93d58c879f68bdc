"""What a trader set with keys about how markets are shown, kept across restarts.

``view.json`` in the user's state directory (:func:`app.state_file.default_state_dir`),
written atomically whenever a setting changes (:class:`app.state_file.StateFile`). The
config says how things start; a setting made with a key and kept here wins over it, for
the markets it names. Unknown fields are ignored, so a newer sordash's file still loads.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from app.config import LadderConfig
from app.state_file import StateFile, default_state_dir
from app.tape import TapeSettings


class ViewSettings(msgspec.Struct):
    """The settings made with keys."""

    tape: dict[str, TapeSettings] = msgspec.field(default_factory=dict)
    """Market -> its tape's minimum size and aggregation (``m``, ``x``)."""
    ladder: LadderConfig | None = None
    """Every ladder's columns and mode (``C``, ``n``, ``v``, ``f``); None: as configured."""


def view_settings_file(path: Path | None = None) -> StateFile[ViewSettings]:
    """The view settings file (default: ``view.json`` in the user's state directory)."""
    return StateFile(path or default_state_dir() / "view.json", ViewSettings)
