"""Cost to fill and depth bands: small books worked out by hand, then property tests against
brute-force references written here with ``Decimal`` and ``Fraction`` over fully sorted
levels (the code under test walks the book's own sorted sides and integer units)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.books import Book
from app.fills import (
    DepthBand,
    FillCost,
    FillSize,
    OrderSide,
    SizeKind,
    band_amounts,
    cost_to_fill,
    depth_bands,
    lot_units,
)
from app.protocol import ONE, BookMessage, Level, to_scaled

BUY, SELL = OrderSide.BUY, OrderSide.SELL
Pairs = Sequence[tuple[str, str]]


def book_of(bids: Pairs, asks: Pairs) -> Book:
    book = Book("BTCUSD")
    book.apply(
        BookMessage(
            "BTCUSD",
            "SNAPSHOT",
            "2024-01-15T10:30:05Z",
            [Level(p, a) for p, a in bids],
            [Level(p, a) for p, a in asks],
        )
    )
    return book


def u(text: str) -> int:
    """A decimal in 10**-18 units."""
    return to_scaled(text)


def n(text: str) -> int:
    """A notional in 10**-36 units."""
    return to_scaled(text) * ONE


# mid = (99 + 101) / 2 = 100
BOOK = book_of(
    bids=[("99", "1"), ("98", "2"), ("95", "3")], asks=[("101", "1"), ("102", "2"), ("105", "1")]
)


def fill(side: OrderSide, size: FillSize, lot: str | None = None) -> FillCost:
    return cost_to_fill(BOOK, side, size, u(lot) if lot else 1)


# --------------------------------------------------------------------------- base sizes


def test_buy_walks_the_asks_best_first() -> None:
    # 2 BTC: 1 at 101 + 1 at 102 = 203; average 101.5; (101.5 - 100) / 100 = 150 bps.
    cost = fill(BUY, FillSize.base("2"))
    assert cost.complete and not cost.too_thin
    assert (cost.filled_amount, cost.filled_notional) == (u("2"), n("203"))
    assert cost.levels == 2 and cost.worst_price == u("102")
    assert cost.average_price_units == Fraction(u("101.5"))
    assert cost.average_price_rounded(2) == Decimal("101.50")
    assert cost.slippage_bps == 150
    assert cost.mid_x2 == u("200")


def test_sell_walks_the_bids_and_slippage_below_the_mid_is_positive() -> None:
    # 2.5 BTC: 1 at 99 + 1.5 at 98 = 99 + 147 = 246; average 98.4; (100 - 98.4) / 100 = 160.
    cost = fill(SELL, FillSize.base("2.5"))
    assert cost.complete
    assert (cost.filled_amount, cost.filled_notional) == (u("2.5"), n("246"))
    assert cost.levels == 2 and cost.worst_price == u("98")
    assert cost.average_price_units == Fraction(u("98.4"))
    assert cost.slippage_bps == 160


def test_a_size_ending_on_a_level_boundary_takes_no_more_levels() -> None:
    cost = fill(BUY, FillSize.base("1"))
    assert cost.levels == 1 and cost.worst_price == u("101") and cost.slippage_bps == 100
    # The whole side exactly (1 + 2 + 1 = 4, 101 + 204 + 105 = 410) is a fill, not too thin.
    whole = fill(BUY, FillSize.base("4"))
    assert whole.complete and whole.levels == 3 and whole.filled_notional == n("410")


def test_too_thin_carries_the_fillable_part() -> None:
    # Asks hold 4 BTC for 410: average 102.5, 250 bps, every level, worst 105.
    cost = fill(BUY, FillSize.base("5"))
    assert cost.too_thin and not cost.complete
    assert (cost.filled_amount, cost.filled_notional) == (u("4"), n("410"))
    assert cost.levels == 3 and cost.worst_price == u("105")
    assert cost.average_price_units == Fraction(u("102.5")) and cost.slippage_bps == 250


def test_an_empty_side_fills_nothing_and_says_too_thin() -> None:
    book = book_of(bids=[], asks=[("101", "1")])
    cost = cost_to_fill(book, SELL, FillSize.base("1"))
    assert cost.too_thin and cost.filled_amount == 0 and cost.levels == 0
    assert cost.worst_price is None and cost.mid_x2 is None
    assert cost.average_price_units is None and cost.average_price_rounded(2) is None
    assert cost.slippage_bps is None and cost.slippage_bps_rounded() is None


def test_without_a_mid_the_fill_is_costed_but_has_no_slippage() -> None:
    book = book_of(bids=[], asks=[("101", "1")])
    cost = cost_to_fill(book, BUY, FillSize.base("0.5"))
    assert cost.complete and cost.average_price_units == Fraction(u("101"))
    assert cost.slippage_bps is None


def test_a_crossed_book_is_costed_as_it_is() -> None:
    # Bid 102 over ask 101: mid 101.5; buying 1 at 101 is 0.5 / 101.5 * 10**4 bps better.
    book = book_of(bids=[("102", "1")], asks=[("101", "1")])
    cost = cost_to_fill(book, BUY, FillSize.base("1"))
    assert cost.slippage_bps == Fraction(-10_000, 203)
    assert cost.slippage_bps_rounded(2) == Decimal("-49.26")  # up: -49.2610... -> -49.26


# --------------------------------------------------------------------------- notional sizes


def test_notional_takes_the_last_level_in_part_exactly() -> None:
    # 152 USD: 1 at 101 (51 left), then 51 / 102 = 0.5 at 102. 1.5 BTC for 152.
    cost = fill(BUY, FillSize.notional("152"), lot="0.01")
    assert cost.complete and cost.levels == 2 and cost.worst_price == u("102")
    assert (cost.filled_amount, cost.filled_notional) == (u("1.5"), n("152"))
    # 152 / 1.5 = 101.333...: exact, and shown rounded up for a buy.
    assert cost.average_price_units == Fraction(u("152"), 1) / Fraction(3, 2)
    assert cost.average_price_rounded(2) == Decimal("101.34")
    # (101.333... - 100) / 100 * 10**4 = 133.333... bps, shown rounded up.
    assert cost.slippage_bps == Fraction(400, 3)
    assert cost.slippage_bps_rounded(2) == Decimal("133.34")


def test_notional_rounds_the_last_level_down_to_whole_lots() -> None:
    # 150 USD: 1 at 101 (49 left); 49 / 102 = 0.4803... -> 0.48 lots of 0.01 = 48.96.
    # 1.48 BTC for 149.96; 0.04 USD stays unspent, less than one lot at 102 (1.02).
    cost = fill(BUY, FillSize.notional("150"), lot="0.01")
    assert cost.complete
    assert (cost.filled_amount, cost.filled_notional) == (u("1.48"), n("149.96"))
    assert cost.filled_notional_units == u("149.96")


def test_a_sell_average_is_rounded_down() -> None:
    # 150 USD: 1 at 99 (51 left); 51 / 98 = 0.5204... -> 0.520 (lot 0.001) = 50.96.
    # 1.52 BTC for 149.96: average 98.65789..., shown 98.65 (down for a sell, not 98.66);
    # slippage (100 - 98.65789...) / 100 * 10**4 = 134.2105... bps, shown 134.22 (up).
    cost = fill(SELL, FillSize.notional("150"), lot="0.001")
    assert (cost.filled_amount, cost.filled_notional) == (u("1.52"), n("149.96"))
    assert cost.average_price_rounded(2) == Decimal("98.65")
    assert cost.slippage_bps == Fraction(2550, 19)  # 2.04 / 1.52 * 100
    assert cost.slippage_bps_rounded(2) == Decimal("134.22")


def test_without_a_lot_the_notional_is_spent_to_the_books_own_scale() -> None:
    # 49 / 102 = 0.48039215686274509803... -> 0.480392156862745098 (18 places, down).
    cost = fill(BUY, FillSize.notional("150"))
    assert cost.filled_amount == u("1.480392156862745098")
    assert n("150") - cost.filled_notional < 102 * ONE  # less than one unit at 102 is left


def test_a_notional_below_one_lot_fills_nothing_but_is_not_too_thin() -> None:
    cost = fill(BUY, FillSize.notional("1"), lot="0.1")  # one lot at 101 costs 10.1
    assert cost.complete and cost.filled_amount == 0 and cost.levels == 0
    assert cost.worst_price is None and cost.average_price_units is None


def test_a_notional_the_book_cannot_hold_is_too_thin() -> None:
    cost = fill(SELL, FillSize.notional("1000"))  # bids hold 99 + 196 + 285 = 580
    assert cost.too_thin and cost.filled_notional == n("580") and cost.filled_amount == u("6")
    exact = fill(SELL, FillSize.notional("580"))
    assert exact.complete and exact.levels == 3


def test_sizes_parse_exactly_and_refuse_what_is_not_a_size() -> None:
    assert FillSize.base("0.5") == FillSize(SizeKind.BASE, u("0.5"), "0.5")
    assert FillSize.notional("10000").units == 10_000 * ONE
    for bad in ("0", "0.000", "-1", "1e3", "abc", ""):
        with pytest.raises(ValueError):
            FillSize.base(bad)
    with pytest.raises(ValueError, match="lot"):
        cost_to_fill(BOOK, BUY, FillSize.base("1"), lot_units=0)


def test_lot_is_guessed_from_the_finest_amount_spelling() -> None:
    book = book_of(bids=[("99", "1.5")], asks=[("101", "0.25000000")])
    assert lot_units(book) == u("0.00000001")
    assert lot_units(Book("EMPTY")) == 1


# --------------------------------------------------------------------------- depth bands

# mid 100: 10 bps is 99.9-100.1, 50 bps 99.5-100.5 (edges included), 100 bps 99-101.
BANDS_BOOK = book_of(
    bids=[("99.95", "1"), ("99.5", "2"), ("99.49", "0.5"), ("99", "3"), ("90", "4")],
    asks=[("100.05", "1"), ("100.5", "2"), ("101", "5"), ("110", "1")],
)


def test_depth_bands_by_hand() -> None:
    bands = depth_bands(BANDS_BOOK)
    assert bands == [
        # 10: 99.95 x1 | 100.05 x1
        DepthBand(10, u("1"), u("1"), n("99.95"), n("100.05"), 1, 1),
        # 50: + 99.5 x2 (on the edge: in) | + 100.5 x2 (on the edge); 99.49 is out
        DepthBand(50, u("3"), u("3"), n("298.95"), n("301.05"), 2, 2),
        # 100: + 99.49 x0.5 (49.745) + 99 x3 (297) | + 101 x5 (505); 90 and 110 are out
        DepthBand(100, u("6.5"), u("8"), n("645.695"), n("806.05"), 4, 3),
    ]
    assert bands[0].imbalance == 0.0
    assert bands[2].imbalance == pytest.approx((6.5 - 8) / 14.5)


def test_a_band_edge_between_two_units_is_rounded_inwards() -> None:
    # mid = (100 + 100.000000000000000001) / 2 = 100.0000000000000000005: the 10 bps edges
    # fall between units, at 99.9000000000000000004995 and 100.1000000000000000005005.
    book = book_of(
        bids=[("100", "1"), ("99.900000000000000001", "2"), ("99.9", "4")],
        asks=[("100.000000000000000001", "1"), ("100.1", "2"), ("100.100000000000000001", "4")],
    )
    bands = depth_bands(book, (10,))
    assert bands is not None and (bands[0].bid_amount, bands[0].ask_amount) == (u("3"), u("3"))


def test_depth_bands_are_sorted_once_each_and_need_a_mid() -> None:
    bands = depth_bands(BANDS_BOOK, (100, 10, 10, 50))
    assert bands is not None and [band.bps for band in bands] == [10, 50, 100]
    assert depth_bands(book_of(bids=[("99", "1")], asks=[])) is None
    with pytest.raises(ValueError):
        depth_bands(BANDS_BOOK, (0, 10))
    with pytest.raises(ValueError):
        depth_bands(BANDS_BOOK, ())


def test_an_empty_band_has_no_imbalance() -> None:
    bands = depth_bands(book_of(bids=[("90", "1")], asks=[("110", "1")]), (10,))
    assert bands == [DepthBand(10, 0, 0, 0, 0, 0, 0)] and bands[0].imbalance is None


# --------------------------------------------------------------------------- property tests


def side_levels(book: Book, side: OrderSide) -> list[tuple[Decimal, Decimal]]:
    """The side a fill takes, sorted here from scratch (not the book's order), best first."""
    levels = book.asks.all() if side is BUY else book.bids.all()
    pairs = [(Decimal(level.price), Decimal(level.amount)) for level in levels]
    return sorted(pairs, reverse=side is SELL)


def ref_base(levels: list[tuple[Decimal, Decimal]], size: Decimal) -> tuple[Decimal, Decimal, int]:
    """(amount, notional, levels) of ``size`` by the definition: each level gives what is
    still wanted, up to its amount."""
    amount = notional = Decimal(0)
    touched = 0
    for price, available in levels:
        take = min(available, max(size - amount, Decimal(0)))
        if take > 0:
            touched += 1
        amount += take
        notional += price * take
    return amount, notional, touched


def ref_notional(
    levels: list[tuple[Decimal, Decimal]], size: Decimal, lot: Decimal
) -> tuple[Decimal, Decimal, int]:
    """The most whole lots whose cost is at most ``size``, found by bisection over
    :func:`ref_base` (amounts are whole lots, so every partial sum is too)."""
    low, high = 0, int(sum(a for _, a in levels) / lot)
    while low < high:
        mid = (low + high + 1) // 2
        if ref_base(levels, mid * lot)[1] <= size:
            low = mid
        else:
            high = mid - 1
    return ref_base(levels, low * lot)


PLACES = st.sampled_from([(0, 0), (2, 8), (1, 3), (5, 2)])  # (price places, amount places)


@st.composite
def books(draw: st.DrawFn) -> tuple[Book, int]:
    """A random book on a random tick and lot (possibly one-sided or crossed) and its lot
    in 10**-18 units."""
    price_places, amount_places = draw(PLACES)

    def levels(first: int, step: int) -> list[tuple[str, str]]:
        if draw(st.integers(0, 9)) == 5:  # not 0: hypothesis draws the ends more often
            return []  # a one-sided (or empty) book a tenth of the time per side
        offsets = draw(st.lists(st.integers(0, 40), min_size=1, max_size=12, unique=True))
        lots = [draw(st.integers(1, 50 * 10**amount_places)) for _ in offsets]  # up to 50
        return [
            (
                format(Decimal(first + step * o).scaleb(-price_places), "f"),
                format(Decimal(k).scaleb(-amount_places), "f"),
            )
            for o, k in zip(offsets, lots, strict=True)
        ]

    centre = draw(st.integers(400, 100_000))
    # Bids shifted up into the asks (a crossed or locked book) a quarter of the time.
    shift = draw(st.integers(1, 20)) if draw(st.integers(0, 3)) == 2 else 0
    bids = levels(centre + shift, -1)
    asks = levels(centre + 1, 1)
    return book_of(bids, asks), 10 ** (18 - amount_places)


def units_of(value: Decimal) -> int:
    return int(value.scaleb(18))


@settings(max_examples=300, deadline=None)
@given(
    book_lot=books(),
    side=st.sampled_from([BUY, SELL]),
    percent=st.integers(1, 130),
)
def test_base_sizes_match_the_brute_force_reference(
    book_lot: tuple[Book, int], side: OrderSide, percent: int
) -> None:
    book, lot = book_lot
    levels = side_levels(book, side)
    # A size from a lot to 130 % of the side (too thin past 100 %), in whole lots or not.
    size = max(sum((a for _, a in levels), Decimal(0)) * percent / 100, Decimal(lot) / ONE)
    cost = cost_to_fill(book, side, FillSize.base(format(size, "f")))
    ref = amount, notional, touched = ref_base(levels, size)
    assert cost.filled_amount == units_of(amount)
    assert cost.filled_notional == units_of(notional) * ONE
    assert cost.levels == touched
    assert cost.too_thin == (sum(a for _, a in levels) < size)
    check_figures(book, side, cost, levels, ref)


@settings(max_examples=300, deadline=None)
@given(
    book_lot=books(),
    side=st.sampled_from([BUY, SELL]),
    percent=st.integers(0, 130),
)
def test_notional_sizes_match_the_brute_force_reference(
    book_lot: tuple[Book, int], side: OrderSide, percent: int
) -> None:
    book, lot = book_lot
    levels = side_levels(book, side)
    # To the cent, from 0.01 (often less than a lot) to 130 % of the side's notional.
    whole = sum((p * a for p, a in levels), Decimal(0)) * percent / 100
    size = max(whole.quantize(Decimal("0.01")), Decimal("0.01"))
    cost = cost_to_fill(book, side, FillSize.notional(format(size, "f")), lot)
    ref = amount, notional, touched = ref_notional(levels, size, Decimal(lot) / ONE)
    assert cost.filled_amount == units_of(amount)
    assert cost.filled_notional == units_of(notional) * ONE
    assert cost.levels == touched
    assert cost.too_thin == (sum(p * a for p, a in levels) < size)
    check_figures(book, side, cost, levels, ref)


def check_figures(
    book: Book,
    side: OrderSide,
    cost: FillCost,
    levels: list[tuple[Decimal, Decimal]],
    ref: tuple[Decimal, Decimal, int],
) -> None:
    """Worst price, average and slippage from the reference's own figures."""
    amount, notional, touched = ref
    assert cost.worst_price == (units_of(levels[touched - 1][0]) if touched else None)
    if not cost.filled_amount:
        assert cost.average_price_units is None and cost.slippage_bps is None
        return
    average = Fraction(notional) / Fraction(amount)
    assert cost.average_price_units == average * ONE
    bids, asks = book.bids.all(), book.asks.all()
    if not bids or not asks:
        assert cost.slippage_bps is None
        return
    best_bid = max(Fraction(Decimal(level.price)) for level in bids)
    best_ask = min(Fraction(Decimal(level.price)) for level in asks)
    mid = (best_bid + best_ask) / 2
    worse = average - mid if side is BUY else mid - average
    assert cost.slippage_bps == worse / mid * 10_000
    shown = cost.slippage_bps_rounded(2)
    assert shown is not None and 0 <= Fraction(shown) - worse / mid * 10_000 < Fraction(1, 100)
    price = cost.average_price_rounded(3)
    assert price is not None and abs(Fraction(price) - average) < Fraction(1, 1000)
    assert (Fraction(price) >= average) if side is BUY else (Fraction(price) <= average)


@settings(max_examples=300, deadline=None)
@given(
    book_lot=books(),
    bands=st.lists(st.integers(1, 10_000), min_size=1, max_size=4),
)
def test_depth_bands_match_the_brute_force_reference(
    book_lot: tuple[Book, int], bands: list[int]
) -> None:
    book, _ = book_lot
    got = depth_bands(book, bands)
    amounts = band_amounts(book, sorted(set(bands)))
    assert amounts == (None if got is None else [(b.bid_amount, b.ask_amount) for b in got])
    bids = [(Fraction(Decimal(lv.price)), Fraction(Decimal(lv.amount))) for lv in book.bids.all()]
    asks = [(Fraction(Decimal(lv.price)), Fraction(Decimal(lv.amount))) for lv in book.asks.all()]
    if not bids or not asks:
        assert got is None
        return
    mid = (max(p for p, _ in bids) + min(p for p, _ in asks)) / 2
    want = []
    for bps in sorted(set(bands)):
        # A bid above the mid (a crossed book) is nearer than the band's edge: it is in.
        inside_bids = [(p, a) for p, a in bids if (mid - p) * 10_000 <= bps * mid]
        inside_asks = [(p, a) for p, a in asks if (p - mid) * 10_000 <= bps * mid]
        want.append(
            DepthBand(
                bps,
                int(sum(a for _, a in inside_bids) * ONE),
                int(sum(a for _, a in inside_asks) * ONE),
                int(sum(p * a for p, a in inside_bids) * ONE * ONE),
                int(sum(p * a for p, a in inside_asks) * ONE * ONE),
                len(inside_bids),
                len(inside_asks),
            )
        )
    assert got == want
