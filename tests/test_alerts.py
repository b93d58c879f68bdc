"""Alerts on the engine alone: each kind firing, hysteresis, re-arm, mute, delete, the
duration kinds on an injected clock, the alerts file.

Books, tapes and subscription states are built by feeding protocol frames through
``FeedClient.ingest`` (the socket's path) with the feed not running and its clock frozen;
the last tests run the real feed against the real simulator, and against nothing at all.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from app.alerts import (
    IMBALANCE_INTERVAL,
    AlertEngine,
    AlertError,
    AlertFired,
    AlertOrigin,
    AlertRule,
    AlertState,
    DisconnectedAlert,
    ImbalanceAlert,
    ImbalanceSide,
    PriceAlert,
    PriceField,
    SavedAlert,
    SavedAlerts,
    SpreadAlert,
    StaleAlert,
    TradeAlert,
    alerts_file,
    rule_from_form,
    rule_from_table,
    rule_key,
)
from app.books import BookState
from app.events import ConnectionChanged, ConnectionState, FeedEvent
from app.feed import FeedClient
from app.protocol import NS_PER_S, format_time
from app.state_file import StateFileError
from tests.feedkit import live, live_feed, offline_feed, running, until

T0_NS = 1_705_314_600 * NS_PER_S


class FrozenClock:
    """The feed's clock: says ``now`` until a test moves it."""

    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def frame(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj).encode()


class Desk:
    """A feed that is not running, fed protocol frames by hand."""

    def __init__(self, *markets: str) -> None:
        self.clock = FrozenClock()
        self.feed = FeedClient(label="test", clock=self.clock, known_markets=markets)
        self.ms = 0
        for market in markets:
            self.subscribe(market)

    def ingest(self, obj: dict[str, Any]) -> None:
        self.feed.ingest(frame(obj))

    def at(self) -> str:
        self.ms += 10
        return format_time(T0_NS + self.ms * 1_000_000)

    def subscribe(self, market: str, error: str | None = None) -> None:
        """Subscribe and have the server answer (accept, or refuse with ``error``)."""
        self.feed.subscribe(market)
        channels = []
        for type_ in ("market_data", "execution_data"):
            entry: dict[str, Any] = {"type": type_, "params": {"market": market}}
            entry |= {"success": error is None} | ({"error": error} if error else {})
            channels.append(entry)
        self.ingest({"type": "subscribe", "channels": channels})

    def book(self, market: str, kind: str, bids: Sequence[Any], asks: Sequence[Any]) -> None:
        payload: dict[str, Any] = {"market": market, "type": kind, "time": self.at()}
        payload |= {"bids": [{"price": p, "amount": a} for p, a in bids]}
        payload |= {"asks": [{"price": p, "amount": a} for p, a in asks]}
        self.ingest({"channel": "market_data", "payload": payload})

    def snapshot(self, market: str, bid: str = "100", ask: str = "101", amount: str = "1") -> None:
        self.book(market, "SNAPSHOT", [(bid, amount)], [(ask, amount)])

    def touch(self, market: str, bid: str, ask: str) -> None:
        """Replace the one-level book's touch with ``bid`` / ``ask`` (an UPDATE)."""
        book = self.feed.store.book(market)
        old_bid, old_ask = book.best_bid, book.best_ask
        bids = [(bid, "1")] + ([(old_bid.price, "0")] if old_bid and old_bid.price != bid else [])
        asks = [(ask, "1")] + ([(old_ask.price, "0")] if old_ask and old_ask.price != ask else [])
        self.book(market, "UPDATE", bids, asks)

    def trade(self, market: str, price: str, amount: str, late_ms: int = 0) -> None:
        self.ms += 10
        executed = format_time(T0_NS + (self.ms - late_ms) * 1_000_000)
        payload = {"market": market, "price": price, "amount": amount, "executed_at": executed}
        self.ingest({"channel": "execution_data", "payload": payload})


def engine_of(*rules: AlertRule) -> AlertEngine:
    return AlertEngine(rules)


def fired(engine: AlertEngine, desk: Desk, now: float = 0.0) -> list[str]:
    """The messages of what fires at ``now``."""
    return [f.message for f in engine.evaluate(now, desk.feed)]


# --------------------------------------------------------------------------- price


