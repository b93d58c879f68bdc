"""SubscriptionCore: the subscription state machine, without sockets, tasks or clocks.

Everything the feed knows about its channels lives here: the *intended set* (channel ->
:class:`~app.events.Subscription`), the order markets were added in, the requests sent and
not yet answered, the books being resynced and when to try again, the repairs of a drifting
``subscription_list``. The core is told what happened (a user command, a connection opened
or dropped, a result or list from the server, a book that cannot be trusted, the time) and
answers with what to do, as data (:data:`Effect`): requests for the wire, events for the
consumers, books and tapes to reset or drop, log lines. :class:`~app.feed.FeedClient` does
it. The core never reads a clock (``now`` is passed in; its timers are deadlines it exposes)
and draws its jitter from an injected function, so a test can drive it step by step.
"""

from __future__ import annotations

import logging
import random as _random
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final, Literal

from app.events import (
    BookResynced,
    FeedError,
    Subscription,
    SubscriptionChanged,
    SubState,
)
from app.protocol import (
    EXECUTION_DATA,
    HEARTBEAT,
    MARKET_CHANNELS,
    MARKET_DATA,
    UNKNOWN_CHANNEL_PARAMS_CONFIGURATION,
    ChannelKey,
    ChannelResult,
    SubscribeResult,
    SubscriptionList,
    UnsubscribeResult,
)
from app.redact import redact

RESYNC_ATTEMPTS: Final = 5
"""Resyncs of one book in a row (each backing off) before it is shown FAILED."""
RESYNC_BACKOFF: Final = (1.0, 30.0)
"""First and longest wait before a repeated resync of one book (doubling, jittered)."""
RESYNC_JITTER: Final = (0.8, 1.2)
"""The range a resync wait is multiplied by, so that books failing together spread out."""
RESYNC_FORGIVEN_AFTER: Final = 60.0
"""A book that needed no resync for this long starts counting its attempts afresh."""
DRIFT_REPAIRS: Final = 3
"""Repairs of one channel that ``subscription_list`` keeps leaving out while its data flows:
after these the list is reported as wrong and the channel is left alone."""
HEARTBEAT_KEY: Final[ChannelKey] = (HEARTBEAT, None)


# --------------------------------------------------------------------------- effects


@dataclass(frozen=True, slots=True)
class Send:
    """A request for the wire, in the order the core made it (docs/protocol.md §3).

    The sender may hold a subscribe back (one a second) and merge those that wait; before
    sending it asks :meth:`SubscriptionCore.still_wanted`, and after it tells the core with
    :meth:`SubscriptionCore.subscribe_sent` / :meth:`SubscriptionCore.unsubscribe_sent`.
    """

    kind: Literal["subscribe", "unsubscribe", "subscription_list"]
    keys: tuple[ChannelKey, ...] = ()


@dataclass(frozen=True, slots=True)
class ResetBook:
    """The market's book can no longer be trusted: keep it visible, stale, until a SNAPSHOT."""

    market: str


@dataclass(frozen=True, slots=True)
class RemoveBook:
    """The market's ``market_data`` channel left the intended set: drop its book."""

    market: str


@dataclass(frozen=True, slots=True)
class RemoveTape:
    """The market's ``execution_data`` channel left the intended set: drop its tape."""

    market: str


@dataclass(frozen=True, slots=True)
class LogLine:
    """A line for the feed's log (the feed adds its label)."""

    level: int
    message: str


Effect = (
    Send
    | ResetBook
    | RemoveBook
    | RemoveTape
    | LogLine
    | SubscriptionChanged
    | FeedError
    | BookResynced
)
"""What the core asks its driver to do, in order; the events go to the consumers as they are."""


# --------------------------------------------------------------------------- the core


