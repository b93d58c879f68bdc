"""Shared helpers for tests that run the real FeedClient against the real simulator."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import zstandard

from app.auth import Credentials
from app.books import BookState
from app.events import ConnectionChanged, ConnectionState, FeedEvent
from app.feed import FeedClient
from app.protocol import to_scaled
from app.simulator import SimConfig, Simulator

ROOT = Path(__file__).resolve().parent.parent
"""The repository (the CLI runs from here)."""
WAIT = 10.0
"""The longest any condition may take before a test fails (generous: CI machines are slow)."""


async def until(predicate: Callable[[], bool], what: str, limit: float = WAIT) -> None:
    """Wait until ``predicate()`` holds, checking on every loop turn plus a short period.

    Fails with ``what`` after ``timeout`` seconds. This waits *for a condition*; it never
    assumes one holds after some fixed time.
    """
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {limit}s waiting for: {what}")
        await asyncio.sleep(0.01)


class EventLog:
    """Collects a feed's events and lets a test wait for a particular one."""

    def __init__(self, feed: FeedClient) -> None:
        self.events: list[FeedEvent] = []
        self._changed = asyncio.Event()
        feed.add_listener(self._on_event)

    def _on_event(self, event: FeedEvent) -> None:
        self.events.append(event)
        self._changed.set()

    async def wait_for(
        self, match: Callable[[FeedEvent], bool], what: str, limit: float = WAIT, start: int = 0
    ) -> FeedEvent:
        """The first event from index ``start`` on that matches, waiting for it if needed."""
        deadline = time.monotonic() + limit
        index = start
        while True:
            while index < len(self.events):
                event = self.events[index]
                index += 1
                if match(event):
                    return event
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out waiting for event: {what}; saw {self.events}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                continue

    async def token_retry(self) -> ConnectionChanged:
        """The first announced token retry (AUTHENTICATING with a ``retry_in``)."""
        event = await self.wait_for(
            lambda e: isinstance(e, ConnectionChanged) and e.retry_in is not None, "a retry"
        )
        assert isinstance(event, ConnectionChanged)
        assert event.state is ConnectionState.AUTHENTICATING
        return event

    def states(self) -> list[ConnectionState]:
        """Connection states seen so far, in order."""
        return [e.state for e in self.events if isinstance(e, ConnectionChanged)]


def sim_config(**overrides: Any) -> SimConfig:
    """A fast, reproducible simulator for tests."""
    base: dict[str, Any] = dict(
        host="127.0.0.1",
        port=0,
        seed=11,
        rate=200.0,
        heartbeat_interval=0.2,
        markets=["BTCUSD", "ETHUSD", "LTCUSD"],
    )
    base.update(overrides)
    return SimConfig(**base)


def make_feed(sim: Simulator, **overrides: Any) -> FeedClient:
    """A FeedClient pointed at ``sim`` with test-friendly timings."""
    options: dict[str, Any] = dict(
        label="test",
        watchdog_timeout=3.0,
        backoff_initial=0.05,
        backoff_max=0.4,
        drift_check_delay=0.05,
    )
    options.update(overrides)
    credentials = options.pop("credentials", Credentials(sim.client_id, sim.client_secret))
    return FeedClient(credentials, sim.token_url, sim.ws_url, **options)


@asynccontextmanager
async def running_sim(**overrides: Any) -> AsyncIterator[Simulator]:
    """A started simulator, stopped afterwards."""
    sim = Simulator(sim_config(**overrides))
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()


@asynccontextmanager
async def running(feed: FeedClient) -> AsyncIterator[EventLog]:
    """Run ``feed`` in a task for the duration of the block, then stop it cleanly."""
    recorder = EventLog(feed)
    task = asyncio.create_task(feed.run())
    try:
        yield recorder
    finally:
        await feed.stop()
        await asyncio.wait_for(task, WAIT)


@asynccontextmanager
async def live_feed(
    *markets: str, sim_options: dict[str, Any] | None = None, **feed_overrides: Any
) -> AsyncIterator[tuple[Simulator, FeedClient, EventLog]]:
    """A simulator and a running feed subscribed to ``markets``, entered once all are LIVE."""
    async with running_sim(**(sim_options or {})) as sim:
        feed = make_feed(sim, **feed_overrides)
        for market in markets:
            feed.subscribe(market)
        async with running(feed) as recorder:
            await until(lambda: all(live(feed, m) for m in markets), f"{markets} LIVE")
            yield sim, feed, recorder