async def test_a_price_above_a_level_fires_once_and_re_arms_past_the_margin() -> None:
    desk = Desk("BTCUSD")
    desk.snapshot("BTCUSD", "64000", "64001")
    # 10 bps of 65000 is 65: re-armed below 64935
    rule = PriceAlert("BTCUSD", PriceField.BID, above="65000", rearm_bps=10)
    engine = engine_of(rule)
    assert fired(engine, desk) == []
    desk.touch("BTCUSD", "65000", "65001")
    assert fired(engine, desk) == ["BTCUSD bid 65000: crossed above 65000"]
    assert engine.status("c1").state is AlertState.FIRED
    for bid in ("65000.01", "64999.99", "65000", "64935", "65010"):  # sitting on the level
        desk.touch("BTCUSD", bid, "65020")
        assert fired(engine, desk) == [], bid
    desk.touch("BTCUSD", "64934.99", "64936")  # back past the margin: re-armed
    assert fired(engine, desk) == [] and engine.status("c1").state is AlertState.ARMED
    desk.touch("BTCUSD", "65000.5", "65001")
    assert fired(engine, desk) == ["BTCUSD bid 65000.5: crossed above 65000"]
    status = engine.status("c1")
    assert status.fired == 2 and status.last is not None and status.last.value == "65000.5"


async def test_a_price_below_fires_on_the_ask_and_an_already_met_level_fires_at_once() -> None:
    desk = Desk("ETHUSD")
    desk.snapshot("ETHUSD", "2999", "3000")
    engine = engine_of(PriceAlert("ETHUSD", PriceField.ASK, below="3000"))
    assert fired(engine, desk) == ["ETHUSD ask 3000: crossed below 3000"], "already there"
    desk.touch("ETHUSD", "3000", "3001")  # 5 bps of 3000 is 1.5: 3001 is not past 3001.5
    assert fired(engine, desk) == []
    desk.touch("ETHUSD", "3001", "3001.51")
    desk.touch("ETHUSD", "2999", "2999.99")
    assert fired(engine, desk) == [], "a tick past the margin re-arms: evaluated between"
    desk.touch("ETHUSD", "3001", "3001.51")
    assert fired(engine, desk) == []
    desk.touch("ETHUSD", "2999", "2999.99")
    assert fired(engine, desk) == ["ETHUSD ask 2999.99: crossed below 3000"]


async def test_crosses_fires_each_way_never_on_its_first_reading() -> None:
    desk = Desk("BTCUSD")
    desk.snapshot("BTCUSD", "99", "100")  # mid 99.5
    engine = engine_of(PriceAlert("BTCUSD", PriceField.MID, crosses="100", rearm_bps=100))
    assert fired(engine, desk) == [], "the first reading only says which side it is on"
    desk.touch("BTCUSD", "100", "101")  # mid 100.5
    assert fired(engine, desk) == ["BTCUSD mid 100.5: crossed above 100"]
    desk.touch("BTCUSD", "99", "100")  # back below, inside the 1-unit margin: nothing
    assert fired(engine, desk) == []
    desk.touch("BTCUSD", "100.5", "101.6")  # mid 101.05, past 101: armed downwards
    assert fired(engine, desk) == []
    desk.touch("BTCUSD", "99", "100")
    assert fired(engine, desk) == ["BTCUSD mid 99.5: crossed below 100"]


async def test_crosses_starting_above_watches_downwards() -> None:
    desk = Desk("BTCUSD")
    desk.snapshot("BTCUSD", "200", "201")
    engine = engine_of(PriceAlert("BTCUSD", PriceField.BID, crosses="150"))
    assert fired(engine, desk) == []
    desk.touch("BTCUSD", "150", "151")
    assert fired(engine, desk) == ["BTCUSD bid 150: crossed below 150"]


async def test_the_last_price_comes_from_the_tape_by_executed_time() -> None:
    desk = Desk("BTCUSD")
    engine = engine_of(PriceAlert("BTCUSD", PriceField.LAST, above="50000"))
    assert fired(engine, desk) == [], "no trade yet: nothing to read"
    desk.trade("BTCUSD", "49999", "1")
    assert fired(engine, desk) == []
    desk.trade("BTCUSD", "50001", "1", late_ms=100)  # executed before the last one: not last
    assert fired(engine, desk) == []
    desk.trade("BTCUSD", "50000", "1")
    assert fired(engine, desk) == ["BTCUSD last 50000: crossed above 50000"]


async def test_prices_are_exact_to_the_books_last_unit() -> None:
    desk = Desk("BTCUSD")
    level = "0.000000000000000002"
    desk.snapshot("BTCUSD", "0.000000000000000001", "0.000000000000000003")
    engine = engine_of(PriceAlert("BTCUSD", PriceField.BID, above=level, rearm_bps=0))
    assert fired(engine, desk) == []
    desk.touch("BTCUSD", level, "0.000000000000000003")
    assert fired(engine, desk) == [f"BTCUSD bid {level}: crossed above {level}"]


