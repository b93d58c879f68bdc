"""What the feed tells its consumers: connection and subscription states, events, counters.

The feed mutates the :class:`~app.books.BookStore` and :class:`~app.tape.TapeStore` in place
at data rates and marks markets dirty; only low-rate happenings (connected, subscribed,
failed, error) are events, delivered to a callback. Consumers (the dashboard, ``sordash
stream``, tests) read states and counters directly from the objects defined here.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field

from app.protocol import ChannelKey


class ConnectionState(enum.Enum):
    """Where the one WebSocket connection stands."""

    IDLE = "idle"
    """Not started yet."""
    AUTHENTICATING = "authenticating"
    """Fetching a token."""
    CONNECTING = "connecting"
    """Opening the WebSocket."""
    CONNECTED = "connected"
    """Open; frames flowing."""
    RECONNECTING = "reconnecting"
    """Dropped; waiting out the backoff before the next attempt."""
    AUTH_FAILED = "auth failed"
    """Credentials refused (401) or scope missing (403): final until the user acts."""
    STOPPED = "stopped"
    """Shut down on purpose."""
    FAILED = "feed failed"
    """The feed stopped on an unexpected error (a bug): the detail names it."""


class SubState(enum.Enum):
    """The state of one channel subscription, as a trader sees it."""

    PENDING = "pending"
    """Requested (or waiting for a connection); no answer yet."""
    ACTIVE = "active"
    """The server said success."""
    FAILED = "failed"
    """The server refused it; ``Subscription.error`` holds its code."""
    UNSUBSCRIBING = "unsubscribing"
    """Unsubscribe sent; waiting for the server."""


@dataclass(slots=True)
class Subscription:
    """One channel of the intended set and everything known about it."""

    key: ChannelKey
    state: SubState = SubState.PENDING
    error: str | None = None
    """The server's error code when FAILED (shown as-is, known or not), or why the client
    gave up on the channel (``given_up``)."""
    given_up: bool = False
    """FAILED by the client, not the server: the book kept needing resyncs (see
    :data:`app.subscriptions.RESYNC_ATTEMPTS`); ``error`` says why."""
    messages: int = 0
    """Data frames received on this channel since it was subscribed."""
    last_message_at: float | None = None
    """``time.monotonic()`` of the newest data frame on this channel."""
    confirmed: bool | None = None
    """Whether the last ``subscription_list`` listed this channel (None: not checked yet)."""

    @property
    def type(self) -> str:
        """The channel type: ``market_data``, ``execution_data`` or ``heartbeat``."""
        return self.key[0]

    @property
    def market(self) -> str | None:
        """The market, or None for ``heartbeat``."""
        return self.key[1]

    def age(self, now: float | None = None) -> float | None:
        """Seconds since the newest data frame, or None if none arrived."""
        if self.last_message_at is None:
            return None
        return (time.monotonic() if now is None else now) - self.last_message_at


@dataclass(slots=True)
class FeedStats:
    """Counters for the status bar and ``sordash stream`` status lines."""

    frames: int = 0
    bytes: int = 0
    decode_errors: int = 0
    """Frames that were not JSON or of an unknown shape."""
    reconnects: int = 0
    subscribe_requests: int = 0
    """Subscribe requests sent (at most one a second, whatever the server does)."""
    frames_per_s: float = 0.0
    bytes_per_s: float = 0.0
    clock_offset_ns: int | None = None
    """Server clock minus local clock, from the newest heartbeat (includes one-way latency)."""
    last_frame_at: float | None = None
    """``time.monotonic()`` of the newest frame of any kind."""
    token_expires_at: float | None = None
    """``time.monotonic()`` at which the current access token expires."""
    _window: list[tuple[float, int, int]] = field(default_factory=list, repr=False)

    def sample(self, now: float) -> None:
        """Update the per-second rates from the counters (called about once a second)."""
        window = self._window
        window.append((now, self.frames, self.bytes))
        while len(window) > 2 and now - window[0][0] > 5.0:
            window.pop(0)
        t0, f0, b0 = window[0]
        span = now - t0
        if span > 0:
            self.frames_per_s = (self.frames - f0) / span
            self.bytes_per_s = (self.bytes - b0) / span


# --------------------------------------------------------------------------- events


@dataclass(frozen=True)
class ConnectionChanged:
    """The connection moved to ``state``; ``detail`` says why in words a trader can act on."""

    state: ConnectionState
    detail: str = ""
    retry_in: float | None = None
    """Seconds until the next attempt, while RECONNECTING."""


@dataclass(frozen=True)
class SubscriptionChanged:
    """A channel's state changed (``removed`` when it left the intended set for good)."""

    key: ChannelKey
    state: SubState
    error: str | None = None
    removed: bool = False
    confirmed: bool | None = None
    """Whether the last ``subscription_list`` listed the channel (None: not checked yet)."""


@dataclass(frozen=True)
class FeedError:
    """Something went wrong that a trader should see; ``market`` is None when not per-market."""

    message: str
    market: str | None = None
    code: str | None = None
    """The server's error code, when it sent one."""


@dataclass(frozen=True)
class BookResynced:
    """A market's book needed a new SNAPSHOT (overflow, unreadable level, user request)."""

    market: str
    reason: str


FeedEvent = ConnectionChanged | SubscriptionChanged | FeedError | BookResynced
