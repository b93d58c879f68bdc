"""How a tape is shown, computed headless: the minimum size, aggregation of the prints of one
``executed_at`` at one price, the window scrolled back (anchored) or following, and the
session high and low."""

from __future__ import annotations

from collections import defaultdict

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.events import ConnectionChanged, ConnectionState
from app.protocol import ONE, Execution, to_scaled
from app.tape import (
    OLDEST,
    MarketTape,
    RowKey,
    Side,
    TapeRow,
    TapeSettings,
    aggregate_prints,
    parse_min_size,
    rows_newest_first,
    rows_oldest_first,
    scroll_anchor,
    tape_window,
)
from tests.feedkit import live, live_feed, until
from tests.test_tape import at, ex

AGGREGATED = TapeSettings(aggregate=True)


def tape_of(*prints: tuple[str, float, str]) -> MarketTape:
    """A tape of (price, second, amount) prints, in that arrival order."""
    tape = MarketTape("BTCUSD", limit=10_000)
    for price, second, amount in prints:
        tape.add(ex(price, second, amount))
    return tape


def numbered(count: int) -> MarketTape:
    """``count`` prints a second apart, priced 1, 2, 3, ... (the price names the print)."""
    return tape_of(*((str(i), float(i), "1") for i in range(1, count + 1)))


def prices(rows: list[TapeRow]) -> list[str]:
    return [row.price for row in rows]


# --------------------------------------------------------------------------- settings


@pytest.mark.parametrize(
    ("typed", "held"),
    [("", ""), ("  ", ""), ("0", ""), ("0.000", ""), (".5", "0.5"), ("1.25", "1.25"), ("7", "7")],
)
def test_a_typed_minimum_size_is_held_as_typed_or_none(typed: str, held: str) -> None:
    assert parse_min_size(typed) == held


@pytest.mark.parametrize("typed", ["-1", "abc", "1e3", "1,5", "0.1234567890123456789"])
def test_a_minimum_size_that_is_no_size_is_refused_with_the_reason(typed: str) -> None:
    with pytest.raises(ValueError, match="not a size"):
        parse_min_size(typed)


def test_settings_say_what_they_hide_and_encode_for_persistence() -> None:
    assert not TapeSettings().active and TapeSettings().min_units == 0
    assert TapeSettings("0.5").active and TapeSettings("0.5").min_units == ONE // 2
    assert AGGREGATED.active
    data = msgspec.json.encode(TapeSettings("0.5", True))
    assert data == b'{"min_size":"0.5","aggregate":true}'
    assert msgspec.json.decode(data, type=TapeSettings) == TapeSettings("0.5", True)


# --------------------------------------------------------------------------- aggregation


def test_prints_of_one_time_and_price_are_summed_exactly_and_counted() -> None:
    tape = tape_of(
        ("100", 1, "0.1"), ("101", 1, "0.25"), ("100", 1, "0.20"), ("100", 2, "5"), ("100", 1, "3")
    )
    rows = aggregate_prints([t for t in tape.trades if t.executed_ns == tape.trades[0].executed_ns])
    assert [(r.price, r.amount, r.prints) for r in rows] == [("100", "3.30", 3), ("101", "0.25", 1)]
    assert rows[0].amount_units == to_scaled("3.3")  # 0.1 + 0.2 + 3, no float anywhere
    assert rows[0].key == (tape.trades[0].executed_ns, tape.trades[0].seq)  # the first print's
    newest = list(rows_newest_first(tape.trades, AGGREGATED))
    assert [(r.price, r.amount, r.prints) for r in newest] == [
        ("100", "5", 1),
        ("101", "0.25", 1),
        ("100", "3.30", 3),
    ]
    assert list(rows_oldest_first(tape.trades, AGGREGATED)) == newest[::-1]


def test_summed_prints_whose_sides_disagree_have_no_side() -> None:
    tape = MarketTape("BTCUSD")
    tape.add(ex("100", 1))
    tape.add(ex("101", 2))  # up-tick: buy
    tape.add(ex("100", 2))  # down-tick: sell
    tape.add(ex("101", 2))  # up-tick: buy, summed with the first 101 of second 2
    rows = list(rows_newest_first(tape.trades, AGGREGATED))
    assert [(r.price, r.prints, r.side) for r in rows] == [
        ("100", 1, Side.SELL),
        ("101", 2, Side.BUY),
        ("100", 1, Side.UNKNOWN),
    ]
    tape.add(Execution("BTCUSD", "100", "1", at(2)))  # joins the sell at 100: both sell
    assert next(rows_newest_first(tape.trades, AGGREGATED)).side is Side.SELL


def test_the_minimum_size_counts_a_rows_summed_amount() -> None:
    """A sweep of small prints is one large row aggregated, hidden print by print."""
    tape = tape_of(("100", 1, "0.2"), ("100", 1, "0.2"), ("100", 1, "0.2"), ("99", 2, "0.7"))
    assert prices(list(rows_newest_first(tape.trades, TapeSettings("0.5")))) == ["99"]
    rows = list(rows_newest_first(tape.trades, TapeSettings("0.5", aggregate=True)))
    assert [(r.price, r.amount) for r in rows] == [("99", "0.7"), ("100", "0.6")]
    assert prices(list(rows_newest_first(tape.trades, TapeSettings("0.7")))) == ["99"]  # ≥


