"""The one palette of states: each state's glyph and component class, for every widget.

A market's header badge, the market tabs, the channel panel and the status bar all show
states (``LIVE``, ``SYNCING``, ``ACTIVE``, ``CONNECTED``, ...); each takes the state's look
from here, so a state looks the same wherever it is shown. The mapping goes from a state to
a component class (``badge--good`` ...); the classes are styled once, with theme variables,
in ``styles/dashboard.tcss``, so every theme recolours them.

Colour is never the only sign: each state also has a glyph, ``●`` ready, ``◐`` on its way,
``○`` not current, ``✗`` failed (a state's word says which one). Each glyph is one cell
wide, so a badge is as wide in every theme and for every state of the same length.

Text that is coloured but is no state (a bid price, a warning, a label) names one of the
``text--*`` classes the same way. Widgets build Rich ``Text`` whose spans name these classes
(``text.append("LIVE", "badge--good")``, or ``"bold text--warn"``); the widget resolves them
when it paints (:meth:`widgets.quiet.CachedStyles.styled`), so a theme change recolours it
without new text.
"""

from __future__ import annotations

from typing import Final

GOOD: Final = "badge--good"
WARN: Final = "badge--warn"
IDLE: Final = "badge--idle"
BAD: Final = "badge--bad"

BADGE_CLASS: Final[dict[str, str]] = {
    # a market's book and channels (MarketView.badge_for)
    "LIVE": GOOD,
    "SYNCING": WARN,
    "RESYNC": WARN,
    "AUTHENTICATING": WARN,
    "CONNECTING": WARN,
    "LEAVING": WARN,
    "QUEUED": WARN,
    "STALE": IDLE,
    "OFFLINE": IDLE,
    "NO BOOK": IDLE,
    "FAILED": BAD,
    # the connection (ConnectionState values, as the status bar writes them)
    "CONNECTED": GOOD,
    "RECONNECTING": WARN,
    "IDLE": IDLE,
    "STOPPED": IDLE,
    "AUTH FAILED": BAD,
    "FEED FAILED": BAD,
    # the replay transport (widgets/replay_bar.py; the status bar says REPLAY too)
    "REPLAY": GOOD,
    "PAUSED": WARN,
    "ENDED": IDLE,
    # one channel (SubState values)
    "ACTIVE": GOOD,
    "PENDING": WARN,
    "UNSUBSCRIBING": WARN,
}
"""State (as written on screen) -> its component class: the one badge palette."""

GLYPH: Final[dict[str, str]] = {GOOD: "●", WARN: "◐", IDLE: "○", BAD: "✗"}
"""Component class -> the glyph every state of that class is written with."""

TEXT_GOOD: Final = "text--good"
TEXT_WARN: Final = "text--warn"
TEXT_BAD: Final = "text--bad"
TEXT_MUTED: Final = "text--muted"
"""Labels and separators (what used to be Rich's ``dim``)."""
TEXT_BID: Final = "text--bid"
TEXT_ASK: Final = "text--ask"

PALETTE_CLASSES: Final = frozenset(
    {*GLYPH, TEXT_GOOD, TEXT_WARN, TEXT_BAD, TEXT_MUTED, TEXT_BID, TEXT_ASK}
)
"""Every component class of the palette (a widget showing states declares them all)."""


def badge_class(state: str) -> str:
    """The component class of ``state`` (an unknown state looks idle, never alarming)."""
    return BADGE_CLASS.get(state, IDLE)


def badge_label(state: str) -> str:
    """``state`` with its glyph: ``● LIVE``, ``◐ SYNCING``, ``○ STALE``, ``✗ FAILED``."""
    return f"{GLYPH[badge_class(state)]} {state}"
