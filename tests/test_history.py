"""The mid history ring (app/history.py): one sample an interval, bounded, gaps when the
book is not LIVE or nothing sampled, the session open, and the sparkline drawn from it."""

from __future__ import annotations

import pytest

from app.books import BookStore
from app.history import BLOCKS, MidHistory, MidRing, sparkline, trend
from app.protocol import BookMessage, Level, to_scaled

T = "2024-01-15T10:30:05Z"


def store_with(market: str, bid: str, ask: str) -> BookStore:
    store = BookStore()
    quote(store, market, bid, ask)
    return store


def quote(store: BookStore, market: str, bid: str, ask: str) -> None:
    """A SNAPSHOT of one bid and one ask: the book LIVE with that touch."""
    store.apply(BookMessage(market, "SNAPSHOT", T, [Level(bid, "1")], [Level(ask, "1")]))


def mids(history: MidHistory, market: str) -> list[float | None]:
    return [None if v is None else v / 10**18 for v in history.values(market)]


def test_one_sample_an_interval_the_first_reading_in_it() -> None:
    store = store_with("BTCUSD", "100", "102")
    history = MidHistory(interval=5.0)
    history.sample(10.0, store, ["BTCUSD"])
    quote(store, "BTCUSD", "103", "105")
    history.sample(14.9, store, ["BTCUSD"])  # the same interval: already sampled
    assert mids(history, "BTCUSD") == [101.0]
    history.sample(15.0, store, ["BTCUSD"])
    assert mids(history, "BTCUSD") == [101.0, 104.0]


def test_the_ring_is_bounded_and_keeps_the_newest() -> None:
    store = store_with("BTCUSD", "100", "102")
    history = MidHistory(interval=1.0, capacity=4)
    for second in range(10):
        quote(store, "BTCUSD", str(200 + second * 2), str(202 + second * 2))
        history.sample(float(second), store, ["BTCUSD"])
    assert mids(history, "BTCUSD") == [213.0, 215.0, 217.0, 219.0]
    assert history.open("BTCUSD") == to_scaled("201")  # the session's first mid stays


def test_a_stale_book_is_a_gap_and_so_is_time_nobody_sampled() -> None:
    store = store_with("BTCUSD", "100", "102")
    history = MidHistory(interval=1.0, capacity=10)
    history.sample(0.0, store, ["BTCUSD"])
    store.mark_stale()  # the socket dropped
    history.sample(1.0, store, ["BTCUSD"])
    history.sample(2.0, store, ["BTCUSD"])
    quote(store, "BTCUSD", "104", "106")  # LIVE again
    history.sample(3.0, store, ["BTCUSD"])
    history.sample(6.0, store, ["BTCUSD"])  # 4 and 5 were never sampled: gaps too
    assert mids(history, "BTCUSD") == [101.0, None, None, 105.0, None, None, 105.0]


def test_a_long_sleep_fills_the_ring_with_gaps_but_no_more() -> None:
    ring = MidRing(3)
    ring.put(0, 1)
    ring.put(1_000_000, 2)
    assert list(ring.samples) == [None, None, 2]


def test_syncing_and_unknown_markets_have_no_mid_and_no_open() -> None:
    store = BookStore()
    store.book("ETHUSD")  # subscribed, no snapshot yet
    history = MidHistory(interval=1.0)
    history.sample(0.0, store, ["ETHUSD", "LTCUSD"])
    assert list(history.values("ETHUSD")) == [None]
    assert list(history.values("LTCUSD")) == [None]
    assert history.open("ETHUSD") is None
    assert list(history.values("NEVER")) == []


def test_the_open_is_noted_on_any_call_not_only_a_new_interval() -> None:
    store = BookStore()
    store.book("BTCUSD")
    history = MidHistory(interval=5.0)
    history.sample(0.0, store, ["BTCUSD"])
    quote(store, "BTCUSD", "100", "102")
    history.sample(1.0, store, ["BTCUSD"])
    assert history.open("BTCUSD") == to_scaled("101")
    assert list(history.values("BTCUSD")) == [None]  # the interval's sample was a gap


def test_clear_forgets_everything() -> None:
    store = store_with("BTCUSD", "100", "102")
    history = MidHistory()
    history.sample(0.0, store, ["BTCUSD"])
    history.clear()
    assert history.open("BTCUSD") is None and list(history.values("BTCUSD")) == []


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError):
        MidHistory(interval=0)
    with pytest.raises(ValueError):
        MidHistory(capacity=0)


def test_sparkline_scales_between_low_and_high_right_aligned() -> None:
    assert sparkline([1, 8, None, 4], 6) == "  ▁█ ▄"
    assert sparkline([5, 5, 5], 3) == BLOCKS[3] * 3  # flat: the middle height
    assert sparkline([None, None], 4) == "    "
    assert sparkline([1, 2, 3, 4, 5], 2) == "▁█"  # the newest, scaled among themselves
    assert sparkline([1], 0) == ""
    assert len(sparkline(list(range(100)), 24)) == 24


def test_trend_is_the_change_over_what_the_sparkline_shows() -> None:
    assert trend([100, None, 110], 3) == pytest.approx(0.1)
    assert trend([50, 100, 90], 2) == pytest.approx(-0.1)
    assert trend([100], 5) is None
    assert trend([None, None], 5) is None
