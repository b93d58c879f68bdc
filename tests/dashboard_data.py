"""Crafted protocol frames and a frozen-clock dashboard for snapshot tests and screenshots.

Books, trades and subscription states are built by feeding protocol JSON through
``FeedClient.ingest`` (the same path the socket uses), with the feed not running and every
clock fixed, so each screen renders the same way on every machine.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from typing import Any

from app.config import Config
from app.dashboard import DashboardApp
from app.events import ConnectionState
from app.feed import FeedClient
from app.protocol import NS_PER_S, format_time

T0_NS = 1_705_314_600 * NS_PER_S
"""2024-01-15T10:30:00Z: the server time of the crafted snapshots."""
MONO = 5_000.0
"""The frozen monotonic clock of the app and the feed."""

MARKET_PRICES: dict[str, tuple[str, int, int]] = {
    # market: (mid price, price decimals, amount decimals)
    "BTCUSD": ("50000.00", 2, 8),
    "ETHUSD": ("3120.40", 2, 6),
    "LTCUSD": ("84.49", 2, 4),
    "BCHUSD": ("371.85", 2, 4),
}


class FrozenClock:
    """A clock that says ``now`` until a test moves it."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def frame(obj: dict[str, Any]) -> bytes:
    """One protocol frame as the socket would deliver it."""
    return json.dumps(obj).encode()


def at(offset_ms: int) -> str:
    """RFC3339Nano server time ``offset_ms`` after :data:`T0_NS`."""
    return format_time(T0_NS + offset_ms * 1_000_000)


def _fixed(units: int, places: int) -> str:
    whole, frac = divmod(units, 10**places)
    return f"{whole}.{frac:0{places}d}" if places else str(whole)


def book_levels(market: str, levels: int = 20, seed: int = 1) -> tuple[list[Any], list[Any]]:
    """Seeded bids and asks around the market's mid, one tick apart with a small spread."""
    mid, price_dp, amount_dp = MARKET_PRICES[market]
    rng = random.Random(f"{market}-{seed}")
    tick = 1
    mid_units = int(mid.replace(".", ""))
    spread_ticks = 2 + rng.randrange(4)
    best_bid = mid_units - spread_ticks // 2
    best_ask = best_bid + spread_ticks
    bids: list[dict[str, str]] = []
    asks: list[dict[str, str]] = []
    for i in range(levels):
        for side, best, sign in ((bids, best_bid, -1), (asks, best_ask, 1)):
            price = best + sign * (i * tick + rng.randrange(2) * i)
            amount = rng.randrange(10 ** (amount_dp - 2), 40 * 10**amount_dp)
            side.append({"price": _fixed(price, price_dp), "amount": _fixed(amount, amount_dp)})
    return bids, asks


def snapshot_frame(
    market: str, bids: Sequence[Any], asks: Sequence[Any], offset_ms: int = 0
) -> bytes:
    """A market_data SNAPSHOT."""
    payload: dict[str, Any] = {"market": market, "type": "SNAPSHOT", "time": at(offset_ms)}
    payload |= {"bids": list(bids), "asks": list(asks)}
    return frame({"channel": "market_data", "payload": payload})


def update_frame(
    market: str, offset_ms: int, bids: Sequence[Any] = (), asks: Sequence[Any] = ()
) -> bytes:
    """A market_data UPDATE."""
    payload: dict[str, Any] = {"market": market, "type": "UPDATE", "time": at(offset_ms)}
    payload |= {"bids": list(bids), "asks": list(asks)}
    return frame({"channel": "market_data", "payload": payload})


def execution_frames(market: str, count: int = 14, seed: int = 3) -> list[bytes]:
    """Executions around the mid, one of them large, one arriving out of order."""
    mid, price_dp, amount_dp = MARKET_PRICES[market]
    rng = random.Random(f"{market}-trades-{seed}")
    mid_units = int(mid.replace(".", ""))
    frames = []
    for i in range(count):
        price = mid_units + rng.randrange(-4, 5)
        amount = rng.randrange(10 ** (amount_dp - 2), 2 * 10**amount_dp)
        if i == count - 4:
            amount *= 12  # a block trade
        offset = 300 + i * 137 + (250 if i == 5 else 0)
        payload = {
            "market": market,
            "price": _fixed(price, price_dp),
            "amount": _fixed(amount, amount_dp),
            "executed_at": at(offset),
        }
        frames.append(frame({"channel": "execution_data", "payload": payload}))
    return frames


