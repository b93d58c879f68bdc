"""SubscriptionPanel: the state of every channel of one market, one line each.

For each channel: its state (a badge from the shared palette, :mod:`widgets.palette`), the
server's error code when it failed, messages received, the age of the newest message and
whether the last ``subscription_list`` confirmed it.
The shared ``heartbeat`` channel is listed too unless the panel is compact (grid layout).
Errors that belong to the market (from the feed) are shown on a last line.
"""

from __future__ import annotations

from rich.text import Text

from app.events import Subscription, SubState
from widgets.palette import (
    TEXT_BAD,
    TEXT_GOOD,
    TEXT_MUTED,
    TEXT_WARN,
    badge_class,
    badge_label,
)
from widgets.text_lines import TextLines

STATE_WIDTH = 8
"""Cells a channel's state word takes (``PENDING``, ``ACTIVE``): the columns after it stay
put whatever the state."""


def format_age(age: float | None) -> str:
    """A compact age: ``0.2s``, ``14s``, ``3m05s``, ``2h04m``; ``—`` when unknown."""
    if age is None:
        return "—"
    if age < 0:
        age = 0.0
    if age < 10:
        return f"{age:.1f}s"
    if age < 60:
        return f"{age:.0f}s"
    minutes, seconds = divmod(int(age), 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class SubscriptionPanel(TextLines):
    """Channel states of one market (updated in place by its MarketView)."""

    DEFAULT_CSS = """
    SubscriptionPanel {
        height: auto;
    }
    """

    COUNTER_PERIOD = 1.0
    """Seconds between repaints for message counts and ages alone, as the other ages on
    screen. A change of state, confirmation, error or layout repaints at once; at data
    rates the counts change on every tick, and repainting them even four times a second
    cost a sixth of the dashboard's repaint time for figures nobody reads that fast."""

    _shown_key: tuple[object, ...] = ()
    _shown_at: float = float("-inf")

    def show(
        self,
        channels: list[Subscription],
        heartbeat: Subscription | None,
        now: float,
        error: str = "",
        compact: bool = False,
    ) -> None:
        """Render the channels' states as of ``now`` (the monotonic clock)."""
        rows = list(channels)
        if heartbeat is not None and not compact:
            rows.append(heartbeat)
        key = (error, compact, *((s.type, s.state, s.confirmed, s.error) for s in rows))
        if key == self._shown_key and now - self._shown_at < self.COUNTER_PERIOD:
            return
        self._shown_key, self._shown_at = key, now
        text = Text(no_wrap=True, overflow="ellipsis")
        failed = False
        for index, sub in enumerate(rows):
            if index:
                text.append("\n")
            text.append(f"{sub.type:<15}", style="bold")
            if sub.state is SubState.FAILED:
                failed = True
                # The server's code in full: it is what a trader reports or looks up.
                text.append(f"✗ {sub.error or 'refused'}", style=TEXT_BAD)
                continue
            word = sub.state.value.upper()
            text.append(badge_label(word), style=badge_class(word))
            text.append(" " * (STATE_WIDTH - len(word)))
            if sub.confirmed is True:
                text.append(" ✓ listed  ", style=TEXT_GOOD)
            elif sub.confirmed is False:
                text.append(" ✗ UNLISTED", style=TEXT_BAD)
            else:
                text.append(" ? unlisted", style=TEXT_MUTED)
            text.append(f" {sub.messages:>7,} msg")
            age = sub.age(now)
            if age is not None:
                text.append(f" {format_age(age):>6}" + ("" if compact else " ago"))
        if not rows:
            text.append("no channels")
        if error:
            text.append("\n")
            text.append(f"⚠ {error}", style=f"bold {TEXT_WARN}")
        self.set_class(failed, "-failed")
        self.show_text(text)
