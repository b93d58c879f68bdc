"""FeedClient: one WebSocket to the Smart Order Routing API, kept correct through anything.

One connection with the bearer token (aiohttp ``heartbeat=`` pings, ``decode_text=False`` so
frames reach the msgspec decoder as bytes), one reader loop that applies every frame to the
:class:`~app.books.BookStore` and :class:`~app.tape.TradeTape` as it arrives, and a
supervisor that reconnects with capped, jittered exponential backoff. Subscribing and
unsubscribing only send; they work at any time, connected or not, against an *intended set*
that is resubscribed after every reconnect and then checked against ``subscription_list``.

Consumers read ``store``, ``tape``, ``stats``, ``subscriptions`` and ``state`` directly and
get low-rate events (:mod:`app.events`) through :meth:`FeedClient.add_listener`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, Final, Literal

import aiohttp

from app.auth import (
    AuthError,
    Credentials,
    Token,
    TokenProvider,
)
from app.books import BookStore
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
from app.protocol import (
    EXECUTION_DATA,
    HEARTBEAT,
    INTERNAL_SERVER_ERROR,
    MARKET_CHANNELS,
    MARKET_DATA,
    SCOPE,
    UNKNOWN_CHANNEL_PARAMS_CONFIGURATION,
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
    encode,
    parse_time,
)
from app.tape import TradeTape

log = logging.getLogger(__name__)

_WS = aiohttp.ClientWebSocketResponse[Literal[False]]
"""A client socket that hands text frames over as bytes (``decode_text=False``)."""

DEFAULT_CHANNELS: Final = MARKET_CHANNELS
HEARTBEAT_KEY: Final[ChannelKey] = (HEARTBEAT, None)


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
        tape: TradeTape | None = None,
        known_markets: Iterable[str] = (),
        heartbeat_channel: bool = True,
        ping_interval: float = 10.0,
        watchdog_timeout: float = 10.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        healthy_after: float = 5.0,
        drift_check_delay: float = 1.0,
        recorder: Callable[[bytes], None] | None = None,
        adopt_channels: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.credentials = credentials
        self.token_url = token_url
        self.ws_url = ws_url
        self.label = label or (ws_url or "")
        self.store = store if store is not None else BookStore()
        self.tape = tape if tape is not None else TradeTape()
        self.stats = FeedStats()
        self.state = ConnectionState.IDLE
        self.state_detail = ""
        self.subscriptions: dict[ChannelKey, Subscription] = {}
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
        self.drift_check_delay = drift_check_delay
        self.recorder = recorder
        self.adopt_channels = adopt_channels
        """Replay: take channels the server confirms as ours even if we did not ask."""
        self._clock = clock
        self._listeners: list[Callable[[FeedEvent], None]] = []
        self._market_order: list[str] = []
        self._provider: TokenProvider | None = None
        self._attempt: asyncio.Future[None] | None = None
        self._ws: _WS | None = None
        self._stopping = False
        self._wake = asyncio.Event()
        self._pending_subscribes: deque[list[ChannelKey]] = deque()
        self._pending_unsubscribes: deque[list[ChannelKey]] = deque()
        self._resyncing: set[ChannelKey] = set()
        self._drift_task: asyncio.Task[None] | None = None
        self._drop_reason = ""
        self._reconnect_now = False
        """The user asked to reconnect: the next attempt goes at once, without backoff."""
        self.attempts = 0
        """Consecutive failed connection attempts (reset after a healthy period)."""
        self._handlers: dict[type, Callable[[object], None]] = {
            BookMessage: self._on_book,  # type: ignore[dict-item]
            Execution: self._on_execution,  # type: ignore[dict-item]
            Heartbeat: self._on_heartbeat,  # type: ignore[dict-item]
            SubscribeResult: self._on_subscribe_result,  # type: ignore[dict-item]
            UnsubscribeResult: self._on_unsubscribe_result,  # type: ignore[dict-item]
            SubscriptionList: self._on_subscription_list,  # type: ignore[dict-item]
            ErrorMessage: self._on_error,  # type: ignore[dict-item]
            Unrecognized: self._on_unrecognized,  # type: ignore[dict-item]
        }
        if heartbeat_channel:
            self.subscriptions[HEARTBEAT_KEY] = Subscription(HEARTBEAT_KEY)

    def __repr__(self) -> str:
        return f"FeedClient({self.label!r}, state={self.state.value})"

    # ------------------------------------------------------------------ consumers

    def add_listener(self, callback: Callable[[FeedEvent], None]) -> None:
        """Call ``callback`` with every event, on the asyncio loop."""
        self._listeners.append(callback)

    def _emit(self, event: FeedEvent) -> None:
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
        """Set the connection state from outside (replay has no socket; tests)."""
        self._set_state(state, detail, retry_in)

    def _set_state(
        self, state: ConnectionState, detail: str = "", retry_in: float | None = None
    ) -> None:
        self.state = state
        self.state_detail = detail
        self._emit(ConnectionChanged(state, detail, retry_in))

    def markets(self) -> list[str]:
        """Markets in the intended set, in the order they were first subscribed."""
        return list(self._market_order)

    def channels_for(self, market: str) -> list[Subscription]:
        """The subscriptions of one market, market_data first."""
        subs = self.subscriptions
        return [subs[(t, market)] for t in DEFAULT_CHANNELS if (t, market) in subs]

    @property
    def connected(self) -> bool:
        """True while the WebSocket is open."""
        return self.state is ConnectionState.CONNECTED

    # ------------------------------------------------------------------ commands

    def subscribe(self, market: str, channels: Iterable[str] = DEFAULT_CHANNELS) -> None:
        """Add a market's channels to the intended set and request them (if connected)."""
        wanted = tuple(channels)
        keys: list[ChannelKey] = []
        for type_ in wanted:
            key: ChannelKey = (type_, market)
            sub = self.subscriptions.get(key)
            if sub is not None and sub.state in (SubState.ACTIVE, SubState.PENDING):
                continue
            self.subscriptions[key] = Subscription(key)
            self._changed(key)
            keys.append(key)
        if market not in self._market_order and keys:
            self._market_order.append(market)
        if market not in self.known_markets:
            self.known_markets.append(market)
        if MARKET_DATA in wanted:
            self.store.book(market)  # SYNCING from now on, so the screen can say so
        self._send_subscribe(keys)

    def unsubscribe(self, market: str) -> None:
        """Remove a market from the intended set; its channels go once the server confirms."""
        keys = [key for key in self.subscriptions if key[1] == market]
        if not self.connected:
            for key in keys:
                self._remove(key)
            return
        to_send: list[ChannelKey] = []
        for key in keys:
            sub = self.subscriptions[key]
            if sub.state is SubState.FAILED:
                self._remove(key)  # the server never had it
                continue
            sub.state = SubState.UNSUBSCRIBING
            self._changed(key)
            to_send.append(key)
        if to_send:
            self._pending_unsubscribes.append(to_send)
            self._send(UnsubscribeRequest([channel_from_key(k) for k in to_send]))
            # The server may not answer an unsubscribe (protocol.md §7): the list settles it.
            self._send(SubscriptionListRequest())

    def resync(self, market: str, reason: str = "requested") -> None:
        """Ask for a fresh SNAPSHOT: the book stays visible, marked stale, until it lands."""
        key: ChannelKey = (MARKET_DATA, market)
        sub = self.subscriptions.get(key)
        if sub is None or key in self._resyncing:
            return
        self.store.reset(market)
        self._emit(BookResynced(market, reason))
        if not self.connected:
            return  # the reconnect will subscribe afresh anyway
        self._resyncing.add(key)
        sub.state = SubState.PENDING
        self._changed(key)
        self._pending_unsubscribes.append([key])
        self._send(UnsubscribeRequest([channel_from_key(key)]))
        self._send_subscribe([key])

    def reconnect(self) -> None:
        """Drop the connection and connect afresh now (also retries after an auth failure)."""
        self._drop_reason = "reconnect requested"
        self._reconnect_now = True
        self.attempts = 0
        self._wake.set()
        self._interrupt_attempt()
        ws = self._ws
        if ws is not None and not ws.closed:
            asyncio.get_running_loop().create_task(ws.close())

    async def stop(self) -> None:
        """Close the connection and make :meth:`run` return."""
        self._stopping = True
        self._wake.set()
        self._interrupt_attempt()
        ws = self._ws
        if ws is not None and not ws.closed:
            await ws.close()

    # ------------------------------------------------------------------ sending

    def _send(self, request: object) -> None:
        ws = self._ws
        if ws is None or ws.closed or not self.connected:
            return
        data = encode(request)
        asyncio.get_running_loop().create_task(self._send_bytes(ws, data))

    @staticmethod
    async def _send_bytes(ws: _WS, data: bytes) -> None:
        # A send that fails because the socket just closed is the reader's to report.
        with contextlib.suppress(ConnectionError, RuntimeError, aiohttp.ClientError):
            await ws.send_str(data.decode())  # requests are JSON text frames

    def _send_subscribe(self, keys: list[ChannelKey]) -> None:
        if not keys or not self.connected:
            return
        self._pending_subscribes.append(keys)
        self._send(SubscribeRequest([channel_from_key(k) for k in keys]))

    # ------------------------------------------------------------------ state changes

    def _changed(self, key: ChannelKey) -> None:
        sub = self.subscriptions.get(key)
        if sub is not None:
            self._emit(SubscriptionChanged(key, sub.state, sub.error, confirmed=sub.confirmed))

    def _remove(self, key: ChannelKey) -> None:
        sub = self.subscriptions.pop(key, None)
        if sub is None:
            return
        self._emit(SubscriptionChanged(key, sub.state, sub.error, removed=True))
        market = key[1]
        if market is None:
            return
        if key[0] == MARKET_DATA:
            self.store.remove(market)
        elif key[0] == EXECUTION_DATA:
            self.tape.remove(market)
        if not any(k[1] == market for k in self.subscriptions) and market in self._market_order:
            self._market_order.remove(market)

    # ------------------------------------------------------------------ supervisor

    async def run(self) -> None:
        """Connect and stay connected until :meth:`stop`; never raises for network trouble."""
        self._stopping = False
        if self.ws_url is None:
            raise ValueError("FeedClient.run() needs a ws_url")
        stats_task = asyncio.get_running_loop().create_task(self._sample_stats())
        try:
            async with aiohttp.ClientSession() as session:
                if self.credentials is not None and self.token_url is not None:
                    self._provider = TokenProvider(
                        self.token_url, self.credentials, on_retry=self._token_retry
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
                        break
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
        finally:
            stats_task.cancel()
            self._set_state(ConnectionState.STOPPED, "stopped")

    def _backoff(self) -> float:
        """Capped exponential backoff with full jitter over its upper half."""
        ceiling = min(self.backoff_max, self.backoff_initial * (2**self.attempts))
        return random.uniform(ceiling / 2, ceiling)

    def _after_drop(self) -> None:
        self._ws = None
        self.store.mark_stale()
        self._pending_subscribes.clear()
        self._pending_unsubscribes.clear()
        self._resyncing.clear()
        if self._drift_task is not None:
            self._drift_task.cancel()
            self._drift_task = None
        for key, sub in list(self.subscriptions.items()):
            if sub.state is SubState.UNSUBSCRIBING:
                self._remove(key)  # a new connection starts without it anyway
            elif sub.state is SubState.ACTIVE:
                sub.state = SubState.PENDING
                sub.confirmed = None
                self._changed(key)

    def _token_retry(self, why: str, delay: float) -> None:
        self._set_state(ConnectionState.AUTHENTICATING, f"{why}; retrying in {delay:.0f}s", delay)

    async def _token(self, session: aiohttp.ClientSession) -> Token | None:
        if self._provider is None:
            return None
        self._set_state(ConnectionState.AUTHENTICATING, "fetching a token")
        try:
            token = await self._provider.get(session)
        except AuthError as exc:  # bad credentials, missing scope, a refused request: final
            raise _AuthFinal(str(exc)) from None
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
            try:
                ws = await session.ws_connect(
                    self.ws_url,
                    headers=headers,
                    heartbeat=self.ping_interval,
                    compress=0,
                    max_msg_size=0,
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
        self._set_state(ConnectionState.CONNECTED, self.label)
        intended = [key for key, sub in self.subscriptions.items() if sub.state is SubState.PENDING]
        self._send_subscribe(intended)
        watchdog = asyncio.get_running_loop().create_task(self._watchdog(ws))
        try:
            await self._read(ws)
        finally:
            watchdog.cancel()
            if not ws.closed:
                await ws.close()
        exc = ws.exception()
        if self._drop_reason:
            raise _Drop(self._drop_reason)
        if exc is not None:
            raise _Drop(f"connection lost: {exc or type(exc).__name__}")
        code = ws.close_code
        raise _Drop(f"connection closed by the server (code {code})")

    async def _read(self, ws: _WS) -> None:
        recorder = self.recorder
        ingest = self.ingest
        TEXT, BINARY = aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY
        while True:
            msg = await ws.receive()
            if msg.type is TEXT or msg.type is BINARY:
                data: bytes = msg.data
                if recorder is not None:
                    recorder(data)
                ingest(data)
            elif msg.type in (
                aiohttp.WSMsgType.CLOSE,
                aiohttp.WSMsgType.CLOSING,
                aiohttp.WSMsgType.CLOSED,
                aiohttp.WSMsgType.ERROR,
            ):
                return

    def ingest(self, data: bytes) -> None:
        """Handle one frame as it arrives: the socket reader, replay and tests all come here."""
        stats = self.stats
        stats.frames += 1
        stats.bytes += len(data)
        stats.last_frame_at = self._clock()
        message = decode_frame(data)
        self._handlers[type(message)](message)

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
            self.stats.sample(self._clock())
            await asyncio.sleep(1.0)

    # ------------------------------------------------------------------ frame handlers

    def _on_book(self, msg: BookMessage) -> None:
        key = (MARKET_DATA, msg.market)
        sub = self.subscriptions.get(key)
        if sub is None or sub.state is SubState.UNSUBSCRIBING:
            return  # a straggler for a market we are leaving
        sub.messages += 1
        sub.last_message_at = self.stats.last_frame_at
        book = self.store.apply(msg)
        if book.resync_reason and key not in self._resyncing:
            self._emit(FeedError(f"book needs a new snapshot: {book.resync_reason}", msg.market))
            self.resync(msg.market, book.resync_reason)

    def _on_execution(self, msg: Execution) -> None:
        sub = self.subscriptions.get((EXECUTION_DATA, msg.market))
        if sub is None or sub.state is SubState.UNSUBSCRIBING:
            return
        sub.messages += 1
        sub.last_message_at = self.stats.last_frame_at
        if self.tape.add(msg, self.store.get(msg.market)) is None:  # unreadable: counted
            self._emit(FeedError(self.tape.tape(msg.market).last_error, msg.market))

    def _on_heartbeat(self, msg: Heartbeat) -> None:
        sub = self.subscriptions.get(HEARTBEAT_KEY)
        if sub is not None:
            sub.messages += 1
            sub.last_message_at = self.stats.last_frame_at
        try:
            self.stats.clock_offset_ns = parse_time(msg.timestamp) - time.time_ns()
        except TimeFormatError as exc:
            self._count_bad(str(exc), msg.timestamp.encode())

    def _match(
        self, entries: list[ChannelResult], pending: deque[list[ChannelKey]]
    ) -> list[tuple[ChannelKey, ChannelResult]]:
        """Pair result entries with the keys of the oldest outstanding request.

        Entries carrying ``params`` name their channel; entries without are matched by
        position and type (one variant of the documentation leaves ``params`` out).
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
                self._emit(FeedError(f"cannot match a {entry.type} result to a request"))
                continue
            pairs.append((key, entry))
        return pairs

    def _on_subscribe_result(self, msg: SubscribeResult) -> None:
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
                sub.error = entry.error or "refused"
                self._changed(key)
                where = f"{key[0]} {key[1]}" if key[1] else key[0]
                self._emit(
                    FeedError(f"subscription to {where} failed: {sub.error}", key[1], entry.error)
                )
            else:
                sub.state = SubState.ACTIVE
                sub.error = None
                self._changed(key)
        self._schedule_drift_check()

    def _on_unsubscribe_result(self, msg: UnsubscribeResult) -> None:
        for key, entry in self._match(msg.channels, self._pending_unsubscribes):
            if key in self._resyncing:
                continue  # the first half of a resync: the subscription stays
            sub = self.subscriptions.get(key)
            if sub is None or sub.state is not SubState.UNSUBSCRIBING:
                continue
            if entry.success is False and entry.error != UNKNOWN_CHANNEL_PARAMS_CONFIGURATION:
                self._emit(
                    FeedError(f"unsubscribe of {key[0]} failed: {entry.error}", key[1], entry.error)
                )
            self._remove(key)

    def _on_subscription_list(self, msg: SubscriptionList) -> None:
        listed = {ch.key for ch in msg.channels}
        drift_missing: list[ChannelKey] = []
        for key, sub in list(self.subscriptions.items()):
            present = key in listed
            if sub.state is SubState.UNSUBSCRIBING:
                if not present:
                    self._remove(key)
                continue
            if sub.state is SubState.ACTIVE:
                if sub.confirmed is not present:
                    sub.confirmed = present
                    self._changed(key)
                if not present and key not in self._resyncing:
                    drift_missing.append(key)
        extra = [key for key in listed if key not in self.subscriptions]
        if drift_missing:
            self._emit(
                FeedError(
                    "the server lost "
                    + ", ".join(_name(k) for k in drift_missing)
                    + "; resubscribing"
                )
            )
            for key in drift_missing:
                self.subscriptions[key].state = SubState.PENDING
                if key[0] == MARKET_DATA and key[1] is not None:
                    self.store.reset(key[1])
                self._changed(key)
            self._send_subscribe(drift_missing)
        if extra:
            self._emit(
                FeedError(
                    "the server had channels we did not ask for: "
                    + ", ".join(_name(k) for k in extra)
                    + "; unsubscribing"
                )
            )
            self._pending_unsubscribes.append(extra)
            self._send(UnsubscribeRequest([channel_from_key(k) for k in extra]))

    def _schedule_drift_check(self) -> None:
        """Once every outstanding subscribe is answered, compare with ``subscription_list``."""
        if not self.connected or self._pending_subscribes:
            return
        if self._drift_task is not None and not self._drift_task.done():
            return
        self._drift_task = asyncio.get_running_loop().create_task(self._drift_check())

    async def _drift_check(self) -> None:
        await asyncio.sleep(self.drift_check_delay)
        self._send(SubscriptionListRequest())

    def _on_error(self, msg: ErrorMessage) -> None:
        code = msg.error or "(no code)"
        if code == INTERNAL_SERVER_ERROR:
            self._emit(
                FeedError("the server reported INTERNAL_SERVER_ERROR; reconnecting", code=code)
            )
            self._drop_reason = "server error INTERNAL_SERVER_ERROR"
            ws = self._ws
            if ws is not None and not ws.closed:
                asyncio.get_running_loop().create_task(ws.close())
            return
        self._emit(FeedError(f"the server reported {code}", code=code))

    def _on_unrecognized(self, msg: Unrecognized) -> None:
        self._count_bad(msg.problem, msg.head)

    def _count_bad(self, problem: str, head: bytes) -> None:
        self.stats.decode_errors += 1
        self._emit(FeedError(f"unreadable frame ({problem}): {head[:80]!r}"))


def _name(key: ChannelKey) -> str:
    return f"{key[0]}:{key[1]}" if key[1] else key[0]
