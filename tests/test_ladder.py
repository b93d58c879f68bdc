"""The ladder's headless parts (``app/ladder.py``, ``app/volume.py``): a market's decimals
and tick, the fixed-tick window, bucketing onto its grid, notional and volume at price."""

from __future__ import annotations

from app.books import Book, BookLevel
from app.ladder import (
    FixedWindow,
    MarketPrecision,
    auto_multiple,
    fixed_rows,
    significant_places,
    window_levels,
)
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


# ------------------------------------------------------------------ the fixed-tick window

TICK = to_scaled("0.01")


def p(text: str) -> int:
    return to_scaled(text)


def test_the_window_centres_on_the_mid_then_stands_still() -> None:
    window = FixedWindow()
    assert window.follow(p("99.98"), p("100.02"), 11, TICK)
    assert window.top == p("100.05") and window.bottom == p("99.95")
    assert window.prices()[5] == p("100.00") and len(window.prices()) == 11
    # The touch moves about inside the window (clear of its two-row margins): nothing moves.
    for bid, ask in (("99.97", "100.01"), ("99.99", "100.03"), ("99.97", "99.98")):
        assert not window.follow(p(bid), p(ask), 11, TICK)
        assert window.top == p("100.05")


def test_the_window_recentres_when_the_touch_reaches_its_margin_or_leaves() -> None:
    window = FixedWindow()
    window.follow(p("99.98"), p("100.02"), 11, TICK)
    assert window.margin == 2
    assert window.follow(p("100.00"), p("100.04"), 11, TICK), "the ask two rows from the top"
    assert window.top == p("100.07"), "centred on the new mid, 100.02"
    assert window.follow(p("99.10"), p("99.14"), 11, TICK), "the touch left the window"
    assert window.top == p("99.17")


def test_a_spread_wider_than_the_window_keeps_the_mid_inside() -> None:
    window = FixedWindow()
    window.follow(p("99.00"), p("101.00"), 11, TICK)
    assert window.top == p("100.05")
    assert not window.follow(p("99.02"), p("101.00"), 11, TICK), "the mid moved one tick"
    assert not window.follow(p("99.08"), p("101.00"), 11, TICK), "in the margin: no matter"
    assert window.follow(p("99.20"), p("101.00"), 11, TICK), "the mid left the window"
    assert window.top == p("100.15")


def test_one_side_empty_centres_on_the_other() -> None:
    window = FixedWindow()
    window.follow(None, p("100.02"), 5, TICK)
    assert window.top == p("100.04") and window.bottom == p("100.00")
    assert not window.follow(None, None, 5, TICK), "an empty book leaves it where it was"


def test_the_window_moves_on_request_and_with_its_size_or_step() -> None:
    window = FixedWindow()
    window.follow(p("99.98"), p("100.02"), 11, TICK)
    window.follow(p("99.99"), p("100.03"), 11, TICK)  # held at 100.05
    window.recentre()
    assert window.follow(p("99.99"), p("100.03"), 11, TICK)
    assert window.top == p("100.06"), "centred on 100.01"
    assert window.follow(p("99.99"), p("100.03"), 5, TICK) and window.top == p("100.03")
    assert window.follow(p("99.99"), p("100.03"), 5, p("1")) and window.top == p("102")


def test_rows_and_prices_of_the_window() -> None:
    window = FixedWindow(rows=5, step=TICK, top=p("100.04"))
    assert window.row_of(p("100.04")) == 0 and window.row_of(p("100.00")) == 4
    assert window.row_of(p("99.99")) is None and window.row_of(p("100.05")) is None
    assert window.row_of(p("100.015")) is None, "not on the grid"
    assert window.price_at(2) == p("100.02")
    assert window.snap(p("100.015")) == p("100.01") and window.snap(p("100.016")) == p("100.02")


