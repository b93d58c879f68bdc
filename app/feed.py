"""FeedClient: one WebSocket to the Smart Order Routing API, kept correct through anything.

One connection with the bearer token (aiohttp ``heartbeat=`` pings, ``decode_text=False`` so
frames reach the msgspec decoder as bytes), one reader loop that applies every frame to the
:class:`~app.books.BookStore` and :class:`~app.tape.TapeStore` as it arrives, one writer that
sends the requests in order and paces subscribes, and a supervisor that reconnects with
capped, jittered exponential backoff. Subscribing and unsubscribing only send; they work at
any time, connected or not, against an *intended set* that is resubscribed after every
reconnect and then checked against ``subscription_list``.

What the intended set is and how it is kept true is decided by the sans-I/O
:class:`~app.subscriptions.SubscriptionCore`; this module is its I/O: it tells the core what
happened (commands, the connection, answers, the time), does what the core answers (send,
emit, reset or drop a book or tape) and keeps the one timer for the core's next deadline.

Consumers read ``store``, ``tape``, ``stats``, ``subscriptions`` and ``state`` directly and
get low-rate events (:mod:`app.events`) through :meth:`FeedClient.add_listener`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, Final, Literal, NamedTuple, assert_never

import aiohttp
import msgspec

from app.auth import (
    MIN_REQUEST_INTERVAL,
    AuthError,
    Credentials,
    Token,
    TokenProvider,
)
from app.books import Book, BookState, BookStore
from app.events import (
    BookResynced,
    ConnectionChanged,
    ConnectionState,
    FeedError,
    FeedEvent,
    FeedStats,
    Subscription,
    SubscriptionChanged,
    SubState,
)
from app.pacing import SUBSCRIBE, TOKEN, shared_pace
from app.protocol import (
    EXECUTION_DATA,
    INTERNAL_SERVER_ERROR,
    MARKET_CHANNELS,
    MARKET_DATA,
    SCOPE,
    BookMessage,
    ChannelKey,
    ChannelResult,
    ErrorMessage,
    Execution,
    Heartbeat,
    SubscribeRequest,
    SubscribeResult,
    SubscriptionList,
    SubscriptionListRequest,
    TimeFormatError,
    Unrecognized,
    UnsubscribeRequest,
    UnsubscribeResult,
    channel_from_key,
    decode_frame,
    decode_request,
    encode,
    parse_time,
)
from app.recording import (
    Connection,
    Frame,
    Record,
    RecordRun,
    Sent,
    SessionRecorder,
    TapeStart,
)
from app.redact import redact
from app.subscriptions import HEARTBEAT_KEY as HEARTBEAT_KEY  # re-exported for the views
from app.subscriptions import (
    Effect,
    LogLine,
    RemoveBook,
    RemoveTape,
    ResetBook,
    Send,
    SubscriptionCore,
)
from app.tape import MarketTape, TapeStore

log = logging.getLogger(__name__)

MAX_FRAME_BYTES: Final = 16 * 1024 * 1024
"""The largest frame accepted. A 100,000-level SNAPSHOT is about 5 MB; anything past this
is refused before it is buffered (aiohttp checks the declared length), the connection is
closed with 1009 and made again, so one frame can never take the process's memory."""
SUBSCRIBE_INTERVAL: Final = 1.0
"""Seconds between two subscribe requests, whatever happens: the API allows about one
subscription per second per IP. Requests that come due together go out as one."""
BAD_FRAMES_REPORTED: Final = 5
"""Unreadable frames reported (event and log line) one by one per minute; past this, one
summary a minute with the count."""

_WS = aiohttp.ClientWebSocketResponse[Literal[False]]
"""A client socket that hands text frames over as bytes (``decode_text=False``)."""

DEFAULT_CHANNELS: Final = MARKET_CHANNELS


class _Drop(Exception):
    """The connection ended; the message says why (shown to the user)."""


class _AuthFinal(Exception):
    """Authentication failed for good: do not retry until the user asks."""