async def test_book_readings_wait_for_a_live_book() -> None:
    desk = Desk("BTCUSD")
    engine = engine_of(PriceAlert("BTCUSD", PriceField.BID, above="10"))
    assert fired(engine, desk) == [], "SYNCING: no book to read"
    desk.snapshot("BTCUSD", "5", "6")
    desk.feed.resync("BTCUSD")  # STALE until its new snapshot: its levels are old
    desk.touch("BTCUSD", "11", "12")  # buffered, not applied
    assert desk.feed.store.book("BTCUSD").state is BookState.STALE
    assert fired(engine, desk) == []
    desk.snapshot("BTCUSD", "11", "12")
    assert fired(engine, desk) == ["BTCUSD bid 11: crossed above 10"]


# --------------------------------------------------------------------------- spread, imbalance


async def test_spread_above_bps_fires_once_and_re_arms_below_the_margin() -> None:
    desk = Desk("BTCUSD", "ETHUSD")
    desk.snapshot("BTCUSD", "10000", "10004")  # 4 bps
    desk.snapshot("ETHUSD", "1000", "1000.1")  # 1 bps
    engine = engine_of(SpreadAlert("*", above_bps=5))  # re-arms below 4 bps (a fifth off)
    assert fired(engine, desk) == []
    desk.touch("BTCUSD", "10000", "10005.0026")  # 5.0001 bps of a mid of 10002.5
    assert fired(engine, desk) == ["BTCUSD spread 5.00 bps (5.0026): above 5 bps"]
    desk.touch("BTCUSD", "10000", "10004.5")  # 4.5 bps: not yet re-armed
    desk.touch("ETHUSD", "1000", "1000.6")  # 6 bps: its own state
    assert fired(engine, desk) == ["ETHUSD spread 6.00 bps (0.6): above 5 bps"]
    desk.touch("BTCUSD", "10000", "10010")
    assert fired(engine, desk) == []
    desk.touch("BTCUSD", "10000", "10003")
    assert fired(engine, desk) == []
    desk.touch("BTCUSD", "10000", "10006")
    assert fired(engine, desk) == ["BTCUSD spread 6.00 bps (6): above 5 bps"]


async def test_spread_exactly_at_the_threshold_fires() -> None:
    desk = Desk("BTCUSD")
    desk.snapshot("BTCUSD", "9999", "10001")  # 2 / 10000: exactly 2 bps
    engine = engine_of(SpreadAlert("BTCUSD", above_bps=2.0, rearm_bps=0.5))
    assert [f.value for f in engine.evaluate(0.0, desk.feed)] == ["2.00"]


async def test_imbalance_beyond_a_ratio_in_the_band_each_side() -> None:
    desk = Desk("BTCUSD")
    # mid 100; 10 bps is 99.9 to 100.1: the 99 bid is outside the band
    desk.book("BTCUSD", "SNAPSHOT", [("99.95", "1"), ("99", "50")], [("100.05", "1")])
    engine = engine_of(
        ImbalanceAlert("BTCUSD", beyond=0.6),
        ImbalanceAlert("BTCUSD", beyond=0.6, side=ImbalanceSide.ASK),
    )
    assert fired(engine, desk, 0.5) == [], "even within the band"
    desk.book("BTCUSD", "UPDATE", [("99.95", "4")], [])  # (4 - 1) / 5 = 0.6 exactly
    assert fired(engine, desk, 1.0) == [
        "BTCUSD imbalance +0.60 (bids heavy within 10 bps: bids 4, asks 1): beyond 0.6"
    ]
    desk.book("BTCUSD", "UPDATE", [("99.95", "3")], [])  # 0.5: above 0.6 - 0.1, still fired
    assert fired(engine, desk, 1.5) == []
    desk.book("BTCUSD", "UPDATE", [("99.95", "1")], [("100.05", "9")])  # -0.8
    assert fired(engine, desk, 2.0) == [
        "BTCUSD imbalance -0.80 (asks heavy within 10 bps: bids 1, asks 9): beyond 0.6"
    ], "the ask-side rule fires; the either-side one re-armed only below 0.5"
    desk.book("BTCUSD", "UPDATE", [("99.95", "1")], [("100.05", "1.5")])  # -0.2: both re-arm
    assert fired(engine, desk, 2.5) == []
    desk.book("BTCUSD", "UPDATE", [("99.95", "9")], [("100.05", "1")])
    assert fired(engine, desk, 3.0) == [
        "BTCUSD imbalance +0.80 (bids heavy within 10 bps: bids 9, asks 1): beyond 0.6"
    ]