def test_levels_are_bucketed_onto_the_grid_up_to_the_edge() -> None:
    asks = [lv("100.02", "1"), lv("100.03", "2"), lv("100.25", "4"), lv("101.5", "8")]
    on_grid = window_levels(asks, TICK, False, p("100.10"))
    assert on_grid == asks[:2], "kept as they are, cut at the window's top"
    assert on_grid[0] is asks[0]
    off: list[BookLevel] = []
    grouped = window_levels(asks, p("0.10"), False, p("101.00"), off)
    assert [(g.price_units, g.amount_units) for g in grouped] == [
        (p("100.10"), p("3")),
        (p("100.30"), p("4")),
    ], "asks round up into their bucket, summed exactly"
    assert off == asks[:3]
    bids = [lv("99.98", "1"), lv("99.91", "2"), lv("99.89", "3")]
    grouped = window_levels(bids, p("0.10"), True, p("99.00"))
    assert [(g.price_units, g.amount_units) for g in grouped] == [
        (p("99.90"), p("3")),
        (p("99.80"), p("3")),
    ], "bids round down"


def test_fixed_rows_lay_every_price_out_with_running_totals() -> None:
    window = FixedWindow()
    window.follow(p("99.98"), p("100.01"), 7, TICK)  # mid 99.995 -> 99.99: 100.02 .. 99.96
    bids = [lv("99.98", "1"), lv("99.96", "2")]
    asks = [lv("100.01", "3"), lv("100.02", "4")]
    rows = fixed_rows(window, bids, asks)
    assert [r.price_units for r in rows] == [
        p(x) for x in ("100.02", "100.01", "100.00", "99.99", "99.98", "99.97", "99.96")
    ]
    shown = [(r.level is not None, r.is_bid, r.total_units, r.best) for r in rows]
    assert shown == [
        (True, False, p("7"), False),
        (True, False, p("3"), True),
        (False, False, 0, False),  # empty, above the mid: an ask's row
        (False, True, 0, False),  # empty, at or below the mid
        (True, True, p("1"), True),
        (False, True, 0, False),
        (True, True, p("3"), False),
    ]


# ------------------------------------------------------------------ the automatic grid

TICK = to_scaled("0.01")


def ticks(n: int) -> int:
    return n * TICK


def test_the_tick_while_the_spread_fits_three_quarters_of_the_windows_inner_rows() -> None:
    # 31 rows, two rows of margin each end: 26 inner rows between the margins.
    assert auto_multiple(ticks(4), TICK, 31) == 1
    assert auto_multiple(ticks(19), TICK, 31) == 1, "19 of 26 rows: the tick holds"
    assert auto_multiple(ticks(20), TICK, 31) == 2, "then the spread takes half at 2 ticks"
    assert auto_multiple(ticks(404), TICK, 31) == 50, "404 / 13 = 31.1 ticks: 50, not 20"


def test_the_step_is_the_finest_of_one_two_five_leaving_the_spread_half_the_window() -> None:
    steps = [auto_multiple(ticks(n), TICK, 31) for n in (20, 27, 60, 131, 260, 1301)]
    assert steps == [2, 5, 5, 20, 20, 200]


def test_a_spread_near_a_boundary_keeps_its_step() -> None:
    """At 2 ticks the step holds while the spread takes three quarters of the inner rows
    (39 ticks), and returns to the tick only once it takes a quarter of them at the tick."""
    current = auto_multiple(ticks(20), TICK, 31)
    assert current == 2
    for n in (19, 13, 8, 7, 30, 39):
        assert auto_multiple(ticks(n), TICK, 31, current) == 2, f"{n} ticks: holds at 2"
    assert auto_multiple(ticks(6), TICK, 31, current) == 1, "6 ticks <= 26 / 4: the tick"
    assert auto_multiple(ticks(40), TICK, 31, current) == 5, "beyond three quarters: coarser"


def test_nothing_to_measure_keeps_the_step() -> None:
    assert auto_multiple(0, TICK, 31, 5) == 5, "a locked book"
    assert auto_multiple(-ticks(3), TICK, 31, 5) == 5, "a crossed book"
    assert auto_multiple(ticks(100), TICK, 1, 2) == 2, "one row: nothing between the sides"
    assert auto_multiple(ticks(100), 0, 31) == 1, "no tick known"
