"""The token provider against a real token endpoint on loopback (an aiohttp server per test).

Each test scripts the endpoint's answers and checks what a user would notice: one request
however many callers, caching until shortly before expiry, Retry-After honoured, 401 and 403
final with distinct messages, 5xx retried, and the secret never in any text.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web

from app.auth import (
    AuthError,
    BadCredentials,
    Credentials,
    MissingScope,
    TokenProvider,
    refresh_margin,
)
from app.protocol import SCOPE

SECRET = "s3cr3t-value-never-shown"
CREDS = Credentials("client-1", SECRET)


@dataclass
class Endpoint:
    """A scripted token endpoint: each request pops the next (status, body, headers)."""

    script: list[tuple[int, dict[str, object], dict[str, str]]]
    forms: list[dict[str, str]] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    gate: asyncio.Event | None = None
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        form = await request.post()
        self.forms.append({k: str(v) for k, v in form.items()})
        self.times.append(time.monotonic())
        self.arrived.set()
        if self.gate is not None:
            await self.gate.wait()
        status, body, headers = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        return web.json_response(body, status=status, headers=headers)


def ok(
    token: str = "tok-1", expires_in: float = 3600
) -> tuple[int, dict[str, object], dict[str, str]]:
    return (
        200,
        {"access_token": token, "expires_in": expires_in, "token_type": "bearer", "scope": SCOPE},
        {},
    )


def problem(
    status: int, title: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, object], dict[str, str]]:
    return (status, {"type": "about:blank", "title": title, "status": status}, headers or {})


@pytest.fixture
async def endpoint_factory() -> AsyncIterator[Callable[..., asyncio.Future[Endpoint]]]:
    runners: list[web.AppRunner] = []

    async def make(*script: tuple[int, dict[str, object], dict[str, str]]) -> Endpoint:
        ep = Endpoint(list(script))
        app = web.Application()
        app.router.add_post("/oauth2/token", ep.handle)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        ep.url = f"http://127.0.0.1:{port}/oauth2/token"
        return ep

    yield make  # type: ignore[misc]
    for runner in runners:
        await runner.cleanup()


async def test_sends_client_credentials_form_and_caches(
    endpoint_factory: Callable[..., asyncio.Future[Endpoint]],
) -> None:
    ep = await endpoint_factory(ok("tok-A"))
    provider = TokenProvider(ep.url, CREDS, min_interval=0)
    async with aiohttp.ClientSession() as session:
        first = await provider.get(session)
        second = await provider.get(session)
    assert first.value == second.value == "tok-A"
    assert len(ep.forms) == 1
    assert ep.forms[0] == {
        "grant_type": "client_credentials",
        "client_id": "client-1",
        "client_secret": SECRET,
        "scope": SCOPE,
    }


async def test_single_flight_for_concurrent_callers(
    endpoint_factory: Callable[..., asyncio.Future[Endpoint]],
) -> None:
    ep = await endpoint_factory(ok("tok-B"))
    ep.gate = asyncio.Event()
    provider = TokenProvider(ep.url, CREDS, min_interval=0)
    async with aiohttp.ClientSession() as session:
        tasks = [asyncio.create_task(provider.get(session)) for _ in range(10)]
        await asyncio.wait_for(ep.arrived.wait(), 5)
        ep.gate.set()
        tokens = await asyncio.gather(*tasks)
    assert {t.value for t in tokens} == {"tok-B"}
    assert len(ep.forms) == 1


async def test_refreshes_shortly_before_expiry_not_in_a_loop(
    endpoint_factory: Callable[..., asyncio.Future[Endpoint]],
) -> None:
    ep = await endpoint_factory(ok("tok-1", 100), ok("tok-2", 100))
    now = [1000.0]
    provider = TokenProvider(ep.url, CREDS, clock=lambda: now[0], min_interval=0)
    async with aiohttp.ClientSession() as session:
        assert (await provider.get(session)).value == "tok-1"
        now[0] += 100 - refresh_margin(100) - 0.5  # still inside the margin: cached
        assert (await provider.get(session)).value == "tok-1"
        now[0] += 1.0  # past it: refreshed once
        assert (await provider.get(session)).value == "tok-2"
        assert (await provider.get(session)).value == "tok-2"
    assert len(ep.forms) == 2


def test_refresh_margin_is_sensible_for_short_and_long_lifetimes() -> None:
    assert refresh_margin(2) == 1.0  # a 2 s token is used for 1 s, not refetched at once
    assert refresh_margin(3600) == 60.0
    assert 0 < refresh_margin(0.5) <= 0.25


async def test_401_is_final_and_names_the_credentials(
    endpoint_factory: Callable[..., asyncio.Future[Endpoint]],
) -> None:
    ep = await endpoint_factory(problem(401, "invalid_client"))
    provider = TokenProvider(ep.url, CREDS, min_interval=0)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(BadCredentials) as info:
            await provider.get(session)
    assert "client id or secret" in str(info.value)
    assert "invalid_client" in str(info.value)
    assert SECRET not in str(info.value)
    assert len(ep.forms) == 1


async def test_403_is_final_and_names_the_scope(
    endpoint_factory: Callable[..., asyncio.Future[Endpoint]],
) -> None:
    ep = await endpoint_factory(problem(403, "insufficient scope"))
    provider = TokenProvider(ep.url, CREDS, min_interval=0)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(MissingScope) as info:
            await provider.get(session)
    assert SCOPE in str(info.value)
    assert not isinstance(info.value, BadCredentials)
    assert len(ep.forms) == 1


async def test_400_is_a_clear_error(
    endpoint_factory: Callable[..., asyncio.Future[Endpoint]],
) -> None:
    ep = await endpoint_factory(problem(400, "unsupported_grant_type"))
    provider = TokenProvider(ep.url, CREDS, min_interval=0)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(AuthError, match=r"400.*unsupported_grant_type"):
            await provider.get(session)


async def test_429_honours_retry_after(
    endpoint_factory: Callable[..., asyncio.Future[Endpoint]],
) -> None:
    ep = await endpoint_factory(problem(429, "slow down", {"Retry-After": "0.3"}), ok("tok-C"))
    provider = TokenProvider(ep.url, CREDS, min_interval=0)
    async with aiohttp.ClientSession() as session:
        token = await provider.get(session)
    assert token.value == "tok-C"
    assert len(ep.times) == 2
    assert ep.times[1] - ep.times[0] >= 0.3


async def test_5xx_retries_with_backoff(
    endpoint_factory: Callable[..., asyncio.Future[Endpoint]],
) -> None:
    ep = await endpoint_factory(problem(503, "down"), ok("tok-D"))
    retries: list[tuple[str, float]] = []
    provider = TokenProvider(
        ep.url, CREDS, min_interval=0, on_retry=lambda why, delay: retries.append((why, delay))
    )
    async with aiohttp.ClientSession() as session:
        token = await provider.get(session)
    assert token.value == "tok-D"
    assert ep.times[1] - ep.times[0] >= 0.8  # backoff starts at ~1 s (jittered 0.8-1.2)
    # The screen is told why and for how long, not only the log.
    assert len(retries) == 1 and "503" in retries[0][0] and 0.8 <= retries[0][1] <= 1.2


async def test_never_more_than_about_one_request_per_second(
    endpoint_factory: Callable[..., asyncio.Future[Endpoint]],
) -> None:
    ep = await endpoint_factory(ok("tok-E", 3600))
    provider = TokenProvider(ep.url, CREDS)
    async with aiohttp.ClientSession() as session:
        await provider.get(session)
        provider.invalidate()  # e.g. a 401 at the handshake
        await provider.get(session)
    assert ep.times[1] - ep.times[0] >= 1.0


def test_secret_and_token_never_in_repr() -> None:
    assert SECRET not in repr(CREDS) and SECRET not in str(CREDS)
    provider = TokenProvider("http://x/oauth2/token", CREDS)
    assert SECRET not in repr(provider)
    from app.auth import Token

    token = Token("tok-secret-value", 60, 0)
    assert "tok-secret-value" not in repr(token) and "tok-secret-value" not in str(token)