# --------------------------------------------------------------------------- the window


def test_following_shows_the_newest_page() -> None:
    tape = numbered(10)
    window = tape_window(tape.trades, TapeSettings(), 3)
    assert prices(window.rows) == ["10", "9", "8"] and window.newer == 0 and window.anchor is None
    filtered = tape_of(*((str(i), float(i), str(i % 3)) for i in range(1, 10)))
    window = tape_window(filtered.trades, TapeSettings("1"), 4)
    assert prices(window.rows) == ["8", "7", "5", "4"]


def test_scrolled_back_the_view_stays_on_the_same_trades_as_new_ones_arrive() -> None:
    tape = numbered(20)
    anchor = scroll_anchor(tape.trades, TapeSettings(), None, 5)
    window = tape_window(tape.trades, TapeSettings(), 4, anchor)
    assert prices(window.rows) == ["15", "14", "13", "12"] and window.newer == 5
    for i in range(21, 31):
        tape.add(ex(str(i), i))
    window = tape_window(tape.trades, TapeSettings(), 4, window.anchor)
    assert prices(window.rows) == ["15", "14", "13", "12"] and window.newer == 15
    tape.add(ex("13.5", 13.5))  # a late trade among those shown goes in its place
    window = tape_window(tape.trades, TapeSettings(), 4, window.anchor)
    assert prices(window.rows) == ["15", "14", "13.5", "13"] and window.newer == 15


def test_scrolling_moves_by_rows_and_back_at_the_newest_follows_again() -> None:
    tape = numbered(20)
    settings = TapeSettings()
    anchor = scroll_anchor(tape.trades, settings, None, 1)
    assert tape_window(tape.trades, settings, 3, anchor).rows[0].price == "19"
    anchor = scroll_anchor(tape.trades, settings, anchor, 3)
    assert tape_window(tape.trades, settings, 3, anchor).rows[0].price == "16"
    anchor = scroll_anchor(tape.trades, settings, anchor, -2)
    assert tape_window(tape.trades, settings, 3, anchor).rows[0].price == "18"
    assert scroll_anchor(tape.trades, settings, anchor, -2) is None
    assert scroll_anchor(tape.trades, settings, anchor, -50) is None


def test_past_the_oldest_the_view_stops_at_the_oldest_full_page() -> None:
    tape = numbered(20)
    settings = TapeSettings()
    anchor = scroll_anchor(tape.trades, settings, None, 500)
    assert anchor == OLDEST
    window = tape_window(tape.trades, settings, 4, anchor)
    assert prices(window.rows) == ["4", "3", "2", "1"] and window.newer == 16
    assert window.anchor == window.rows[0].key
    # one row up from the oldest page
    up = scroll_anchor(tape.trades, settings, window.anchor, -1)
    assert prices(tape_window(tape.trades, settings, 4, up).rows) == ["5", "4", "3", "2"]


def test_a_tape_that_fits_one_page_does_not_scroll() -> None:
    tape = numbered(3)
    anchor = scroll_anchor(tape.trades, TapeSettings(), None, 1)
    window = tape_window(tape.trades, TapeSettings(), 5, anchor)
    assert prices(window.rows) == ["3", "2", "1"] and window.anchor is None


def test_the_anchor_leaving_the_bound_shows_the_oldest_page_kept() -> None:
    tape = MarketTape("BTCUSD", limit=10)
    for i in range(1, 11):
        tape.add(ex(str(i), i))
    anchor = scroll_anchor(tape.trades, TapeSettings(), None, 7)  # the top row is "3"
    for i in range(11, 15):
        tape.add(ex(str(i), i))  # "1" to "4" fall off the tape
    window = tape_window(tape.trades, TapeSettings(), 3, anchor)
    assert prices(window.rows) == ["7", "6", "5"] and window.newer == 7