async def test_a_changing_books_bands_are_read_every_half_second_one_market_at_a_time() -> None:
    desk = Desk("BTCUSD", "ETHUSD")
    for market in ("BTCUSD", "ETHUSD"):
        desk.book(market, "SNAPSHOT", [("99.95", "1")], [("100.05", "1")])
    engine = engine_of(ImbalanceAlert("*", beyond=0.5))
    assert fired(engine, desk, 0.0) == [], "a first reading of each at once"
    for market in ("BTCUSD", "ETHUSD"):
        desk.book(market, "UPDATE", [("99.95", "9")], [])
    assert fired(engine, desk, IMBALANCE_INTERVAL - 0.01) == [], "read half a second ago"
    assert [a.market for a in engine.evaluate(IMBALANCE_INTERVAL, desk.feed)] == ["BTCUSD"]
    assert [a.market for a in engine.evaluate(IMBALANCE_INTERVAL + 0.03, desk.feed)] == [
        "ETHUSD"
    ], "the other market at the next refresh"


async def test_imbalance_reads_the_band_it_is_given() -> None:
    desk = Desk("BTCUSD")
    desk.book("BTCUSD", "SNAPSHOT", [("99.95", "1"), ("99", "50")], [("100.05", "1")])
    engine = engine_of(ImbalanceAlert("BTCUSD", beyond=0.9, band_bps=200))
    assert [f.value for f in engine.evaluate(0.0, desk.feed)] == ["+0.96"]


# --------------------------------------------------------------------------- trades


async def test_a_trade_at_or_above_the_size_fires_one_alert_per_refresh() -> None:
    desk = Desk("BTCUSD")
    desk.trade("BTCUSD", "100", "9")  # before the rule's first look: history
    engine = engine_of(TradeAlert("BTCUSD", size="5"))
    assert fired(engine, desk) == []
    desk.trade("BTCUSD", "100", "4.99999999")
    assert fired(engine, desk) == []
    desk.trade("BTCUSD", "101", "5")
    assert fired(engine, desk) == ["BTCUSD trade of 5 at 101"]
    assert engine.status("c1").state is AlertState.ARMED, "each large trade is news"
    desk.trade("BTCUSD", "102", "6")
    desk.trade("BTCUSD", "99", "7.5", late_ms=500)  # late: lands behind the newer ones
    desk.trade("BTCUSD", "103", "1")
    assert fired(engine, desk) == ["BTCUSD trade of 7.5 at 99 (2 trades of 5 or more)"]
    assert fired(engine, desk) == [], "nothing new"


async def test_a_resubscribed_market_has_a_new_tape_whose_trades_are_all_new() -> None:
    desk = Desk("BTCUSD")
    engine = engine_of(TradeAlert("BTCUSD", size="1"))
    desk.trade("BTCUSD", "100", "2")
    assert fired(engine, desk) == []  # the first look
    desk.trade("BTCUSD", "100", "3")
    assert fired(engine, desk) == ["BTCUSD trade of 3 at 100"]
    desk.feed.unsubscribe("BTCUSD")
    desk.ingest(
        {
            "type": "unsubscribe",
            "channels": [
                {"type": t, "params": {"market": "BTCUSD"}, "success": True}
                for t in ("market_data", "execution_data")
            ],
        }
    )
    assert "BTCUSD" not in desk.feed.tape.tapes
    desk.subscribe("BTCUSD")
    desk.trade("BTCUSD", "100", "1.5")
    assert fired(engine, desk) == ["BTCUSD trade of 1.5 at 100"]


# --------------------------------------------------------------------------- durations


async def test_a_stale_book_fires_after_its_seconds_and_re_arms_when_live() -> None:
    desk = Desk("BTCUSD", "ETHUSD")
    desk.snapshot("BTCUSD")
    desk.snapshot("ETHUSD")
    engine = engine_of(StaleAlert("*", seconds=10))
    assert fired(engine, desk, 0.0) == []
    desk.feed.resync("BTCUSD")  # STALE until the new snapshot
    assert fired(engine, desk, 1.0) == []
    assert fired(engine, desk, 10.9) == []
    assert fired(engine, desk, 11.0) == ["BTCUSD book STALE for 10.0 s"]
    assert engine.status("c1").state is AlertState.FIRED
    assert fired(engine, desk, 50.0) == [], "once per spell"
    desk.snapshot("BTCUSD")
    assert fired(engine, desk, 51.0) == [] and engine.status("c1").state is AlertState.ARMED
    desk.feed.resync("BTCUSD")
    assert fired(engine, desk, 52.0) == []
    assert fired(engine, desk, 62.5) == ["BTCUSD book STALE for 10.5 s"], "a new spell"


