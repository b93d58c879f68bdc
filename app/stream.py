"""``sordash stream``: the dashboard's pipeline without a screen, as JSON Lines on stdout.

Each line is one object with a ``kind``:

- ``book``: ``{"kind":"book","market":..,"time":..,"state":..,"bids":[[price,amount],..],
  "asks":[..]}`` (bids descending, asks ascending, decimal strings as the exchange wrote
  them, at most ``--depth`` levels);
- ``tape``: ``{"kind":"tape","market":..,"trades":[{"price","amount","executed_at",
  "inferred_side"},..]}``, newest first by ``executed_at`` (the API gives no side: ours is
  inferred from the book and the tick rule, and named so that no script mistakes it);
- ``status`` and ``error`` for connection and subscription events;
- ``alert``: ``{"kind":"alert","rule":..,"alert":..,"market":..,"value":..,"message":..}``
  for each alert that fires (:meth:`app.alerts.AlertFired.as_line`), the rules checked
  every :data:`ALERT_INTERVAL` seconds whatever the interval (the dashboard's rules: the
  config's ``[[alerts]]`` and those made in its dialog).

A market's book and tape lines are printed when it changed, at most once per interval. On
exit (``--duration``, SIGINT, SIGTERM) one final ``book`` and ``tape`` line per subscribed
market. Exit 0; 1 when the feed failed (a bad replay file, an internal error: one line on
stderr saying which); 3 when authentication is refused (the reason on stderr). Every line,
on stdout and stderr, passes through :mod:`app.redact`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time
from typing import IO, Any, Final

import msgspec

from app.alerts import AlertEngine
from app.events import (
    BookResynced,
    ConnectionChanged,
    ConnectionState,
    FeedError,
    FeedEvent,
    SubscriptionChanged,
)
from app.feed import FeedClient
from app.protocol import EXECUTION_DATA, MARKET_DATA
from app.recording import RecordingError
from app.redact import redact, redact_bytes
from app.session import Session

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_AUTH: Final = 3
ALERT_INTERVAL: Final = 0.1
"""Seconds between two evaluations of the alert rules (a price that touches a level and
leaves again within a line interval still fires)."""

log = logging.getLogger(__name__)

_encoder = msgspec.json.Encoder()


class StreamWriter:
    """Writes JSON Lines for a feed: books, tapes, status and errors."""

    def __init__(
        self, feed: FeedClient, out: IO[bytes], depth: int | None = None, tape_size: int = 50
    ) -> None:
        self.feed = feed
        self.out = out
        self.depth = depth
        self.tape_size = tape_size
        self.closed = False

    def write(self, obj: dict[str, Any]) -> None:
        """One JSON object on its own line (a closed stdout ends the stream quietly)."""
        if self.closed:
            return
        try:
            self.out.write(redact_bytes(_encoder.encode(obj)) + b"\n")
        except BrokenPipeError:
            self.closed = True

    def flush(self) -> None:
        """Push buffered lines out."""
        if not self.closed:
            try:
                self.out.flush()
            except BrokenPipeError:
                self.closed = True

    def book_line(self, market: str) -> dict[str, Any] | None:
        """The ``book`` object for a market, or None while it has never had a snapshot."""
        book = self.feed.store.get(market)
        if book is None or not book.has_data:
            return None
        n = self.depth if self.depth is not None else max(len(book.bids), len(book.asks))
        bids, asks = book.top(n)
        return {
            "kind": "book",
            "market": market,
            "time": book.last_update_text,
            "state": book.state.value,
            "bids": [[lv.price, lv.amount] for lv in bids],
            "asks": [[lv.price, lv.amount] for lv in asks],
        }

    def tape_line(self, market: str) -> dict[str, Any] | None:
        """The ``tape`` object for a market, newest trade first."""
        tape = self.feed.tape.get(market)
        if tape is None:
            return None
        return {
            "kind": "tape",
            "market": market,
            "trades": [
                {
                    "price": t.price,
                    "amount": t.amount,
                    "executed_at": t.executed_at,
                    "inferred_side": t.side.value,
                }
                for t in tape.newest(self.tape_size)
            ],
        }

    def on_event(self, event: FeedEvent) -> None:
        """Status and error lines for feed events."""
        if isinstance(event, ConnectionChanged):
            line: dict[str, Any] = {"kind": "status", "connection": event.state.value}
            if event.detail:
                line["detail"] = event.detail
            if event.retry_in is not None:
                line["retry_in"] = round(event.retry_in, 3)
            self.write(line)
        elif isinstance(event, SubscriptionChanged):
            line = {"kind": "status", "channel": event.key[0], "state": event.state.value}
            if event.key[1] is not None:
                line["market"] = event.key[1]
            if event.error:
                line["error"] = event.error
            if event.confirmed is not None:
                line["confirmed"] = event.confirmed  # by the server's subscription_list
            if event.removed:
                line["state"] = "removed"
            self.write(line)
        elif isinstance(event, FeedError):
            line = {"kind": "error", "message": event.message}
            if event.market:
                line["market"] = event.market
            if event.code:
                line["code"] = event.code
            self.write(line)
        elif isinstance(event, BookResynced):
            self.write({"kind": "status", "market": event.market, "resync": event.reason})
        self.flush()

    def emit_changed(self) -> None:
        """Book and tape lines for every market changed since the last call."""
        for market in sorted(self.feed.store.take_dirty()):
            line = self.book_line(market)
            if line is not None:
                self.write(line)
        for market in sorted(self.feed.tape.take_dirty()):
            line = self.tape_line(market)
            if line is not None and line["trades"]:
                self.write(line)
        self.flush()

    def emit_final(self) -> None:
        """One last book and tape line per subscribed market."""
        for market in self.feed.markets():
            keys = {sub.type for sub in self.feed.channels_for(market)}
            if MARKET_DATA in keys:
                line = self.book_line(market)
                if line is not None:
                    self.write(line)
            if EXECUTION_DATA in keys:
                tape = self.tape_line(market)
                if tape is not None:
                    self.write(tape)
        self.flush()
        # The final lines are the last: shutting down (which marks books stale and
        # channels pending) is not news a script should have to filter out.
        self.closed = True


async def watch_alerts(
    engine: AlertEngine, feed: FeedClient, writer: StreamWriter, period: float = ALERT_INTERVAL
) -> None:
    """Evaluate ``engine`` every ``period`` seconds; an ``alert`` line (and a log record)
    for each rule that fires. Runs until cancelled."""
    while True:
        fired = engine.evaluate(time.monotonic(), feed)
        for alert in fired:
            log.info("alert %s fired: %s", alert.rule_id, alert.message)
            writer.write(alert.as_line())
        if fired:
            writer.flush()
        await asyncio.sleep(period)


async def run_stream(
    session: Session,
    *,
    depth: int | None = None,
    interval: float = 1.0,
    duration: float | None = None,
    out: IO[bytes] | None = None,
    err: IO[str] | None = None,
    stop: asyncio.Event | None = None,
    alerts: AlertEngine | None = None,
) -> int:
    """Run the session, printing JSON Lines, until ``duration``, SIGINT or SIGTERM, auth
    failure, or ``stop`` is set (what a signal does, for a caller that is not a process);
    with ``alerts``, an ``alert`` line for each rule that fires."""
    feed = session.feed
    writer = StreamWriter(feed, out if out is not None else sys.stdout.buffer, depth)
    errors = err if err is not None else sys.stderr
    done = stop if stop is not None else asyncio.Event()
    exit_code = EXIT_OK

    def on_event(event: FeedEvent) -> None:
        nonlocal exit_code
        writer.on_event(event)
        if isinstance(event, ConnectionChanged) and event.state is ConnectionState.AUTH_FAILED:
            print(redact(f"sordash: authentication refused: {event.detail}"), file=errors)
            exit_code = EXIT_AUTH
            done.set()

    feed.add_listener(on_event)
    # A recording that stops (the disk full, the file broken) is one line on stderr, besides
    # the error line on stdout: the stream itself goes on.
    session.on_recording_error.append(
        lambda message: print(redact(f"sordash: {message}"), file=errors, flush=True)
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, done.set)
    runner = loop.create_task(session.run())
    runner.add_done_callback(lambda _: done.set())
    watcher = None
    if alerts is not None and alerts.statuses():
        watcher = loop.create_task(watch_alerts(alerts, feed, writer))
    deadline = None if duration is None else time.monotonic() + duration
    try:
        while not done.is_set():
            timeout = interval
            if deadline is not None:
                timeout = min(timeout, max(deadline - time.monotonic(), 0.0))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), timeout)
            if deadline is not None and time.monotonic() >= deadline:
                done.set()
            writer.emit_changed()
            if writer.closed:
                break
    finally:
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
        failed = runner.done() and not runner.cancelled() and runner.exception() is not None
        if failed:
            writer.write({"kind": "error", "message": f"stream failed: {runner.exception()}"})
            writer.flush()
        elif exit_code == EXIT_OK:
            writer.emit_final()
        await session.stop()
        # Wait for the runner without re-raising what it raised: that is reported below as
        # one line and exit 1, not as a traceback.
        await asyncio.wait({runner})
    exc = None if runner.cancelled() else runner.exception()
    if isinstance(exc, RecordingError):  # names the file and what is wrong with it
        print(redact(f"sordash: {exc}"), file=errors)
        return EXIT_FAILED
    if exc is not None:
        print(redact(f"sordash: stream failed: {exc}"), file=errors)
        return EXIT_FAILED
    return exit_code
