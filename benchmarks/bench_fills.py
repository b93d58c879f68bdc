"""Cost to fill and depth bands on a deep book, against reading the ladder's top 20 levels.

The book is bench_core's: its seeded 500-level-a-side SNAPSHOT after 200k realistic
UPDATEs, about 1,100 levels (1 cent ticks near 50,000, amounts up to 5 BTC). Timed on it,
interleaved, best of a few batches each:

- ``fills_cost_to_fill``: :func:`app.fills.cost_to_fill` for three sizes (0.5 BTC, 5 BTC and
  250,000 USD notional, the config's examples) on both sides: six calls.
- ``fills_cost_to_fill_deep``: 50 BTC on both sides (about 20 levels a side here), to
  show how the cost grows with the levels walked.
- ``fills_depth_bands``: :func:`app.fills.depth_bands` at 10, 50 and 100 bps. This book's
  levels all lie within 10 bps of its mid, so this reads every level of both sides: the
  worst case, reported for what it is.
- the baseline, ``book.top(20)`` of both sides (what a ladder repaint reads).

Target (issue 13): the six fills under 3x the top-20 read.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

from app.books import Book
from app.fills import FillSize, OrderSide, cost_to_fill, depth_bands
from benchmarks.bench_core import MARKET, decode_apply, make_stream
from benchmarks.common import report

SIZES: Final = (FillSize.base("0.5"), FillSize.base("5"), FillSize.notional("250000"))
DEEP: Final = (FillSize.base("50"),)
ROUNDS: Final = 3
CALLS: Final = 20_000


def per_call_us(func: Callable[[], object], calls: int = CALLS) -> float:
    """Microseconds per call of ``func``, best of five batches."""
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(calls // 5):
            func()
        best = min(best, (time.perf_counter() - start) / (calls // 5))
    return best * 1e6


def both_sides(book: Book, sizes: tuple[FillSize, ...]) -> Callable[[], object]:
    """``sizes`` on both sides, as one call."""

    def run() -> None:
        for size in sizes:
            cost_to_fill(book, OrderSide.BUY, size)
            cost_to_fill(book, OrderSide.SELL, size)

    return run


def run() -> None:
    """Print the fills BENCH lines."""
    book = decode_apply(make_stream()).book(MARKET)
    levels = len(book.bids) + len(book.asks)
    walked = {}
    for sizes in (SIZES, DEEP):
        walked[sizes] = 0
        for size in sizes:
            for side in OrderSide:
                cost = cost_to_fill(book, side, size)
                if cost.too_thin or not cost.levels:
                    raise AssertionError(f"{side.value} {size.text}: {cost}")
                walked[sizes] += cost.levels
    if depth_bands(book) is None:
        raise AssertionError("the benchmark book has no mid")

    top = fills = deep = bands = float("inf")
    fill_all, fill_deep = both_sides(book, SIZES), both_sides(book, DEEP)
    for _ in range(ROUNDS):
        top = min(top, per_call_us(lambda: book.top(20)))
        fills = min(fills, per_call_us(fill_all))
        deep = min(deep, per_call_us(fill_deep))
        bands = min(bands, per_call_us(lambda: depth_bands(book), CALLS // 20))

    baseline = "fills_top20_both_sides"
    report(baseline, top, f"us ({levels}-level book)")
    report(
        "fills_cost_to_fill_3_sizes_both_sides",
        fills,
        f"us ({walked[SIZES]} levels walked)",
        fills / top,
        baseline,
    )
    report(
        "fills_cost_to_fill_deep_50btc_both_sides",
        deep,
        f"us ({walked[DEEP]} levels walked)",
        deep / top,
        baseline,
    )
    report("fills_depth_bands_10_50_100_whole_book", bands, "us", bands / top, baseline)
