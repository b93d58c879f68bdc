"""The watchlist's rows on their own (app/watchlist.py): the sort by any column, either
way, rows without the figure last, ties in the known order; and the rows read from a
feed that is not running (frames through ``ingest``)."""

from __future__ import annotations

import dataclasses

import pytest

from app.history import MidHistory
from app.watchlist import COLUMNS, QUEUED, WatchRow, sort_rows, watch_rows
from tests.dashboard_data import MONO, Scene

BLANK = WatchRow(
    market="",
    subscribed=False,
    state="",
    stale=True,
    bid=None,
    bid_text="",
    ask=None,
    ask_text="",
    spread=None,
    spread_text="",
    bps=None,
    mid=None,
    mid_text="",
    last=None,
    last_text="",
    change=None,
    volume=None,
    volume_text="",
    vwap=None,
    vwap_text="",
    spark=(),
    trend=None,
    age=None,
)


def row(market: str, **figures: object) -> WatchRow:
    return dataclasses.replace(BLANK, market=market, **figures)  # type: ignore[arg-type]


def names(rows: list[WatchRow]) -> list[str]:
    return [r.market for r in rows]


def test_rows_without_the_figure_come_last_whichever_way() -> None:
    rows = [row("A", mid=3), row("B"), row("C", mid=1), row("D", mid=2), row("E")]
    assert names(sort_rows(rows, "mid")) == ["C", "D", "A", "B", "E"]
    assert names(sort_rows(rows, "mid", descending=True)) == ["A", "D", "C", "B", "E"]


def test_ties_keep_the_order_given_either_way() -> None:
    rows = [row("A", change=0.1), row("B", change=0.1), row("C", change=-0.2)]
    assert names(sort_rows(rows, "change")) == ["C", "A", "B"]
    assert names(sort_rows(rows, "change", descending=True)) == ["A", "B", "C"]


def test_states_sort_most_current_first_and_unsubscribed_last() -> None:
    rows = [row("A", state="FAILED"), row("B"), row("C", state="LIVE"), row("D", state=QUEUED)]
    assert names(sort_rows(rows, "state")) == ["C", "D", "A", "B"]


@pytest.mark.parametrize("column", COLUMNS)
def test_every_column_sorts(column: str) -> None:
    rows = [row("B"), row("A")]
    assert len(sort_rows(rows, column)) == 2


def test_an_unknown_column_is_refused() -> None:
    with pytest.raises(ValueError):
        sort_rows([row("A")], "colour")


async def test_rows_read_every_known_market_with_exact_figures() -> None:
    scene = Scene()
    scene.live_market("BTCUSD")
    scene.subscribe("ETHUSD")
    history = MidHistory()
    history.sample(MONO, scene.feed.store, ["BTCUSD"])
    rows = {r.market: r for r in watch_rows(scene.feed, history, MONO, lambda m: "LIVE")}
    assert list(rows) == scene.feed.known_markets
    btc = rows["BTCUSD"]
    book = scene.feed.store.get("BTCUSD")
    assert book is not None and book.best_bid is not None and book.best_ask is not None
    assert (btc.bid, btc.ask, btc.mid) == (
        book.best_bid.price_units,
        book.best_ask.price_units,
        book.mid_units,
    )
    assert btc.change == 0.0 and btc.spark == (book.mid_units,)
    assert btc.volume_text and btc.vwap_text and btc.last_text and btc.age == pytest.approx(0.4)
    assert not btc.stale and btc.subscribed
    assert rows["ETHUSD"].subscribed and rows["ETHUSD"].bid is None  # no snapshot yet
    assert not rows["LTCUSD"].subscribed and rows["LTCUSD"].state == ""
    queued = watch_rows(scene.feed, history, MONO, lambda m: "LIVE", queued={"ETHUSD"})
    assert {r.market: r.state for r in queued}["ETHUSD"] == QUEUED
