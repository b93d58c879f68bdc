"""One redaction for every text sordash shows, logs, records or raises.

The client secret and the access tokens (the current one and those before it) are known to
the process once the token provider has seen them. Any text may carry one by accident: a
token endpoint whose 400 echoes the request body, a server error code that quotes the bearer
token, an exception that prints a header. Every path out of the process (the screen's
events and states, log records, ``sordash stream`` lines, recordings, error messages)
passes its text through :func:`redact`, so none of them can leak what the others keep.

A secret is also caught in the spellings a form body or a URL gives it (percent-encoded,
``+`` for spaces). Values shorter than :data:`MIN_SECRET_LENGTH` are not redacted: masking
every ``"abc"`` in a screen would garble it, and such a secret protects nothing anyway.

Bytes are searched for each secret after one look for a single byte of it (``memchr``: 77
GB/s here, against 3-11 GB/s for a substring search): a text without that byte cannot hold
the secret. Which byte is learnt: when the byte is there but the secret is not, the next
search looks for another of its bytes, so a token soon settles on a byte market data never
holds (an uppercase ``Q``, say), and the recorder's batches are searched for the eight
tokens a long session keeps for little more than the cost of one substring search.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Final
from urllib.parse import quote, quote_plus

MASK: Final = "***"
MIN_SECRET_LENGTH: Final = 8
TOKENS_KEPT: Final = 8
"""Access tokens remembered: the current and previous ones of a few providers (tests run
several in one process), plenty for a token that is replaced once an hour."""


class Redactor:
    """Knows the secrets of this process and masks them in text and bytes."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._tokens: deque[str] = deque(maxlen=TOKENS_KEPT)
        self._texts: tuple[str, ...] = ()
        self._bytes: tuple[_Needle, ...] = ()

    def add_secret(self, value: str) -> None:
        """Remember a client secret (kept for the life of the process)."""
        if len(value) >= MIN_SECRET_LENGTH and value not in self._secrets:
            self._secrets.add(value)
            self._rebuild()

    def add_token(self, value: str) -> None:
        """Remember an access token; the oldest of :data:`TOKENS_KEPT` is forgotten."""
        if len(value) >= MIN_SECRET_LENGTH and value not in self._tokens:
            self._tokens.append(value)
            self._rebuild()

    def forget(self) -> None:
        """Forget every secret (tests)."""
        self._secrets.clear()
        self._tokens.clear()
        self._rebuild()

    def _rebuild(self) -> None:
        spellings: set[str] = set()
        for value in (*self._secrets, *self._tokens):
            spellings.update((value, quote(value, safe=""), quote_plus(value, safe="")))
        # Longest first: a secret that contains another is masked whole.
        self._texts = tuple(sorted(spellings, key=len, reverse=True))
        self._bytes = tuple(_Needle(s.encode()) for s in self._texts)

    def redact(self, text: str) -> str:
        """``text`` with every known secret replaced by ``***``."""
        for secret in self._texts:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def redact_bytes(self, data: bytes) -> bytes:
        """The same for bytes (stream lines, recorded frames); ``data`` itself when it holds
        no secret (callers test that with ``is``)."""
        for needle in self._bytes:
            if needle.probe not in data:
                continue  # a byte of the secret is not there: neither is the secret
            secret = needle.secret
            if secret in data:
                data = data.replace(secret, b"***")
            else:
                needle.look_elsewhere()
        return data


class _Needle:
    """A secret's spelling, and the one byte of it looked for first (any byte of it will
    do; each thread that searches may move it, with no harm but a wasted search)."""

    __slots__ = ("at", "probe", "secret")

    def __init__(self, secret: bytes) -> None:
        self.secret = secret
        self.at = len(secret) - 1
        self.probe = secret[self.at :]

    def look_elsewhere(self) -> None:
        """The probe was there but the secret was not: look for another byte next time."""
        at = (self.at + 1) % len(self.secret)
        self.at, self.probe = at, self.secret[at : at + 1]


REDACTOR: Final = Redactor()
"""The process's one redactor: the token provider teaches it, every output path asks it."""


def redact(text: str) -> str:
    """:meth:`Redactor.redact` of the process's redactor."""
    return REDACTOR.redact(text)


def redact_bytes(data: bytes) -> bytes:
    """:meth:`Redactor.redact_bytes` of the process's redactor."""
    return REDACTOR.redact_bytes(data)


class RedactingFormatter(logging.Formatter):
    """A log formatter whose every line (message, arguments, traceback) is redacted."""

    def format(self, record: logging.LogRecord) -> str:
        """The formatted record, redacted."""
        return redact(super().format(record))


def redact_handlers(logger: logging.Logger | None = None) -> None:
    """Give every handler of ``logger`` (default: the root) a redacting formatter that keeps
    its format."""
    target = logger if logger is not None else logging.getLogger()
    for handler in target.handlers:
        current = handler.formatter
        if isinstance(current, RedactingFormatter):
            continue
        fmt = current._fmt if current is not None else None
        datefmt = current.datefmt if current is not None else None
        handler.setFormatter(RedactingFormatter(fmt, datefmt))
