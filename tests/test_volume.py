"""Volume at price: fed the tape's own trades (sides inferred by the tape against a real
book), split by side, bounded around the newest price, clearable."""

from __future__ import annotations

import pytest

from app.books import Book
from app.protocol import BookMessage, Execution, Level, to_scaled
from app.tape import Side, TapeStore, Trade
from app.volume import DEFAULT_VOLUME_PRICES, MarketVolume, PriceVolume, VolumeStore


def u(text: str) -> int:
    return to_scaled(text)


def trade(tapes: TapeStore, book: Book | None, price: str, amount: str, second: int) -> Trade:
    """One execution through the real tape, which infers its side."""
    execution = Execution("BTCUSD", price, amount, f"2024-01-15T10:30:{second:02d}Z")
    added = tapes.add(execution, book)
    assert added is not None
    return added


def test_volume_is_split_by_the_side_the_tape_inferred() -> None:
    book = Book("BTCUSD")
    book.apply(BookMessage("BTCUSD", "SNAPSHOT", "2024-01-15T10:30:00Z", [Level("99", "5")], []))
    book.apply(BookMessage("BTCUSD", "UPDATE", "2024-01-15T10:30:00.5Z", [], [Level("101", "5")]))
    tapes, volumes = TapeStore(), VolumeStore()
    for price, amount, second in [
        ("101", "0.5", 1),  # at the ask: a buy
        ("101", "0.25", 2),  # a buy
        ("99", "1", 3),  # at the bid: a sell
        ("101.0", "2", 4),  # the same price spelled otherwise: a buy at 101
    ]:
        volumes.add("BTCUSD", trade(tapes, book, price, amount, second))
    volume = volumes.volume("BTCUSD")
    assert volume.at(u("101")) == PriceVolume(buy=u("2.75"), sell=0, unknown=0)
    assert volume.at(u("99")) == PriceVolume(buy=0, sell=u("1"), unknown=0)
    assert volume.at(u("100")) == PriceVolume() and volume.at(u("100")).total == 0
    assert volume.prices() == [u("99"), u("101")]
    assert volume.trades == 4 and volume.last_price == u("101")
    assert volumes.take_dirty() == {"BTCUSD"}


def test_a_side_the_tape_could_not_infer_is_counted_as_unknown() -> None:
    tapes, volumes = TapeStore(), VolumeStore()
    first = trade(tapes, None, "100", "1", 1)  # no book, no trade before it
    assert first.side is Side.UNKNOWN
    volumes.add("BTCUSD", first)
    volumes.add("BTCUSD", trade(tapes, None, "100.5", "3", 2))  # tick rule: up, a buy
    volume = volumes.volume("BTCUSD")
    assert volume.at(u("100")) == PriceVolume(unknown=u("1"))
    assert volume.at(u("100.5")) == PriceVolume(buy=u("3"))
    assert volume.at(u("100.5")).total == u("3")


def test_markets_are_kept_apart_and_clear_forgets_every_price() -> None:
    volumes = VolumeStore()
    volumes.volume("BTCUSD").add_units(u("100"), u("1"), Side.BUY)
    volumes.volume("ETHUSD").add_units(u("3000"), u("2"), Side.SELL)
    assert volumes.volume("BTCUSD").at(u("3000")) == PriceVolume()
    volumes.take_dirty()
    volumes.clear()
    assert len(volumes.volume("BTCUSD")) == 0 and len(volumes.volume("ETHUSD")) == 0
    assert volumes.volume("BTCUSD").trades == 0 and volumes.volume("BTCUSD").last_price is None
    assert volumes.take_dirty() == {"BTCUSD", "ETHUSD"}


def test_the_bound_forgets_the_prices_farthest_from_the_newest_trade() -> None:
    volume = MarketVolume("BTCUSD", limit=10)
    for price in range(100, 110):  # ten prices: at the limit
        volume.add_units(price * 10**18, 10**18, Side.BUY)
    assert len(volume) == 10 and volume.evicted == 0
    # An eleventh, at 104.4: one over the limit, so down to the limit less a tenth of it
    # (9): the two farthest from 104.4 go, 109 (4.6 away) and 100 (4.4 away).
    volume.add_units(u("104.4"), 10**18, Side.SELL)
    assert len(volume) == 9 and volume.evicted == 2
    assert volume.prices() == [u(str(p)) for p in (101, 102, 103, 104)] + [u("104.4")] + [
        u(str(p)) for p in (105, 106, 107, 108)
    ]
    assert volume.at(u("100")) == PriceVolume()  # forgotten
    assert volume.at(u("104.4")) == PriceVolume(sell=10**18)


def test_the_default_bound_and_a_bad_one() -> None:
    assert MarketVolume("BTCUSD").limit == DEFAULT_VOLUME_PRICES
    with pytest.raises(ValueError):
        MarketVolume("BTCUSD", limit=0)
