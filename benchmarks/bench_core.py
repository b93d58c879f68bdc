"""Decode + apply throughput of the book pipeline, and the cost of reading a ladder.

A seeded, realistic ``market_data`` stream: one SNAPSHOT of 500 levels per side, then
200k UPDATE frames of 1 to 3 levels near a random-walk mid (a quarter of them deletes),
encoded exactly as the wire carries them. Three consumers run over the same bytes,
interleaved, best of a few rounds each:

- ``core_decode_apply``: :func:`app.protocol.decode_frame` + :meth:`BookStore.apply`.
- the typical correct baseline: ``json.loads``, ``Decimal()`` per level, a
  ``sortedcontainers.SortedDict`` per side.
- the decode-only limit: the same frames through ``decode_frame``, thrown away.

Targets (issue 2): at least 2.5x the baseline, at least 30% of the decode-only limit, and
reading the top 20 levels of both sides in under 10 us.

``core_book_memory`` is what the final book holds (tracemalloc), against the baseline's book
of the same levels.
"""

from __future__ import annotations

import gc
import json
import random
import time
import tracemalloc
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Final

from sortedcontainers import SortedDict

from app.books import Book, BookStore
from app.protocol import BookMessage, DataFrame, Level, decode_frame, encode, format_time
from benchmarks.common import report

MARKET: Final = "BTCUSD"
UPDATES: Final = 200_000
DEPTH: Final = 500
ROUNDS: Final = 3
SEED: Final = 20240115
TICK_CENTS: Final = 1  # prices in cents: 0.01 ticks


