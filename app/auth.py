"""OAuth2 client-credentials token provider for the Paxos token endpoint.

One request at a time however many callers ask (single flight); the token is cached until
shortly before ``expires_in`` runs out; the endpoint is never asked more than about once a
second; 429 honours ``Retry-After``; 401 and 403 are final with distinct messages, and so is
a 400 that says what is wrong; network errors, 5xx and answers that cannot be read (an HTML
page from a captive portal, a malformed token response) retry with capped backoff. The secret
and every token are taught to :mod:`app.redact`, so they never appear in a ``repr``, a log
line, an exception or any output.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

import aiohttp
import msgspec

from app.pacing import SharedPace
from app.protocol import SCOPE
from app.redact import REDACTOR, redact

log = logging.getLogger(__name__)

UNREADABLE: Final = "token endpoint answered something unreadable"
"""How a garbled answer is reported: retried, never taken for refused credentials."""
MIN_REQUEST_INTERVAL: Final = 1.05
"""Seconds between two token requests: the endpoint allows about one per second per IP."""


@dataclass(frozen=True)
class Credentials:
    """A client id and secret. The secret is kept out of ``repr`` and ``str``."""

    client_id: str
    client_secret: str = field(repr=False)

    def __str__(self) -> str:
        return f"Credentials(client_id={self.client_id!r}, client_secret=***)"


class AuthError(Exception):
    """The token endpoint refused us for good: the message says what to fix."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(redact(message))
        self.status = status


class BadCredentials(AuthError):
    """401: the client id or secret is wrong."""


class MissingScope(AuthError):
    """403: the credentials lack the market-data stream scope."""


class _TokenResponse(msgspec.Struct):
    access_token: str
    expires_in: float = 3600.0
    token_type: str = "bearer"
    scope: str = ""


class _Problem(msgspec.Struct):
    title: str = ""
    detail: str = ""
    error: str = ""
    error_description: str = ""


class Token:
    """An access token and its expiry (monotonic clock). ``repr`` never shows the value."""

    __slots__ = ("expires_at", "lifetime", "value")

    def __init__(self, value: str, lifetime: float, expires_at: float) -> None:
        self.value = value
        self.lifetime = lifetime
        self.expires_at = expires_at

    def __repr__(self) -> str:
        return f"Token(***, lifetime={self.lifetime:g}s)"

    __str__ = __repr__


def refresh_margin(lifetime: float) -> float:
    """How long before expiry a token is replaced: 10% of its life, between 1 s and 60 s,
    and never more than half of it (so a 2 s token is still used for 1 s, not refetched in
    a loop, and a 1 h token is refreshed a minute early)."""
    return min(max(lifetime * 0.1, 1.0), 60.0, lifetime / 2)


def _problem_text(body: bytes) -> str:
    try:
        problem = msgspec.json.decode(body, type=_Problem)
    except msgspec.DecodeError:
        return ""
    parts = [problem.title, problem.detail, problem.error, problem.error_description]
    return " — ".join(p for p in parts if p)


