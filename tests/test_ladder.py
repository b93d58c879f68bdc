"""The ladder's headless parts (``app/ladder.py``, ``app/volume.py``): a market's decimals
and tick, the fixed-tick window, bucketing onto its grid, notional and volume at price."""

from __future__ import annotations

from app.books import Book, BookLevel
from app.ladder import MarketPrecision, significant_places
from app.protocol import BookMessage, Execution, Level, to_scaled
from app.tape import MarketTape, Side
from app.volume import VolumeAtPrice


def lv(price: str, amount: str = "1") -> BookLevel:
    return BookLevel(price, amount, to_scaled(price), to_scaled(amount))


def book_of(bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> Book:
    book = Book("BTCUSD")
    book.apply(
        BookMessage(
            "BTCUSD",
            "SNAPSHOT",
            "2024-01-15T10:30:00Z",
            [Level(p, a) for p, a in bids],
            [Level(p, a) for p, a in asks],
        )
    )
    return book


# ------------------------------------------------------------------ precision


def test_significant_places_ignore_trailing_zeros() -> None:
    assert significant_places(to_scaled("50000")) == 0
    assert significant_places(to_scaled("50000.10")) == 1
    assert significant_places(to_scaled("0.00000001")) == 8
    assert significant_places(to_scaled("1.000000000000000001")) == 18


def test_precision_grows_and_never_shrinks() -> None:
    precision = MarketPrecision()
    precision.see([lv("100.5", "0.25")])
    assert (precision.price_places, precision.amount_places) == (1, 2)
    precision.see([lv("100", "3"), lv("100.000", "2.0")])  # shorter: nothing shrinks
    assert (precision.price_places, precision.amount_places) == (1, 2)
    precision.see([lv("100.25", "0.125")])
    assert (precision.price_places, precision.amount_places) == (2, 3)
    assert precision.price_max == to_scaled("100.5")
    assert precision.amount_max == to_scaled("3")


def test_the_tick_is_the_grid_every_price_lies_on() -> None:
    precision = MarketPrecision()
    assert precision.tick_units == to_scaled("1")  # nothing seen: whole units
    precision.see([lv("100.5")])
    assert precision.tick_units == to_scaled("0.1"), "one price: its last decimal place"
    precision.see([lv("101.0"), lv("102.5")])
    assert precision.tick_units == to_scaled("0.5"), "quoted in halves, not tenths"
    precision.see([lv("102.25")])
    assert precision.tick_units == to_scaled("0.25"), "only ever finer"
    precision.see([lv("103")])
    assert precision.tick_units == to_scaled("0.25")


def test_a_snapshot_is_read_whole_once() -> None:
    book = book_of(
        [("99.99", "0.5"), ("99.50", "12.125")],
        [("100.01", "2"), ("250.00", "1")],
    )
    precision = MarketPrecision()
    assert precision.see_book(book)
    assert not precision.see_book(book), "the same snapshot is not read again"
    assert (precision.price_places, precision.amount_places) == (2, 3)
    assert precision.tick_units == to_scaled("0.01")
    assert precision.side_total_max == to_scaled("12.625")
    assert precision.notional_max == to_scaled("1206.4375")  # 99.50 x 12.125


# ------------------------------------------------------------------ volume at price


def execution(price: str, amount: str, at: str) -> Execution:
    return Execution("BTCUSD", price, amount, f"2024-01-15T10:30:{at}Z")


def test_volume_at_price_follows_the_tape_by_inferred_side() -> None:
    book = book_of([("99", "1")], [("101", "1")])
    tape = MarketTape("BTCUSD", limit=3)
    volume = VolumeAtPrice()
    tape.add(execution("101", "0.5", "01"), book)  # at the ask: a buy
    tape.add(execution("99", "0.25", "02"), book)  # at the bid: a sell
    assert volume.follow(tape) == 2
    assert volume.follow(tape) == 0, "nothing new"
    tape.add(execution("101", "1.5", "04"), book)
    tape.add(execution("99", "1", "03"), book)  # late: inserted before the last one
    assert volume.follow(tape) == 2
    assert volume.between(to_scaled("101"), to_scaled("101")) == (to_scaled("2"), 0)
    assert volume.between(to_scaled("99"), to_scaled("99")) == (0, to_scaled("1.25"))
    assert volume.between(to_scaled("98"), to_scaled("102")) == (to_scaled("2"), to_scaled("1.25"))
    assert volume.between(to_scaled("99.5"), to_scaled("100.5")) == (0, 0)
    assert volume.missed == 0


def test_volume_at_price_counts_what_the_tape_no_longer_kept() -> None:
    book = book_of([("99", "1")], [("101", "1")])
    tape = MarketTape("BTCUSD", limit=2)
    volume = VolumeAtPrice()
    for second in range(5):  # five trades between two looks; the tape keeps two
        tape.add(execution("101", "1", f"{second:02d}"), book)
    assert volume.follow(tape) == 2
    assert volume.missed == 3
    assert volume.between(0, to_scaled("1000")) == (to_scaled("2"), 0)
    restored = MarketTape("BTCUSD", limit=2)  # a replay's seek: another tape, held anew
    restored.restore(tape.state())
    volume.follow(restored)
    assert volume.between(0, to_scaled("1000")) == (to_scaled("2"), 0)


def test_a_trade_of_unknown_side_is_in_neither_column() -> None:
    volume = VolumeAtPrice()
    volume.add(to_scaled("100"), to_scaled("1"), Side.UNKNOWN)
    assert volume.between(0, to_scaled("1000")) == (0, 0)
    assert volume.unknown_units == to_scaled("1")