def _price(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _amount(rng: random.Random) -> str:
    units = rng.randint(1, 5 * 10**8)  # up to 5 BTC with 8 decimals, as exchanges send
    return f"{units // 10**8}.{units % 10**8:08d}"


def make_stream(seed: int = SEED, updates: int = UPDATES) -> list[bytes]:
    """The SNAPSHOT frame followed by ``updates`` UPDATE frames, as wire bytes."""
    rng = random.Random(seed)
    mid = 5_000_000  # 50000.00 in cents
    t = 1_705_314_600_000_000_000
    bids = [Level(_price(mid - k * TICK_CENTS), _amount(rng)) for k in range(1, DEPTH + 1)]
    asks = [Level(_price(mid + k * TICK_CENTS), _amount(rng)) for k in range(1, DEPTH + 1)]
    frames = [
        encode(
            DataFrame("market_data", BookMessage(MARKET, "SNAPSHOT", format_time(t), bids, asks))
        )
    ]
    zeros = ("0", "0.00000000", "0.0")
    for _ in range(updates):
        t += rng.randint(50_000, 2_000_000)  # 0.05 to 2 ms apart
        if rng.random() < 0.2:
            mid += rng.choice((-TICK_CENTS, TICK_CENTS))
        new_bids: list[Level] = []
        new_asks: list[Level] = []
        for _ in range(rng.choice((1, 1, 2, 3))):
            distance = 1 + min(int(rng.expovariate(1 / 15)), DEPTH - 1)  # mostly near the top
            amount = rng.choice(zeros) if rng.random() < 0.25 else _amount(rng)
            if rng.random() < 0.5:
                new_bids.append(Level(_price(mid - distance * TICK_CENTS), amount))
            else:
                new_asks.append(Level(_price(mid + distance * TICK_CENTS), amount))
        message = BookMessage(MARKET, "UPDATE", format_time(t), new_bids, new_asks)
        frames.append(encode(DataFrame("market_data", message)))
    return frames


# --------------------------------------------------------------------------- consumers


def decode_apply(frames: list[bytes]) -> BookStore:
    """Ours: decode each frame with msgspec, dispatch, apply to the store."""
    store = BookStore()
    apply = store.apply
    decode = decode_frame
    for data in frames:
        msg = decode(data)
        if type(msg) is BookMessage:
            apply(msg)
    return store


def decode_only(frames: list[bytes]) -> None:
    """The limit: the same decoding, results thrown away."""
    decode = decode_frame
    for data in frames:
        decode(data)


class BaselineBook:
    """A typical correct book: Decimal keys in SortedDicts (bids negated, best first)."""

    def __init__(self) -> None:
        self.bids: Any = SortedDict()
        self.asks: Any = SortedDict()

    def set(self, side: Any, sign: int, levels: list[dict[str, str]]) -> None:
        for level in levels:
            price = Decimal(level["price"]) * sign
            amount = Decimal(level["amount"])
            if amount == 0:
                side.pop(price, None)
            else:
                side[price] = amount

    def top(self, n: int) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        bids = [(-p, a) for p, a in self.bids.items()[:n]]
        asks = list(self.asks.items()[:n])
        return bids, asks


def baseline(frames: list[bytes]) -> BaselineBook:
    """json.loads, Decimal per level, SortedDict book."""
    book = BaselineBook()
    for data in frames:
        obj = json.loads(data)
        if obj.get("channel") != "market_data":
            continue
        payload = obj["payload"]
        if payload["type"] == "SNAPSHOT":
            book.bids.clear()
            book.asks.clear()
        book.set(book.bids, -1, payload.get("bids", []))
        book.set(book.asks, 1, payload.get("asks", []))
    return book


def _timed(func: Callable[[list[bytes]], object], frames: list[bytes]) -> float:
    gc.collect()
    start = time.perf_counter()
    func(frames)
    return time.perf_counter() - start


def _check_same_book(ours: Book, theirs: BaselineBook) -> None:
    """The three consumers must do the same work: compare the final books level by level."""
    got = (
        [(Decimal(lv.price), Decimal(lv.amount)) for lv in ours.bids.all()],
        [(Decimal(lv.price), Decimal(lv.amount)) for lv in ours.asks.all()],
    )
    want = theirs.top(len(theirs.bids) + len(theirs.asks))
    if got != want:
        raise AssertionError("decode+apply and the baseline built different books")


def top20_read_us(book: Book, calls: int = 100_000) -> float:
    """Microseconds per ``book.top(20)`` (both sides), best of five batches."""
    top = book.top
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(calls // 5):
            top(20)
        best = min(best, (time.perf_counter() - start) / (calls // 5))
    return best * 1e6


def memory_kib(build: Callable[[list[bytes]], object], frames: list[bytes]) -> float:
    """KiB still allocated by what ``build`` returns (tracemalloc, after a collection)."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = build(frames)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    del kept
    return (after - before) / 1024


def run() -> None:
    """Print the core BENCH lines."""
    frames = make_stream()
    n = len(frames)
    store = decode_apply(frames)
    book = store.book(MARKET)
    _check_same_book(book, baseline(frames))
    if book.updates_applied != UPDATES or book.errors:
        raise AssertionError(f"applied {book.updates_applied} updates, {book.errors} errors")

    ours = base = limit = float("inf")
    for _ in range(ROUNDS):
        ours = min(ours, _timed(decode_apply, frames))
        base = min(base, _timed(baseline, frames))
        limit = min(limit, _timed(decode_only, frames))
    ours_rate, base_rate, limit_rate = n / ours, n / base, n / limit

    report(
        "core_decode_apply",
        ours_rate,
        "frames/s",
        ours_rate / base_rate,
        "json.loads+Decimal+SortedDict",
    )
    report(
        "core_decode_apply_of_limit",
        ours_rate,
        "frames/s",
        ours_rate / limit_rate,
        "msgspec decode-only",
    )
    report("core_baseline_json_decimal_sorteddict", base_rate, "frames/s")
    report("core_decode_only", limit_rate, "frames/s")
    report("core_top20_both_sides", top20_read_us(book), "us")
    ours_kib, base_kib = memory_kib(decode_apply, frames), memory_kib(baseline, frames)
    levels = len(book.bids) + len(book.asks)
    report(
        "core_book_memory",
        ours_kib,
        f"KiB ({levels} levels)",
        ours_kib / base_kib,
        "Decimal+SortedDict book",
    )