def test_aggregated_the_anchor_stays_on_its_row_as_prints_join_the_newest() -> None:
    tape = tape_of(*((str(100 + i % 3), float(i // 2), "1") for i in range(12)))
    anchor = scroll_anchor(tape.trades, AGGREGATED, None, 2)
    shown = tape_window(tape.trades, AGGREGATED, 3, anchor)
    tape.add(ex("101", 5, "2"))  # joins the newest second's row at 101: no new row
    tape.add(ex("999", 6, "2"))  # a new row
    later = tape_window(tape.trades, AGGREGATED, 3, anchor)
    assert later.rows == shown.rows and later.newer == shown.newer + 1


def test_changing_the_settings_scrolled_back_keeps_the_place_on_the_tape() -> None:
    tape = tape_of(*((str(i), float(i), "2" if i % 2 else "0.5") for i in range(1, 21)))
    anchor = scroll_anchor(tape.trades, TapeSettings(), None, 6)  # top row "14"
    window = tape_window(tape.trades, TapeSettings("1"), 3, anchor)
    assert prices(window.rows) == ["13", "11", "9"] and window.newer == 3


# --------------------------------------------------------------------------- against a reference


def reference_rows(tape: MarketTape, settings: TapeSettings) -> list[TapeRow]:
    """Every row newest first, made the plain way: group, sum, sort, filter."""
    if not settings.aggregate:
        rows = [(t.executed_ns, t.seq, t.price_units, t.amount_units, 1) for t in tape.trades]
    else:
        groups: dict[tuple[int, int], list[int]] = defaultdict(list)
        firsts: dict[tuple[int, int], int] = {}
        for t in tape.trades:
            groups[(t.executed_ns, t.price_units)].append(t.amount_units)
            firsts.setdefault((t.executed_ns, t.price_units), t.seq)
        rows = [(ns, firsts[(ns, p)], p, sum(a), len(a)) for (ns, p), a in groups.items()]
    rows.sort(key=lambda r: (r[0], r[1]), reverse=True)
    by_key = {row.key: row for row in rows_newest_first(tape.trades, settings)}
    kept = [r for r in rows if r[3] >= settings.min_units]
    assert [(r.key, r.price_units, r.amount_units, r.prints) for r in by_key.values()] == [
        ((r[0], r[1]), r[2], r[3], r[4]) for r in kept
    ]
    return list(by_key.values())


prints = st.lists(
    st.tuples(st.integers(0, 6), st.integers(0, 3), st.integers(1, 9)), min_size=0, max_size=40
)


@given(
    prints,
    st.booleans(),
    st.integers(0, 9),
    st.integers(1, 8),
    st.integers(-3, 45),
    st.lists(st.integers(-10, 10), max_size=4),
)
def test_the_window_is_a_slice_of_every_row(
    made: list[tuple[int, int, int]],
    aggregate: bool,
    minimum: int,
    page: int,
    start: int,
    moves: list[int],
) -> None:
    tape = MarketTape("BTCUSD", limit=10_000)
    for second, price, amount in made:
        tape.add(ex(str(100 + price), second / 4, f"0.{amount}"))
    settings = TapeSettings(f"0.{minimum}" if minimum else "", aggregate)
    every = reference_rows(tape, settings)
    anchor: RowKey | None = (
        None if start <= 0 else scroll_anchor(tape.trades, settings, None, start)
    )
    for move in [0, *moves]:
        anchor = scroll_anchor(tape.trades, settings, anchor, move) if move else anchor
        window = tape_window(tape.trades, settings, page, anchor)
        if len(every) <= page or window.anchor is None:
            assert window.rows == every[:page] and window.newer == 0
        else:
            top = window.newer
            assert 0 < top <= len(every) - page
            assert window.rows == every[top : top + page]
            assert window.anchor == window.rows[0].key
        anchor = window.anchor


# --------------------------------------------------------------------------- session high and low


def test_the_session_high_and_low_cover_every_trade_not_only_those_kept() -> None:
    tape = MarketTape("BTCUSD", limit=2)
    assert tape.high_low() is None
    for price, second in [("101.5", 1), ("99.25", 2), ("100", 3), ("100.5", 4)]:
        tape.add(ex(price, second))
    assert [t.price for t in tape.trades] == ["100", "100.5"]
    assert tape.high_low() == ("101.5", "99.25")
    assert tape.high_low(2) == ("101.50", "99.25")
    again = MarketTape("BTCUSD", limit=2)
    again.restore(tape.state())  # a recording's starting point keeps them
    assert again.high_low() == ("101.5", "99.25")


async def test_the_session_survives_a_dropped_connection_and_a_resync() -> None:
    """Over loopback against the simulator: a drop, a reconnect and a resync reset the book,
    never the tape; the session's count, high and low carry on from before."""
    async with live_feed("BTCUSD") as (sim, feed, rec):
        tape = feed.tape.tape("BTCUSD")
        await until(lambda: tape.count >= 3, "trades arrive")
        before = (tape.count, tape.high_units, tape.low_units)
        start = len(rec.events)
        await sim.drop_connections(code=1011)
        await rec.wait_for(
            lambda e: isinstance(e, ConnectionChanged) and e.state is ConnectionState.RECONNECTING,
            "drop noticed",
            start=start,
        )
        await until(lambda: live(feed, "BTCUSD"), "LIVE again")
        feed.resync("BTCUSD")
        await until(lambda: live(feed, "BTCUSD"), "resynced")
        await until(lambda: tape.count > before[0] + 3, "trades after the reconnect")
        assert feed.tape.tape("BTCUSD") is tape
        assert tape.high_units is not None and tape.low_units is not None
        assert before[1] is not None and before[2] is not None
        assert tape.high_units >= before[1] and tape.low_units <= before[2]
        assert tape.high_units == max(t.price_units for t in tape.trades)  # all kept here
        assert tape.low_units == min(t.price_units for t in tape.trades)