async def test_a_failed_subscription_and_a_book_that_never_synced_count_as_not_live() -> None:
    desk = Desk("BTCUSD")
    desk.subscribe("ETHUSD", error="UNKNOWN_CHANNEL_PARAMS_CONFIGURATION")
    engine = engine_of(StaleAlert("ETHUSD", seconds=5), StaleAlert("BTCUSD", seconds=5))
    assert fired(engine, desk, 0.0) == []
    assert fired(engine, desk, 5.0) == [
        "ETHUSD book FAILED for 5.0 s",
        "BTCUSD book SYNCING for 5.0 s",
    ]


async def test_an_unsubscribed_market_is_not_stale() -> None:
    desk = Desk()
    engine = engine_of(StaleAlert("BTCUSD", seconds=1), StaleAlert("*", seconds=1))
    assert fired(engine, desk, 0.0) == [] and fired(engine, desk, 9.0) == []


async def test_disconnected_for_seconds_fires_once_and_re_arms_when_connected() -> None:
    desk = Desk()
    engine = engine_of(DisconnectedAlert(seconds=5))
    assert fired(engine, desk, 0.0) == [], "IDLE: not started is not a loss"
    desk.feed.set_connection_state(ConnectionState.CONNECTED)
    assert fired(engine, desk, 1.0) == []
    desk.feed.set_connection_state(ConnectionState.RECONNECTING, "dropped")
    assert fired(engine, desk, 2.0) == []
    desk.feed.set_connection_state(ConnectionState.CONNECTING)  # still down: one spell
    assert fired(engine, desk, 6.99) == []
    assert fired(engine, desk, 7.0) == ["feed connecting for 5.0 s"]
    assert fired(engine, desk, 8.0) == []
    desk.feed.set_connection_state(ConnectionState.CONNECTED)
    assert fired(engine, desk, 9.0) == []
    assert engine.status("c1").state is AlertState.ARMED
    desk.feed.set_connection_state(ConnectionState.STOPPED)
    assert fired(engine, desk, 100.0) == [], "stopped on purpose"


# --------------------------------------------------------------------------- operations


async def test_mute_unmute_rearm_and_delete() -> None:
    desk = Desk("BTCUSD")
    desk.snapshot("BTCUSD", "100", "101")
    engine = engine_of(PriceAlert("BTCUSD", PriceField.BID, above="100"))
    runtime = engine.add(PriceAlert("BTCUSD", PriceField.ASK, above="101"))
    assert runtime == "a1"
    assert len(fired(engine, desk)) == 2
    assert fired(engine, desk) == []
    engine.rearm("c1")  # afresh: the bid is at the level, so it fires again
    assert fired(engine, desk) == ["BTCUSD bid 100: crossed above 100"]
    engine.mute("a1")
    assert engine.status("a1").state is AlertState.MUTED
    assert engine.status("a1").last is not None, "the last firing stays listed"
    desk.touch("BTCUSD", "90", "91")
    assert fired(engine, desk) == []  # c1 re-arms; a1 is not looked at
    desk.touch("BTCUSD", "100", "101")
    assert fired(engine, desk) == ["BTCUSD bid 100: crossed above 100"], "not a1: muted"
    engine.unmute("a1")
    assert fired(engine, desk) == ["BTCUSD ask 101: crossed above 101"], "unmuted afresh"
    engine.delete("a1")
    assert [s.id for s in engine.statuses()] == ["c1"]
    with pytest.raises(AlertError, match=r"c1 \(BTCUSD bid above 100\) is defined in the config"):
        engine.delete("c1")
    with pytest.raises(AlertError, match="no alert 'a1'"):
        engine.mute("a1")
    assert engine.add(TradeAlert("BTCUSD", "1")) == "a2", "ids are never reused"