class FeedClient:
    """The market-data pipeline: connection, subscriptions, books and tape."""

    def __init__(
        self,
        credentials: Credentials | None = None,
        token_url: str | None = None,
        ws_url: str | None = None,
        *,
        label: str = "",
        store: BookStore | None = None,
        tape: TapeStore | None = None,
        known_markets: Iterable[str] = (),
        heartbeat_channel: bool = True,
        ping_interval: float = 10.0,
        watchdog_timeout: float = 10.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        healthy_after: float = 5.0,
        drift_check_delay: float = 1.0,
        recorder: SessionRecorder | None = None,
        adopt_channels: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.credentials = credentials
        self.token_url = token_url
        self.ws_url = ws_url
        self.label = label or (ws_url or "")
        self.store = store if store is not None else BookStore()
        self.tape = tape if tape is not None else TapeStore()
        self.stats = FeedStats()
        self.state = ConnectionState.IDLE
        self.state_detail = ""
        self._core = SubscriptionCore(
            heartbeat=heartbeat_channel,
            adopt_channels=adopt_channels,
            drift_check_delay=drift_check_delay,
        )
        """The subscription state machine: this client tells it what happens and does what
        it answers (:meth:`_apply`); nothing else changes the intended set."""
        self.known_markets: list[str] = list(known_markets)
        self.heartbeat_channel = heartbeat_channel
        self.ping_interval = ping_interval
        self.watchdog_timeout = watchdog_timeout
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.healthy_after = healthy_after
        """Seconds a connection must last to reset the backoff: a server that drops a working
        connection now and then gets a quick reconnect every time, one that drops at once
        gets an ever longer wait (up to ``backoff_max``)."""
        self._recorder: SessionRecorder | None = None
        self._record_time: Callable[[int], None] | None = None
        self._record_frame: Callable[[bytes], None] = _ignore
        self._record_clock: Callable[[], int] = time.time_ns
        self.recorder = recorder
        self._clock = clock
        self._replaying = False
        """Fed from a recording (:meth:`start_replay`): no socket, no timers; the core's
        time is the recording's."""
        self._replay_now = 0.0
        self._listeners: list[Callable[[FeedEvent], None]] = []
        self.activity = asyncio.Event()
        """Set on every frame and event: something a screen shows may have changed. A screen
        waits on it (and clears it) instead of waking up on a clock when nothing happens."""
        self._provider: TokenProvider | None = None
        self._attempt: asyncio.Future[None] | None = None
        self._ws: _WS | None = None
        self._stopping = False
        self._wake = asyncio.Event()
        self.subscribe_interval = SUBSCRIBE_INTERVAL
        self.subscribe_pace = shared_pace(SUBSCRIBE, SUBSCRIBE_INTERVAL)
        """Keeps subscribe requests apart across processes too (``sordash serve``)."""
        self._next_subscribe_at = 0.0
        """Loop time before which no subscribe request may go out (across connections:
        the limit is the IP's, not the socket's)."""
        self._outbox: _Outbox | None = None
        self._effects: deque[Effect] = deque()
        """The core's effects not yet done: done in the order the core made them, also when
        a listener reacts to one by calling the feed (its effects queue up behind)."""
        self._applying = False
        self._timer: asyncio.TimerHandle | None = None
        """The one timer: at the core's next deadline (loop time)."""
        self._tasks: set[asyncio.Task[Any]] = set()
        self._bad_frames = _Throttle(BAD_FRAMES_REPORTED, 60.0)
        self._drop_reason = ""
        self._reconnect_now = False
        """The user asked to reconnect: the next attempt goes at once, without backoff."""
        self.attempts = 0
        """Consecutive failed connection attempts (reset after a healthy period)."""
        self.token_retries = 0
        """Failed token requests since the last token (the endpoint down, garbled, 429)."""
        self.internal_errors = 0
        """Frames whose handling raised (a bug of ours): counted, logged, never fatal."""

    def __repr__(self) -> str:
        return f"FeedClient({self.label!r}, state={self.state.value})"

    # ------------------------------------------------------------------ recording

    @property
    def recorder(self) -> SessionRecorder | None:
        """Told every frame received, every request sent and every connection boundary
        (:class:`~app.recording.Recorder`), so a replay can do what this client did. May be
        set or cleared at any time; a frame costs the loop two appends to its queues."""
        return self._recorder

    @recorder.setter
    def recorder(self, recorder: SessionRecorder | None) -> None:
        self._recorder = recorder
        if recorder is None:
            self._record_time = None
            return
        self._record_clock = recorder.clock_ns
        self._record_frame = recorder.queue
        self._record_time = recorder.queue_time

    def recording_blocked(self) -> str | None:
        """Why a recording cannot begin at this instant with an exact starting point
        (:meth:`record_from_here`), or None when it can: connected, every channel at rest
        and every subscribed book LIVE. Not connected, it can: the recording then begins
        with the next connection, as a live client's books do."""
        if not self.connected:
            return None
        busy = self._core.busy()
        if busy is not None:
            return busy
        for (kind, market), sub in self.subscriptions.items():
            if kind == MARKET_DATA and market is not None and sub.state is SubState.ACTIVE:
                book = self.store.get(market)
                if book is None or book.state is not BookState.LIVE:
                    return f"{market} is not LIVE yet"
        return None

    def record_from_here(self, recorder: SessionRecorder) -> None:
        """Record from now on, beginning with a starting point that puts a replay where this
        client stands (only when :meth:`recording_blocked` says nothing stands in the way).

        Connected, the starting point is: the connection (``connected``), one subscribe of
        every channel held, its answer as the server gave it (success, or the error), the
        ``subscription_list`` that confirmed them when every one was confirmed, and a
        SNAPSHOT of each book as held (the levels as the server spelt them, stamped with
        the book's last update time: from it the live UPDATEs that follow apply exactly as
        they did here). Each tape is written as held, trades with their inferred sides and
        session figures. The synthetic frames are marked as the starting point in the file.
        """
        if self.connected:
            recorder.connection("connected", self.label)
            held = list(self.subscriptions.items())
            if held:
                keys = [key for key, _ in held]
                recorder.sent(
                    encode(SubscribeRequest([channel_from_key(k) for k in keys])).decode()
                )
                answer = [
                    ChannelResult(
                        key[0],
                        channel_from_key(key).params,
                        sub.state is SubState.ACTIVE,
                        None if sub.state is SubState.ACTIVE else sub.error or "refused",
                    )
                    for key, sub in held
                ]
                recorder.prelude(encode(SubscribeResult(answer)))
                active = [key for key, sub in held if sub.state is SubState.ACTIVE]
                if active and all(self.subscriptions[k].confirmed for k in active):
                    recorder.sent(encode(SubscriptionListRequest()).decode())
                    listed = SubscriptionList([channel_from_key(k) for k in active])
                    recorder.prelude(encode(listed))
            for market, book in self.store.books.items():
                if book.state is BookState.LIVE:
                    recorder.prelude(_snapshot_frame(market, book.last_update_text, book))
        for tape in self.tape.tapes.values():
            recorder.tape_state(tape.state())
        self.recorder = recorder

    # ------------------------------------------------------------------ the core's settings

    @property
    def subscriptions(self) -> dict[ChannelKey, Subscription]:
        """The intended set: channel -> its subscription (the core's own dict, live)."""
        return self._core.subscriptions

    @property
    def resync_backoff(self) -> tuple[float, float]:
        """First and longest wait before a repeated resync of one book."""
        return self._core.resync_backoff

    @resync_backoff.setter
    def resync_backoff(self, value: tuple[float, float]) -> None:
        self._core.resync_backoff = value

    @property
    def drift_check_delay(self) -> float:
        """Seconds after the last subscribe answer before ``subscription_list`` is asked."""
        return self._core.drift_check_delay

    @drift_check_delay.setter
    def drift_check_delay(self, value: float) -> None:
        self._core.drift_check_delay = value

    @property
    def adopt_channels(self) -> bool:
        """Replay: take channels the server confirms as ours even if we did not ask."""
        return self._core.adopt_channels

    @adopt_channels.setter
    def adopt_channels(self, value: bool) -> None:
        self._core.adopt_channels = value

    # ------------------------------------------------------------------ consumers

    def add_listener(self, callback: Callable[[FeedEvent], None]) -> None:
        """Call ``callback`` with every event, on the asyncio loop."""
        self._listeners.append(callback)

    def _emit(self, event: FeedEvent) -> None:
        self.activity.set()
        event = _redacted(event)
        for callback in list(self._listeners):
            try:
                callback(event)
            except Exception:  # a consumer's bug must not stop the feed
                log.exception("feed listener failed on %r", event)

    def report_error(self, message: str, market: str | None = None) -> None:
        """Show an error that arose outside the feed (e.g. the recorder) to its consumers."""
        self._emit(FeedError(message, market))

    def set_connection_state(
        self, state: ConnectionState, detail: str = "", retry_in: float | None = None
    ) -> None:
        """Set the connection state from outside (replay has no socket; tests). The core
        takes CONNECTED as a connection to act on, without the transitions of a real
        connection opening or dropping; what it would send goes nowhere."""
        self._core.connected = state is ConnectionState.CONNECTED
        self._set_state(state, detail, retry_in)

    def _set_state(
        self, state: ConnectionState, detail: str = "", retry_in: float | None = None
    ) -> None:
        detail = redact(detail)
        if state is not self.state or detail != self.state_detail:
            level = logging.WARNING if state in _ALARMING else logging.INFO
            log.log(
                level, "%s: connection %s%s", self.label, state.value, f": {detail}" * bool(detail)
            )
        self.state = state
        self.state_detail = detail
        self._emit(ConnectionChanged(state, detail, retry_in))

    def markets(self) -> list[str]:
        """Markets in the intended set, in the order they were first subscribed."""
        return self._core.markets()

    def channels_for(self, market: str) -> list[Subscription]:
        """The subscriptions of one market, market_data first."""
        return self._core.channels_for(market)

    def subscribe_queue(self) -> SubscribeQueue:
        """Where subscribes stand now: markets whose request has not gone out (held back by
        the pace of one request a second, or waiting for a connection), markets whose
        request is out and unanswered, and seconds until the next request may go."""
        core = self._core
        outbox = self._outbox
        if outbox is None:
            return SubscribeQueue(core.waiting_for_connection(), [], None)
        waiting = list(
            dict.fromkeys(k[1] for k in outbox.subscribe_keys() if k[1] and core.still_wanted(k))
        )
        next_in = None
        if waiting:
            with contextlib.suppress(RuntimeError):  # no running loop: no pace to tell
                next_in = max(0.0, self._next_subscribe_at - _loop_time())
        return SubscribeQueue(waiting, core.subscribes_unanswered(), next_in)

    @property
    def connected(self) -> bool:
        """True while the WebSocket is open."""
        return self.state is ConnectionState.CONNECTED

    # ------------------------------------------------------------------ commands

    def subscribe(self, market: str, channels: Iterable[str] = DEFAULT_CHANNELS) -> None:
        """Add a market's channels to the intended set and request them (if connected)."""
        wanted = tuple(channels)
        self._apply(self._core.subscribe(market, wanted))
        if market not in self.known_markets:
            self.known_markets.append(market)
        if MARKET_DATA in wanted:
            self.store.book(market)  # SYNCING from now on, so the screen can say so

    def unsubscribe(self, market: str) -> None:
        """Remove a market from the intended set; its channels go once the server confirms."""
        self._apply(self._core.unsubscribe(market))

    def resync(self, market: str, reason: str = "requested") -> None:
        """Ask for a fresh SNAPSHOT now (the user asked): the book stays visible, marked
        stale, until it lands. Starts the count of attempts afresh."""
        self._apply(self._core.resync(market, reason))

    def reconnect(self) -> None:
        """Drop the connection and connect afresh now (also retries after an auth failure)."""
        self._drop_reason = "reconnect requested"
        self._reconnect_now = True
        self.attempts = 0
        self._wake.set()
        self._interrupt_attempt()
        ws = self._ws
        if ws is not None and not ws.closed:
            self._spawn(ws.close(), "close for reconnect")

    async def stop(self) -> None:
        """Close the connection and make :meth:`run` return (or never start: a stop that
        comes before :meth:`run` is kept)."""
        self._stopping = True
        self._wake.set()
        self._interrupt_attempt()
        ws = self._ws
        if ws is not None and not ws.closed:
            await ws.close()

    # ------------------------------------------------------------------ tasks

    def _spawn(self, coro: Coroutine[Any, Any, Any], what: str) -> asyncio.Task[Any]:
        """A task the feed owns: referenced until done, its failure logged and shown."""
        task = asyncio.get_running_loop().create_task(coro, name=f"feed: {what}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("%s: %s failed", self.label, task.get_name(), exc_info=exc)
            self._emit(FeedError(f"internal error in {task.get_name()}: {exc!r}"))

    # ------------------------------------------------------------------ sending

    async def _write(self, ws: _WS, outbox: _Outbox) -> None:
        """The one sender of a connection: requests go out in the order the core made them,
        subscribe requests at most one per :attr:`subscribe_interval` (those that come due
        together are merged into one request, of the channels the core still wants)."""
        loop = asyncio.get_running_loop()
        core = self._core
        while True:
            head = await outbox.peek()
            if head.kind == "subscribe":
                wait = self._next_subscribe_at - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                    continue  # more may have queued up behind it meanwhile
                if self.subscribe_pace is not None:
                    wait = self.subscribe_pace.reserve()
                    if wait > 0:
                        await asyncio.sleep(wait)  # the slot is ours; more may queue meanwhile
                keys = [k for k in outbox.take_subscribes() if core.still_wanted(k)]
                if not keys:
                    continue
                self._next_subscribe_at = loop.time() + self.subscribe_interval
                self.stats.subscribe_requests += 1
                core.subscribe_sent(keys)
                request: object = SubscribeRequest([channel_from_key(k) for k in keys])
            else:
                outbox.take()
                if head.kind == "unsubscribe":
                    core.unsubscribe_sent(head.keys)
                    request = UnsubscribeRequest([channel_from_key(k) for k in head.keys])
                else:
                    request = SubscriptionListRequest()
            text = encode(request).decode()  # requests are JSON text frames
            if self.recorder is not None:
                self.recorder.sent(text)  # as the core learnt it: before any answer
            try:
                await ws.send_str(text)
            except (ConnectionError, RuntimeError, aiohttp.ClientError):
                return  # the socket just closed: the reader reports it

    # ------------------------------------------------------------------ the core's effects

    def _apply(self, effects: list[Effect]) -> None:
        """Do what the core answered, in order, then set the timer for its next deadline."""
        self._effects.extend(effects)
        if self._applying:
            return  # a listener called the feed: its effects run after the ones before
        self._applying = True
        try:
            while self._effects:
                effect = self._effects.popleft()
                match effect:
                    case Send():
                        if self._outbox is not None:
                            self._outbox.put(effect)
                    case ResetBook(market):
                        self.store.reset(market)
                    case RemoveBook(market):
                        self.store.remove(market)
                    case RemoveTape(market):
                        self.tape.remove(market)
                    case LogLine(level, message):
                        log.log(level, "%s: %s", self.label, message)
                    case SubscriptionChanged() | FeedError() | BookResynced():
                        self._emit(effect)
                    case _:
                        assert_never(effect)
        finally:
            # An effect that raised (a bug) leaves the rest for the next call: late, not lost.
            self._applying = False
        self._arm_timer()

    def _arm_timer(self) -> None:
        if self._replaying:
            return  # the replay fires the core's deadlines on the recording's clock
        when = self._core.next_deadline()
        timer = self._timer
        if timer is not None:
            if when is not None and timer.when() == when:
                return
            timer.cancel()
            self._timer = None
        if when is not None:
            self._timer = asyncio.get_running_loop().call_at(when, self._deadline_reached)

    def _deadline_reached(self) -> None:
        timer, self._timer = self._timer, None
        # The loop may run a timer a hair before its time (its clock resolution): it is due.
        now = max(_loop_time(), timer.when() if timer is not None else 0.0)
        self._apply(self._core.on_time(now))

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # ------------------------------------------------------------------ replay

    @property
    def replaying(self) -> bool:
        """True when the feed is fed from a recording (no socket: live commands do nothing)."""
        return self._replaying

    def start_replay(self) -> None:
        """From now on the feed is fed from a recording by :meth:`replay`: no socket and no
        timers of its own; the core's deadlines come due on the recording's clock."""
        self._replaying = True
        self._cancel_timer()

    def replay(self, record: Record) -> None:
        """Do what the live client did at ``record``: take a frame, open or lose the
        connection (books STALE, then SYNCING until their new SNAPSHOT), note a request as
        sent (so its answer is matched as it was live)."""
        now = record.t / 1e9
        self._replay_now = now
        core = self._core
        while (due := core.next_deadline()) is not None and due <= now:
            self._apply(core.on_time(due))
        match record:
            case Frame(data=data):
                try:
                    self.ingest(data)
                except Exception as exc:  # as the socket reader: a bug costs one frame
                    self._internal_error(exc, data)
            case Connection(boundary="connecting", why=why):
                self._set_state(ConnectionState.CONNECTING, why)
            case Connection(boundary="connected", why=why):
                self.stats.last_frame_at = self._clock()
                self._apply(core.connection_opened())
                self._set_state(ConnectionState.CONNECTED, why)
            case Connection(boundary="closed", why=why):
                self._after_drop()
                self.stats.reconnects += 1
                self._set_state(ConnectionState.RECONNECTING, why)
            case Connection(boundary="stopped"):
                self._after_drop()
            case Sent(text=text):
                self._replay_sent(text)
            case TapeStart(state=state):
                try:
                    self.tape.tape(state.market).restore(state)
                except ValueError as exc:
                    self.report_error(f"the recording's starting point: {exc}", state.market)
                self.tape.dirty.add(state.market)

    def replay_run(self, run: RecordRun, start: int = 0, stop: int | None = None) -> None:
        """:meth:`replay` records ``start:stop`` of ``run``, in order, to the same effect:
        frames without a :class:`Frame` built and matched each (replay's hot path)."""
        core = self._core
        ingest = self.ingest
        replay = self.replay
        for t, item in zip(run.times[start:stop], run.items[start:stop], strict=True):
            if not isinstance(item, bytes):
                replay(item)
                continue
            now = t / 1e9
            self._replay_now = now
            while (due := core.next_deadline()) is not None and due <= now:
                self._apply(core.on_time(due))
            try:
                ingest(item)
            except Exception as exc:  # as the socket reader: a bug costs one frame
                self._internal_error(exc, item)

    def _replay_sent(self, text: str) -> None:
        try:
            request = decode_request(text.encode())
        except msgspec.DecodeError:
            return  # not one of ours (a recording written by hand): nothing to match
        match request:
            case SubscribeRequest(channels=channels):
                self.stats.subscribe_requests += 1
                self._core.subscribe_sent([(c.type, c.market) for c in channels])
            case UnsubscribeRequest(channels=channels):
                self._core.unsubscribe_sent([(c.type, c.market) for c in channels])
            case SubscriptionListRequest():
                pass

    def _core_time(self) -> float:
        """What the core counts its deadlines in: loop time, or the recording's in replay."""
        return self._replay_now if self._replaying else _loop_time()

    def replay_state(self) -> ReplayState:
        """Everything a replay changes here, by reference (pickle it for a copy): what a
        replay transport keeps as a checkpoint and moves between feeds when it seeks."""
        core = {name: getattr(self._core, name) for name in _CORE_STATE}
        return ReplayState(
            books=self.store.items,
            tapes=self.tape.items,
            stats=self.stats,
            state=self.state,
            state_detail=self.state_detail,
            core=core,
            known_markets=self.known_markets,
            replay_now=self._replay_now,
            bad_frames=self._bad_frames,
            internal_errors=self.internal_errors,
        )

    def adopt_replay_state(self, state: ReplayState) -> None:
        """Take ``state`` (another feed's :meth:`replay_state`, or a checkpoint's) as this
        feed's own: the replay stands where that one stood.

        The objects are taken as they are (the caller hands over a copy, or a feed it drops).
        The times of the newest frames are wall-clock instants of whoever replayed them;
        they become now. Every market is marked changed, and the screen is told the
        connection and every channel as they now are (channels that went, as removed).
        """
        if not self._replaying:
            raise RuntimeError("adopt_replay_state() is for a feed fed from a recording")
        now = self._clock()
        gone = [key for key in self._core.subscriptions if key not in state.core["subscriptions"]]
        markets = set(self.store.items) | set(self.tape.items)
        self.store.items = state.books
        self.tape.items = state.tapes
        self.store.dirty |= markets | set(state.books)
        self.tape.dirty |= markets | set(state.tapes)
        stats = self.stats  # the screen holds this one: its fields are set, not replaced
        for name in FeedStats.__slots__:
            setattr(stats, name, getattr(state.stats, name))
        if self.stats.last_frame_at is not None:
            self.stats.last_frame_at = now
        for name, value in state.core.items():
            setattr(self._core, name, value)
        for sub in self._core.subscriptions.values():
            if sub.last_message_at is not None:
                sub.last_message_at = now
        self.known_markets = state.known_markets
        self._replay_now = state.replay_now
        self._bad_frames = state.bad_frames
        self.internal_errors = state.internal_errors
        self._effects.clear()
        self.state, self.state_detail = state.state, state.state_detail
        self._emit(ConnectionChanged(state.state, state.state_detail))
        for key in gone:
            self._emit(SubscriptionChanged(key, SubState.PENDING, removed=True))
        for sub in list(self._core.subscriptions.values()):
            self._emit(SubscriptionChanged(sub.key, sub.state, sub.error, confirmed=sub.confirmed))

    # ------------------------------------------------------------------ supervisor

    async def run(self) -> None:
        """Connect and stay connected until :meth:`stop`; never raises for network trouble.

        An unexpected exception (a bug) is logged, shown as FAILED with its message, and
        raised, so that whoever runs the feed can say so too (the dashboard on screen,
        ``sordash stream`` with exit 1).
        """
        if self.ws_url is None:
            raise ValueError("FeedClient.run() needs a ws_url")
        if self._stopping:
            self._set_state(ConnectionState.STOPPED, "stopped before it started")
            return
        self._spawn(self._sample_stats(), "stats")
        try:
            await self._supervise()
        except Exception as exc:
            log.exception("%s: the feed stopped on an unexpected error", self.label)
            self._set_state(ConnectionState.FAILED, f"internal error: {exc!r}")
            raise
        finally:
            for task in list(self._tasks):  # the stats sampler and anything left running
                task.cancel()
            self._cancel_timer()
            if self.state is not ConnectionState.FAILED:
                self._set_state(ConnectionState.STOPPED, "stopped")

    async def _supervise(self) -> None:
        async with aiohttp.ClientSession() as session:
            if self.credentials is not None and self.token_url is not None:
                self._provider = TokenProvider(
                    self.token_url,
                    self.credentials,
                    on_retry=self._token_retry,
                    shared_pace=shared_pace(TOKEN, MIN_REQUEST_INTERVAL),
                )
            while not self._stopping:
                self._wake.clear()
                started = self._clock()
                try:
                    await self._interruptible(self._connect_once(session))
                    reason = self._drop_reason or "connection closed by the server"
                except _AuthFinal as exc:
                    self._set_state(ConnectionState.AUTH_FAILED, str(exc))
                    await self._wake.wait()  # until reconnect() or stop()
                    continue
                except _Drop as exc:
                    reason = str(exc)
                finally:
                    self._after_drop()
                if self._stopping:
                    if self.recorder is not None:
                        self.recorder.connection("stopped", "stopped")
                    break
                if self.recorder is not None:  # as a replay must count it: one reconnect
                    self.recorder.connection("closed", reason)
                if self._clock() - started >= self.healthy_after:
                    self.attempts = 0
                delay = 0.0 if self._reconnect_now else self._backoff()
                self._drop_reason = ""
                self._reconnect_now = False
                self.attempts += 1
                self.stats.reconnects += 1
                self._set_state(ConnectionState.RECONNECTING, reason, delay)
                if delay > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), delay)

    def _backoff(self) -> float:
        """Capped exponential backoff with full jitter over its upper half."""
        ceiling = min(self.backoff_max, self.backoff_initial * (2**self.attempts))
        return random.uniform(ceiling / 2, ceiling)

    def _after_drop(self) -> None:
        """The connection ended: every book is stale until its new SNAPSHOT, and nothing
        sent on the connection will be answered."""
        self._ws = None
        self._outbox = None
        self.store.mark_stale()
        self._apply(self._core.connection_dropped())

    def _token_retry(self, why: str, delay: float) -> None:
        # The wait is ``retry_in``: screens count it down; a detail saying "retrying in 36s"
        # would stay at 36 s for 36 s.
        self.token_retries += 1
        self._set_state(ConnectionState.AUTHENTICATING, why, delay)

    async def _token(self, session: aiohttp.ClientSession) -> Token | None:
        if self._provider is None:
            return None
        self._set_state(ConnectionState.AUTHENTICATING, "fetching a token")
        try:
            token = await self._provider.get(session)
        except AuthError as exc:  # bad credentials, missing scope, a refused request: final
            raise _AuthFinal(str(exc)) from None
        self.token_retries = 0
        self.stats.token_expires_at = token.expires_at
        return token

    async def _interruptible(self, attempt: Coroutine[Any, Any, None]) -> None:
        """Run one connection attempt so that :meth:`stop` and :meth:`reconnect` can cut it
        short before the socket is open (a token endpoint that is down keeps the token
        provider waiting between retries for up to 30 s; nobody should wait for that)."""
        task = asyncio.ensure_future(attempt)
        self._attempt = task
        try:
            await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if task.cancelled() and (current is None or not current.cancelling()):
                raise _Drop(self._drop_reason or "stopped") from None
            raise
        finally:
            self._attempt = None

    def _interrupt_attempt(self) -> None:
        attempt = self._attempt
        if attempt is not None and not attempt.done() and not self.connected:
            attempt.cancel()

    async def _connect_once(self, session: aiohttp.ClientSession) -> None:
        assert self.ws_url is not None
        refetched = False
        while True:
            token = await self._token(session)
            headers = {"Authorization": f"Bearer {token.value}"} if token is not None else {}
            self._set_state(ConnectionState.CONNECTING, self.label)
            if self.recorder is not None:
                self.recorder.connection("connecting", self.label)
            try:
                ws = await session.ws_connect(
                    self.ws_url,
                    headers=headers,
                    heartbeat=self.ping_interval,
                    compress=0,
                    max_msg_size=MAX_FRAME_BYTES,
                    timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=5.0),
                    decode_text=False,
                )
            except aiohttp.WSServerHandshakeError as exc:
                if exc.status == 401 and self._provider is not None and not refetched:
                    # The token expired or was revoked: fetch a new one once, right away.
                    self._provider.invalidate()
                    refetched = True
                    continue
                if exc.status == 401:
                    if self._provider is not None:
                        self._provider.invalidate()
                    raise _Drop("the server refused the token (401); retrying") from None
                if exc.status == 403:
                    raise _AuthFinal(
                        "the server refused the connection (403): "
                        f"the token lacks the scope {SCOPE}"
                    ) from None
                raise _Drop(f"handshake failed ({exc.status})") from None
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                raise _Drop(f"cannot connect: {exc or type(exc).__name__}") from None
            break
        self._ws = ws
        await self._serve(ws)

    async def _serve(self, ws: _WS) -> None:
        now = self._clock()
        self.stats.last_frame_at = now
        outbox = self._outbox = _Outbox()
        if self.recorder is not None:
            self.recorder.connection("connected", self.label)
        # What waited for a connection goes first, and a listener told of the connection
        # finds the core connected too.
        self._apply(self._core.connection_opened())
        self._set_state(ConnectionState.CONNECTED, self.label)
        watchdog = self._spawn(self._watchdog(ws), "watchdog")
        writer = self._spawn(self._write(ws, outbox), "writer")
        try:
            await self._read(ws)
        finally:
            watchdog.cancel()
            writer.cancel()
            if not ws.closed:
                await ws.close()
        exc = ws.exception()
        if self._drop_reason:
            reason = self._drop_reason
        elif exc is not None:
            reason = f"connection lost: {exc or type(exc).__name__}"
        else:
            reason = f"connection closed by the server (code {ws.close_code})"
        raise _Drop(reason)

    async def _read(self, ws: _WS) -> None:
        ingest = self.ingest
        TEXT, BINARY = aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY
        while True:
            msg = await ws.receive()
            if msg.type is TEXT or msg.type is BINARY:
                data: bytes = msg.data
                stamp = self._record_time  # set and cleared while connected, too
                if stamp is not None:
                    stamp(self._record_clock())
                    self._record_frame(data)
                try:
                    ingest(data)
                except Exception as exc:  # a bug of ours on one frame must not end the feed
                    self._internal_error(exc, data)
            elif msg.type is aiohttp.WSMsgType.ERROR:
                self._read_failed(msg.data)
                return
            elif msg.type in (
                aiohttp.WSMsgType.CLOSE,
                aiohttp.WSMsgType.CLOSING,
                aiohttp.WSMsgType.CLOSED,
            ):
                return

    def _read_failed(self, exc: object) -> None:
        """The socket reader gave up on a frame: a frame too large, or a protocol error."""
        if (
            isinstance(exc, aiohttp.WebSocketError)
            and exc.code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG
        ):
            self._drop_reason = (
                f"the server sent a frame larger than the {MAX_FRAME_BYTES // 2**20} MiB limit "
                f"({exc}); reconnecting"
            )
        else:
            self._drop_reason = f"connection lost: {exc!r}"
        self.stats.decode_errors += 1
        self._emit(FeedError(self._drop_reason))

    def _internal_error(self, exc: Exception, data: bytes) -> None:
        self.internal_errors += 1
        if self._bad_frames.allow(self._clock()):
            log.error("%s: handling a frame failed: %r", self.label, data[:200], exc_info=exc)
            self._emit(FeedError(f"internal error on a frame: {exc!r} (counted, feed goes on)"))

    def ingest(self, data: bytes) -> None:
        """Handle one frame as it arrives: the socket reader, replay and tests all come here.

        Data frames are applied here at once; answers to our requests go to the core, and
        what it makes of them is done before the next frame.
        """
        stats = self.stats
        stats.frames += 1
        stats.bytes += len(data)
        stats.last_frame_at = self._clock()
        message = decode_frame(data)
        match message:
            case BookMessage():
                self._on_book(message)
            case Execution():
                self._on_execution(message)
            case Heartbeat():
                self._on_heartbeat(message)
            case SubscribeResult():
                self._apply(self._core.on_subscribe_result(message, self._core_time()))
            case UnsubscribeResult():
                self._apply(self._core.on_unsubscribe_result(message))
            case SubscriptionList():
                self._apply(self._core.on_subscription_list(message))
            case ErrorMessage():
                self._on_error(message)
            case Unrecognized():
                self._count_bad(message.problem, message.head)
            case _:
                assert_never(message)
        self.activity.set()

    async def _watchdog(self, ws: _WS) -> None:
        """Treat a socket with no frames for ``watchdog_timeout`` seconds as dropped."""
        period = max(self.watchdog_timeout / 4, 0.05)
        while not ws.closed:
            await asyncio.sleep(period)
            last = self.stats.last_frame_at or 0.0
            silent = self._clock() - last
            if silent > self.watchdog_timeout:
                self._drop_reason = f"no frames for {silent:.1f}s: connection presumed dead"
                await ws.close(code=aiohttp.WSCloseCode.GOING_AWAY)
                return

    async def _sample_stats(self) -> None:
        while True:
            now = self._clock()
            self.stats.sample(now)
            suppressed = self._bad_frames.roll(now)
            if suppressed:
                message = (
                    f"{suppressed} more unreadable frames in the last minute "
                    f"({self.stats.decode_errors} in all)"
                )
                log.warning("%s: %s", self.label, message)
                self._emit(FeedError(message))
            await asyncio.sleep(1.0)

    # ------------------------------------------------------------------ frame handlers

    def _on_book(self, msg: BookMessage) -> None:
        key = (MARKET_DATA, msg.market)
        sub = self._core.subscriptions.get(key)
        if sub is None or sub.state is SubState.UNSUBSCRIBING:
            return  # a straggler for a market we are leaving
        sub.messages += 1
        sub.last_message_at = self.stats.last_frame_at
        book = self.store.apply(msg)
        if book.resync_reason:
            self._apply(
                self._core.book_needs_resync(msg.market, book.resync_reason, self._core_time())
            )

    def _on_execution(self, msg: Execution) -> None:
        sub = self._core.subscriptions.get((EXECUTION_DATA, msg.market))
        if sub is None or sub.state is SubState.UNSUBSCRIBING:
            return
        sub.messages += 1
        sub.last_message_at = self.stats.last_frame_at
        if self.tape.add(msg, self.store.get(msg.market)) is None:  # unreadable: counted
            self._emit(FeedError(self.tape.tape(msg.market).last_error, msg.market))

    def _on_heartbeat(self, msg: Heartbeat) -> None:
        sub = self._core.subscriptions.get(HEARTBEAT_KEY)
        if sub is not None:
            sub.messages += 1
            sub.last_message_at = self.stats.last_frame_at
        try:
            self.stats.clock_offset_ns = parse_time(msg.timestamp) - time.time_ns()
        except TimeFormatError as exc:
            self._count_bad(str(exc), msg.timestamp.encode())

    def _on_error(self, msg: ErrorMessage) -> None:
        code = redact(msg.error or "(no code)")
        log.warning("%s: the server reported %s", self.label, code)
        if code == INTERNAL_SERVER_ERROR:
            self._emit(
                FeedError("the server reported INTERNAL_SERVER_ERROR; reconnecting", code=code)
            )
            self._drop_reason = "server error INTERNAL_SERVER_ERROR"
            ws = self._ws
            if ws is not None and not ws.closed:
                self._spawn(ws.close(), "close after a server error")
            return
        self._emit(FeedError(f"the server reported {code}", code=code))

    def _count_bad(self, problem: str, head: bytes) -> None:
        self.stats.decode_errors += 1
        if self._bad_frames.allow(self._clock()):
            message = f"unreadable frame ({problem}): {head[:80]!r}"
            log.warning("%s: %s", self.label, redact(message))
            self._emit(FeedError(message))