class TokenProvider:
    """Fetches and caches client-credentials tokens for one endpoint."""

    def __init__(
        self,
        token_url: str,
        credentials: Credentials,
        *,
        scope: str = SCOPE,
        clock: Callable[[], float] = time.monotonic,
        max_backoff: float = 30.0,
        min_interval: float = MIN_REQUEST_INTERVAL,
        on_retry: Callable[[str, float], None] | None = None,
        shared_pace: SharedPace | None = None,
    ) -> None:
        self.token_url = token_url
        self._shared_pace = shared_pace
        """Also keeps the requests of other processes (``sordash serve``'s sessions) apart."""
        self._on_retry = on_retry
        """Told (why, seconds until the next request) before each retry, so a screen can
        say what it is waiting for instead of only the log."""
        self._credentials = credentials
        REDACTOR.add_secret(credentials.client_secret)
        self.scope = scope
        self._clock = clock
        self._max_backoff = max_backoff
        self._min_interval = min_interval
        self._token: Token | None = None
        self._lock = asyncio.Lock()
        self._last_request: float | None = None

    def __repr__(self) -> str:
        return f"TokenProvider({self.token_url!r}, client_id={self._credentials.client_id!r})"

    @property
    def token(self) -> Token | None:
        """The cached token, if any (possibly expired)."""
        return self._token

    def invalidate(self) -> None:
        """Drop the cached token (the server said 401 at the handshake)."""
        self._token = None

    def _fresh(self) -> Token | None:
        token = self._token
        if token is None:
            return None
        if self._clock() >= token.expires_at - refresh_margin(token.lifetime):
            return None
        return token

    async def get(self, session: aiohttp.ClientSession) -> Token:
        """A valid token: the cached one, or one fetched now (single flight).

        Raises :class:`BadCredentials` or :class:`MissingScope` (final), or
        :class:`AuthError` for a 400; retries network errors, 429 and 5xx itself.
        """
        token = self._fresh()
        if token is not None:
            return token
        async with self._lock:
            token = self._fresh()  # another caller may have fetched it while we waited
            if token is not None:
                return token
            self._token = await self._fetch(session)
            return self._token

    async def _fetch(self, session: aiohttp.ClientSession) -> Token:
        backoff = 1.0
        while True:
            await self._pace()
            retry_after: float | None = None
            try:
                async with session.post(
                    self.token_url,
                    data={
                        "grant_type": "client_credentials",
                        "client_id": self._credentials.client_id,
                        "client_secret": self._credentials.client_secret,
                        "scope": self.scope,
                    },
                    timeout=aiohttp.ClientTimeout(total=15),
                ) as resp:
                    body = await resp.read()
                    status = resp.status
                    if status == 200:
                        token = self._token_from(body)
                        if token is not None:
                            return token
                        why = UNREADABLE + " (a 200 without a usable token)"
                    else:
                        problem = _problem_text(body)
                        final = self._refusal(status, problem)
                        if final is not None:
                            raise final
                        if status == 429:
                            retry_after = _retry_after(resp.headers.get("Retry-After"))
                            why = "token endpoint rate-limited us (429)"
                        elif 400 <= status < 500:
                            why = f"{UNREADABLE} ({status} without a problem document)"
                        else:
                            why = f"token endpoint answered {status}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                why = f"token endpoint unreachable ({type(exc).__name__})"
            delay = retry_after if retry_after is not None else backoff * random.uniform(0.8, 1.2)
            log.warning("%s; retrying in %.1fs", why, delay)
            if self._on_retry is not None:
                self._on_retry(why, delay)
            await asyncio.sleep(delay)
            backoff = min(backoff * 2, self._max_backoff)

    def _token_from(self, body: bytes) -> Token | None:
        """The token in a 200's body, or None when the body is not a usable token response
        (an HTML page from a proxy or captive portal, ``expires_in`` as a string, no token):
        that is the endpoint's fault or the network's, not the credentials'."""
        try:
            parsed = msgspec.json.decode(body, type=_TokenResponse)
        except msgspec.DecodeError:
            return None
        lifetime = float(parsed.expires_in)
        if not parsed.access_token or not lifetime > 0 or lifetime == float("inf"):
            return None
        REDACTOR.add_token(parsed.access_token)
        return Token(parsed.access_token, lifetime, self._clock() + lifetime)

    def _refusal(self, status: int, problem: str) -> AuthError | None:
        """The final error for a refusal the user must fix, or None for one to retry.

        401 and 403 are final whatever the body; a 400 only when the endpoint says what is
        wrong (a problem document or an OAuth error): a bare 400 from a proxy is retried.
        ``problem`` is redacted: an endpoint that echoes the request body echoes the secret.
        """
        suffix = f" ({redact(problem)})" if problem else ""
        if status == 401:
            return BadCredentials(
                f"the token endpoint rejected the client id or secret (401){suffix}: check "
                "PAXOS_CLIENT_ID / PAXOS_CLIENT_SECRET or the config file",
                status,
            )
        if status == 403:
            return MissingScope(
                f"the credentials lack the scope {self.scope!r} (403){suffix}: "
                "ask Paxos to grant it to this client",
                status,
            )
        if status == 400 and problem:
            return AuthError(f"the token endpoint refused the request (400){suffix}", status)
        return None

    async def _pace(self) -> None:
        now = self._clock()
        if self._last_request is not None:
            wait = self._last_request + self._min_interval - now
            if wait > 0:
                await asyncio.sleep(wait)
        if self._shared_pace is not None:
            wait = self._shared_pace.reserve()
            if wait > 0:
                await asyncio.sleep(wait)
        self._last_request = self._clock()


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None