class SubscriptionCore:
    """The intended set of channels and how it is kept true on the server.

    Every method that can change something returns the effects to apply, in order. The
    core's timers are deadlines: call :meth:`on_time` once :meth:`next_deadline` has come
    (and ask again after any call, which may have moved it).
    """

    def __init__(
        self,
        *,
        heartbeat: bool = True,
        adopt_channels: bool = False,
        drift_check_delay: float = 1.0,
        resync_backoff: tuple[float, float] = RESYNC_BACKOFF,
        random: Callable[[float, float], float] = _random.uniform,
    ) -> None:
        self.subscriptions: dict[ChannelKey, Subscription] = {}
        """The intended set: every channel we want, or are leaving, and its state."""
        self.connected = False
        """Whether requests can go out. :meth:`connection_opened` and
        :meth:`connection_dropped` set it with their transitions; replay, which has no
        socket, sets it alone."""
        self.adopt_channels = adopt_channels
        """Replay: take channels the server confirms as ours even if we did not ask."""
        self.drift_check_delay = drift_check_delay
        """Seconds after the last subscribe is answered before ``subscription_list`` is asked."""
        self.resync_backoff = resync_backoff
        """First and longest wait before a repeated resync of one book."""
        self._random = random
        """Draws the jitter of resync waits, ``random(low, high)``; a test passes its own."""
        self._market_order: list[str] = []
        self._pending_subscribes: deque[list[ChannelKey]] = deque()
        self._pending_unsubscribes: deque[list[ChannelKey]] = deque()
        """Requests sent and not yet answered, oldest first (answers come in order)."""
        self._resyncing: set[ChannelKey] = set()
        """Channels unsubscribed and subscribed again for a fresh SNAPSHOT, not yet answered."""
        self._resync_due: dict[str, tuple[float, str]] = {}
        """Market -> (when, why): a resync waiting out its backoff."""
        self._resync_attempts: dict[str, tuple[int, float]] = {}
        """Market -> (resyncs in a row, time of the last one)."""
        self._drift_repairs: dict[ChannelKey, int] = {}
        self._extras_asked: set[ChannelKey] = set()
        """Channels we asked the server to drop on this connection (asked once only)."""
        self._list_due: float | None = None
        """When to ask for ``subscription_list`` (the drift check), if it is to be asked."""
        self._out: list[Effect] = []
        if heartbeat:
            self.subscriptions[HEARTBEAT_KEY] = Subscription(HEARTBEAT_KEY)

    def __repr__(self) -> str:
        return f"SubscriptionCore({len(self.subscriptions)} channels, connected={self.connected})"

    # ------------------------------------------------------------------ reading

    def markets(self) -> list[str]:
        """Markets in the intended set, in the order they were first subscribed."""
        return list(self._market_order)

    def channels_for(self, market: str) -> list[Subscription]:
        """The subscriptions of one market, market_data first."""
        subs = self.subscriptions
        return [subs[(t, market)] for t in MARKET_CHANNELS if (t, market) in subs]

    def still_wanted(self, key: ChannelKey) -> bool:
        """Whether a subscribe of ``key`` made earlier should still go out (the sender asks
        just before sending: the user may have left the market meanwhile)."""
        sub = self.subscriptions.get(key)
        return sub is not None and sub.state is SubState.PENDING

    def next_deadline(self) -> float | None:
        """The earliest time :meth:`on_time` has something to do, or None."""
        if not self._resync_due and self._list_due is None:
            return None  # the usual answer, asked before every replayed record: at once
        times = [when for when, _ in self._resync_due.values()]
        if self._list_due is not None:
            times.append(self._list_due)
        return min(times, default=None)

    def subscribes_unanswered(self) -> list[str]:
        """Markets whose subscribe went on the wire and is not answered yet, oldest first."""
        return list(dict.fromkeys(k[1] for keys in self._pending_subscribes for k in keys if k[1]))

    def waiting_for_connection(self) -> list[str]:
        """Without a connection: the markets with a channel waiting to be subscribed on the
        next one (``connection_opened`` sends them all in one request)."""
        if self.connected:
            return []
        return list(
            dict.fromkeys(
                k[1] for k, s in self.subscriptions.items() if k[1] and s.state is SubState.PENDING
            )
        )

    def busy(self) -> str | None:
        """What is under way now (a request not yet answered, a resync running or waiting,
        a channel being left), in words; None when every channel is at rest, ACTIVE or
        FAILED, with nothing outstanding."""
        if self._pending_subscribes or self._pending_unsubscribes:
            return "a request is waiting for its answer"
        if self._resyncing or self._resync_due:
            markets = sorted({k[1] or k[0] for k in self._resyncing} | set(self._resync_due))
            return f"{', '.join(markets)} resyncing"
        for key, sub in self.subscriptions.items():
            if sub.state in (SubState.PENDING, SubState.UNSUBSCRIBING):
                return f"{_name(key)} is {sub.state.value}"
        return None

    # ------------------------------------------------------------------ user commands

    def subscribe(self, market: str, channels: Iterable[str] = MARKET_CHANNELS) -> list[Effect]:
        """Add a market's channels to the intended set and request those not already held."""
        keys: list[ChannelKey] = []
        for type_ in channels:
            key: ChannelKey = (type_, market)
            sub = self.subscriptions.get(key)
            if sub is not None and sub.state in (SubState.ACTIVE, SubState.PENDING):
                continue
            self.subscriptions[key] = Subscription(key)
            self._changed(key)
            keys.append(key)
        if market not in self._market_order and keys:
            self._market_order.append(market)
        self._send("subscribe", keys)
        return self._take()

    def unsubscribe(self, market: str) -> list[Effect]:
        """Remove a market from the intended set; its channels go once the server confirms
        (at once when there is no connection, or the server never had them)."""
        self._cancel_resync(market)
        self._resync_attempts.pop(market, None)
        keys = [key for key in self.subscriptions if key[1] == market]
        if not self.connected:
            for key in keys:
                self._remove(key)
            return self._take()
        to_send: list[ChannelKey] = []
        for key in keys:
            sub = self.subscriptions[key]
            if sub.state is SubState.FAILED and key not in self._resyncing:
                self._remove(key)  # the server never had it, or we already let it go
                continue
            sub.state = SubState.UNSUBSCRIBING
            self._changed(key)
            to_send.append(key)
        if to_send:
            self._send("unsubscribe", to_send)
            # The server may not answer an unsubscribe (docs/protocol.md §7): the list settles it.
            self._send("subscription_list")
        return self._take()

    def resync(self, market: str, reason: str = "requested") -> list[Effect]:
        """The user asks for a fresh SNAPSHOT now: the count of attempts starts afresh, and
        a book given up on is tried again."""
        self._resync_attempts.pop(market, None)
        self._cancel_resync(market)
        sub = self.subscriptions.get((MARKET_DATA, market))
        if sub is not None and sub.given_up:
            sub.state = SubState.PENDING
            sub.error = None
            sub.given_up = False
            self._changed(sub.key)
        self._resync(market, reason)
        return self._take()

    # ------------------------------------------------------------------ the book

    def book_needs_resync(self, market: str, reason: str, now: float) -> list[Effect]:
        """A book cannot be trusted any more (an unreadable level, a buffer overflow): resync
        it, backing off when it keeps happening, and give up after :data:`RESYNC_ATTEMPTS`
        with the market FAILED and the reason shown. A persistent problem (a level this
        client cannot hold, a server that sends it in every snapshot) must not become a
        resubscribe storm. Nothing happens while a resync is already under way or waiting."""
        if market in self._resync_due or (MARKET_DATA, market) in self._resyncing:
            return []
        attempts, last = self._resync_attempts.get(market, (0, now))
        if now - last > RESYNC_FORGIVEN_AFTER:
            attempts = 0
        attempts += 1
        self._resync_attempts[market] = (attempts, now)
        if attempts > RESYNC_ATTEMPTS:
            self._give_up(market, reason, attempts - 1)
            return self._take()
        first, longest = self.resync_backoff
        delay = 0.0 if attempts == 1 else min(longest, first * 2 ** (attempts - 2))
        delay *= self._random(*RESYNC_JITTER)
        when = "now" if delay == 0 else f"in {delay:.1f}s"
        self._out.append(ResetBook(market))  # buffer (bounded) from now on; the book is STALE
        self._out.append(
            FeedError(
                f"book needs a new snapshot: {reason}; resync {attempts} of "
                f"{RESYNC_ATTEMPTS} {when}",
                market,
            )
        )
        if delay == 0:
            self._resync(market, reason)
        else:
            self._resync_due[market] = (now + delay, reason)
        return self._take()

    def on_time(self, now: float) -> list[Effect]:
        """Do what has come due by ``now``: resyncs that waited out their backoff, in the
        order they came due, and the ``subscription_list`` check."""
        due = sorted(
            (when, market, reason)
            for market, (when, reason) in self._resync_due.items()
            if when <= now
        )
        for _, market, reason in due:
            del self._resync_due[market]
            self._resync(market, reason)
        if self._list_due is not None and self._list_due <= now:
            self._list_due = None
            self._send("subscription_list")
        return self._take()

    # ------------------------------------------------------------------ the connection

    def connection_opened(self) -> list[Effect]:
        """A connection is open: every channel waiting for one goes in one subscribe."""
        self.connected = True
        self._send(
            "subscribe", [k for k, s in self.subscriptions.items() if s.state is SubState.PENDING]
        )
        return self._take()

    def connection_dropped(self) -> list[Effect]:
        """The connection ended. Nothing sent on it will be answered: channels we were leaving
        are gone (a new connection starts without them), ACTIVE ones wait to be subscribed
        again, and waiting resyncs are dropped (the new subscribe brings a SNAPSHOT anyway)."""
        self.connected = False
        self._pending_subscribes.clear()
        self._pending_unsubscribes.clear()
        self._resyncing.clear()
        self._extras_asked.clear()
        self._resync_due.clear()
        self._list_due = None
        for key, sub in list(self.subscriptions.items()):
            if sub.state is SubState.UNSUBSCRIBING:
                self._remove(key)
            elif sub.state is SubState.ACTIVE:
                sub.state = SubState.PENDING
                sub.confirmed = None
                self._changed(key)
        return self._take()

    def subscribe_sent(self, keys: Iterable[ChannelKey]) -> None:
        """A subscribe of ``keys`` (in this order) went on the wire: its answer comes next."""
        self._pending_subscribes.append(list(keys))

    def unsubscribe_sent(self, keys: Iterable[ChannelKey]) -> None:
        """An unsubscribe of ``keys`` (in this order) went on the wire."""
        self._pending_unsubscribes.append(list(keys))

    # ------------------------------------------------------------------ answers

    def on_subscribe_result(self, msg: SubscribeResult, now: float) -> list[Effect]:
        """The server answered the oldest outstanding subscribe. Once none is outstanding,
        ``subscription_list`` is asked after :attr:`drift_check_delay` to check its word."""
        for key, entry in self._match(msg.channels, self._pending_subscribes):
            sub = self.subscriptions.get(key)
            if sub is None and self.adopt_channels and entry.success is not False:
                sub = self.subscriptions[key] = Subscription(key)
                if key[1] is not None and key[1] not in self._market_order:
                    self._market_order.append(key[1])
            self._resyncing.discard(key)
            if sub is None or sub.state is SubState.UNSUBSCRIBING:
                continue
            if entry.success is False:
                sub.state = SubState.FAILED
                sub.error = redact(entry.error or "refused")
                self._changed(key)
                self._out.append(
                    FeedError(
                        f"subscription to {_name(key, ' ')} failed: {sub.error}",
                        key[1],
                        entry.error,
                    )
                )
            else:
                sub.state = SubState.ACTIVE
                sub.error = None
                self._changed(key)
        if self.connected and not self._pending_subscribes and self._list_due is None:
            self._list_due = now + self.drift_check_delay
        return self._take()

    def on_unsubscribe_result(self, msg: UnsubscribeResult) -> list[Effect]:
        """The server answered the oldest outstanding unsubscribe: channels we are leaving
        go (a refusal is shown, except "unknown channel": then it is gone anyway)."""
        for key, entry in self._match(msg.channels, self._pending_unsubscribes):
            if key in self._resyncing:
                continue  # the first half of a resync: the subscription stays
            sub = self.subscriptions.get(key)
            if sub is None or sub.state is not SubState.UNSUBSCRIBING:
                continue
            if entry.success is False and entry.error != UNKNOWN_CHANNEL_PARAMS_CONFIGURATION:
                self._out.append(
                    FeedError(f"unsubscribe of {key[0]} failed: {entry.error}", key[1], entry.error)
                )
            self._remove(key)
        return self._take()

    def on_subscription_list(self, msg: SubscriptionList) -> list[Effect]:
        """Check the server's list against the intended set (docs/protocol.md §4): confirm
        what it holds, repair ACTIVE channels it lost, finish unanswered unsubscribes, and
        ask it once per connection to drop channels we never asked for."""
        listed = {ch.key for ch in msg.channels}
        # A market channel listed without params names no market: channels of that type
        # can be neither confirmed nor found missing, and must never be "unsubscribed".
        blind = {t for t, m in listed if m is None and t != HEARTBEAT}
        if blind:
            self._out.append(
                FeedError(
                    "subscription_list named " + ", ".join(sorted(blind)) + " channels without "
                    "their markets: those channels cannot be checked against it"
                )
            )
        drift_missing: list[ChannelKey] = []
        for key, sub in list(self.subscriptions.items()):
            if key[0] in blind:
                continue
            present = key in listed
            if sub.state is SubState.UNSUBSCRIBING:
                if not present:
                    self._remove(key)
                continue
            if sub.state is SubState.ACTIVE:
                if sub.confirmed is not present:
                    sub.confirmed = present
                    self._changed(key)
                if present:
                    self._drift_repairs.pop(key, None)
                elif key not in self._resyncing:
                    drift_missing.append(key)
        if drift_missing:
            self._repair_drift(drift_missing)
        extra = [
            key
            for key in listed
            if key not in self.subscriptions
            and key[1] is not None
            and key not in self._extras_asked
        ]
        if extra:
            self._out.append(
                FeedError(
                    "the server had channels we did not ask for: "
                    + ", ".join(_name(k) for k in extra)
                    + "; unsubscribing"
                )
            )
            self._extras_asked.update(extra)  # asked once per connection, not on every list
            self._send("unsubscribe", extra)
        return self._take()

    # ------------------------------------------------------------------ inside

    def _take(self) -> list[Effect]:
        out, self._out = self._out, []
        return out

    def _send(
        self,
        kind: Literal["subscribe", "unsubscribe", "subscription_list"],
        keys: Iterable[ChannelKey] = (),
    ) -> None:
        """Ask for a request, if there is a connection to send it on. An unsubscribe
        without params would name no market: none is ever asked for."""
        if not self.connected:
            return
        if kind == "subscription_list":
            self._out.append(Send(kind))
            return
        if kind == "unsubscribe":
            keys = [k for k in keys if k[1] is not None or k[0] == HEARTBEAT]
        keys = tuple(keys)
        if keys:
            self._out.append(Send(kind, keys))

    def _changed(self, key: ChannelKey) -> None:
        sub = self.subscriptions.get(key)
        if sub is not None:
            self._out.append(
                SubscriptionChanged(key, sub.state, sub.error, confirmed=sub.confirmed)
            )

    def _remove(self, key: ChannelKey) -> None:
        """The channel leaves the intended set for good, and its book or tape with it."""
        sub = self.subscriptions.pop(key, None)
        if sub is None:
            return
        self._out.append(SubscriptionChanged(key, sub.state, sub.error, removed=True))
        market = key[1]
        if market is None:
            return
        if key[0] == MARKET_DATA:
            self._out.append(RemoveBook(market))
        elif key[0] == EXECUTION_DATA:
            self._out.append(RemoveTape(market))
        if not any(k[1] == market for k in self.subscriptions) and market in self._market_order:
            self._market_order.remove(market)

    def _resync(self, market: str, reason: str) -> None:
        key: ChannelKey = (MARKET_DATA, market)
        sub = self.subscriptions.get(key)
        if sub is None or key in self._resyncing:
            return
        self._cancel_resync(market)
        self._out.append(ResetBook(market))
        self._out.append(LogLine(logging.WARNING, f"resync {market}: {reason}"))
        self._out.append(BookResynced(market, reason))
        if not self.connected:
            sub.state = SubState.PENDING
            self._changed(key)
            return  # the next connection subscribes afresh anyway
        self._resubscribe([key])

    def _resubscribe(self, keys: list[ChannelKey]) -> None:
        """Unsubscribe then subscribe again, in this order on the wire: the only request that
        surely yields a fresh SNAPSHOT, whether or not the server still had the channel (a
        repeated subscribe of an active channel yields none, docs/protocol.md §5, §7)."""
        for key in keys:
            self._resyncing.add(key)
            self.subscriptions[key].state = SubState.PENDING
            self._changed(key)
        self._send("unsubscribe", keys)
        self._send("subscribe", keys)

    def _cancel_resync(self, market: str) -> None:
        self._resync_due.pop(market, None)

    def _give_up(self, market: str, reason: str, attempts: int) -> None:
        key: ChannelKey = (MARKET_DATA, market)
        sub = self.subscriptions.get(key)
        if sub is None:
            return
        self._resyncing.discard(key)
        sub.state = SubState.FAILED
        sub.given_up = True
        sub.error = f"gave up after {attempts} resyncs: {reason}"
        self._out.append(ResetBook(market))
        self._changed(key)
        self._out.append(LogLine(logging.ERROR, f"{market}: {sub.error}"))
        self._out.append(
            FeedError(f"{market} book FAILED: {sub.error} (a resync tries again)", market, None)
        )
        self._send("unsubscribe", [key])  # no more data for a book we cannot show

    def _match(
        self, entries: list[ChannelResult], pending: deque[list[ChannelKey]]
    ) -> list[tuple[ChannelKey, ChannelResult]]:
        """Pair result entries with the keys of the oldest outstanding request.

        Entries carrying ``params`` name their channel; entries without are matched by
        position and type (one variant of the documentation leaves ``params`` out,
        docs/protocol.md §4).
        """
        request = pending.popleft() if pending else []
        pairs: list[tuple[ChannelKey, ChannelResult]] = []
        for index, entry in enumerate(entries):
            key: ChannelKey | None
            if entry.params is not None:
                key = (entry.type, entry.params.market)
            elif entry.type == HEARTBEAT:
                key = HEARTBEAT_KEY
            elif index < len(request) and request[index][0] == entry.type:
                key = request[index]
            else:
                key = None
            if key is None:
                self._out.append(FeedError(f"cannot match a {entry.type} result to a request"))
                continue
            pairs.append((key, entry))
        return pairs

    def _repair_drift(self, missing: list[ChannelKey]) -> None:
        """Channels we hold ACTIVE that the server's list leaves out: unsubscribe and subscribe
        them again, which yields a fresh SNAPSHOT whether the server had really lost them or
        only left them out of its list. A list that keeps leaving out a channel whose data
        flows is wrong, not the channel: after :data:`DRIFT_REPAIRS` repairs it is reported
        and the channel left alone (its book stays LIVE)."""
        repair: list[ChannelKey] = []
        for key in missing:
            done = self._drift_repairs.get(key, 0)
            self._drift_repairs[key] = done + 1
            if done < DRIFT_REPAIRS:
                repair.append(key)
            elif done == DRIFT_REPAIRS:
                self._out.append(
                    LogLine(
                        logging.WARNING,
                        f"subscription_list keeps leaving out {_name(key)}; no more repairs",
                    )
                )
                self._out.append(
                    FeedError(
                        f"the server's subscription_list keeps leaving out {_name(key)} although "
                        f"its data flows; not repairing it again",
                        key[1],
                    )
                )
        if not repair:
            return
        names = ", ".join(_name(k) for k in repair)
        self._out.append(
            LogLine(logging.WARNING, f"subscription_list lacks {names}: resubscribing")
        )
        self._out.append(
            FeedError(
                f"the server lost {names} (missing from its subscription_list); "
                "resubscribing for a fresh snapshot"
            )
        )
        for key in repair:
            if key[0] == MARKET_DATA and key[1] is not None:
                self._out.append(ResetBook(key[1]))
        self._resubscribe(repair)


def _name(key: ChannelKey, sep: str = ":") -> str:
    return f"{key[0]}{sep}{key[1]}" if key[1] else key[0]