@dataclasses.dataclass
class ReplayState:
    """What replaying a recording changes in a :class:`FeedClient` (see
    :meth:`FeedClient.replay_state`): books, tapes, counters, the connection's state and the
    subscription core's. The rest of a replaying feed (its settings, listeners, the screen's
    event) stays the feed's own."""

    books: dict[str, Book]
    tapes: dict[str, MarketTape]
    stats: FeedStats
    state: ConnectionState
    state_detail: str
    core: dict[str, Any]
    """The :class:`~app.subscriptions.SubscriptionCore`'s attributes, but its wiring."""
    known_markets: list[str]
    replay_now: float
    bad_frames: _Throttle
    internal_errors: int


_CORE_WIRING: Final = frozenset({"_random", "_out"})
"""Core attributes that are how it is wired, not where it stands: its source of jitter (a
bound method of the process's random generator) and its effects outbox (empty between
records)."""
_CORE_STATE: Final = tuple(n for n in SubscriptionCore.__slots__ if n not in _CORE_WIRING)
"""The core's attributes a replay state holds.

The objects a replay runs through (the core, the stats, the subscriptions, books and tapes)
have ``__slots__``: on Python 3.11 an instance whose ``__dict__`` was ever asked for
(``vars()``, pickling it for a checkpoint, unpickling it from one) keeps a real dict, and
every attribute read and write on it then costs more. A transport that adopted a checkpoint
ran ``FeedClient.ingest`` 8-12 % slower than a fresh feed on the same frames."""