async def test_a_fired_alert_says_everything_a_stream_line_needs() -> None:
    desk = Desk("BTCUSD")
    desk.snapshot("BTCUSD", "100", "101")
    engine = engine_of(SpreadAlert("BTCUSD", above_bps=50))
    (alert,) = engine.evaluate(12.5, desk.feed)
    assert isinstance(alert, AlertFired) and alert.at == 12.5
    assert alert.as_line() == {
        "kind": "alert",
        "rule": "c1",
        "alert": "spread",
        "market": "BTCUSD",
        "value": "99.50",
        "message": "BTCUSD spread 99.50 bps (1): above 50 bps",
    }


# --------------------------------------------------------------------------- rules from tables


async def test_rules_from_tables() -> None:
    assert rule_from_table(
        {"kind": "price", "market": "BTCUSD", "field": "bid", "above": 65000}
    ) == PriceAlert("BTCUSD", PriceField.BID, above="65000")
    assert rule_from_table({"kind": "spread", "market": "ETHUSD", "above_bps": 5}) == SpreadAlert(
        "ETHUSD", 5.0
    )
    assert rule_from_table({"kind": "stale", "market": "*", "seconds": 10}) == StaleAlert("*", 10)
    assert rule_from_table({"kind": "trade", "market": "BTCUSD", "size": "5"}) == TradeAlert(
        "BTCUSD", "5"
    )
    assert rule_from_table(
        {"kind": "imbalance", "market": "BTCUSD", "beyond": 0.6, "side": "bid"}
    ) == ImbalanceAlert("BTCUSD", 0.6, ImbalanceSide.BID)
    assert rule_from_table({"kind": "disconnected", "seconds": 5}) == DisconnectedAlert(5)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"market": "BTCUSD"}, "no kind; use one of price, spread, stale, trade, imbalance"),
        ({"kind": "prise"}, "kind = 'prise' is not an alert kind; use one of price, spread"),
        (
            {"kind": "price", "market": "BTCUSD", "field": "bid", "above": 65000.5},
            "above = 65000.5 is a TOML float, which is not exact; write it as a string: "
            'above = "65000.5"',
        ),
        (
            {"kind": "price", "market": "BTCUSD", "field": "bids", "above": "1"},
            "field = 'bids': use one of bid, ask, mid, last",
        ),
        (
            {"kind": "price", "market": "BTCUSD", "field": "bid"},
            "give the level as exactly one of above, below or crosses",
        ),
        (
            {"kind": "price", "market": "BTCUSD", "field": "bid", "above": "1", "below": "2"},
            r"exactly one of above, below or crosses \(not above and below\)",
        ),
        (
            {"kind": "price", "market": "BTCUSD", "field": "bid", "above": "6.5e4"},
            "above = '6.5e4': not a non-negative decimal",
        ),
        (
            {"kind": "price", "market": "*", "field": "bid", "above": "1"},
            'market = "\\*": this kind needs one market',
        ),
        (
            {"kind": "price", "market": "btcusd", "field": "bid", "above": "1"},
            "market = 'btcusd': not a market name",
        ),
        ({"kind": "price", "field": "bid", "above": "1"}, "a price alert needs market"),
        (
            {"kind": "spread", "market": "ETHUSD", "abov_bps": 5},
            "abov_bps: not a key of a spread alert; it takes market, above_bps, rearm_bps",
        ),
        (
            {"kind": "spread", "market": "ETHUSD", "above_bps": "5"},
            "above_bps = '5' is not a number",
        ),
        (
            {"kind": "spread", "market": "ETHUSD", "above_bps": 0},
            "above_bps = 0.0: must be more than 0 and at most 10000",
        ),
        (
            {"kind": "spread", "market": "ETHUSD", "above_bps": 5, "rearm_bps": 5},
            r"rearm_bps = 5.0: must be at least 0 and less than above_bps \(5\)",
        ),
        ({"kind": "stale", "market": "*", "seconds": -1}, "seconds = -1.0: must be more than 0"),
        ({"kind": "stale", "market": "*", "seconds": True}, "seconds = True is not a number"),
        ({"kind": "trade", "market": "BTCUSD", "size": "0"}, "size = '0': must be more than zero"),
        ({"kind": "trade", "market": "BTCUSD", "size": [5]}, r"size = \[5\] is not a decimal"),
        (
            {"kind": "imbalance", "market": "BTCUSD", "beyond": 1.5},
            "beyond = 1.5: must be more than 0 and at most 1",
        ),
        (
            {"kind": "imbalance", "market": "BTCUSD", "beyond": 0.6, "band_bps": 2.5},
            "band_bps = 2.5 is not a whole number",
        ),
        (
            {"kind": "imbalance", "market": "BTCUSD", "beyond": 0.6, "side": "up"},
            "side = 'up': use one of bid, ask, either",
        ),
        (
            {"kind": "disconnected", "market": "BTCUSD", "seconds": 5},
            "market: not a key of a disconnected alert; it takes seconds",
        ),
    ],
)
async def test_a_bad_table_is_refused_naming_the_key_and_value(
    table: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        rule_from_table(table)


async def test_rules_from_a_dialogs_text_fields() -> None:
    price = {"market": "btcusd", "field": "mid", "way": "crosses", "level": " 65000.5 "}
    assert rule_from_form("price", price) == PriceAlert("BTCUSD", PriceField.MID, crosses="65000.5")
    assert rule_from_form("spread", {"market": "*", "above_bps": "2.5"}) == SpreadAlert("*", 2.5)
    assert rule_from_form("stale", {"market": "ETHUSD", "seconds": "10"}) == StaleAlert(
        "ETHUSD", 10
    )
    assert rule_from_form("trade", {"market": "BTCUSD", "size": "5"}) == TradeAlert("BTCUSD", "5")
    imbalance = {"market": "BTCUSD", "beyond": "0.6", "side": "ask", "band_bps": ""}
    assert rule_from_form("imbalance", imbalance) == ImbalanceAlert(
        "BTCUSD", 0.6, ImbalanceSide.ASK
    ), "an empty band takes the default"
    assert rule_from_form("disconnected", {"seconds": "5", "market": "ignored"}) == (
        DisconnectedAlert(5)
    ), "only the kind's fields are read"


@pytest.mark.parametrize(
    ("kind", "fields", "message"),
    [
        ("price", {"market": "", "field": "bid", "way": "above", "level": "1"}, "type a market"),
        ("price", {"market": "BTCUSD", "field": "bid", "way": "above"}, "type the price level"),
        ("price", {"market": "BTC-USD", "field": "bid", "way": "above", "level": "1"}, "not a"),
        ("price", {"market": "BTCUSD", "field": "bid", "way": "above", "level": "x"}, "above ="),
        ("price", {"market": "BTCUSD", "field": "bid", "way": "near", "level": "1"}, "way ="),
        ("spread", {"market": "BTCUSD", "above_bps": "lots"}, "above_bps = 'lots' is not a num"),
        ("spread", {"market": "BTCUSD", "above_bps": "nan"}, "is not a number"),
        ("spread", {"market": "BTCUSD", "above_bps": "-1"}, "must be more than 0"),
        ("imbalance", {"market": "X1X", "beyond": "1", "side": "bid", "band_bps": "2.5"}, "whole"),
        ("wobble", {}, "not an alert kind"),
    ],
)
async def test_a_bad_field_is_refused_saying_what_to_type(
    kind: str, fields: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        rule_from_form(kind, fields)


# --------------------------------------------------------------------------- the alerts file


async def test_runtime_rules_and_mutes_persist_fired_states_do_not(tmp_path: Path) -> None:
    path = tmp_path / "state" / "alerts.json"
    config_rules: list[AlertRule] = [SpreadAlert("*", 5), StaleAlert("*", 10)]
    desk = Desk("BTCUSD")
    desk.snapshot("BTCUSD", "100", "110")
    engine = AlertEngine.open(config_rules, alerts_file(path))
    assert engine.file is not None and engine.file.problem == ""
    kept = engine.add(PriceAlert("BTCUSD", PriceField.BID, above="100"))
    engine.add(TradeAlert("BTCUSD", "5"))
    engine.mute("c2")
    engine.mute("a2")
    assert len(engine.evaluate(0.0, desk.feed)) == 2  # c1 and a1 fire
    engine.delete("a2")

    again = AlertEngine.open(config_rules, alerts_file(path))
    assert [(s.id, s.origin, s.state) for s in again.statuses()] == [
        ("c1", AlertOrigin.CONFIG, AlertState.ARMED),
        ("c2", AlertOrigin.CONFIG, AlertState.MUTED),
        (kept, AlertOrigin.RUNTIME, AlertState.ARMED),
    ], "fired states are the session's; mutes and the runtime rule are kept"
    assert again.add(TradeAlert("BTCUSD", "1")) == "a3"
    saved = json.loads(path.read_text())
    assert saved["muted_config"] == [rule_key(StaleAlert("*", 10))]
    assert saved["alerts"][0] == {
        "id": "a1",
        "rule": {"kind": "price", "market": "BTCUSD", "field": "bid", "above": "100"},
    }

    edited: list[AlertRule] = [SpreadAlert("*", 5), StaleAlert("*", 20)]
    assert AlertEngine.open(edited, alerts_file(path)).status("c2").state is AlertState.ARMED, (
        "an edited config rule is a new rule: not muted"
    )


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b'{"alerts": [{"id": "a1", "rule": {"kind": "price", "market": "BTCUSD"}}]}',
        b'{"alerts": [{"id": "a1", "rule": {"kind": "trade", "market": "BTCUSD", "size": "-1"}}]}',
        b'{"alerts": [{"id": "a1", "rule": {"kind": "sound", "market": "BTCUSD"}}]}',
    ],
)
async def test_a_bad_alerts_file_is_kept_aside_with_a_clear_message(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "alerts.json"
    path.write_bytes(content)
    engine = AlertEngine.open([StaleAlert("*", 10)], alerts_file(path))
    assert engine.file is not None
    problem = engine.file.problem
    assert str(path) in problem and "kept as alerts.json.bad" in problem, problem
    assert [s.id for s in engine.statuses()] == ["c1"], "the config's rules still hold"
    assert (tmp_path / "alerts.json.bad").read_bytes() == content, "nothing lost"
    engine.add(TradeAlert("BTCUSD", "1"))
    assert (tmp_path / "alerts.json.bad").read_bytes() == content
    assert AlertEngine.open([], alerts_file(path)).statuses()[0].rule == TradeAlert("BTCUSD", "1")


async def test_a_change_that_cannot_be_written_holds_for_the_session_and_says_so(
    tmp_path: Path,
) -> None:
    (tmp_path / "state").write_text("")  # a file where the folder should be
    engine = AlertEngine.open([], alerts_file(tmp_path / "state" / "alerts.json"))
    with pytest.raises(StateFileError, match=r"alerts\.json: cannot be written"):
        engine.add(TradeAlert("BTCUSD", "1"))
    assert [s.id for s in engine.statuses()] == ["a1"]


async def test_the_default_alerts_file_is_in_the_state_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert alerts_file().path == tmp_path / "sordash" / "alerts.json"


async def test_saved_alerts_round_trip_every_kind() -> None:
    rules: list[AlertRule] = [
        PriceAlert("BTCUSD", PriceField.MID, crosses="65000.5", rearm_bps=2),
        SpreadAlert("*", 5, rearm_bps=1),
        StaleAlert("*", 10),
        TradeAlert("BTCUSD", "5"),
        ImbalanceAlert("BTCUSD", 0.6, ImbalanceSide.ASK, 50, 0.2),
        DisconnectedAlert(5),
    ]
    saved = SavedAlerts([SavedAlert(f"a{n}", r, n % 2 == 0) for n, r in enumerate(rules)], 9)
    engine = AlertEngine((), saved)
    assert engine.saved() == saved


# --------------------------------------------------------------------------- real feeds


async def test_a_real_drop_fires_stale_and_the_resync_re_arms_it() -> None:
    async with live_feed("BTCUSD") as (sim, feed, _):
        engine = engine_of(StaleAlert("BTCUSD", seconds=1))
        assert engine.evaluate(0.0, feed) == []
        at_drop: list[list[AlertFired]] = []

        def on_event(event: FeedEvent) -> None:
            if isinstance(event, ConnectionChanged) and event.state is ConnectionState.RECONNECTING:
                at_drop.append(engine.evaluate(1.0, feed) + engine.evaluate(2.0, feed))

        feed.add_listener(on_event)
        await sim.drop_connections(code=1011)
        await until(lambda: bool(at_drop), "the drop")
        assert [a.message for a in at_drop[0]] == ["BTCUSD book STALE for 1.0 s"]
        await until(lambda: live(feed, "BTCUSD"), "LIVE again")
        assert engine.evaluate(3.0, feed) == []
        assert engine.status("c1").state is AlertState.ARMED


async def test_a_feed_that_cannot_connect_fires_disconnected_and_stale() -> None:
    feed = offline_feed("BTCUSD")
    engine = engine_of(DisconnectedAlert(5), StaleAlert("*", 5))
    async with running(feed):
        await until(lambda: feed.state in (ConnectionState.AUTHENTICATING,), "trying")
        assert engine.evaluate(0.0, feed) == []
        messages = [a.message for a in engine.evaluate(5.0, feed)]
    assert messages == ["feed authenticating for 5.0 s", "BTCUSD book SYNCING for 5.0 s"]
