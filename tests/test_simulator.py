"""Conformance of the embedded exchange (issue 3) against docs/protocol.md.

Every test drives a real :class:`Simulator` over loopback sockets with a *plain* aiohttp
client (``ClientSession.post`` for the token, ``ws_connect`` with the bearer header), never
the project's own feed client, so a bug shared by both sides cannot hide. Each test checks
one behaviour and waits on conditions (a receive with a timeout), never on fixed sleeps.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import re
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType

from app.protocol import (
    EXECUTION_DATA,
    HEARTBEAT,
    INTERNAL_SERVER_ERROR,
    MALFORMED_REQUEST,
    MARKET_DATA,
    SCOPE,
    UNKNOWN_CHANNEL,
    UNKNOWN_CHANNEL_PARAMS_CONFIGURATION,
    parse_time,
)
from app.simulator import DEFAULT_MARKETS, DEFAULT_SPECS, Market, SimConfig, Simulator
from app.simulator import cli as sim_cli
from app.simulator.server import CAPTIVE_PORTAL, UNREADABLE_AMOUNT
from tests.feedkit import running_sim

WAIT = 5.0
"""The longest any expected frame may take (generous: CI machines are slow)."""
QUIET = 0.4
"""How long a test watches for frames that must *not* come."""
GO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{0,8}[1-9])?Z")
"""RFC3339Nano as Go writes it: no fraction, or one to nine digits without trailing zeros."""

Json = dict[str, Any]
Level = tuple[Decimal, Decimal]


# ---------------------------------------------------------------------- helpers


@asynccontextmanager
async def running(**overrides: Any) -> AsyncIterator[Simulator]:
    """A started simulator (two markets, brisk, token rate limit off unless asked)."""
    options: dict[str, Any] = {
        "seed": 7,
        "markets": ["BTCUSD", "ETHUSD"],
        "heartbeat_interval": 1.0,  # the documented default, not feedkit's brisk one
        "token_rate_limit": False,
    }
    options.update(overrides)
    async with running_sim(**options) as sim:
        yield sim


@asynccontextmanager
async def exchange(**overrides: Any) -> AsyncIterator[tuple[Simulator, aiohttp.ClientSession]]:
    async with running(**overrides) as sim, aiohttp.ClientSession() as session:
        yield sim, session


def credentials(sim: Simulator, **fields: str | None) -> dict[str, str]:
    """The token request form, with ``fields`` replacing (or, when None, removing) entries."""
    form: dict[str, str | None] = {
        "grant_type": "client_credentials",
        "client_id": sim.client_id,
        "client_secret": sim.client_secret,
        "scope": SCOPE,
    }
    form.update(fields)
    return {k: v for k, v in form.items() if v is not None}


async def fetch_token(session: aiohttp.ClientSession, sim: Simulator, **fields: str | None) -> str:
    async with session.post(sim.token_url, data=credentials(sim, **fields)) as resp:
        assert resp.status == 200, await resp.text()
        body = await resp.json()
    token = body["access_token"]
    assert isinstance(token, str)
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@asynccontextmanager
async def client(
    **overrides: Any,
) -> AsyncIterator[tuple[Simulator, aiohttp.ClientWebSocketResponse]]:
    """A simulator and one WebSocket connected to it with a fresh token."""
    async with exchange(**overrides) as (sim, session):
        token = await fetch_token(session, sim)
        async with session.ws_connect(sim.ws_url, headers=bearer(token)) as ws:
            yield sim, ws


async def handshake_status(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str]
) -> int:
    """The HTTP status a refused WebSocket handshake gets (fails if it is accepted)."""
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        async with session.ws_connect(url, headers=headers):
            pass
    return refused.value.status


def md(market: str) -> Json:
    return {"type": MARKET_DATA, "params": {"market": market}}


def ex(market: str) -> Json:
    return {"type": EXECUTION_DATA, "params": {"market": market}}


HB: Json = {"type": HEARTBEAT}


async def send(ws: aiohttp.ClientWebSocketResponse, kind: str, *channels: Json) -> None:
    await ws.send_str(json.dumps({"type": kind, "channels": list(channels)}))


async def receive(ws: aiohttp.ClientWebSocketResponse, limit: float = WAIT) -> Json:
    """The next frame, decoded; fails unless it is a JSON text frame within ``limit``."""
    try:
        msg = await ws.receive(timeout=limit)
    except TimeoutError:
        raise AssertionError(f"no frame within {limit}s") from None
    assert msg.type is WSMsgType.TEXT, f"expected a text frame, got {msg.type!r} {msg.data!r}"
    value = json.loads(msg.data)
    assert isinstance(value, dict), value
    return value


async def collect(
    ws: aiohttp.ClientWebSocketResponse,
    done: Callable[[list[Json]], bool],
    what: str,
    limit: float = WAIT,
) -> list[Json]:
    """Frames received until ``done(frames)`` holds; fails after ``limit`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    frames: list[Json] = []
    while not done(frames):
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise AssertionError(f"timed out after {limit}s waiting for {what}")
        try:
            frames.append(await receive(ws, remaining))
        except AssertionError:
            raise AssertionError(
                f"timed out after {limit}s waiting for {what} ({len(frames)} frames)"
            ) from None
    return frames


async def reply(ws: aiohttp.ClientWebSocketResponse, limit: float = WAIT) -> Json:
    """The next frame that is not data (a result, a list or an error)."""
    frames = await collect(ws, lambda f: bool(f) and "channel" not in f[-1], "a reply", limit)
    return frames[-1]


def payloads(frames: list[Json], channel: str, kind: str | None = None) -> list[Json]:
    found = [f["payload"] for f in frames if f.get("channel") == channel]
    return [p for p in found if kind is None or p.get("type") == kind]


def count(channel: str, kind: str | None = None, n: int = 1) -> Callable[[list[Json]], bool]:
    """``done`` for :func:`collect`: at least ``n`` frames of ``channel`` (and payload type)."""
    return lambda frames: len(payloads(frames, channel, kind)) >= n


def assert_problem(status: int, content_type: str, body: Any, expected: int) -> None:
    """An RFC 7807 problem document with the expected status."""
    assert status == expected
    assert content_type == "application/problem+json"
    assert isinstance(body, dict)
    assert {"type", "title", "status", "detail"} <= body.keys(), body
    assert body["status"] == expected
    assert all(isinstance(body[k], str) for k in ("type", "title", "detail"))


class RefBook:
    """An independent order book built by docs/protocol.md §5, with exact decimals."""

    def __init__(self) -> None:
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}
        self.snapshots = 0
        self.snapshot_time: int | None = None
        self.time: int | None = None
        """Time of the newest frame applied (the snapshot's, or an update's)."""
        self.buffer: list[Json] = []

    @property
    def synced(self) -> bool:
        return self.snapshot_time is not None

    def feed(self, payload: Json) -> bool:
        """Take one market_data payload; True when it changed the (synced) book."""
        if payload["type"] == "SNAPSHOT":
            self.snapshots += 1
            assert self.snapshots == 1, "a second SNAPSHOT for one subscription"
            t = parse_time(payload["time"])
            self.bids = {Decimal(lv["price"]): Decimal(lv["amount"]) for lv in payload["bids"]}
            self.asks = {Decimal(lv["price"]): Decimal(lv["amount"]) for lv in payload["asks"]}
            self.snapshot_time = self.time = t
            for update in self.buffer:
                if parse_time(update["time"]) > t:
                    self._apply(update)
            self.buffer.clear()
            return True
        assert payload["type"] == "UPDATE", payload
        if not self.synced:
            self.buffer.append(payload)
            return False
        self._apply(payload)
        return True

    def _apply(self, update: Json) -> None:
        for side, levels in ((self.bids, update["bids"]), (self.asks, update["asks"])):
            for level in levels:
                price, amount = Decimal(level["price"]), Decimal(level["amount"])
                if amount == 0:
                    side.pop(price, None)
                else:
                    side[price] = amount
        self.time = parse_time(update["time"])

    def levels(self) -> tuple[list[Level], list[Level]]:
        bids = sorted(self.bids.items(), key=lambda lv: -lv[0])
        asks = sorted(self.asks.items())
        return bids, asks


def exchange_levels(sim: Simulator, market: str) -> tuple[list[Level], list[Level]]:
    bids, asks = sim.book(market)
    return (
        [(Decimal(p), Decimal(a)) for p, a in bids],
        [(Decimal(p), Decimal(a)) for p, a in asks],
    )


def places(value: Decimal) -> int:
    """Digits after the decimal point as written."""
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


def stepping_clock(start_s: int = 1_700_000_000, step_ns: int = 100_000_000) -> Callable[[], int]:
    """An injected clock: each reading is ``step_ns`` after the previous one."""
    ticks = itertools.count()
    return lambda: start_s * 1_000_000_000 + next(ticks) * step_ns


class RawClient:
    """A WebSocket client on a bare socket, for what aiohttp would hide (reading, EOF)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, sim: Simulator, token: str, rcvbuf: int | None = None) -> RawClient:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:  # before connecting, so the advertised window stays small
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (sim.host, sim.port))
        reader, writer = await asyncio.open_connection(sock=sock)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                f"GET / HTTP/1.1\r\nHost: {sim.host}:{sim.port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                f"Sec-WebSocket-Version: 13\r\nAuthorization: Bearer {token}\r\n\r\n"
            ).encode()
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)
        assert head.startswith(b"HTTP/1.1 101"), head
        return cls(reader, writer)

    def send_text(self, text: str) -> None:
        """One masked text frame (clients must mask)."""
        data = text.encode()
        mask = os.urandom(4)
        assert len(data) < 126
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        self.writer.write(bytes((0x81, 0x80 | len(data))) + mask + masked)

    def close(self) -> None:
        self.writer.transport.abort()


# ---------------------------------------------------------------------- token endpoint


async def test_token_endpoint_answers_the_documented_json() -> None:
    async with exchange(token_ttl=120) as (sim, session):
        async with session.post(sim.token_url, data=credentials(sim)) as resp:
            assert resp.status == 200
            assert resp.content_type == "application/json"
            body = await resp.json()
        assert set(body) == {"access_token", "expires_in", "token_type", "scope"}
        assert isinstance(body["access_token"], str) and len(body["access_token"]) >= 20
        assert body["expires_in"] == 120
        assert body["token_type"] == "bearer"
        assert body["scope"] == SCOPE
        # Tokens are random: a second one differs.
        assert await fetch_token(session, sim) != body["access_token"]


@pytest.mark.parametrize(
    "how",
    ["wrong grant_type", "missing grant_type", "missing secret", "json body", "no body"],
)
async def test_token_malformed_request_is_400_problem(how: str) -> None:
    async with exchange() as (sim, session):
        kwargs: dict[str, Any]
        if how == "wrong grant_type":
            kwargs = {"data": credentials(sim, grant_type="password")}
        elif how == "missing grant_type":
            kwargs = {"data": credentials(sim, grant_type=None)}
        elif how == "missing secret":
            kwargs = {"data": credentials(sim, client_secret=None)}
        elif how == "json body":  # the right fields, but not form-encoded
            kwargs = {"json": credentials(sim)}
        else:
            kwargs = {}
        async with session.post(sim.token_url, **kwargs) as resp:
            assert_problem(resp.status, resp.content_type, await resp.json(content_type=None), 400)


@pytest.mark.parametrize("field", ["client_id", "client_secret"])
async def test_token_bad_credentials_is_401_problem(field: str) -> None:
    async with exchange() as (sim, session):
        form = credentials(sim, **{field: "wrong"})
        async with session.post(sim.token_url, data=form) as resp:
            assert_problem(resp.status, resp.content_type, await resp.json(content_type=None), 401)


async def test_token_wrong_scope_is_403_problem() -> None:
    async with exchange() as (sim, session):
        form = credentials(sim, scope="exchange:place_orders")
        async with session.post(sim.token_url, data=form) as resp:
            assert_problem(resp.status, resp.content_type, await resp.json(content_type=None), 403)


async def test_token_asked_twice_within_a_second_is_429_with_retry_after() -> None:
    async with exchange(token_rate_limit=True) as (sim, session):
        await fetch_token(session, sim)
        async with session.post(sim.token_url, data=credentials(sim)) as resp:
            assert_problem(resp.status, resp.content_type, await resp.json(content_type=None), 429)
            retry_after = resp.headers.get("Retry-After")
        assert retry_after is not None and int(retry_after) >= 1


# ---------------------------------------------------------------------- handshake


@pytest.mark.parametrize("token", ["missing", "not bearer", "unknown", "expired", "short lifetime"])
async def test_handshake_without_a_valid_token_is_401(token: str) -> None:
    ttl = 0.0 if token == "short lifetime" else 3600.0
    async with exchange(token_ttl=ttl) as (sim, session):
        good = await fetch_token(session, sim)
        headers: dict[str, str]
        if token == "missing":
            headers = {}
        elif token == "not bearer":
            headers = {"Authorization": f"Basic {good}"}
        elif token == "unknown":
            headers = bearer("x" + good)
        else:
            headers = bearer(good)
            if token == "expired":
                sim.expire_tokens()
        assert await handshake_status(session, sim.ws_url, headers) == 401
        assert sim.connections == 0 and sim.handshakes_refused == 1


async def test_expired_token_keeps_open_sockets_open() -> None:
    async with exchange() as (sim, session):
        token = await fetch_token(session, sim)
        async with session.ws_connect(sim.ws_url, headers=bearer(token)) as ws:
            sim.expire_tokens()
            assert await handshake_status(session, sim.ws_url, bearer(token)) == 401
            await ws.send_str('{"type":"subscription_list"}')
            assert await reply(ws) == {"type": "subscription_list", "channels": []}


@pytest.mark.parametrize("how", ["scope_ok=False", "no scope requested"])
async def test_handshake_with_a_token_lacking_the_scope_is_403(how: str) -> None:
    async with exchange(scope_ok=how != "scope_ok=False") as (sim, session):
        token = await fetch_token(
            session, sim, scope=None if how == "no scope requested" else SCOPE
        )
        assert await handshake_status(session, sim.ws_url, bearer(token)) == 403


# ---------------------------------------------------------------------- requests


async def test_subscribe_result_echoes_each_channel() -> None:
    async with client() as (_, ws):
        request = [
            md("BTCUSD"),
            md("BADBAD"),
            {"type": "nonsense"},
            {"type": MARKET_DATA},
            {"type": EXECUTION_DATA, "params": {}},
            ex("ETHUSD"),
            HB,
        ]
        await send(ws, "subscribe", *request)
        assert await reply(ws) == {
            "type": "subscribe",
            "channels": [
                {**md("BTCUSD"), "success": True},
                {**md("BADBAD"), "success": False, "error": UNKNOWN_CHANNEL_PARAMS_CONFIGURATION},
                {"type": "nonsense", "success": False, "error": UNKNOWN_CHANNEL},
                {
                    "type": MARKET_DATA,
                    "success": False,
                    "error": UNKNOWN_CHANNEL_PARAMS_CONFIGURATION,
                },
                {
                    "type": EXECUTION_DATA,
                    "params": {},
                    "success": False,
                    "error": UNKNOWN_CHANNEL_PARAMS_CONFIGURATION,
                },
                {**ex("ETHUSD"), "success": True},
                {**HB, "success": True},
            ],
        }


async def test_subscribe_result_without_params_variant() -> None:
    async with client(params_in_results=False) as (_, ws):
        await send(ws, "subscribe", md("BTCUSD"), md("BADBAD"), HB)
        assert await reply(ws) == {
            "type": "subscribe",
            "channels": [
                {"type": MARKET_DATA, "success": True},
                {
                    "type": MARKET_DATA,
                    "success": False,
                    "error": UNKNOWN_CHANNEL_PARAMS_CONFIGURATION,
                },
                {"type": HEARTBEAT, "success": True},
            ],
        }


async def test_subscription_list_names_active_channels() -> None:
    async with client() as (_, ws):
        await ws.send_str('{"type":"subscription_list"}')
        assert await reply(ws) == {"type": "subscription_list", "channels": []}
        await send(ws, "subscribe", md("ETHUSD"), HB, ex("BTCUSD"), md("NOPE"))
        assert (await reply(ws))["type"] == "subscribe"
        await ws.send_str('{"type":"subscription_list"}')
        listed = await reply(ws)
        assert listed["type"] == "subscription_list"
        channels = listed["channels"]
        assert sorted(channels, key=json.dumps) == sorted(
            [md("ETHUSD"), HB, ex("BTCUSD")], key=json.dumps
        )


@pytest.mark.parametrize(
    "frame",
    [
        "not json at all",
        '{"type": "subscribe", "channels": [',
        "[1, 2, 3]",
        '"subscribe"',
        '{"hello": "world"}',
        '{"type": "subscribe"}',
        '{"type": "subscribe", "channels": "heartbeat"}',
        '{"type": "subscribe", "channels": []}',
        '{"type": "fetch", "channels": [{"type": "heartbeat"}]}',
    ],
)
async def test_malformed_request_is_answered_and_the_socket_stays_open(frame: str) -> None:
    async with client() as (_, ws):
        await ws.send_str(frame)
        assert await reply(ws) == {"type": "error", "error": MALFORMED_REQUEST}
        await send(ws, "subscribe", HB)
        assert await reply(ws) == {"type": "subscribe", "channels": [{**HB, "success": True}]}
        assert not ws.closed


# ---------------------------------------------------------------------- market_data


async def test_updates_arrive_around_the_single_snapshot() -> None:
    async with client(markets=["BTCUSD"], rate=400.0) as (_, ws):
        await send(ws, "subscribe", md("BTCUSD"))
        assert (await reply(ws))["channels"][0]["success"] is True
        frames = await collect(ws, count(MARKET_DATA, "SNAPSHOT"), "the SNAPSHOT")
        updates = payloads(frames, MARKET_DATA, "UPDATE")
        snapshot = payloads(frames, MARKET_DATA, "SNAPSHOT")[0]
        t = parse_time(snapshot["time"])
        times = [parse_time(u["time"]) for u in updates]
        assert any(x <= t for x in times), "no buffered UPDATE at or before the SNAPSHOT"
        assert any(x > t for x in times), "no buffered UPDATE after the SNAPSHOT"
        # Then UPDATEs only: exactly one SNAPSHOT per subscription.
        later = await collect(ws, count(MARKET_DATA, "UPDATE", 50), "50 live UPDATEs")
        assert payloads(later, MARKET_DATA, "SNAPSHOT") == []


async def test_repeated_subscribe_answers_success_and_sends_no_second_snapshot() -> None:
    async with client(markets=["BTCUSD"], rate=400.0) as (_, ws):
        await send(ws, "subscribe", md("BTCUSD"))
        await collect(ws, count(MARKET_DATA, "SNAPSHOT"), "the SNAPSHOT")
        await send(ws, "subscribe", md("BTCUSD"), HB)
        frames = await collect(
            ws, lambda f: bool(f) and f[-1].get("type") == "subscribe", "the second result"
        )
        assert frames[-1]["channels"] == [
            {**md("BTCUSD"), "success": True},
            {**HB, "success": True},
        ]
        later = await collect(ws, count(MARKET_DATA, "UPDATE", 50), "50 more UPDATEs")
        assert payloads(frames + later, MARKET_DATA, "SNAPSHOT") == []


@pytest.mark.parametrize("quirks", [False, True], ids=["plain", "quirks"])
async def test_book_built_from_the_frames_equals_the_exchange_book(quirks: bool) -> None:
    markets = ["BTCUSD", "ETHUSD", "LINKUSD"]
    async with client(markets=markets, rate=300.0, quirks=quirks) as (sim, ws):
        await send(ws, "subscribe", *(md(m) for m in markets))
        books = {m: RefBook() for m in markets}
        changes = dict.fromkeys(markets, 0)

        def take(frames: list[Json]) -> None:
            """Feed the newest frame (``collect`` asks after each one)."""
            if frames and frames[-1].get("channel") == MARKET_DATA:
                payload = frames[-1]["payload"]
                if books[payload["market"]].feed(payload):
                    changes[payload["market"]] += 1

        def enough(frames: list[Json]) -> bool:
            take(frames)
            return all(n >= 30 for n in changes.values())

        await collect(ws, enough, "30 book changes per market")
        sim.pause()
        targets = {m: parse_time(sim.book_time(m)) for m in markets}

        def caught_up(frames: list[Json]) -> bool:
            take(frames)
            return all(books[m].time == targets[m] for m in markets)

        await collect(ws, caught_up, "the frames up to the exchange's book time")
        for market in markets:
            assert books[market].levels() == exchange_levels(sim, market), market


async def test_books_stay_uncrossed_with_50_to_200_levels_per_side() -> None:
    markets = list(DEFAULT_MARKETS)
    async with client(markets=markets, rate=1000.0) as (sim, ws):
        await send(ws, "subscribe", *(md(m) for m in markets))
        books = {m: RefBook() for m in markets}
        checked = 0

        def check(frames: list[Json]) -> bool:
            nonlocal checked
            if frames and frames[-1].get("channel") == MARKET_DATA:
                payload = frames[-1]["payload"]
                book = books[payload["market"]]
                if book.feed(payload):
                    assert max(book.bids) < min(book.asks), (payload["market"], payload)
                    assert 50 <= len(book.bids) <= 200, (payload["market"], len(book.bids))
                    assert 50 <= len(book.asks) <= 200, (payload["market"], len(book.asks))
                    checked += 1
            return checked >= 3000

        await collect(ws, check, "3000 book changes", limit=15)
        for market in markets:  # and the exchange's own book
            bids, asks = sim.book(market)
            assert Decimal(bids[0][0]) < Decimal(asks[0][0])
            assert 50 <= len(bids) <= 200 and 50 <= len(asks) <= 200


async def test_every_default_market_is_plausible() -> None:
    # The seven run by default; every market the simulator knows (MATICUSD too,
    # docs/protocol.md §6) must be plausible when asked for.
    assert set(DEFAULT_MARKETS) >= {
        "BTCUSD",
        "ETHUSD",
        "BCHUSD",
        "LTCUSD",
        "LINKUSD",
        "AAVEUSD",
        "UNIUSD",
    }
    async with running(markets=list(DEFAULT_SPECS)) as sim:
        for market in DEFAULT_SPECS:
            spec = DEFAULT_SPECS[market]
            bids, asks = exchange_levels(sim, market)
            mid = (bids[0][0] + asks[0][0]) / 2
            assert abs(float(mid) / spec.price - 1) < 0.05, market
            for price, amount in bids + asks:
                assert price > 0 and amount > 0
                assert places(price) <= spec.price_decimals, (market, price)
                assert places(amount) <= spec.amount_decimals, (market, amount)


# ---------------------------------------------------------------------- execution_data


async def test_executions_trade_at_the_touch_and_consume_the_level() -> None:
    async with client(markets=["BTCUSD"], rate=600.0) as (_, ws):
        await send(ws, "subscribe", md("BTCUSD"), ex("BTCUSD"))
        book = RefBook()
        # After every applied change: (time, bids, asks) of the book from then on.
        history: list[tuple[int, dict[Decimal, Decimal], dict[Decimal, Decimal]]] = []
        executions: list[Json] = []

        def take(frames: list[Json]) -> bool:
            frame = frames[-1] if frames else {}
            if frame.get("channel") == MARKET_DATA and book.feed(frame["payload"]):
                assert book.time is not None
                history.append((book.time, dict(book.bids), dict(book.asks)))
            elif frame.get("channel") == EXECUTION_DATA:
                executions.append(frame["payload"])
            checkable = [
                e
                for e in executions
                if history and history[0][0] < parse_time(e["executed_at"]) < history[-1][0]
            ]
            return len(checkable) >= 40

        await collect(ws, take, "40 executions after the SNAPSHOT", limit=10)
        checked = 0
        times = [h[0] for h in history]
        for execution in executions:
            at = parse_time(execution["executed_at"])
            if not times[0] < at < times[-1]:
                continue
            assert execution["market"] == "BTCUSD"
            price, amount = Decimal(execution["price"]), Decimal(execution["amount"])
            assert amount > 0
            before = max(i for i, t in enumerate(times) if t < at)
            _, bids, asks = history[before]
            _, bids_after, asks_after = history[before + 1]
            if price == max(bids):
                side, side_after = bids, bids_after
            else:
                assert price == min(asks), f"{execution} not at the touch"
                side, side_after = asks, asks_after
            assert amount <= side[price], execution
            # The very next change consumes the level by exactly the executed amount.
            assert side_after.get(price, Decimal(0)) == side[price] - amount, execution
            checked += 1
        assert checked >= 40


async def test_some_executions_arrive_out_of_executed_at_order() -> None:
    async with client(markets=["BTCUSD"], rate=1000.0, seed=3) as (_, ws):
        await send(ws, "subscribe", ex("BTCUSD"))
        newest = 0

        def out_of_order(frames: list[Json]) -> bool:
            nonlocal newest
            if not frames or frames[-1].get("channel") != EXECUTION_DATA:
                return False
            at = parse_time(frames[-1]["payload"]["executed_at"])
            late = at < newest
            newest = max(newest, at)
            return late

        await collect(ws, out_of_order, "an execution older than one before it", limit=10)


# ---------------------------------------------------------------------- heartbeat and text


async def test_heartbeat_arrives_periodically() -> None:
    async with client(heartbeat_interval=0.1) as (_, ws):
        await send(ws, "subscribe", HB)
        frames = await collect(ws, count(HEARTBEAT, n=4), "four heartbeats", limit=3)
        stamps = [parse_time(p["timestamp"]) for p in payloads(frames, HEARTBEAT)]
        gaps = [b - a for a, b in itertools.pairwise(stamps)]
        assert all(50_000_000 <= gap <= 1_000_000_000 for gap in gaps), gaps


@pytest.mark.parametrize("clock", ["wall", "stepping"])
async def test_times_are_rfc3339nano_go_style(clock: str) -> None:
    overrides: dict[str, Any] = {"heartbeat_interval": 0.05, "markets": ["BTCUSD"]}
    if clock == "stepping":  # readings on whole tenths of a second: ".1Z" ... and "Z"
        overrides["clock"] = stepping_clock()
    async with client(**overrides) as (_, ws):
        await send(ws, "subscribe", md("BTCUSD"), ex("BTCUSD"), HB)
        times: list[str] = []

        def take(frames: list[Json]) -> bool:
            payload = frames[-1].get("payload", {}) if frames else {}
            times.extend(payload[k] for k in ("time", "executed_at", "timestamp") if k in payload)
            return len(times) >= 200 and len(payloads(frames, HEARTBEAT)) >= 2

        await collect(ws, take, "200 times and two heartbeats")
        for text in times:
            assert GO_TIME.fullmatch(text), text
        if clock == "stepping":
            assert any(len(t) == len("2023-11-14T22:13:20Z") for t in times), "no whole second"
            assert any(len(t) == len("2023-11-14T22:13:20.1Z") for t in times), "no .1Z form"


async def test_zero_amounts_are_plain_0_by_default() -> None:
    async with client(markets=["BTCUSD"], rate=1000.0) as (_, ws):
        await send(ws, "subscribe", md("BTCUSD"))
        zeros: list[str] = []
        prices: list[str] = []

        def take(frames: list[Json]) -> bool:
            payload = frames[-1].get("payload", {}) if frames else {}
            if payload.get("type") == "UPDATE":
                for level in payload["bids"] + payload["asks"]:
                    prices.append(level["price"])
                    if Decimal(level["amount"]) == 0:
                        zeros.append(level["amount"])
            return len(zeros) >= 40

        await collect(ws, take, "40 removed levels")
        assert set(zeros) == {"0"}
        places = DEFAULT_SPECS["BTCUSD"].price_decimals
        assert all(re.fullmatch(rf"\d+\.\d{{{places}}}", p) for p in prices)


async def test_quirks_spell_zeros_and_prices_other_ways() -> None:
    async with client(markets=["BTCUSD"], rate=1000.0, quirks=True) as (_, ws):
        await send(ws, "subscribe", md("BTCUSD"))
        zeros: set[str] = set()
        long_prices: set[str] = set()
        places = DEFAULT_SPECS["BTCUSD"].price_decimals

        def take(frames: list[Json]) -> bool:
            payload = frames[-1].get("payload", {}) if frames else {}
            if payload.get("type") == "UPDATE":
                for level in payload["bids"] + payload["asks"]:
                    if Decimal(level["amount"]) == 0:
                        zeros.add(level["amount"])
                    if len(level["price"].partition(".")[2]) > places:
                        long_prices.add(level["price"])
            return {"0", "0.0", "0.00000000"} <= zeros and bool(long_prices)

        await collect(ws, take, "every spelling of zero and a price with extra zeros", limit=10)
        assert all(p.endswith("0") for p in long_prices)


# ---------------------------------------------------------------------- subscriptions


async def test_one_subscription_a_second_delays_data_without_error() -> None:
    async with client(sub_rate_limit=True, rate=400.0) as (_, ws):
        loop = asyncio.get_running_loop()
        await send(ws, "subscribe", md("BTCUSD"))
        first = await collect(ws, count(MARKET_DATA), "BTCUSD data")
        await send(ws, "subscribe", md("ETHUSD"))
        asked = loop.time()
        frames = await collect(
            ws, lambda f: bool(f) and f[-1].get("type") == "subscribe", "the second result"
        )
        assert loop.time() - asked < 0.5, "the result must come at once"
        assert frames[-1]["channels"] == [{**md("ETHUSD"), "success": True}]

        def eth(fs: list[Json]) -> bool:
            return any(p["market"] == "ETHUSD" for p in payloads(fs, MARKET_DATA))

        frames += await collect(ws, eth, "ETHUSD data", limit=4)
        started = loop.time() - asked
        assert 0.7 <= started <= 2.5, f"ETHUSD data began {started:.2f}s after the request"
        assert not any(f.get("type") == "error" for f in first + frames)


async def test_without_the_model_a_second_subscription_starts_at_once() -> None:
    async with client(sub_rate_limit=False, rate=400.0) as (_, ws):
        loop = asyncio.get_running_loop()
        await send(ws, "subscribe", md("BTCUSD"))
        await collect(ws, count(MARKET_DATA), "BTCUSD data")
        await send(ws, "subscribe", md("ETHUSD"))
        asked = loop.time()

        def eth(fs: list[Json]) -> bool:
            return any(p["market"] == "ETHUSD" for p in payloads(fs, MARKET_DATA))

        await collect(ws, eth, "ETHUSD data")
        assert loop.time() - asked < 0.5


async def test_unsubscribe_answers_success_and_data_stops() -> None:
    async with client(heartbeat_interval=0.05, rate=400.0) as (_, ws):
        await send(ws, "subscribe", md("BTCUSD"), ex("BTCUSD"), HB)
        await collect(ws, count(MARKET_DATA, "SNAPSHOT"), "the SNAPSHOT")
        await send(ws, "unsubscribe", md("BTCUSD"), ex("BTCUSD"))
        assert await reply(ws) == {
            "type": "unsubscribe",
            "channels": [{**md("BTCUSD"), "success": True}, {**ex("BTCUSD"), "success": True}],
        }
        # Heartbeats go on (the server is alive), BTCUSD data does not.
        after = await collect(ws, count(HEARTBEAT, n=6), "six heartbeats")
        assert [f for f in after if f.get("channel") in (MARKET_DATA, EXECUTION_DATA)] == []
        await ws.send_str('{"type":"subscription_list"}')
        assert (await reply(ws))["channels"] == [HB]


async def test_unsubscribe_of_a_channel_not_subscribed_fails() -> None:
    async with client() as (_, ws):
        await send(ws, "subscribe", md("ETHUSD"))
        assert (await reply(ws))["channels"][0]["success"] is True
        await send(ws, "unsubscribe", md("BTCUSD"), HB, md("ZZZUSD"), {"type": "nonsense"})
        assert await reply(ws) == {
            "type": "unsubscribe",
            "channels": [
                {**md("BTCUSD"), "success": False, "error": UNKNOWN_CHANNEL_PARAMS_CONFIGURATION},
                {**HB, "success": False, "error": UNKNOWN_CHANNEL_PARAMS_CONFIGURATION},
                {**md("ZZZUSD"), "success": False, "error": UNKNOWN_CHANNEL_PARAMS_CONFIGURATION},
                {"type": "nonsense", "success": False, "error": UNKNOWN_CHANNEL},
            ],
        }


# ---------------------------------------------------------------------- reproducibility


async def first_updates(seed: int, n: int) -> list[Json]:
    """The first ``n`` BTCUSD UPDATEs a subscriber sees, the simulator driven step by step.

    ``rate=0`` keeps the generator from changing anything by itself: only ``step()`` does.
    """
    overrides: dict[str, Any] = {"markets": ["BTCUSD"], "rate": 0.0, "seed": seed}
    async with client(**overrides, clock=stepping_clock()) as (sim, ws):
        await send(ws, "subscribe", md("BTCUSD"))
        await reply(ws)
        await sim.step(n)
        frames = await collect(ws, count(MARKET_DATA, "UPDATE", n), f"{n} UPDATEs")
        return payloads(frames, MARKET_DATA, "UPDATE")[:n]


async def test_the_same_seed_gives_the_same_book_changes() -> None:
    one = await first_updates(seed=11, n=200)
    two = await first_updates(seed=11, n=200)
    other = await first_updates(seed=12, n=200)

    def content(updates: list[Json]) -> list[Any]:
        return [(u["bids"], u["asks"]) for u in updates]

    assert content(one) == content(two)
    assert [u["time"] for u in one] == [u["time"] for u in two]  # the injected clock
    assert content(one) != content(other)


# ---------------------------------------------------------------------- slow client


async def test_a_client_that_never_reads_is_dropped_and_others_go_on() -> None:
    markets = list(DEFAULT_MARKETS)
    overrides = {"markets": markets, "rate": 2000.0, "max_client_buffer": 64 * 1024}
    async with client(**overrides, pre_snapshot_updates=0) as (sim, ws):
        await send(ws, "subscribe", *(md(m) for m in markets))
        async with aiohttp.ClientSession() as session:
            token = await fetch_token(session, sim)
        slow = await RawClient.connect(sim, token, rcvbuf=4096)
        try:
            request = json.dumps({"type": "subscribe", "channels": [md("BTCUSD")]})
            slow.send_text(request)
            # Churn snapshots through the slow socket too, so its backlog grows quickly.
            unsub = json.dumps({"type": "unsubscribe", "channels": [md("BTCUSD")]})
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 10
            while sim.slow_drops == 0:
                assert loop.time() < deadline, "the slow client was never dropped"
                slow.send_text(unsub)
                slow.send_text(request)
                await receive(ws)  # the fast client keeps reading meanwhile
            assert sim.slow_drops == 1
            assert len(sim.clients) == 1  # only the fast one is left
            # The fast client keeps receiving after the drop.
            frames = await collect(ws, count(MARKET_DATA, "UPDATE", 100), "100 more UPDATEs")
            assert len(frames) >= 100 and not ws.closed
        finally:
            slow.close()


# ---------------------------------------------------------------------- fault injection


async def test_drop_connections_closes_with_1011() -> None:
    async with client() as (sim, ws):
        await send(ws, "subscribe", HB)
        await reply(ws)
        await sim.drop_connections(1011)
        msg = await ws.receive(timeout=WAIT)
        assert msg.type is WSMsgType.CLOSE
        assert msg.data == 1011 and ws.close_code == 1011


async def test_cut_connections_closes_without_a_close_frame() -> None:
    async with exchange() as (sim, session):
        token = await fetch_token(session, sim)
        raw = await RawClient.connect(sim, token)
        try:
            async with session.ws_connect(sim.ws_url, headers=bearer(token)) as ws:
                await sim.cut_connections()
                # The raw socket sees end of stream and no bytes at all: no close frame.
                rest = await asyncio.wait_for(raw.reader.read(), WAIT)
                assert rest == b""
                msg = await ws.receive(timeout=WAIT)
                assert msg.type in (WSMsgType.CLOSED, WSMsgType.ERROR)
                assert ws.close_code == aiohttp.WSCloseCode.ABNORMAL_CLOSURE
        finally:
            raw.close()


async def test_silent_sends_no_frames_and_no_pongs() -> None:
    async with exchange(heartbeat_interval=0.05) as (sim, session):
        token = await fetch_token(session, sim)
        async with session.ws_connect(sim.ws_url, headers=bearer(token), autoping=False) as ws:
            await send(ws, "subscribe", md("BTCUSD"), HB)
            await collect(ws, count(MARKET_DATA, "SNAPSHOT"), "the SNAPSHOT")
            sim.set_silent(True)
            await ws.ping(b"one")
            await ws.send_str('{"type":"subscription_list"}')
            # Whatever was already on its way may still arrive, then nothing for a while.
            pongs = 0
            loop = asyncio.get_running_loop()
            quiet_since = loop.time()
            while loop.time() - quiet_since < QUIET:
                try:
                    msg = await ws.receive(timeout=QUIET)
                except TimeoutError:
                    break
                pongs += msg.type is WSMsgType.PONG
                assert msg.type in (WSMsgType.TEXT, WSMsgType.PONG)
                text = msg.data if msg.type is WSMsgType.TEXT else ""
                assert "subscription_list" not in text
                quiet_since = loop.time()
            assert pongs == 0
            assert not ws.closed
            sim.set_silent(False)
            await ws.ping(b"two")
            msg = await ws.receive(timeout=WAIT)
            while msg.type is WSMsgType.TEXT:
                msg = await ws.receive(timeout=WAIT)
            assert msg.type is WSMsgType.PONG and msg.data == b"two"


async def test_send_malformed_sends_a_frame_that_is_not_json() -> None:
    async with client() as (sim, ws):
        await sim.send_malformed()
        msg = await ws.receive(timeout=WAIT)
        assert msg.type is WSMsgType.TEXT
        with pytest.raises(json.JSONDecodeError):
            json.loads(msg.data)


async def test_send_error_sends_internal_server_error() -> None:
    async with client() as (sim, ws):
        await sim.send_error(INTERNAL_SERVER_ERROR)
        assert await reply(ws) == {"type": "error", "error": INTERNAL_SERVER_ERROR}
        assert not ws.closed


@pytest.mark.parametrize("status", [401, 403])
async def test_refuse_handshakes(status: int) -> None:
    async with exchange() as (sim, session):
        token = await fetch_token(session, sim)
        sim.refuse_handshakes(status)
        assert await handshake_status(session, sim.ws_url, bearer(token)) == status
        sim.refuse_handshakes(None)
        async with session.ws_connect(sim.ws_url, headers=bearer(token)) as ws:
            await ws.send_str('{"type":"subscription_list"}')
            assert (await reply(ws))["type"] == "subscription_list"


async def test_the_command_logs_each_connection_and_subscription() -> None:
    """``sordash sim`` prints its URLs and credentials, then one line per connection and per
    subscription (it used to lose them: the top-level CLI had configured logging first)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.cli",
        "sim",
        "--port",
        "0",
        "--markets",
        "BTCUSD",
        "--client-secret",
        "test-secret",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    seen: list[str] = []

    async def line_matching(pattern: str) -> re.Match[str]:
        while True:
            for text in seen:
                if found := re.search(pattern, text):
                    return found
            raw = await asyncio.wait_for(proc.stdout.readline(), 15)  # type: ignore[union-attr]
            assert raw, f"sordash sim ended; it printed {seen}"
            seen.append(raw.decode())

    try:
        token_url = (await line_matching(r"token URL:\s+(\S+)"))[1]
        ws_url = (await line_matching(r"WebSocket URL:\s+(\S+)"))[1]
        client_id = (await line_matching(r"client id:\s+(\S+)"))[1]
        form = {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": "test-secret",
            "scope": SCOPE,
        }
        async with aiohttp.ClientSession() as session:
            async with session.post(token_url, data=form) as response:
                token = (await response.json())["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            async with session.ws_connect(ws_url, headers=headers) as ws:
                channel = {"type": "market_data", "params": {"market": "BTCUSD"}}
                await ws.send_json({"type": "subscribe", "channels": [channel]})
                await line_matching(r"client 1 connected from 127\.0\.0\.1")
                await line_matching(r"client 1: subscribed market_data:BTCUSD")
    finally:
        proc.terminate()
        await proc.wait()


# ---------------------------------------------------------------------- reliability faults


async def receive_text(
    ws: aiohttp.ClientWebSocketResponse, done: Callable[[str], bool], what: str
) -> str:
    """The first text frame (raw, undecoded) for which ``done`` holds, within ``WAIT``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise AssertionError(f"timed out waiting for {what}")
        try:
            msg = await ws.receive(timeout=remaining)
        except TimeoutError:
            raise AssertionError(f"timed out waiting for {what}") from None
        assert msg.type is WSMsgType.TEXT, f"expected a text frame, got {msg.type!r}"
        if done(msg.data):
            return str(msg.data)


def tick(market: str) -> Decimal:
    return Decimal(1).scaleb(-DEFAULT_SPECS[market].price_decimals)


async def test_garble_tokens_html_answers_a_captive_portal_then_recovers() -> None:
    async with exchange() as (sim, session):
        sim.garble_tokens("html", count=2)
        for _ in range(2):
            async with session.post(sim.token_url, data=credentials(sim)) as resp:
                assert resp.status == 200
                assert resp.content_type == "text/html"
                assert await resp.text() == CAPTIVE_PORTAL
        await fetch_token(session, sim)  # the third answer is normal again
        assert sim.token_requests == 3


async def test_token_garble_string_expiry_is_not_a_valid_token() -> None:
    async with exchange(token_garble="string-expiry") as (sim, session):
        for _ in range(2):  # no count: every answer, until set back
            async with session.post(sim.token_url, data=credentials(sim)) as resp:
                assert resp.status == 200 and resp.content_type == "application/json"
                body = await resp.json()
            assert body["expires_in"] == "3600"
            assert isinstance(body["access_token"], str) and body["access_token"]
        assert await handshake_status(session, sim.ws_url, bearer(body["access_token"])) == 401
        sim.garble_tokens(None)
        token = await fetch_token(session, sim)
        async with session.ws_connect(sim.ws_url, headers=bearer(token)):
            pass
        assert sim.token_requests == 3


def test_fault_modes_are_validated() -> None:
    sim = Simulator(SimConfig(markets=["BTCUSD"]))
    with pytest.raises(ValueError):
        sim.garble_tokens("xml")
    with pytest.raises(ValueError):
        sim.garble_tokens("html", count=0)
    with pytest.raises(ValueError):
        sim.drift_lists("sideways")
    with pytest.raises(ValueError):
        sim.set_unreadable("ETHUSD", True)  # not run by this simulator
    with pytest.raises(ValueError):
        Simulator(SimConfig(token_garble="xml"))
    with pytest.raises(ValueError):
        Simulator(SimConfig(list_drift="sideways"))
    with pytest.raises(ValueError):
        Simulator(SimConfig(markets=["BTCUSD"], unreadable_markets=["ETHUSD"]))


@pytest.mark.parametrize("how", ["config", "method"])
async def test_echo_400_puts_the_request_body_and_its_secret_in_detail(how: str) -> None:
    async with exchange(echo_400=how == "config") as (sim, session):
        if how == "method":
            sim.echo_bad_requests(True)
        form = credentials(sim)
        async with session.post(sim.token_url, data=form) as resp:
            body = await resp.json(content_type=None)
            assert_problem(resp.status, resp.content_type, body, 400)
        assert body["detail"].startswith("invalid request: ")
        assert f"client_secret={sim.client_secret}" in body["detail"]
        assert f"client_id={sim.client_id}" in body["detail"]
        sim.echo_bad_requests(False)
        await fetch_token(session, sim)
        assert sim.token_requests == 2


async def test_send_token_error_carries_each_clients_own_token() -> None:
    async with exchange() as (sim, session):
        one, two = await fetch_token(session, sim), await fetch_token(session, sim)
        async with (
            session.ws_connect(sim.ws_url, headers=bearer(one)) as ws1,
            session.ws_connect(sim.ws_url, headers=bearer(two)) as ws2,
        ):
            for ws in (ws1, ws2):  # both connected and served before the fault
                await ws.send_str('{"type":"subscription_list"}')
                await reply(ws)
            await sim.send_token_error()
            assert await reply(ws1) == {"type": "error", "error": f"INVALID_TOKEN {one}"}
            assert await reply(ws2) == {"type": "error", "error": f"INVALID_TOKEN {two}"}
            assert not ws1.closed and not ws2.closed


async def test_send_oversized_is_an_exact_size_update_that_changes_nothing() -> None:
    size = 3 * 1024 * 1024 + 7  # odd on purpose: the padding must be exact
    async with exchange(markets=["ETHUSD", "BTCUSD"], rate=0.0) as (sim, session):
        token = await fetch_token(session, sim)
        async with (
            session.ws_connect(sim.ws_url, headers=bearer(token), max_msg_size=0) as subscribed,
            session.ws_connect(sim.ws_url, headers=bearer(token), max_msg_size=0) as bare,
        ):
            await send(subscribed, "subscribe", md("BTCUSD"), md("ETHUSD"))
            await collect(subscribed, count(MARKET_DATA, "SNAPSHOT", 2), "both SNAPSHOTs")
            await bare.send_str('{"type":"subscription_list"}')
            await reply(bare)
            await sim.send_oversized(size)
            for ws, market in ((subscribed, "ETHUSD"), (bare, "BTCUSD")):
                text = await receive_text(ws, lambda t: len(t) > 1 << 20, "the oversized frame")
                assert len(text) == size == len(text.encode())
                payload = json.loads(text)["payload"]
                assert payload["market"] == market and payload["type"] == "UPDATE"
                assert GO_TIME.fullmatch(payload["time"])
                assert payload["asks"] == [] and len(payload["bids"]) > 50_000
                book_bids, _ = exchange_levels(sim, market)
                lowest = book_bids[-1][0]
                for level in payload["bids"]:
                    assert Decimal(level["amount"]) == 0
                    assert Decimal(level["price"]) == tick(market) < lowest
            # A deliberately big frame is not a slow client: both are still served.
            assert sim.slow_drops == 0
            for ws in (subscribed, bare):
                await ws.send_str('{"type":"subscription_list"}')
                assert (await reply(ws))["type"] == "subscription_list"


@pytest.mark.slow
async def test_send_oversized_builds_64_mib_quickly() -> None:
    size = 64 * 1024 * 1024
    async with client(markets=["BTCUSD"]) as (sim, _):
        async with aiohttp.ClientSession() as session:
            token = await fetch_token(session, sim)
            async with session.ws_connect(sim.ws_url, headers=bearer(token), max_msg_size=0) as ws:
                await ws.send_str('{"type":"subscription_list"}')
                await reply(ws)
                loop = asyncio.get_running_loop()
                began = loop.time()
                await sim.send_oversized(size)
                # A loop over two million levels in Python would take seconds.
                assert loop.time() - began < 1.5, "building and queueing took too long"
                text = await receive_text(ws, lambda t: len(t) > 1 << 20, "the 64 MiB frame")
        assert len(text) == size
        # The 3 MiB test decodes it all; here, the same shape by string operations (decoding
        # two million levels would dominate the test).
        head, _, bids = text.partition('"bids":[')
        assert json.loads(head + '"bids":[]}}')["payload"]["type"] == "UPDATE"
        assert bids.endswith('],"asks":[]}}')
        levels = bids.removesuffix('],"asks":[]}}')
        assert levels.count('{"price":') > 1_000_000
        spellings = ('{"price":"0.010","amount":"0"}', '{"price":"0.01","amount":"0"}', ",")
        for spelling in spellings:  # nothing but these two levels, comma-separated
            levels = levels.replace(spelling, "")
        assert levels == ""


@pytest.mark.parametrize("how", ["config", "method"])
async def test_unreadable_snapshots_carry_a_19_digit_amount_off_the_book(how: str) -> None:
    overrides: dict[str, Any] = {"markets": ["BTCUSD"], "rate": 0.0}
    if how == "config":
        overrides["unreadable_markets"] = ["BTCUSD"]
    async with client(**overrides) as (sim, ws):
        if how == "method":
            sim.set_unreadable("BTCUSD", True)

        async def snapshot() -> Json:
            await send(ws, "subscribe", md("BTCUSD"))
            frames = await collect(ws, count(MARKET_DATA, "SNAPSHOT"), "the SNAPSHOT")
            return payloads(frames, MARKET_DATA, "SNAPSHOT")[0]

        async def unsubscribe() -> None:
            await send(ws, "unsubscribe", md("BTCUSD"))
            assert (await reply(ws))["channels"][0]["success"] is True

        book_bids, book_asks = sim.book("BTCUSD")
        for _ in range(2):  # the first SNAPSHOT and a re-subscribe's
            payload = await snapshot()
            odd = [lv for lv in payload["asks"] if lv["amount"] == UNREADABLE_AMOUNT]
            assert len(odd) == 1
            assert len(UNREADABLE_AMOUNT.partition(".")[2]) == 19
            price = Decimal(odd[0]["price"])
            assert price >= Decimal(book_asks[0][0]) + 1000 * tick("BTCUSD")
            asks = [Decimal(lv["price"]) for lv in payload["asks"]]
            assert asks == sorted(asks) and len(set(asks)) == len(asks)
            rest = [(lv["price"], lv["amount"]) for lv in payload["asks"] if lv is not odd[0]]
            assert rest == book_asks  # the exchange's book has no such level
            assert [(lv["price"], lv["amount"]) for lv in payload["bids"]] == book_bids
            assert sim.book("BTCUSD") == (book_bids, book_asks)
            await unsubscribe()
        sim.set_unreadable("BTCUSD", False)
        payload = await snapshot()
        assert [(lv["price"], lv["amount"]) for lv in payload["asks"]] == book_asks


async def test_subscribe_request_frames_are_counted_with_their_times() -> None:
    async with client() as (sim, ws):
        loop = asyncio.get_running_loop()
        before = loop.time()
        await send(ws, "subscribe", HB)
        await reply(ws)
        await send(ws, "subscribe", md("BTCUSD"), md("ETHUSD"))
        await reply(ws)
        await send(ws, "unsubscribe", HB)
        await reply(ws)
        await ws.send_str('{"type":"subscription_list"}')
        await reply(ws)
        await ws.send_str('{"type":"subscribe"}')  # a subscribe frame, if a malformed one
        assert await reply(ws) == {"type": "error", "error": MALFORMED_REQUEST}
        after = loop.time()
        assert sim.subscribe_requests == 3
        assert len(sim.subscribe_times) == 3
        assert before <= sim.subscribe_times[0] <= sim.subscribe_times[-1] <= after
        assert sim.subscribe_times == sorted(sim.subscribe_times)


async def test_subscribe_times_keep_only_the_newest_10000() -> None:
    async with client() as (sim, ws):
        total = 10_005
        frame = json.dumps({"type": "subscribe", "channels": [HB]})
        for _ in range(total):
            await ws.send_str(frame)
        answers = 0
        while answers < total:
            answers += (await reply(ws))["type"] == "subscribe"
        assert sim.subscribe_requests == total
        assert len(sim.subscribe_times) == 10_000
        assert sim.subscribe_times == sorted(sim.subscribe_times)


@pytest.mark.parametrize("mode", [None, "omit", "no-params", "extra"])
async def test_drifting_subscription_lists(mode: str | None) -> None:
    async with client(rate=400.0) as (sim, ws):
        sim.drift_lists(mode)
        await send(ws, "subscribe", md("BTCUSD"), ex("BTCUSD"), HB)
        await reply(ws)
        await ws.send_str('{"type":"subscription_list"}')
        listed = (await reply(ws))["channels"]
        expected = {
            None: [md("BTCUSD"), ex("BTCUSD"), HB],
            "omit": [ex("BTCUSD"), HB],
            "no-params": [{"type": MARKET_DATA}, {"type": EXECUTION_DATA}, HB],
            "extra": [md("BTCUSD"), ex("BTCUSD"), HB, md("ETHUSD")],
        }[mode]
        assert sorted(listed, key=json.dumps) == sorted(expected, key=json.dumps)
        # Whatever the list says, the subscriptions are served.
        await collect(ws, count(MARKET_DATA, "UPDATE", 5), "BTCUSD UPDATEs after the list")


async def test_list_drift_extra_adds_nothing_when_every_market_is_subscribed() -> None:
    async with client(list_drift="extra") as (_, ws):
        await send(ws, "subscribe", md("BTCUSD"), md("ETHUSD"))
        await reply(ws)
        await ws.send_str('{"type":"subscription_list"}')
        listed = (await reply(ws))["channels"]
        assert sorted(listed, key=json.dumps) == [md("BTCUSD"), md("ETHUSD")]


async def test_unsubscribe_without_params_is_refused_and_counted() -> None:
    async with client() as (sim, ws):
        await send(ws, "subscribe", md("BTCUSD"), ex("BTCUSD"), HB)
        await reply(ws)
        await send(ws, "unsubscribe", {"type": MARKET_DATA}, {"type": EXECUTION_DATA}, HB)
        assert await reply(ws) == {
            "type": "unsubscribe",
            "channels": [
                {
                    "type": MARKET_DATA,
                    "success": False,
                    "error": UNKNOWN_CHANNEL_PARAMS_CONFIGURATION,
                },
                {
                    "type": EXECUTION_DATA,
                    "success": False,
                    "error": UNKNOWN_CHANNEL_PARAMS_CONFIGURATION,
                },
                {**HB, "success": True},
            ],
        }
        assert sim.paramless_unsubscribes == 2
        await send(ws, "unsubscribe", md("BTCUSD"), md("ZZZUSD"))  # params: not counted
        await reply(ws)
        assert sim.paramless_unsubscribes == 2


@pytest.mark.parametrize("market", ["BTCUSD", "LTCUSD"])  # LTCUSD: too cheap for the tick grid
async def test_snapshot_extra_levels_make_a_big_valid_book(market: str) -> None:
    extra = 50_000
    async with exchange(markets=[market], rate=0.0, snapshot_extra_levels=extra) as (
        sim,
        session,
    ):
        token = await fetch_token(session, sim)
        async with session.ws_connect(sim.ws_url, headers=bearer(token), max_msg_size=0) as ws:
            await send(ws, "subscribe", md(market))
            frames = await collect(ws, count(MARKET_DATA, "SNAPSHOT"), "the big SNAPSHOT")
            payload = payloads(frames, MARKET_DATA, "SNAPSHOT")[0]
            assert sim.slow_drops == 0
        book_bids, book_asks = sim.book(market)  # the tracked book: no extra levels
        for side, book, descending in (
            (payload["bids"], book_bids, True),
            (payload["asks"], book_asks, False),
        ):
            assert len(side) == len(book) + extra
            assert [(lv["price"], lv["amount"]) for lv in side[: len(book)]] == book
            prices = [Decimal(lv["price"]) for lv in side]
            assert prices == sorted(prices, reverse=descending)
            assert len(set(prices)) == len(prices) and min(prices) > 0
            assert all(Decimal(lv["amount"]) > 0 for lv in side)


def test_a_100000_level_snapshot_builds_well_under_a_second() -> None:
    for spec in DEFAULT_SPECS.values():
        market = Market(spec, 1, time.time_ns)
        began = time.perf_counter()
        frame = market.snapshot_frame(extra_levels=50_000)
        assert time.perf_counter() - began < 0.5, spec.name
        assert frame.count(b'"price"') == 100_000 + sum(map(len, market.levels()))


async def test_flood_levels_pad_the_updates_before_the_snapshot_only() -> None:
    flood = 1000
    async with client(markets=["BTCUSD"], rate=400.0, flood_levels=flood) as (sim, ws):
        await send(ws, "subscribe", md("BTCUSD"))
        book = RefBook()

        def take(frames: list[Json]) -> None:
            if frames and frames[-1].get("channel") == MARKET_DATA:
                book.feed(frames[-1]["payload"])

        def synced(frames: list[Json]) -> bool:
            take(frames)
            return book.synced

        frames = await collect(ws, synced, "the SNAPSHOT")
        early = payloads(frames, MARKET_DATA, "UPDATE")
        assert early, "no UPDATE before the SNAPSHOT"
        for update in early:
            padding = [lv for lv in update["bids"] if Decimal(lv["price"]) < tick("BTCUSD")]
            assert len(padding) == flood
            assert {Decimal(lv["amount"]) for lv in padding} == {Decimal(0)}
            assert len({lv["price"] for lv in padding}) == flood
        later: list[Json] = []

        def enough(fs: list[Json]) -> bool:
            take(fs)
            later[:] = payloads(fs, MARKET_DATA, "UPDATE")
            return len(later) >= 20

        await collect(ws, enough, "20 live UPDATEs")
        assert all(len(u["bids"]) + len(u["asks"]) < 20 for u in later), "live UPDATEs padded"
        # The padding changed nothing: the book built from the frames is the exchange's.
        sim.pause()
        target = parse_time(sim.book_time("BTCUSD"))

        def caught_up(fs: list[Json]) -> bool:
            take(fs)
            return book.time == target

        if book.time != target:
            await collect(ws, caught_up, "the frames up to the exchange's book time")
        assert book.levels() == exchange_levels(sim, "BTCUSD")


@pytest.mark.parametrize("port", ["99999", "-1", "65536", "http"])
def test_sim_port_out_of_range_is_a_usage_error(
    port: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        sim_cli.main(["--port", port])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert f"argument --port: must be 0-65535: '{port}'" in err
    assert "Traceback" not in err


def test_sim_fault_flags_reach_the_config() -> None:
    args = sim_cli.build_parser().parse_args(
        [
            "--markets",
            "BTCUSD,ETHUSD",
            "--garble-token",
            "string-expiry",
            "--echo-400",
            "--unreadable",
            "ethusd",
            "--drift-lists",
            "no-params",
            "--snapshot-extra-levels",
            "500",
            "--flood-levels",
            "20",
            "--leak-token-every",
            "2",
            "--oversized-every",
            "3",
            "--oversized-bytes",
            "4096",
        ]
    )
    config = sim_cli.config_from_args(args)
    assert config.token_garble == "string-expiry"
    assert config.echo_400 is True
    assert config.unreadable_markets == ["ETHUSD"]
    assert config.list_drift == "no-params"
    assert config.snapshot_extra_levels == 500
    assert config.flood_levels == 20
    assert (args.leak_token_every, args.oversized_every, args.oversized_bytes) == (2, 3, 4096)
    defaults = sim_cli.build_parser().parse_args([])
    assert defaults.oversized_bytes == 32 * 1024 * 1024
    assert sim_cli.config_from_args(defaults).unreadable_markets == []


async def test_sim_fault_loops_leak_tokens_and_send_oversized_frames() -> None:
    args = sim_cli.build_parser().parse_args(
        ["--leak-token-every", "0.05", "--oversized-every", "0.05", "--oversized-bytes", "5000"]
    )
    async with exchange() as (sim, session):
        token = await fetch_token(session, sim)
        async with session.ws_connect(sim.ws_url, headers=bearer(token)) as ws:
            await ws.send_str('{"type":"subscription_list"}')
            await reply(ws)
            faults = asyncio.create_task(sim_cli._faults(sim, args))
            try:
                seen: set[str] = set()

                def both(text: str) -> bool:
                    if len(text) == 5000:
                        seen.add("oversized")
                    elif json.loads(text) == {"type": "error", "error": f"INVALID_TOKEN {token}"}:
                        seen.add("token")
                    return seen == {"oversized", "token"}

                await receive_text(ws, both, "a leaked token and an oversized frame")
            finally:
                faults.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await faults
