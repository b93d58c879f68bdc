"""The reconciling book store: one test per rule of docs/protocol.md §5, then the rest.

The last test is a property test: random interleavings of subscribe, snapshot, update and
disconnect events for two markets must leave the store in the same state as a tiny
reference model written here with ``Decimal`` dicts, a buffer list and a time filter.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.books import Book, BookLevel, BookState, BookStore, cumulative, group_levels
from app.protocol import ONE, BookMessage, Level, parse_time, to_scaled

T = "2024-01-15T10:30:05Z"
Pairs = Sequence[tuple[str, str]]


def msg(
    kind: str, time: str, bids: Pairs = (), asks: Pairs = (), market: str = "BTCUSD"
) -> BookMessage:
    return BookMessage(
        market,
        "SNAPSHOT" if kind == "S" else "UPDATE",
        time,
        [Level(p, a) for p, a in bids],
        [Level(p, a) for p, a in asks],
    )


def snapshot(
    time: str = T, bids: Pairs = (), asks: Pairs = (), market: str = "BTCUSD"
) -> BookMessage:
    return msg("S", time, bids, asks, market)


def update(time: str, bids: Pairs = (), asks: Pairs = (), market: str = "BTCUSD") -> BookMessage:
    return msg("U", time, bids, asks, market)


def side(levels: Sequence[BookLevel]) -> list[tuple[str, str]]:
    return [(level.price, level.amount) for level in levels]


def state(book: Book) -> BookState:
    """``book.state`` read through a call, so mypy does not narrow it between asserts."""
    return book.state


def live_book(bids: Pairs = (("100", "1"),), asks: Pairs = (("101", "1"),)) -> Book:
    book = Book("BTCUSD")
    book.apply(snapshot(T, bids, asks))
    assert state(book) is BookState.LIVE
    return book


# --------------------------------------------------------------------------- §5: exact decimals


def test_prices_and_amounts_are_exact_decimals() -> None:
    book = live_book(
        bids=[("0.000000000000000002", "0.1"), ("0.000000000000000001", "0.2")], asks=[]
    )
    assert [level.price_units for level in book.bids.all()] == [2, 1]
    # 0.1 + 0.2 is 0.3 exactly: no binary float anywhere.
    assert cumulative(book.bids.all())[-1] == to_scaled("0.3")
    assert side(book.bids.all()) == [
        ("0.000000000000000002", "0.1"),
        ("0.000000000000000001", "0.2"),
    ]


def test_numerically_equal_prices_are_one_level() -> None:
    book = live_book(bids=[("50000.0", "1")], asks=[])
    book.apply(update("2024-01-15T10:30:06Z", bids=[("50000.00", "2"), ("50000", "3")]))
    assert len(book.bids) == 1
    # The level holds the newest amount and the spelling it came with.
    assert side(book.bids.all()) == [("50000", "3")]
    book.apply(update("2024-01-15T10:30:07Z", bids=[("050000.000", "0")]))
    assert len(book.bids) == 0


def test_snapshot_with_equal_prices_spelled_twice_keeps_one_level() -> None:
    book = live_book(bids=[("50000.0", "1"), ("50000.00", "2")], asks=[])
    assert side(book.bids.all()) == [("50000.00", "2")]


# --------------------------------------------------------------------------- §5: zero deletes


@pytest.mark.parametrize("zero", ["0", "0.0", "0.00000000", "00.000000000000000000000"])
def test_zero_amount_in_any_spelling_deletes_the_level(zero: str) -> None:
    book = live_book(bids=[("100", "1"), ("99", "2")], asks=[("101", "1"), ("102", "1")])
    book.apply(update("2024-01-15T10:30:06Z", bids=[("100", zero)], asks=[("102.0", zero)]))
    assert side(book.bids.all()) == [("99", "2")]
    assert side(book.asks.all()) == [("101", "1")]


def test_zero_amount_for_an_absent_level_is_a_no_op() -> None:
    book = live_book()
    book.apply(update("2024-01-15T10:30:06Z", bids=[("98", "0")], asks=[("105", "0.0")]))
    assert side(book.bids.all()) == [("100", "1")]
    assert side(book.asks.all()) == [("101", "1")]
    assert book.updates_applied == 1


def test_snapshot_levels_with_zero_amount_are_not_levels() -> None:
    book = live_book(bids=[("100", "1"), ("99", "0.000")], asks=[("101", "0")])
    assert side(book.bids.all()) == [("100", "1")]
    assert len(book.asks) == 0


# --------------------------------------------------------------------------- §5: non-zero sets


def test_nonzero_amount_sets_the_level() -> None:
    book = live_book()
    book.apply(update("2024-01-15T10:30:06Z", bids=[("100", "7.5"), ("99.5", "2")]))
    assert side(book.bids.all()) == [("100", "7.5"), ("99.5", "2")]
    assert book.bids.get(to_scaled("99.50")) == BookLevel("99.5", "2", to_scaled("99.5"), 2 * ONE)


@pytest.mark.parametrize(
    ("bids", "asks", "want_bids", "want_asks"),
    [
        ([("100", "5")], [], [("100", "5")], [("101", "1")]),
        ([], [("101", "5")], [("100", "1")], [("101", "5")]),
        ([], [], [("100", "1")], [("101", "1")]),
    ],
    ids=["only-bids", "only-asks", "empty-lists"],
)
def test_update_may_carry_only_bids_only_asks_or_nothing(
    bids: Pairs, asks: Pairs, want_bids: Pairs, want_asks: Pairs
) -> None:
    book = live_book()
    assert book.apply(update("2024-01-15T10:30:06Z", bids, asks))
    assert side(book.bids.all()) == want_bids
    assert side(book.asks.all()) == want_asks
    assert book.updates_applied == 1
    assert book.last_update_ns == parse_time("2024-01-15T10:30:06Z")


# --------------------------------------------------------------------------- §5: ordering


def test_bids_sort_descending_and_asks_ascending() -> None:
    book = live_book(
        bids=[("99", "1"), ("100.5", "1"), ("7", "1")], asks=[("300", "1"), ("101", "1")]
    )
    book.apply(
        update(
            "2024-01-15T10:30:06Z",
            bids=[("100", "2"), ("1000", "0"), ("99.99", "3")],
            asks=[("250", "1"), ("100.75", "1"), ("1000", "1")],
        )
    )
    assert [level.price for level in book.bids.all()] == ["100.5", "100", "99.99", "99", "7"]
    assert [level.price for level in book.asks.all()] == ["100.75", "101", "250", "300", "1000"]


# --------------------------------------------------------------------------- §5: synchronisation


def test_updates_before_the_snapshot_are_buffered_not_applied() -> None:
    book = Book("BTCUSD")
    assert state(book) is BookState.SYNCING
    assert not book.apply(update("2024-01-15T10:30:06Z", bids=[("100", "1")]))
    assert state(book) is BookState.SYNCING
    assert len(book.bids) == 0
    assert book.buffered == 1 and book.updates_buffered == 1
    assert book.updates_applied == 0 and book.last_update_ns == 0


def test_buffered_update_half_a_second_after_the_snapshot_applies() -> None:
    book = Book("BTCUSD")
    book.apply(update("2024-01-15T10:30:05.5Z", bids=[("100", "9")], asks=[("102", "1")]))
    book.apply(snapshot("2024-01-15T10:30:05Z", [("100", "1")], [("101", "1")]))
    assert state(book) is BookState.LIVE
    assert side(book.bids.all()) == [("100", "9")]
    assert side(book.asks.all()) == [("101", "1"), ("102", "1")]
    assert (book.updates_applied, book.updates_dropped, book.buffered) == (1, 0, 0)
    assert book.last_update_ns == parse_time("2024-01-15T10:30:05.5Z")


def test_buffered_update_exactly_at_the_snapshot_time_is_dropped() -> None:
    book = Book("BTCUSD")
    book.apply(update("2024-01-15T10:30:05.000000000Z", bids=[("100", "9")]))
    book.apply(snapshot("2024-01-15T10:30:05Z", [("100", "1")]))
    assert side(book.bids.all()) == [("100", "1")]
    assert (book.updates_applied, book.updates_dropped) == (0, 1)
    assert book.last_update_ns == parse_time(T)


def test_buffered_updates_before_the_snapshot_time_are_dropped() -> None:
    book = Book("BTCUSD")
    book.apply(update("2024-01-15T10:30:04.999999999Z", bids=[("100", "9")]))
    book.apply(update("2024-01-15T10:30:05.000000001Z", bids=[("99", "3")]))
    book.apply(update("2024-01-15T10:29:00Z", asks=[("101", "0")]))
    book.apply(snapshot(T, [("100", "1")], [("101", "1")]))
    assert side(book.bids.all()) == [("100", "1"), ("99", "3")]
    assert side(book.asks.all()) == [("101", "1")]
    assert (book.updates_applied, book.updates_dropped) == (1, 2)


def test_buffered_updates_apply_in_arrival_order_not_time_order() -> None:
    book = Book("BTCUSD")
    book.apply(update("2024-01-15T10:30:07Z", bids=[("100", "1")]))
    book.apply(update("2024-01-15T10:30:06Z", bids=[("100", "2")]))
    book.apply(snapshot(T))
    assert side(book.bids.all()) == [("100", "2")]
    assert book.updates_applied == 2


def test_times_are_compared_as_nanoseconds_not_strings() -> None:
    # As strings "...05Z" sorts after "...05.1Z"; as times it is 100 ms before.
    book = Book("BTCUSD")
    book.apply(update("2024-01-15T10:30:05Z", bids=[("1", "1")]))
    book.apply(update("2024-01-15T10:30:05.12345679Z", bids=[("2", "1")]))
    book.apply(update("2024-01-15T10:30:05.1234567Z", bids=[("3", "1")]))
    book.apply(update("2024-01-15T11:30:05.2+01:00", bids=[("4", "1")]))
    book.apply(snapshot("2024-01-15T10:30:05.123456789Z"))
    assert [level.price for level in book.bids.all()] == ["4", "2"]


def test_after_the_snapshot_every_update_applies_as_it_comes() -> None:
    book = live_book()
    # Live updates are not filtered by time, even one stamped before the snapshot.
    book.apply(update("2024-01-15T10:30:04Z", bids=[("100", "2")]))
    book.apply(update("2024-01-15T10:30:05Z", bids=[("99", "1")]))
    assert side(book.bids.all()) == [("100", "2"), ("99", "1")]
    assert (book.updates_applied, book.updates_dropped, book.buffered) == (2, 0, 0)


def test_second_snapshot_replaces_the_book_wholesale() -> None:
    book = live_book(bids=[("100", "1"), ("99", "1")], asks=[("101", "1")])
    book.apply(update("2024-01-15T10:30:06Z", bids=[("98", "1")]))
    book.apply(snapshot("2024-01-15T10:30:07Z", [("97", "4")], [("103", "2")]))
    assert side(book.bids.all()) == [("97", "4")]
    assert side(book.asks.all()) == [("103", "2")]
    assert book.snapshots == 2 and state(book) is BookState.LIVE


def test_markets_are_independent() -> None:
    store = BookStore()
    store.apply(snapshot(T, [("100", "1")], market="BTCUSD"))
    store.apply(update("2024-01-15T10:30:06Z", bids=[("100", "5")], market="ETHUSD"))
    store.apply(update("2024-01-15T10:30:06Z", bids=[("100", "2")], market="BTCUSD"))
    btc, eth = store.book("BTCUSD"), store.book("ETHUSD")
    assert side(btc.bids.all()) == [("100", "2")]
    assert state(eth) is BookState.SYNCING and eth.buffered == 1 and len(eth.bids) == 0
    assert store.take_dirty() == {"BTCUSD", "ETHUSD"}
    assert store.take_dirty() == set()


# --------------------------------------------------------------------------- buffer bound


def test_buffer_overflow_needs_resync_without_touching_other_markets() -> None:
    store = BookStore(buffer_limit=3)
    for i in range(3):
        store.apply(update(f"2024-01-15T10:30:0{6 + i}Z", bids=[("1", "1")], market="ETHUSD"))
        store.apply(update(f"2024-01-15T10:30:0{6 + i}Z", bids=[("1", "1")], market="BTCUSD"))
    btc = store.apply(update("2024-01-15T10:30:09.5Z", bids=[("1", "1")], market="BTCUSD"))
    assert btc.needs_resync and state(btc) is BookState.RESYNC
    assert "3" in btc.resync_reason
    assert btc.buffered == 0 and btc.updates_dropped == 4
    # Further updates are dropped, not buffered again.
    store.apply(update("2024-01-15T10:30:10Z", bids=[("1", "1")], market="BTCUSD"))
    assert btc.buffered == 0 and btc.updates_dropped == 5

    eth = store.book("ETHUSD")
    assert not eth.needs_resync and state(eth) is BookState.SYNCING and eth.buffered == 3
    store.apply(snapshot("2024-01-15T10:30:07Z", [("2", "1")], market="ETHUSD"))
    assert state(eth) is BookState.LIVE
    assert side(eth.bids.all()) == [("2", "1"), ("1", "1")]

    # The resync: reset, then a fresh SNAPSHOT makes it live again.
    store.reset("BTCUSD")
    assert state(btc) is BookState.SYNCING
    store.apply(snapshot("2024-01-15T10:30:11Z", [("5", "1")], market="BTCUSD"))
    assert state(btc) is BookState.LIVE and side(btc.bids.all()) == [("5", "1")]


def test_the_buffer_is_bounded_by_levels_not_only_by_updates() -> None:
    """Few UPDATEs of many levels (9,000 of 250 took 405 MiB) hit the level bound."""
    book = Book("BTCUSD", buffer_limit=1_000, buffer_levels=1_000)
    wide = [(str(100 + i), "1") for i in range(250)]
    for i in range(4):
        book.apply(update(f"2024-01-15T10:30:0{i}Z", bids=wide))
    assert book.buffered == 4 and not book.needs_resync
    book.apply(update("2024-01-15T10:30:05Z", bids=[("1", "1")]))  # 1,001 levels
    assert book.needs_resync and "held more than 1000 levels" in book.resync_reason
    assert book.buffered == 0 and book.updates_dropped == 5
    # The bound starts again with the next sync.
    book.reset()
    for i in range(4):
        book.apply(update(f"2024-01-15T10:30:1{i}Z", bids=wide))
    assert book.buffered == 4 and not book.needs_resync


def test_an_amount_with_more_decimals_than_held_names_the_level() -> None:
    """A valid decimal with 19 fraction digits: the error says which side, price and text,
    so a trader can check it against the exchange."""
    book = live_book()
    book.apply(update("2024-01-15T10:30:06Z", asks=[("101.5", "0.1234567890123456789")]))
    assert book.needs_resync
    assert book.resync_reason == (
        "unreadable UPDATE: BTCUSD ask at price '101.5': amount '0.1234567890123456789' has "
        "19 significant fraction digits; sordash holds 18 exactly"
    )
    # Trailing zeros past the 18th digit are the same number: held, not refused.
    book = live_book()
    book.apply(update("2024-01-15T10:30:06Z", asks=[("101.5", "0.1234567890123456780")]))
    assert not book.needs_resync
    assert book.asks.get(to_scaled("101.5")) is not None


# --------------------------------------------------------------------------- reset / stale


def test_reset_keeps_the_book_readable_but_stale_until_a_new_snapshot() -> None:
    store = BookStore()
    store.apply(snapshot(T, [("100", "1")], [("101", "2")]))
    store.take_dirty()
    store.reset("BTCUSD")
    book = store.book("BTCUSD")
    assert store.take_dirty() == {"BTCUSD"}
    assert state(book) is BookState.STALE and book.stale and not book.synced
    assert side(book.bids.all()) == [("100", "1")] and side(book.asks.all()) == [("101", "2")]

    # Updates after the reset belong to the next subscription: buffered, not applied.
    store.apply(update("2024-01-15T10:30:06Z", bids=[("100", "5")]))
    store.apply(update("2024-01-15T10:30:08Z", asks=[("101", "3")]))
    assert side(book.bids.all()) == [("100", "1")] and book.buffered == 2
    assert state(book) is BookState.STALE

    store.apply(snapshot("2024-01-15T10:30:07Z", [("99", "1")], [("102", "1")]))
    assert state(book) is BookState.LIVE and not book.stale
    assert side(book.bids.all()) == [("99", "1")]
    assert side(book.asks.all()) == [("101", "3"), ("102", "1")]


def test_reset_discards_the_buffer_and_counts_it_as_dropped() -> None:
    book = live_book()
    book.reset()
    book.apply(update("2024-01-15T10:30:08Z", bids=[("100", "5")]))
    book.reset()  # e.g. a second resubscribe before the snapshot landed
    book.apply(snapshot("2024-01-15T10:30:07Z", [("100", "1")]))
    assert side(book.bids.all()) == [("100", "1")]
    assert (book.updates_applied, book.updates_dropped, book.buffered) == (0, 1, 0)


def test_mark_stale_marks_every_book_and_keeps_them_readable() -> None:
    store = BookStore()
    store.apply(snapshot(T, [("100", "1")], market="BTCUSD"))
    store.apply(snapshot(T, [("10", "1")], market="ETHUSD"))
    store.apply(update(T, bids=[("1", "1")], market="LTCUSD"))  # never synced
    store.take_dirty()
    store.mark_stale()
    assert store.take_dirty() == {"BTCUSD", "ETHUSD", "LTCUSD"}
    assert state(store.book("BTCUSD")) is BookState.STALE
    assert state(store.book("ETHUSD")) is BookState.STALE
    assert side(store.book("ETHUSD").bids.all()) == [("10", "1")]
    # No data to be stale about: still just syncing, and its old buffer is gone.
    assert state(store.book("LTCUSD")) is BookState.SYNCING
    assert store.book("LTCUSD").buffered == 0
    store.apply(snapshot("2024-01-15T10:30:06Z", [("101", "1")], market="BTCUSD"))
    assert state(store.book("BTCUSD")) is BookState.LIVE
    assert state(store.book("ETHUSD")) is BookState.STALE


def test_reset_or_remove_of_an_unknown_market_is_harmless() -> None:
    store = BookStore()
    store.reset("NOPE")
    store.remove("NOPE")
    assert "NOPE" not in store and store.take_dirty() == set()
    store.apply(snapshot(T, market="BTCUSD"))
    store.remove("BTCUSD")
    assert "BTCUSD" not in store and store.get("BTCUSD") is None


# --------------------------------------------------------------------------- unreadable input


def test_unreadable_level_is_counted_and_flags_resync_never_raises() -> None:
    book = live_book()
    assert book.apply(update("2024-01-15T10:30:06Z", bids=[("abc", "1")]))
    assert book.errors == 1 and "abc" in book.last_error
    assert book.needs_resync and state(book) is BookState.RESYNC


@pytest.mark.parametrize(
    "amount",
    [
        "abc",
        "",
        ".",
        ".5",
        "-1",
        "+1",
        " 1",
        "1 ",
        "1_0",
        "1e3",
        "1.2.3",
        "\u00b2",
        "\uff11",
        "0x1",
    ],
)
def test_an_unreadable_amount_in_an_update_is_refused_not_guessed(amount: str) -> None:
    book = live_book()
    book.apply(update("2024-01-15T10:30:06Z", bids=[("99", amount)]))
    assert book.errors == 1 and repr(amount) in book.last_error
    assert book.bids.get(to_scaled("99")) is None and book.needs_resync


@pytest.mark.parametrize(
    ("amount", "units"),
    [
        ("5", 5 * ONE),
        ("5.", 5 * ONE),
        ("0.5", ONE // 2),
        ("00012.340", 12_340 * ONE // 1000),
        ("1.000000000000000001", ONE + 1),
        ("2.5000000000000000000000", 5 * ONE // 2),  # past 18 digits, only zeros
    ],
)
def test_update_amounts_are_exact_in_every_spelling(amount: str, units: int) -> None:
    book = live_book()
    book.apply(update("2024-01-15T10:30:06Z", asks=[("102", amount)]))
    level = book.asks.get(to_scaled("102"))
    assert book.errors == 0 and level is not None
    assert level.amount_units == units == to_scaled(amount) and level.amount == amount


def test_unreadable_snapshot_leaves_the_book_as_it_was() -> None:
    book = live_book()
    book.apply(snapshot("2024-01-15T10:30:06Z", [("99", "1")], [("102", "-1")]))
    assert side(book.bids.all()) == [("100", "1")] and side(book.asks.all()) == [("101", "1")]
    assert book.needs_resync and book.snapshots == 1


def test_unreadable_time_before_the_snapshot_is_counted() -> None:
    book = Book("BTCUSD")
    book.apply(update("yesterday", bids=[("1", "1")]))
    assert book.errors == 1 and "yesterday" in book.last_error and book.buffered == 0


# --------------------------------------------------------------------------- derived figures


def test_best_spread_mid_and_bps() -> None:
    book = live_book(bids=[("50000.00", "1.5"), ("49999.50", "2")], asks=[("50100.00", "2")])
    assert book.best_bid is not None and book.best_bid.price == "50000.00"
    assert book.best_ask is not None and book.best_ask.price == "50100.00"
    assert book.spread_units == 100 * ONE
    assert book.mid_units == 50_050 * ONE
    assert book.spread_bps == pytest.approx(100 * 10_000 / 50_050)
    assert not book.crossed and not book.locked


def test_mid_of_an_odd_number_of_units_is_exact_to_the_unit() -> None:
    book = live_book(bids=[("100.01", "1")], asks=[("100.02", "1")])
    assert book.mid_units == to_scaled("100.015")


def test_figures_are_none_on_an_empty_side() -> None:
    book = live_book(bids=[("100", "1")], asks=[])
    assert book.best_ask is None
    assert book.spread_units is None and book.mid_units is None and book.spread_bps is None
    assert not book.crossed and not book.locked
    assert book.imbalance(5) == 1.0
    empty = Book("X")
    assert empty.best_bid is None and empty.imbalance(5) is None and empty.top(3) == ([], [])


def test_crossed_book_is_flagged_not_repaired() -> None:
    book = live_book(bids=[("100", "1"), ("99", "1")], asks=[("101", "1")])
    book.apply(update("2024-01-15T10:30:06Z", bids=[("102", "1")]))
    assert book.crossed and not book.locked
    assert book.spread_units == -ONE
    assert [level.price for level in book.bids.all()] == ["102", "100", "99"]
    assert [level.price for level in book.asks.all()] == ["101"]


def test_locked_book_is_flagged() -> None:
    book = live_book(bids=[("100", "1")], asks=[("100.0", "2")])
    assert book.locked and not book.crossed and book.spread_units == 0
    assert book.spread_bps == 0.0


def test_cumulative_amounts_down_a_side() -> None:
    book = live_book(bids=[("100", "1.5"), ("99", "2.0"), ("98", "0.25")], asks=[])
    assert cumulative(book.bids.all()) == [to_scaled("1.5"), to_scaled("3.5"), to_scaled("3.75")]
    assert cumulative([]) == []


def test_imbalance_over_the_top_n_levels() -> None:
    book = live_book(bids=[("100", "3"), ("99", "1")], asks=[("101", "1"), ("102", "5")])
    assert book.imbalance(1) == pytest.approx((3 - 1) / (3 + 1))
    assert book.imbalance(2) == pytest.approx((4 - 6) / (4 + 6))
    assert book.imbalance(50) == book.imbalance(2)


def test_count_within_a_price_and_totals_of_a_rank_range() -> None:
    book = live_book(
        bids=[("100", "1"), ("99", "2"), ("98", "4")], asks=[("101", "1.5"), ("103", "0.5")]
    )
    # Bids at or above a price, asks at or below it; a price between levels counts inwards.
    assert [book.bids.count_within(to_scaled(p)) for p in ("101", "100", "98.5", "1")] == [
        0,
        1,
        2,
        3,
    ]
    assert [book.asks.count_within(to_scaled(p)) for p in ("100", "101", "102", "200")] == [
        0,
        1,
        1,
        2,
    ]
    # (amount, notional) of ranks start..stop, best first; notionals in 10**-36 units.
    assert book.bids.totals(1, 3) == (6 * ONE, (99 * 2 + 98 * 4) * ONE * ONE)
    assert book.bids.totals(0, 1) == (ONE, 100 * ONE * ONE)
    assert book.asks.totals(0, 2) == (2 * ONE, 203 * ONE * ONE)  # 151.5 + 51.5
    assert book.asks.totals(0, 99) == book.asks.totals(0, 2)
    assert book.asks.totals(2, 2) == (0, 0)


def test_top_n() -> None:
    bids = [(str(100 - i), str(i + 1)) for i in range(10)]
    asks = [(str(101 + i), "1") for i in range(10)]
    book = live_book(bids=bids[::-1], asks=asks[::-1])
    top_bids, top_asks = book.top(3)
    assert side(top_bids) == bids[:3] and side(top_asks) == asks[:3]
    assert top_bids[0] == BookLevel("100", "1", 100 * ONE, ONE)
    assert side(book.bids.top(50)) == bids
    assert book.top(0) == ([], [])
    book.apply(update("2024-01-15T10:30:06Z", bids=[("100", "0"), ("98", "0"), ("99.5", "7")]))
    assert [level.price for level in book.bids.top(3)] == ["99.5", "99", "97"]


def test_last_update_time_and_counts() -> None:
    book = Book("BTCUSD")
    book.apply(update("2024-01-15T10:30:04Z", bids=[("1", "1")]))
    book.apply(update("2024-01-15T10:30:06.25Z", bids=[("2", "1")]))
    book.apply(snapshot(T))
    assert book.last_update_ns == parse_time("2024-01-15T10:30:06.25Z")
    book.apply(update("2024-01-15T10:30:09.000000001Z", asks=[("3", "1")]))
    assert book.last_update_ns == parse_time("2024-01-15T10:30:09.000000001Z")
    assert (book.updates_buffered, book.updates_applied, book.updates_dropped) == (2, 2, 1)
    assert book.snapshots == 1


def test_group_levels_is_exact() -> None:
    bids = [("100.30", "0.1"), ("100.10", "0.2"), ("99.90", "1"), ("99.00", "2")]
    asks = [("100.40", "0.1"), ("100.50", "0.2"), ("100.51", "1")]
    book = live_book(bids=bids, asks=asks)
    half = to_scaled("0.5")
    grouped_bids = group_levels(book.bids.all(), half, is_bid=True)
    assert side(grouped_bids) == [("100", "0.3"), ("99.5", "1"), ("99", "2")]
    assert grouped_bids[0].amount_units == to_scaled("0.3")
    grouped_asks = group_levels(book.asks.all(), half, is_bid=False)
    assert side(grouped_asks) == [("100.5", "0.3"), ("101", "1")]
    assert side(group_levels(book.bids.all(), to_scaled("0.01"), is_bid=True)) == [
        ("100.3", "0.1"),
        ("100.1", "0.2"),
        ("99.9", "1"),
        ("99", "2"),
    ]
    with pytest.raises(ValueError):
        group_levels(book.bids.all(), 0, is_bid=True)


def test_group_levels_with_a_limit_is_the_first_buckets_whole() -> None:
    """A ladder asks for as many buckets as it shows: those must be complete, not cut."""
    bids = [("100.30", "0.1"), ("100.10", "0.2"), ("99.90", "1"), ("99.60", "3"), ("99.00", "2")]
    book = live_book(bids=bids, asks=[("101", "1")])
    half = to_scaled("0.5")
    everything = group_levels(book.bids.all(), half, is_bid=True)
    assert side(everything) == [("100", "0.3"), ("99.5", "4"), ("99", "2")]
    for limit in range(1, 5):
        assert group_levels(book.bids.iter(), half, is_bid=True, limit=limit) == everything[:limit]
    assert list(book.bids.iter()) == book.bids.all()


# --------------------------------------------------------------------------- property test

MARKETS = ("BTCUSD", "ETHUSD")
BASE_SECOND = parse_time("2024-01-15T10:30:00Z") // 10**9
PRICE_SPELLINGS = ("{}", "{}.0", "{}.00", "0{}.000000000")
AMOUNTS = ("0", "0.0", "0.00000000", "1", "1.5", "1.50", "2.25", "0.000000000000000001")


def spell_time(tick: int, style: int) -> str:
    """Tick ``tick`` (quarter seconds after 10:30:00Z) spelled in one of three styles."""
    seconds, quarter = divmod(tick, 4)
    frac = f"{quarter * 25:02d}" if quarter else ""
    if style == 0:  # Go style: trailing zeros trimmed
        return f"2024-01-15T10:30:{seconds:02d}" + (f".{frac.rstrip('0')}" if frac else "") + "Z"
    if style == 1:  # nine digits always
        return f"2024-01-15T10:30:{seconds:02d}.{quarter * 25:02d}0000000Z"
    return f"2024-01-15T11:30:{seconds:02d}" + (f".{frac}" if frac else "") + "+01:00"


@dataclass
class Event:
    kind: str  # "subscribe" | "disconnect" | "S" | "U"
    market: str = ""
    tick: int = 0
    style: int = 0
    bids: list[tuple[str, str]] = field(default_factory=list)
    asks: list[tuple[str, str]] = field(default_factory=list)

    def message(self) -> BookMessage:
        return msg(self.kind, spell_time(self.tick, self.style), self.bids, self.asks, self.market)


@dataclass
class RefBook:
    """The obviously-correct model: Decimal dicts, a list buffer, a time filter."""

    bids: dict[Decimal, Decimal] = field(default_factory=dict)
    asks: dict[Decimal, Decimal] = field(default_factory=dict)
    synced: bool = False
    stale: bool = False
    has_data: bool = False
    resync: bool = False
    buffer: list[Event] = field(default_factory=list)
    applied: int = 0

    def set_levels(self, event: Event) -> None:
        for book, levels in ((self.bids, event.bids), (self.asks, event.asks)):
            for price, amount in levels:
                if Decimal(amount) == 0:
                    book.pop(Decimal(price), None)
                else:
                    book[Decimal(price)] = Decimal(amount)
        self.applied += 1

    def on(self, event: Event, limit: int) -> None:
        if event.kind in ("subscribe", "disconnect"):
            self.synced, self.stale, self.resync, self.buffer = False, self.has_data, False, []
        elif event.kind == "S":
            self.bids = {Decimal(p): Decimal(a) for p, a in event.bids if Decimal(a) != 0}
            self.asks = {Decimal(p): Decimal(a) for p, a in event.asks if Decimal(a) != 0}
            self.synced, self.stale, self.resync, self.has_data = True, False, False, True
            for buffered in self.buffer:
                if buffered.tick > event.tick:  # strictly after the snapshot time
                    self.set_levels(buffered)
            self.buffer = []
        elif self.synced:
            self.set_levels(event)
        elif not self.resync:
            if len(self.buffer) >= limit:
                self.resync, self.buffer = True, []
            else:
                self.buffer.append(event)


levels_st = st.lists(
    st.tuples(st.integers(1, 4), st.sampled_from(PRICE_SPELLINGS), st.sampled_from(AMOUNTS)).map(
        lambda t: (t[1].format(t[0]), t[2])
    ),
    max_size=4,
)
book_event = st.builds(
    Event,
    kind=st.sampled_from(["S", "U", "U", "U", "U"]),
    market=st.sampled_from(MARKETS),
    tick=st.integers(0, 8),
    style=st.integers(0, 2),
    bids=levels_st,
    asks=levels_st,
)
control_event = st.builds(
    Event, kind=st.just("subscribe"), market=st.sampled_from(MARKETS)
) | st.just(Event("disconnect"))
# Long streams (hypothesis would otherwise average about five events): overflows, resets
# and same-price collisions in the buffer need a few dozen events to happen at all.
events_st = st.lists(book_event | control_event, min_size=20, max_size=80)


def as_dict(levels: Sequence[BookLevel]) -> dict[Decimal, Decimal]:
    return {Decimal(level.price): Decimal(level.amount) for level in levels}


def check_against_model(
    store: BookStore, model: dict[str, RefBook], received: Counter[str]
) -> None:
    assert set(store.books) == set(model)
    for market, ref in model.items():
        book = store.book(market)
        assert as_dict(book.bids.all()) == ref.bids
        assert as_dict(book.asks.all()) == ref.asks
        bid_prices = [level.price_units for level in book.bids.all()]
        ask_prices = [level.price_units for level in book.asks.all()]
        assert bid_prices == sorted(set(bid_prices), reverse=True)
        assert ask_prices == sorted(set(ask_prices))
        assert (book.synced, book.stale, book.needs_resync) == (ref.synced, ref.stale, ref.resync)
        assert book.buffered == len(ref.buffer)
        assert book.updates_applied == ref.applied
        # Every UPDATE received is applied, dropped, or still waiting in the buffer.
        assert book.updates_applied + book.updates_dropped + book.buffered == received[market]


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(events=events_st, limit=st.sampled_from([2, 4, 10_000]))
def test_store_matches_the_reference_model(events: list[Event], limit: int) -> None:
    store = BookStore(buffer_limit=limit)
    model: dict[str, RefBook] = {}
    received: Counter[str] = Counter()
    for event in events:
        if event.kind == "subscribe":
            store.reset(event.market)
            targets = [event.market] if event.market in model else []
        elif event.kind == "disconnect":
            store.mark_stale()
            targets = list(model)
        else:
            store.apply(event.message())
            targets = [event.market]
            model.setdefault(event.market, RefBook())
            received[event.market] += event.kind == "U"
        for market in targets:
            model[market].on(event, limit)
        # After every event, not only at the end: a later SNAPSHOT would hide earlier faults.
        check_against_model(store, model, received)
