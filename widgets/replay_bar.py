"""ReplayBar: where a replay stands, one line above the footer (``sordash --replay FILE``).

The recording's wall-clock time at the position (UTC, to the millisecond), the position as
elapsed / total and as frame N of M, the speed, and the transport's state as a badge from
the shared palette: ``● REPLAY`` (playing), ``◐ PAUSED``, ``○ ENDED``. Then the keys.

It reads :meth:`ReplayTransport.status` itself: on every change the transport reports (the
screen calls :meth:`show_status`) and, while the position moves by itself (playing, or the
recording still being indexed), on a clock of its own at :data:`REFRESH_HZ`. It repaints
only when its text changed.
"""

from __future__ import annotations

from rich.text import Text
from textual.timer import Timer

from app.replay import (
    ReplayTransport,
    TransportState,
    TransportStatus,
    format_clock,
    format_span,
)
from widgets.palette import TEXT_MUTED, TEXT_WARN, badge_class, badge_label
from widgets.quiet import StyledStatic

REFRESH_HZ = 15.0
"""Repaints a second while the position moves: the milliseconds read as moving."""


def speed_label(speed: float) -> str:
    """``0.25x``, ``1x``, ``64x``; ``max speed`` for as fast as possible."""
    return "max speed" if speed <= 0 else f"{speed:g}x"


def status_text(status: TransportStatus, hints: str = "") -> Text:
    """The bar's line for ``status`` (spans name palette classes, never colours)."""
    text = Text(no_wrap=True, overflow="ellipsis")
    word = status.state.value
    text.append(" ")
    text.append(f" {badge_label(word)} ", style=badge_class(word))
    if status.busy:
        text.append(f" {status.busy}…", style=TEXT_WARN)
    first, last, at = status.first_ns, status.last_ns, status.position_ns
    if at is None or first is None or last is None:
        text.append(" no records yet" if not status.complete else " the recording is empty")
    else:
        text.append(f" {format_clock(at, date=True)} UTC")
        text.append(" │ ", style=TEXT_MUTED)
        total = format_span(last - first) if status.complete else "…"
        text.append(f"{format_span(at - first)} / {total}")
        text.append(" │ frame ", style=TEXT_MUTED)
        frames = f"{status.frames:,}" if status.complete else f"{status.frames:,}+ (indexing)"
        text.append(f"{status.frame:,} of {frames}")
    text.append(" │ ", style=TEXT_MUTED)
    text.append(speed_label(status.speed))
    if hints:
        text.append(" │ ", style=TEXT_MUTED)
        text.append(hints, style=TEXT_MUTED)
    return text


class ReplayBar(StyledStatic):
    """The replay's time, position, speed and state (see the module docstring)."""

    def __init__(
        self, transport: ReplayTransport, *, hints: str = "", id: str | None = None
    ) -> None:
        super().__init__(id=id)
        self.transport = transport
        self.hints = hints
        """The transport's keys, as the keymap has them (shown after the figures)."""
        self._timer: Timer | None = None

    def on_mount(self) -> None:
        """Show where the replay stands, and keep showing it while it moves."""
        self._timer = self.set_interval(1.0 / REFRESH_HZ, self.show_status, pause=True)
        self.show_status()

    def show_status(self) -> None:
        """Read the transport and repaint if what shows changed."""
        status = self.transport.status()
        self.show_text(status_text(status, self.hints))
        moving = status.state is TransportState.PLAYING or not status.complete or bool(status.busy)
        timer = self._timer
        if timer is not None:
            if moving:
                timer.resume()
            else:
                timer.pause()
