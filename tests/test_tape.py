"""The trade tape: ``executed_at`` order with late trades in place, the bound, session figures
and the inferred aggressor side."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.books import Book
from app.protocol import ONE, BookMessage, Execution, Level, parse_time, to_scaled
from app.tape import DEFAULT_TAPE_LIMIT, MarketTape, Side, TapeStore


def at(second: float) -> str:
    """A time ``second`` seconds after 10:30:00Z, Go style."""
    whole = int(second)
    frac = f"{round((second - whole) * 1000):03d}".rstrip("0")
    return f"2024-01-15T10:30:{whole:02d}" + (f".{frac}" if frac else "") + "Z"


def ex(price: str, second: float, amount: str = "1", market: str = "BTCUSD") -> Execution:
    return Execution(market, price, amount, at(second))


def book_with(bid: str | None, ask: str | None) -> Book:
    book = Book("BTCUSD")
    book.apply(
        BookMessage(
            "BTCUSD",
            "SNAPSHOT",
            at(0),
            [Level(bid, "1")] if bid else [],
            [Level(ask, "1")] if ask else [],
        )
    )
    return book


# --------------------------------------------------------------------------- order


def test_trades_are_ordered_by_executed_at_with_late_ones_in_place() -> None:
    tape = MarketTape("BTCUSD")
    for price, second in [("1", 3), ("2", 1), ("3", 5), ("4", 2), ("5", 4.5)]:
        tape.add(ex(price, second))
    assert [t.price for t in tape.trades] == ["2", "4", "1", "5", "3"]
    assert [t.executed_ns for t in tape.trades] == sorted(t.executed_ns for t in tape.trades)
    assert tape.late == 3
    assert tape.last is not None and tape.last.price == "3"  # newest executed, not last arrived
    assert [t.price for t in tape.newest(2)] == ["3", "5"]
    assert tape.newest(0) == []


def test_equal_execution_times_keep_arrival_order() -> None:
    tape = MarketTape("BTCUSD")
    for price, second in [("1", 2), ("2", 2), ("3", 3), ("4", 2)]:
        tape.add(ex(price, second))
    assert [t.price for t in tape.trades] == ["1", "2", "4", "3"]


def test_times_are_ordered_as_nanoseconds_not_strings() -> None:
    tape = MarketTape("BTCUSD")
    tape.add(Execution("BTCUSD", "1", "1", "2024-01-15T10:30:05.1Z"))
    tape.add(Execution("BTCUSD", "2", "1", "2024-01-15T10:30:05Z"))
    tape.add(Execution("BTCUSD", "3", "1", "2024-01-15T11:30:05.05+01:00"))
    assert [t.price for t in tape.trades] == ["2", "3", "1"]


@given(st.permutations(range(12)))
def test_any_arrival_order_gives_the_executed_order(order: list[int]) -> None:
    tape = MarketTape("BTCUSD")
    for i in order:
        tape.add(ex(str(i + 1), i / 4))
    assert [t.price for t in tape.trades] == [str(i + 1) for i in range(12)]
    assert tape.count == 12


# --------------------------------------------------------------------------- bound


def test_default_bound_is_500_keeping_the_newest() -> None:
    tape = TapeStore()
    assert DEFAULT_TAPE_LIMIT == 500
    for i in range(600):
        tape.add(Execution("BTCUSD", str(i + 1), "1", f"2024-01-15T10:30:00.{i:03d}Z"))
    market = tape.tape("BTCUSD")
    assert len(market.trades) == 500
    assert market.trades[0].price == "101" and market.trades[-1].price == "600"
    # The session figures cover every trade, not only those still on the tape.
    assert market.count == 600 and market.volume_units == 600 * ONE


def test_bound_is_configurable_and_a_too_old_late_trade_falls_off() -> None:
    tape = TapeStore(limit=3)
    for price, second in [("1", 1), ("2", 2), ("3", 3), ("4", 4)]:
        tape.add(ex(price, second))
    market = tape.tape("BTCUSD")
    assert [t.price for t in market.trades] == ["2", "3", "4"]
    tape.add(ex("9", 0.5))  # older than everything kept
    assert [t.price for t in market.trades] == ["2", "3", "4"]
    tape.add(ex("8", 2.5))  # late but within the window: inserted, the oldest goes
    assert [t.price for t in market.trades] == ["8", "3", "4"]
    assert market.count == 6
    single = MarketTape("X", limit=2)
    for second in (1, 2, 3):
        single.add(ex(str(second), second, market="X"))
    assert [t.price for t in single.trades] == ["2", "3"]


# --------------------------------------------------------------------------- session figures


def test_session_figures() -> None:
    tape = MarketTape("BTCUSD")
    tape.add(ex("100", 1, "1"))
    tape.add(ex("102", 3, "2"))
    tape.add(ex("98", 2, "1"))  # late
    assert tape.count == 3
    assert tape.volume == "4" and tape.volume_units == 4 * ONE
    assert tape.vwap == Decimal("100.5")  # (100 + 204 + 98) / 4
    assert tape.vwap_units == to_scaled("100.5")
    assert tape.high_units == 102 * ONE and tape.low_units == 98 * ONE
    assert tape.last is not None and tape.last.price == "102"


def test_session_figures_are_exact() -> None:
    tape = MarketTape("BTCUSD")
    tape.add(ex("0.1", 1, "0.1"))
    tape.add(ex("0.2", 2, "0.2"))
    assert tape.volume == "0.3"
    # (0.01 + 0.04) / 0.3 = 0.1666..., cut to 18 places
    assert tape.vwap == Decimal("0.166666666666666666")


def test_empty_tape_figures() -> None:
    tape = MarketTape("BTCUSD")
    assert tape.last is None and tape.vwap is None and tape.vwap_units is None
    assert tape.volume == "0" and tape.count == 0
    assert tape.high_units is None and tape.low_units is None


@pytest.mark.parametrize(
    "bad",
    [
        Execution("BTCUSD", "abc", "1", at(1)),
        Execution("BTCUSD", "1", "-1", at(1)),
        Execution("BTCUSD", "1", "1", "noon"),
    ],
)
def test_unreadable_execution_is_counted_not_added(bad: Execution) -> None:
    tape = MarketTape("BTCUSD")
    assert tape.add(bad) is None
    assert tape.errors == 1 and tape.last_error.startswith("unreadable execution")
    assert tape.trades == [] and tape.count == 0 and tape.volume_units == 0


def test_trade_tape_keeps_markets_apart_and_marks_them_dirty() -> None:
    tape = TapeStore()
    tape.add(ex("1", 1, market="BTCUSD"))
    tape.add(ex("2", 1, market="ETHUSD"))
    tape.add(ex("3", 2, market="ETHUSD"))
    assert tape.take_dirty() == {"BTCUSD", "ETHUSD"} and tape.take_dirty() == set()
    eth = tape.get("ETHUSD")
    assert eth is not None and [t.price for t in eth.trades] == ["2", "3"]
    assert tape.tape("BTCUSD").count == 1 and tape.get("LTCUSD") is None
    tape.remove("ETHUSD")
    assert tape.get("ETHUSD") is None and tape.take_dirty() == {"ETHUSD"}


# --------------------------------------------------------------------------- inferred side


@pytest.mark.parametrize(
    ("price", "side"),
    [("101", Side.BUY), ("105", Side.BUY), ("100", Side.SELL), ("95", Side.SELL)],
)
def test_side_from_the_book(price: str, side: Side) -> None:
    tape = MarketTape("BTCUSD")
    trade = tape.add(ex(price, 1), book_with("100", "101"))
    assert trade is not None and trade.side is side


def test_side_inside_the_spread_falls_back_to_the_tick_rule() -> None:
    book = book_with("100", "102")
    tape = MarketTape("BTCUSD")
    first = tape.add(ex("101", 1), book)
    assert first is not None and first.side is Side.UNKNOWN  # nothing to compare with
    up = tape.add(ex("101.5", 2), book)
    down = tape.add(ex("100.5", 3), book)
    same = tape.add(ex("100.5", 4), book)
    assert up is not None and up.side is Side.BUY
    assert down is not None and down.side is Side.SELL
    assert same is not None and same.side is Side.SELL  # zero tick: the side before it


def test_tick_rule_without_a_book() -> None:
    tape = MarketTape("BTCUSD")
    sides = [tape.add(ex(p, i)) for i, p in enumerate(["10", "11", "11", "10.5", "10.5", "12"])]
    assert [t.side if t else None for t in sides] == [
        Side.UNKNOWN,
        Side.BUY,
        Side.BUY,
        Side.SELL,
        Side.SELL,
        Side.BUY,
    ]


def test_tick_rule_compares_with_the_trade_executed_before_not_the_last_arrived() -> None:
    tape = MarketTape("BTCUSD")
    tape.add(ex("100", 1))
    tape.add(ex("110", 3))
    late = tape.add(ex("105", 2))  # executed between them: up-tick from 100
    assert late is not None and late.side is Side.BUY


def test_a_book_that_is_not_live_is_not_used_for_the_side() -> None:
    syncing = Book("BTCUSD")
    stale = book_with("100", "101")
    stale.reset()
    for book in (syncing, stale):
        tape = MarketTape("BTCUSD")
        tape.add(ex("102", 1), book)
        trade = tape.add(ex("101", 2), book)  # at the stale ask, but a down-tick
        assert trade is not None and trade.side is Side.SELL


def test_side_is_inferred_at_arrival_and_kept() -> None:
    book = book_with("100", "101")
    tape = MarketTape("BTCUSD")
    trade = tape.add(ex("101", 1), book)
    book.apply(BookMessage("BTCUSD", "UPDATE", at(2), [Level("101", "1")], [Level("101", "0")]))
    assert trade is not None and tape.trades[0].side is Side.BUY
    assert tape.trades[0].executed_ns == parse_time(at(1))