_ALARMING: Final = frozenset(
    {ConnectionState.RECONNECTING, ConnectionState.AUTH_FAILED, ConnectionState.FAILED}
)


def _redacted(event: FeedEvent) -> FeedEvent:
    """The event with its texts redacted (:mod:`app.redact`): every event reaches a screen,
    a stream line or a log."""
    if isinstance(event, FeedError):
        return dataclasses.replace(
            event,
            message=redact(event.message),
            code=None if event.code is None else redact(event.code),
        )
    if isinstance(event, ConnectionChanged):
        return dataclasses.replace(event, detail=redact(event.detail))
    if isinstance(event, SubscriptionChanged) and event.error is not None:
        return dataclasses.replace(event, error=redact(event.error))
    if isinstance(event, BookResynced):
        return dataclasses.replace(event, reason=redact(event.reason))
    return event


class SubscribeQueue(NamedTuple):
    """Subscribe requests as a screen shows them (:meth:`FeedClient.subscribe_queue`)."""

    waiting: list[str]
    """Markets whose subscribe has not gone out yet, oldest first."""
    sent: list[str]
    """Markets whose subscribe is out, not yet answered."""
    next_in: float | None
    """Seconds until the next request may go (None: nothing waits for the pace)."""


class _Outbox:
    """A connection's requests in the order the core made them; :meth:`FeedClient._write`
    is its only reader. (Sending from many tasks relied on aiohttp writing each frame at once:
    nothing guaranteed that an unsubscribe went out before the subscribe made after it.)"""

    def __init__(self) -> None:
        self._items: deque[Send] = deque()
        self._ready = asyncio.Event()

    def put(self, request: Send) -> None:
        self._items.append(request)
        self._ready.set()

    async def peek(self) -> Send:
        """The oldest request, waiting for one."""
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        return self._items[0]

    def take(self) -> Send:
        return self._items.popleft()

    def subscribe_keys(self) -> list[ChannelKey]:
        """The keys of every subscribe request not yet taken, oldest first (may repeat)."""
        return [key for item in self._items if item.kind == "subscribe" for key in item.keys]

    def take_subscribes(self) -> list[ChannelKey]:
        """The keys of every subscribe request at the head, merged (each key once)."""
        keys: list[ChannelKey] = []
        items = self._items
        while items and items[0].kind == "subscribe":
            for key in items.popleft().keys:
                if key not in keys:
                    keys.append(key)
        return keys