def levels(side: list[tuple[str, str]]) -> list[tuple[int, int]]:
    """Exact (price, amount) pairs from decimal strings, spelling-independent."""
    return [(to_scaled(p), to_scaled(a)) for p, a in side]


def live(feed: FeedClient, market: str) -> bool:
    """The market's book is LIVE."""
    book = feed.store.get(market)
    return book is not None and book.state is BookState.LIVE


async def assert_books_match(
    feed: FeedClient, sim: Simulator, markets: list[str], *, resume: bool = True
) -> None:
    """Pause the simulator, wait for the feed to apply everything sent, compare level by level.

    With ``resume=False`` the simulator stays paused afterwards.
    """
    sim.pause()
    try:
        for market in markets:
            target = sim.book_time(market)

            def caught_up(market: str = market, target: str = target) -> bool:
                book = feed.store.get(market)
                return (
                    book is not None
                    and book.state is BookState.LIVE
                    and book.last_update_text == target
                )

            await until(caught_up, f"{market} book LIVE at {target}")
            book = feed.store.get(market)
            assert book is not None
            sim_bids, sim_asks = sim.book(market)
            ours_bids = [(lv.price_units, lv.amount_units) for lv in book.bids.all()]
            ours_asks = [(lv.price_units, lv.amount_units) for lv in book.asks.all()]
            assert ours_bids == levels(sim_bids), f"{market} bids differ"
            assert ours_asks == levels(sim_asks), f"{market} asks differ"
            assert ours_bids and ours_asks
    finally:
        if resume:
            sim.resume()


def parse_lines(data: bytes) -> list[dict[str, Any]]:
    """The JSON Lines of a ``sordash stream`` output, each checked to have a ``kind``."""
    lines = data.decode().splitlines()
    parsed = [json.loads(line) for line in lines]
    assert all("kind" in obj for obj in parsed)
    return parsed


def stream_args(sim: Simulator, *more: str) -> list[str]:
    """``sordash stream`` arguments pointing at ``sim`` for BTCUSD, then ``more``."""
    return ["stream", *sim_args(sim), *more]


def sim_args(sim: Simulator) -> list[str]:
    """The options that point a sordash command at ``sim``, for BTCUSD."""
    return ["--ws-url", sim.ws_url, "--token-url", sim.token_url, "--markets", "BTCUSD"]


def sim_credentials(sim: Simulator, secret: str | None = None) -> dict[str, str]:
    """The environment that gives the CLI ``sim``'s credentials (or another secret)."""
    return {"PAXOS_CLIENT_ID": sim.client_id, "PAXOS_CLIENT_SECRET": secret or sim.client_secret}


def free_port() -> int:
    """A loopback port that was free a moment ago: nothing listens there."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def offline_feed(*markets: str, label: str = "offline") -> FeedClient:
    """A feed whose token endpoint and socket are a port where nothing listens."""
    port = free_port()
    feed = FeedClient(
        Credentials("id", "a-secret-value"),
        f"http://127.0.0.1:{port}/oauth2/token",
        f"ws://127.0.0.1:{port}/",
        label=label,
    )
    for market in markets:
        feed.subscribe(market)
    return feed


CLI = (sys.executable, "-m", "app.cli")
"""The ``sordash`` command, as this test run's Python runs it."""


def cli_environ(env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a CLI subprocess: no credentials or config file unless ``env``
    brings them."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PAXOS_")}
    environ["SORDASH_CONFIG"] = ""
    environ["XDG_CONFIG_HOME"] = str(ROOT / "tests" / "no-such-config-home")
    environ.update(env or {})
    return environ


async def run_cli(
    *args: str,
    env: dict[str, str] | None = None,
) -> tuple[int, bytes, bytes]:
    """Run ``sordash ARGS`` as a subprocess (see :func:`cli_environ`); its exit code, stdout
    and stderr."""
    proc = await asyncio.create_subprocess_exec(
        *CLI,
        *args,
        cwd=ROOT,
        env=cli_environ(env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out, err


def plain(path: Path) -> bytes:
    """A recording's text as written (every zstd frame, decompressed): what a secret must
    never be in."""
    reader = zstandard.ZstdDecompressor().decompressobj(read_across_frames=True)
    return bytes(reader.decompress(path.read_bytes()))