def subscribe_result(
    market: str | None, channels: Iterable[str], error: str | None = None
) -> bytes:
    """The server's answer to a subscribe: success, or failure with ``error``."""
    entries = []
    for type_ in channels:
        entry: dict[str, Any] = {"type": type_}
        if market is not None and type_ != "heartbeat":
            entry["params"] = {"market": market}
        entry["success"] = error is None
        if error is not None:
            entry["error"] = error
        entries.append(entry)
    return frame({"type": "subscribe", "channels": entries})


def subscription_list(markets: Iterable[str]) -> bytes:
    """``subscription_list`` naming heartbeat and both channels of each market."""
    channels: list[dict[str, Any]] = [{"type": "heartbeat"}]
    for market in markets:
        for type_ in ("market_data", "execution_data"):
            channels.append({"type": type_, "params": {"market": market}})
    return frame({"type": "subscription_list", "channels": channels})


def heartbeat(offset_ms: int) -> bytes:
    """A heartbeat frame."""
    return frame({"channel": "heartbeat", "payload": {"timestamp": at(offset_ms)}})


class Scene:
    """A feed with frozen clocks and an app on it that does not run the feed."""

    def __init__(self, config: Config | None = None) -> None:
        self.feed_clock = FrozenClock(MONO - 3.0)
        self.feed = FeedClient(
            label="wss://ws.sandbox.paxos.com/",
            clock=self.feed_clock,
            known_markets=["BTCUSD", "ETHUSD", "LTCUSD", "BCHUSD", "LINKUSD", "UNIUSD"],
        )
        self.app = DashboardApp(
            feed=self.feed,
            config=config or Config(),
            clock=FrozenClock(MONO),
            start_feed=False,
        )

    def ingest(self, data: bytes, at_mono: float | None = None) -> None:
        """Deliver one frame at feed time ``at_mono``."""
        if at_mono is not None:
            self.feed_clock.now = at_mono
        self.feed.ingest(data)

    def connected(self) -> None:
        """The connection is up, with a token, rates and a clock offset to show."""
        feed = self.feed
        feed.set_connection_state(ConnectionState.CONNECTED, feed.label)
        feed.stats.frames_per_s = 1234.0
        feed.stats.token_expires_at = MONO + 3312.0
        feed.stats.clock_offset_ns = 12_000_000

    def subscribe(
        self, market: str, channels: Sequence[str] = ("market_data", "execution_data")
    ) -> None:
        """Subscribe (while not connected: nothing is sent) and let the server accept."""
        self.feed.subscribe(market, channels)
        self.ingest(subscribe_result(market, channels), MONO - 2.5)

    def live_market(self, market: str, *, trades: bool = True, seed: int = 1) -> None:
        """A subscribed market with a snapshot, a few updates and (optionally) trades."""
        self.subscribe(market)
        bids, asks = book_levels(market, seed=seed)
        self.ingest(snapshot_frame(market, bids, asks), MONO - 2.0)
        if trades:
            for data in execution_frames(market):
                self.ingest(data, MONO - 1.0)
        self.ingest(update_frame(market, 900, bids=[dict(bids[3], amount="0")]), MONO - 0.4)

    def heartbeat_ok(self) -> None:
        """The heartbeat channel is active and beating."""
        self.ingest(subscribe_result(None, ["heartbeat"]), MONO - 2.5)
        self.ingest(heartbeat(1000), MONO - 0.2)
        self.feed.stats.clock_offset_ns = 12_000_000

    def confirm(self, markets: Iterable[str]) -> None:
        """The server's ``subscription_list`` confirms what we hold."""
        self.ingest(subscription_list(markets), MONO - 1.5)
