"""StatusBar: the connection at a glance, one line at the top of the dashboard.

Connection state and why, the environment or URL, the access token's countdown, frames
per second, reconnects and the server clock offset (from heartbeats). The state is a badge
from the shared palette (:mod:`widgets.palette`); classes ``-bad`` and ``-warn`` colour the
bar when the connection is not healthy.
"""

from __future__ import annotations

from rich.text import Text

from app.events import ConnectionState
from app.feed import FeedClient
from widgets.palette import TEXT_BAD, TEXT_MUTED, TEXT_WARN, WARN, badge_class, badge_label
from widgets.quiet import StyledStatic


def format_countdown(seconds: float) -> str:
    """``59:12`` or ``1:02:03``; ``expired`` at or below zero."""
    if seconds <= 0:
        return "expired"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class StatusBar(StyledStatic):
    """Connection state, endpoint, token countdown, rates and clock offset."""

    def show(
        self,
        feed: FeedClient,
        now: float,
        *,
        frozen: bool = False,
        note: str = "",
        resume_key: str = "p",
        recording: str = "",
        alerts: str = "",
    ) -> None:
        """Render the feed's state as of ``now`` (the monotonic clock); ``recording`` is
        what is being recorded (:meth:`app.live_recording.LiveRecording.status`), ``alerts``
        the count of alerts fired and not yet seen (``▲ 2 alerts (A)``)."""
        state = feed.state
        stats = feed.stats
        text = Text(no_wrap=True, overflow="ellipsis")
        word = state.value.upper()
        text.append(" ")
        if feed.replaying:
            # A replay is never CONNECTED to anything: say REPLAY, and the recorded state
            # only when it is not "connected" (a drop, the end).
            text.append(f" {badge_label('REPLAY')} ", style=badge_class("REPLAY"))
            if state is not ConnectionState.CONNECTED:
                text.append(" ")
                text.append(f" {badge_label(word)} ", style=badge_class(word))
        else:
            text.append(f" {badge_label(word)} ", style=badge_class(word))
        if frozen:
            text.append(" ")
            text.append(f" FROZEN ({resume_key} resumes) ", style=WARN)
        if alerts:  # before the rest: on a narrow terminal the line's end is cut off
            text.append(" ")
            text.append(alerts, style=f"bold {TEXT_WARN}")
        if state is not ConnectionState.CONNECTED and feed.state_detail:
            text.append(f" {feed.state_detail}")
        text.append(" │ ", style=TEXT_MUTED)
        text.append(feed.label or "no endpoint")
        expires = stats.token_expires_at
        if expires is not None:
            text.append(" │ token ", style=TEXT_MUTED)
            left = expires - now
            if left <= 0:
                # Normal on a long-lived socket (docs/protocol.md §7): the open connection stays
                # open, and the next connection fetches a fresh token first.
                text.append("expired, renewed on reconnect", style=TEXT_MUTED)
            else:
                text.append(format_countdown(left), style=TEXT_BAD if left < 60 else "")
        text.append(" │ ", style=TEXT_MUTED)
        text.append(f"{stats.frames_per_s:,.0f} fr/s")
        text.append(" │ reconnects ", style=TEXT_MUTED)
        text.append(str(stats.reconnects), style=TEXT_WARN if stats.reconnects else "")
        if stats.clock_offset_ns is not None and not feed.replaying:  # old times, not skew
            text.append(" │ clock ", style=TEXT_MUTED)
            text.append(f"{stats.clock_offset_ns / 1e6:+,.0f} ms")
        if stats.decode_errors:
            text.append(" │ bad frames ", style=TEXT_MUTED)
            text.append(str(stats.decode_errors), style=TEXT_BAD)
        if recording:
            text.append(" │ ", style=TEXT_MUTED)
            stopped = recording.startswith("REC STOPPED")
            text.append("● ", style=TEXT_BAD)
            text.append(recording, style=TEXT_BAD if stopped else "")
        if note:
            text.append(" │ ", style=TEXT_MUTED)
            text.append(note, style=TEXT_WARN)
        self.set_class(state in (ConnectionState.AUTH_FAILED, ConnectionState.FAILED), "-bad")
        self.set_class(state is ConnectionState.RECONNECTING, "-warn")
        self.show_text(text)
