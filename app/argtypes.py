"""argparse types shared by ``sordash`` and ``sordash sim``: each turns one argument into a
value or a one-line usage error (exit 2), never a traceback or a retry loop later."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from app.config import HTTP_SCHEMES, WS_SCHEMES, url_problem


def positive_number(text: str) -> float:
    """A number greater than zero."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def at_least(minimum: int) -> Callable[[str], int]:
    """A whole number, ``minimum`` or more."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}: {text!r}")
        return value

    return parse


def port(text: str) -> int:
    """A TCP port, 0 (any free one) to 65535."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be 0-65535: {text!r}")
    return value


def ws_url(text: str) -> str:
    """A ``ws://`` or ``wss://`` URL with a host."""
    problem = url_problem(text, WS_SCHEMES)
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    return text


def token_url(text: str) -> str:
    """An ``http://`` or ``https://`` URL with a host."""
    problem = url_problem(text, HTTP_SCHEMES)
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    return text