class _Throttle:
    """At most ``limit`` reports per ``window`` seconds; :meth:`roll` returns how many were
    held back in a window that has ended, for one summary line."""

    __slots__ = ("_count", "_held", "_start", "limit", "window")

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._start: float | None = None
        self._count = 0
        self._held = 0

    def allow(self, now: float) -> bool:
        if self._start is None or now - self._start >= self.window:
            self._start = now
            self._count = 0
        self._count += 1
        if self._count <= self.limit:
            return True
        self._held += 1
        return False

    def roll(self, now: float) -> int:
        if self._start is None or now - self._start < self.window:
            return 0
        held, self._held = self._held, 0
        self._start = None
        return held


def _ignore(data: bytes) -> None:
    """What a frame is recorded with while no recorder is set (never called: see _read)."""


def _loop_time() -> float:
    """The running event loop's clock: what the core's deadlines and ``call_at`` count in."""
    return asyncio.get_running_loop().time()


def _snapshot_frame(market: str, time_text: str, book: Book) -> bytes:
    """A SNAPSHOT frame of ``book`` as held, with the server's spellings."""
    return encode(
        {
            "channel": MARKET_DATA,
            "payload": {
                "market": market,
                "type": "SNAPSHOT",
                "time": time_text,
                "bids": [{"price": lv.price, "amount": lv.amount} for lv in book.bids.iter()],
                "asks": [{"price": lv.price, "amount": lv.amount} for lv in book.asks.iter()],
            },
        }
    )
