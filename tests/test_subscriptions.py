"""The subscription state machine on its own: no socket, no event loop, no clock.

Each test tells a :class:`~app.subscriptions.SubscriptionCore` what happened (a command, a
connection, an answer from the server, the time) and checks what a trader or the server
would see of it: the channels' states, the requests it asks to send, in order, and the
events it asks to show. Time is a number the test passes in and jitter a function it
chooses, so backoff schedules are exact.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterable

import pytest

from app.events import BookResynced, FeedError, SubscriptionChanged, SubState
from app.protocol import (
    EXECUTION_DATA,
    MARKET_DATA,
    UNKNOWN_CHANNEL_PARAMS_CONFIGURATION,
    Channel,
    ChannelKey,
    ChannelResult,
    Params,
    SubscribeResult,
    SubscriptionList,
    UnsubscribeResult,
    channel_from_key,
)
from app.subscriptions import (
    DRIFT_REPAIRS,
    HEARTBEAT_KEY,
    RESYNC_ATTEMPTS,
    RESYNC_BACKOFF,
    RESYNC_FORGIVEN_AFTER,
    Effect,
    RemoveBook,
    RemoveTape,
    ResetBook,
    Send,
    SubscriptionCore,
)

BTC_MD: ChannelKey = (MARKET_DATA, "BTCUSD")
BTC_ED: ChannelKey = (EXECUTION_DATA, "BTCUSD")
ETH_MD: ChannelKey = (MARKET_DATA, "ETHUSD")
ETH_ED: ChannelKey = (EXECUTION_DATA, "ETHUSD")
LIST = Send("subscription_list")


# --------------------------------------------------------------------------- helpers


def sends(effects: Iterable[Effect]) -> list[Send]:
    """The requests asked for, in order."""
    return [e for e in effects if isinstance(e, Send)]


def errors(effects: Iterable[Effect]) -> list[FeedError]:
    return [e for e in effects if isinstance(e, FeedError)]


def changes(effects: Iterable[Effect]) -> list[SubscriptionChanged]:
    return [e for e in effects if isinstance(e, SubscriptionChanged)]


def entry(key: ChannelKey, success: bool = True, error: str | None = None) -> ChannelResult:
    """A result entry that names its channel."""
    params = Params(key[1]) if key[1] is not None else None
    return ChannelResult(key[0], params, success, error)


def subscribed(*entries: ChannelResult) -> SubscribeResult:
    return SubscribeResult(list(entries))


def unsubscribed(*entries: ChannelResult) -> UnsubscribeResult:
    return UnsubscribeResult(list(entries))


def listing(*keys: ChannelKey) -> SubscriptionList:
    """The server's ``subscription_list`` naming ``keys``."""
    return SubscriptionList([channel_from_key(k) for k in keys])


def send_all(core: SubscriptionCore, effects: Iterable[Effect]) -> list[Send]:
    """Play the writer: send each requested request at once (what the core still wants of
    a subscribe) and tell the core; the requests as they went out."""
    out: list[Send] = []
    for request in sends(effects):
        if request.kind == "subscribe":
            keys = [k for k in request.keys if core.still_wanted(k)]
            if not keys:
                continue
            core.subscribe_sent(keys)
            request = Send("subscribe", tuple(keys))
        elif request.kind == "unsubscribe":
            core.unsubscribe_sent(request.keys)
        out.append(request)
    return out


def answer(core: SubscriptionCore, requests: Iterable[Send], now: float = 0.0) -> list[Effect]:
    """Play a server that accepts every request: the core's effects of all the answers."""
    effects: list[Effect] = []
    for request in requests:
        if request.kind == "subscribe":
            effects += core.on_subscribe_result(subscribed(*map(entry, request.keys)), now)
        elif request.kind == "unsubscribe":
            effects += core.on_unsubscribe_result(unsubscribed(*map(entry, request.keys)))
    return effects


def live_core(
    *markets: str,
    random: Callable[[float, float], float] = lambda low, high: 1.0,
    resync_backoff: tuple[float, float] = RESYNC_BACKOFF,
) -> SubscriptionCore:
    """A connected core with ``markets`` subscribed and ACTIVE (no heartbeat channel; the
    ``subscription_list`` check due as soon as every subscribe is answered)."""
    core = SubscriptionCore(
        heartbeat=False, drift_check_delay=0.0, random=random, resync_backoff=resync_backoff
    )
    core.connection_opened()
    for market in markets:
        answer(core, send_all(core, core.subscribe(market)))
    assert core.on_time(0.0) == [LIST]  # asked, and left unanswered
    assert all(s.state is SubState.ACTIVE for s in core.subscriptions.values())
    return core


def state(core: SubscriptionCore, key: ChannelKey) -> SubState:
    return core.subscriptions[key].state


# --------------------------------------------------------------------------- subscribing


def test_a_subscribe_is_one_request_and_success_makes_the_channels_active() -> None:
    core = SubscriptionCore(heartbeat=False, drift_check_delay=1.5)
    assert core.connection_opened() == []  # nothing to subscribe yet
    effects = core.subscribe("BTCUSD")
    assert [(c.key, c.state) for c in changes(effects)] == [
        (BTC_MD, SubState.PENDING),
        (BTC_ED, SubState.PENDING),
    ]
    assert sends(effects) == [Send("subscribe", (BTC_MD, BTC_ED))]
    assert core.markets() == ["BTCUSD"]
    requests = send_all(core, effects)
    assert core.next_deadline() is None  # the list is asked only once answers are in
    effects = answer(core, requests, now=10.0)
    assert [(c.key, c.state) for c in changes(effects)] == [
        (BTC_MD, SubState.ACTIVE),
        (BTC_ED, SubState.ACTIVE),
    ]
    assert not errors(effects)
    # Then the server's word is checked against its subscription_list.
    assert core.next_deadline() == 11.5
    assert core.on_time(11.4) == []
    assert core.on_time(11.5) == [LIST]
    assert core.next_deadline() is None


def test_subscribing_a_held_market_again_asks_for_nothing() -> None:
    core = live_core("BTCUSD")
    assert core.subscribe("BTCUSD") == []
    # A channel added later is asked for on its own.
    answer(core, send_all(core, core.subscribe("ETHUSD", [MARKET_DATA])))
    assert sends(core.subscribe("ETHUSD")) == [Send("subscribe", (ETH_ED,))]


def test_subscribes_made_while_disconnected_go_out_in_one_request_on_connect() -> None:
    core = SubscriptionCore()  # with the heartbeat channel
    assert sends(core.subscribe("BTCUSD")) == []
    assert sends(core.subscribe("ETHUSD", [MARKET_DATA])) == []
    assert state(core, BTC_MD) is SubState.PENDING
    assert core.connection_opened() == [
        Send("subscribe", (HEARTBEAT_KEY, BTC_MD, BTC_ED, ETH_MD)),
    ]


def test_a_refused_channel_fails_with_the_servers_code_alone() -> None:
    core = SubscriptionCore(heartbeat=False)
    core.connection_opened()
    send_all(core, core.subscribe("NOPEUSD"))
    nope_md, nope_ed = (MARKET_DATA, "NOPEUSD"), (EXECUTION_DATA, "NOPEUSD")
    effects = core.on_subscribe_result(
        subscribed(entry(nope_md, False, UNKNOWN_CHANNEL_PARAMS_CONFIGURATION), entry(nope_ed)),
        now=0.0,
    )
    sub = core.subscriptions[nope_md]
    assert sub.state is SubState.FAILED and sub.error == UNKNOWN_CHANNEL_PARAMS_CONFIGURATION
    assert state(core, nope_ed) is SubState.ACTIVE
    (error,) = errors(effects)
    assert error.market == "NOPEUSD" and error.code == UNKNOWN_CHANNEL_PARAMS_CONFIGURATION
    assert "subscription to market_data NOPEUSD failed" in error.message
    assert changes(effects)[0] == SubscriptionChanged(
        nope_md, SubState.FAILED, UNKNOWN_CHANNEL_PARAMS_CONFIGURATION
    )


def test_results_without_params_are_matched_by_position() -> None:
    """The documentation variant without ``params`` (docs/protocol.md §4): entries pair with
    the oldest request by order and type; one that matches nothing is reported."""
    core = SubscriptionCore(heartbeat=False)
    core.connection_opened()
    core.subscribe("BTCUSD")
    core.subscribe("BADBAD", [MARKET_DATA])
    bad: ChannelKey = (MARKET_DATA, "BADBAD")
    core.subscribe_sent([BTC_MD, bad, BTC_ED])
    effects = core.on_subscribe_result(
        subscribed(
            ChannelResult(MARKET_DATA, None, True),
            ChannelResult(MARKET_DATA, None, False, UNKNOWN_CHANNEL_PARAMS_CONFIGURATION),
            ChannelResult(EXECUTION_DATA, Params("BTCUSD"), True),
            ChannelResult(EXECUTION_DATA, None, True),  # a fourth entry for a 3-key request
        ),
        now=0.0,
    )
    assert state(core, BTC_MD) is SubState.ACTIVE
    assert state(core, bad) is SubState.FAILED
    assert core.subscriptions[bad].error == UNKNOWN_CHANNEL_PARAMS_CONFIGURATION
    assert state(core, BTC_ED) is SubState.ACTIVE
    assert [e.message for e in errors(effects)] == [
        "cannot match a execution_data result to a request",
        "subscription to market_data BADBAD failed: UNKNOWN_CHANNEL_PARAMS_CONFIGURATION",
    ]


def test_the_list_is_checked_once_every_subscribe_is_answered() -> None:
    core = live_core("BTCUSD")
    first = send_all(core, core.subscribe("ETHUSD"))
    second = send_all(core, core.subscribe("LTCUSD"))
    answer(core, first, now=5.0)
    assert core.next_deadline() is None  # LTCUSD's answer is still to come
    answer(core, second, now=6.0)
    assert core.next_deadline() == 6.0
    assert core.on_time(6.0) == [LIST]


def test_a_subscribe_the_user_took_back_before_it_went_out_is_not_sent() -> None:
    core = SubscriptionCore(heartbeat=False)
    core.connection_opened()
    effects = core.subscribe("BTCUSD") + core.subscribe("ETHUSD")
    core.unsubscribe("BTCUSD")  # while its subscribe waits for its turn
    assert send_all(core, effects) == [Send("subscribe", (ETH_MD, ETH_ED))]


# --------------------------------------------------------------------------- unsubscribing


def test_unsubscribe_while_connected_waits_for_the_server() -> None:
    core = live_core("BTCUSD", "ETHUSD")
    effects = core.unsubscribe("BTCUSD")
    assert [(c.key, c.state) for c in changes(effects)] == [
        (BTC_MD, SubState.UNSUBSCRIBING),
        (BTC_ED, SubState.UNSUBSCRIBING),
    ]
    # The server may not answer an unsubscribe (docs/protocol.md §7): the list settles it.
    assert sends(effects) == [Send("unsubscribe", (BTC_MD, BTC_ED)), LIST]
    assert core.markets() == ["BTCUSD", "ETHUSD"]  # until the server confirms
    effects = answer(core, send_all(core, effects))
    assert [c.key for c in changes(effects) if c.removed] == [BTC_MD, BTC_ED]
    assert [e for e in effects if isinstance(e, RemoveBook | RemoveTape)] == [
        RemoveBook("BTCUSD"),
        RemoveTape("BTCUSD"),
    ]
    assert core.markets() == ["ETHUSD"]
    assert set(core.subscriptions) == {ETH_MD, ETH_ED}


def test_an_unanswered_unsubscribe_is_settled_by_the_list() -> None:
    core = live_core("BTCUSD", "ETHUSD")
    send_all(core, core.unsubscribe("BTCUSD"))
    effects = core.on_subscription_list(listing(ETH_MD, ETH_ED))
    assert [c.key for c in changes(effects) if c.removed] == [BTC_MD, BTC_ED]
    assert core.markets() == ["ETHUSD"]
    assert not sends(effects)


def test_a_refused_unsubscribe_is_shown_and_the_channel_goes_anyway() -> None:
    core = live_core("BTCUSD")
    send_all(core, core.unsubscribe("BTCUSD"))
    effects = core.on_unsubscribe_result(
        unsubscribed(
            entry(BTC_MD, False, "SOMETHING"),
            entry(BTC_ED, False, UNKNOWN_CHANNEL_PARAMS_CONFIGURATION),
        )
    )
    # An unknown channel is gone already: only the other refusal is shown.
    assert [e.message for e in errors(effects)] == ["unsubscribe of market_data failed: SOMETHING"]
    assert core.subscriptions == {} and core.markets() == []


def test_unsubscribe_while_disconnected_removes_at_once() -> None:
    core = live_core("BTCUSD", "ETHUSD")
    core.connection_dropped()
    effects = core.unsubscribe("BTCUSD")
    assert sends(effects) == []
    assert [c.key for c in changes(effects) if c.removed] == [BTC_MD, BTC_ED]
    assert RemoveBook("BTCUSD") in effects and RemoveTape("BTCUSD") in effects
    assert core.markets() == ["ETHUSD"]


def test_unsubscribe_of_a_failed_channel_asks_the_server_nothing() -> None:
    core = SubscriptionCore(heartbeat=False)
    core.connection_opened()
    answer_keys = send_all(core, core.subscribe("NOPEUSD"))[0].keys
    core.on_subscribe_result(
        subscribed(*(entry(k, False, UNKNOWN_CHANNEL_PARAMS_CONFIGURATION) for k in answer_keys)),
        now=0.0,
    )
    effects = core.unsubscribe("NOPEUSD")
    assert sends(effects) == []
    assert core.subscriptions == {} and core.markets() == []


# --------------------------------------------------------------------------- subscription_list


def test_a_list_that_holds_everything_confirms_it() -> None:
    core = live_core("BTCUSD")
    effects = core.on_subscription_list(listing(BTC_MD, BTC_ED))
    assert [(c.key, c.confirmed) for c in changes(effects)] == [(BTC_MD, True), (BTC_ED, True)]
    assert sends(effects) == [] and errors(effects) == []
    assert all(s.confirmed for s in core.subscriptions.values())
    assert core.on_subscription_list(listing(BTC_MD, BTC_ED)) == []  # no news, no events


def test_a_channel_the_list_keeps_leaving_out_is_repaired_then_left_alone() -> None:
    core = live_core("BTCUSD")
    for repair in range(1, DRIFT_REPAIRS + 1):
        effects = core.on_subscription_list(listing(BTC_ED))
        (error,) = errors(effects)
        assert "the server lost market_data:BTCUSD" in error.message, repair
        assert ResetBook("BTCUSD") in effects
        # Unsubscribe, then subscribe: a fresh SNAPSHOT whether the server had it or not.
        requests = send_all(core, effects)
        assert requests == [Send("unsubscribe", (BTC_MD,)), Send("subscribe", (BTC_MD,))]
        assert state(core, BTC_MD) is SubState.PENDING
        # The unsubscribe's answer is the first half of the repair: the channel stays.
        assert core.on_unsubscribe_result(unsubscribed(entry(BTC_MD))) == []
        assert BTC_MD in core.subscriptions
        core.on_subscribe_result(subscribed(entry(BTC_MD)), now=0.0)
        assert state(core, BTC_MD) is SubState.ACTIVE
    effects = core.on_subscription_list(listing(BTC_ED))
    (error,) = errors(effects)
    assert "keeps leaving out market_data:BTCUSD although its data flows" in error.message
    assert error.market == "BTCUSD"
    assert sends(effects) == [] and ResetBook("BTCUSD") not in effects
    assert state(core, BTC_MD) is SubState.ACTIVE
    assert core.subscriptions[BTC_MD].confirmed is False
    assert core.on_subscription_list(listing(BTC_ED)) == []  # reported once


def test_a_channel_listed_again_gets_its_repairs_back() -> None:
    core = live_core("BTCUSD")
    for _ in range(DRIFT_REPAIRS):
        answer(core, send_all(core, core.on_subscription_list(listing(BTC_ED))))
    core.on_subscription_list(listing(BTC_MD, BTC_ED))  # the server has it again
    effects = core.on_subscription_list(listing(BTC_ED))
    assert sends(effects) == [Send("unsubscribe", (BTC_MD,)), Send("subscribe", (BTC_MD,))]


def test_channels_we_never_asked_for_are_unsubscribed_once_per_connection() -> None:
    core = live_core("BTCUSD")
    effects = core.on_subscription_list(listing(BTC_MD, BTC_ED, ETH_MD))
    (error,) = errors(effects)
    assert "did not ask for: market_data:ETHUSD; unsubscribing" in error.message
    assert sends(effects) == [Send("unsubscribe", (ETH_MD,))]
    assert ETH_MD not in core.subscriptions
    assert core.on_subscription_list(listing(BTC_MD, BTC_ED, ETH_MD)) == []
    # A new connection may ask again.
    core.connection_dropped()
    answer(core, send_all(core, core.connection_opened()))
    assert sends(core.on_subscription_list(listing(BTC_MD, BTC_ED, ETH_MD))) == [
        Send("unsubscribe", (ETH_MD,))
    ]


def test_market_channels_listed_without_params_are_not_acted_on() -> None:
    """They name no market: nothing of that type is confirmed, repaired or unsubscribed."""
    core = live_core("BTCUSD")
    effects = core.on_subscription_list(
        SubscriptionList([Channel(MARKET_DATA), channel_from_key(BTC_ED)])
    )
    (error,) = errors(effects)
    assert "named market_data channels without their markets" in error.message
    assert sends(effects) == []
    assert state(core, BTC_MD) is SubState.ACTIVE
    assert core.subscriptions[BTC_MD].confirmed is None
    assert core.subscriptions[BTC_ED].confirmed is True  # the other type is still checked


# --------------------------------------------------------------------------- resyncs


class Jitter:
    """Injected jitter: always ``factor``, and the ranges it was asked for."""

    def __init__(self, factor: float) -> None:
        self.factor = factor
        self.asked: list[tuple[float, float]] = []

    def __call__(self, low: float, high: float) -> float:
        self.asked.append((low, high))
        return self.factor


def resynced(core: SubscriptionCore, effects: list[Effect], now: float) -> None:
    """The BTCUSD resync ``effects`` asked for went out at ``now`` and the server accepted
    at once: ACTIVE again, and the ``subscription_list`` check asked (and left unanswered)."""
    requests = send_all(core, effects)
    assert requests == [Send("unsubscribe", (BTC_MD,)), Send("subscribe", (BTC_MD,))]
    answer(core, requests, now)
    assert state(core, BTC_MD) is SubState.ACTIVE
    assert core.on_time(now) == [LIST]


def test_a_book_that_keeps_needing_resyncs_backs_off_then_fails() -> None:
    jitter = Jitter(1.1)
    core = live_core("BTCUSD", "ETHUSD", random=jitter, resync_backoff=(1.0, 4.0))
    now = 100.0
    # The first resync goes at once.
    effects = core.book_needs_resync("BTCUSD", "a level too fine", now)
    assert [e.message for e in errors(effects)] == [
        "book needs a new snapshot: a level too fine; resync 1 of 5 now"
    ]
    assert ResetBook("BTCUSD") in effects
    assert [e for e in effects if isinstance(e, BookResynced)] == [
        BookResynced("BTCUSD", "a level too fine")
    ]
    assert core.book_needs_resync("BTCUSD", "again", now) == []  # one resync at a time
    resynced(core, effects, now)
    # Then they wait, doubling up to the longest, each wait times the jitter.
    for attempt, wait in [(2, 1.1), (3, 2.2), (4, 4.4), (5, 4.4)]:
        now += 1.0
        effects = core.book_needs_resync("BTCUSD", "a level too fine", now)
        assert [e.message for e in errors(effects)] == [
            f"book needs a new snapshot: a level too fine; resync {attempt} of 5 in {wait:.1f}s"
        ]
        assert sends(effects) == [] and effects[0] == ResetBook("BTCUSD")
        assert core.next_deadline() == pytest.approx(now + wait)
        assert core.book_needs_resync("BTCUSD", "again", now + 0.1) == []  # already waiting
        assert core.on_time(now + wait - 0.01) == []
        now = core.next_deadline() or 0.0
        effects = core.on_time(now)
        assert BookResynced("BTCUSD", "a level too fine") in effects
        resynced(core, effects, now)
    assert jitter.asked == [(0.8, 1.2)] * RESYNC_ATTEMPTS
    # One more: given up, shown, and no more data asked for.
    effects = core.book_needs_resync("BTCUSD", "a level too fine", now + 1.0)
    sub = core.subscriptions[BTC_MD]
    assert sub.state is SubState.FAILED and sub.given_up
    assert sub.error == "gave up after 5 resyncs: a level too fine"
    assert [e.message for e in errors(effects)] == [
        "BTCUSD book FAILED: gave up after 5 resyncs: a level too fine (a resync tries again)"
    ]
    assert sends(effects) == [Send("unsubscribe", (BTC_MD,))]
    assert not [e for e in effects if isinstance(e, BookResynced)]
    assert core.next_deadline() is None
    assert all(s.state is SubState.ACTIVE for s in core.channels_for("ETHUSD"))


def test_a_book_quiet_long_enough_starts_its_count_afresh() -> None:
    core = live_core("BTCUSD", resync_backoff=(1.0, 4.0))
    resynced(core, core.book_needs_resync("BTCUSD", "overflow", 0.0), 0.0)
    effects = core.book_needs_resync("BTCUSD", "overflow", 10.0)
    assert "resync 2 of 5 in 1.0s" in errors(effects)[0].message
    resynced(core, core.on_time(11.0), 11.0)
    effects = core.book_needs_resync("BTCUSD", "overflow", 10.0 + RESYNC_FORGIVEN_AFTER + 0.5)
    assert "resync 1 of 5 now" in errors(effects)[0].message
    assert sends(effects)  # at once, no wait


def test_a_user_resync_starts_the_count_afresh_and_retries_a_book_given_up() -> None:
    core = live_core("BTCUSD", resync_backoff=(0.0, 0.0))
    for attempt in range(RESYNC_ATTEMPTS):
        resynced(
            core, core.book_needs_resync("BTCUSD", "bad level", float(attempt)), float(attempt)
        )
    core.book_needs_resync("BTCUSD", "bad level", 10.0)
    assert core.subscriptions[BTC_MD].given_up
    effects = core.resync("BTCUSD", "requested from the keyboard")
    sub = core.subscriptions[BTC_MD]
    assert sub.state is SubState.PENDING and not sub.given_up and sub.error is None
    assert BookResynced("BTCUSD", "requested from the keyboard") in effects
    assert ResetBook("BTCUSD") in effects
    resynced(core, effects, 10.0)
    effects = core.book_needs_resync("BTCUSD", "bad level", 11.0)
    assert "resync 1 of 5 now" in errors(effects)[0].message


def test_a_user_resync_cancels_a_waiting_one_and_goes_now() -> None:
    core = live_core("BTCUSD", resync_backoff=(5.0, 5.0))
    resynced(core, core.book_needs_resync("BTCUSD", "overflow", 0.0), 0.0)
    core.book_needs_resync("BTCUSD", "overflow", 1.0)
    assert core.next_deadline() == 6.0
    resynced(core, core.resync("BTCUSD"), 1.0)
    assert core.next_deadline() is None


def test_a_resync_while_disconnected_waits_for_the_connection() -> None:
    core = live_core("BTCUSD")
    core.connection_dropped()
    effects = core.resync("BTCUSD")
    assert sends(effects) == [] and BookResynced("BTCUSD", "requested") in effects
    assert state(core, BTC_MD) is SubState.PENDING
    assert core.connection_opened() == [Send("subscribe", (BTC_MD, BTC_ED))]


def test_an_unsubscribe_during_a_resync_waits_for_its_own_answer() -> None:
    """The resync's unsubscribe is answered first: the market stays UNSUBSCRIBING until the
    server answers the user's unsubscribe, sent after the resync's subscribe."""
    core = live_core("BTCUSD")
    resync = send_all(core, core.resync("BTCUSD"))
    leave = send_all(core, core.unsubscribe("BTCUSD"))
    assert leave == [Send("unsubscribe", (BTC_MD, BTC_ED)), LIST]
    answer(core, resync)
    assert state(core, BTC_MD) is SubState.UNSUBSCRIBING
    assert core.markets() == ["BTCUSD"]
    effects = answer(core, leave)
    assert {c.key for c in changes(effects) if c.removed} == {BTC_MD, BTC_ED}
    assert core.markets() == []


# --------------------------------------------------------------------------- the connection


def test_a_drop_makes_active_channels_pending_and_forgets_those_being_left() -> None:
    core = live_core("BTCUSD", "ETHUSD", "LTCUSD", resync_backoff=(5.0, 5.0))
    everything = [k for m in core.markets() for k in ((MARKET_DATA, m), (EXECUTION_DATA, m))]
    core.on_subscription_list(listing(*everything))
    assert all(s.confirmed for s in core.subscriptions.values())
    send_all(core, core.unsubscribe("ETHUSD"))
    resynced(core, core.book_needs_resync("BTCUSD", "overflow", 0.0), 0.0)
    core.book_needs_resync("BTCUSD", "overflow", 1.0)  # a resync waiting out its backoff
    assert core.next_deadline() is not None
    effects = core.connection_dropped()
    assert {(c.key, c.state) for c in changes(effects) if not c.removed} == {
        (BTC_MD, SubState.PENDING),
        (BTC_ED, SubState.PENDING),
        ((MARKET_DATA, "LTCUSD"), SubState.PENDING),
        ((EXECUTION_DATA, "LTCUSD"), SubState.PENDING),
    }
    assert {c.key for c in changes(effects) if c.removed} == {ETH_MD, ETH_ED}
    assert RemoveBook("ETHUSD") in effects and RemoveTape("ETHUSD") in effects
    assert core.markets() == ["BTCUSD", "LTCUSD"]
    assert all(s.confirmed is None for s in core.subscriptions.values())
    assert sends(effects) == [] and core.next_deadline() is None
    # The new connection subscribes every channel again, in one request.
    assert core.connection_opened() == [
        Send("subscribe", (BTC_MD, BTC_ED, (MARKET_DATA, "LTCUSD"), (EXECUTION_DATA, "LTCUSD")))
    ]


def test_answers_to_requests_of_a_dropped_connection_are_not_matched_to_new_ones() -> None:
    """A server without ``params`` in its results: after a reconnect, the first answer is
    the new connection's, matched against its own request."""
    core = SubscriptionCore(heartbeat=False)
    core.connection_opened()
    send_all(core, core.subscribe("ETHUSD", [MARKET_DATA]))  # never answered
    core.connection_dropped()
    core.subscribe("BTCUSD")
    assert send_all(core, core.connection_opened()) == [Send("subscribe", (ETH_MD, BTC_MD, BTC_ED))]
    effects = core.on_subscribe_result(
        subscribed(
            ChannelResult(MARKET_DATA, None, False, UNKNOWN_CHANNEL_PARAMS_CONFIGURATION),
            ChannelResult(MARKET_DATA, None, True),
            ChannelResult(EXECUTION_DATA, None, True),
        ),
        0.0,
    )
    assert state(core, ETH_MD) is SubState.FAILED
    assert state(core, BTC_MD) is SubState.ACTIVE and state(core, BTC_ED) is SubState.ACTIVE
    assert not [e for e in errors(effects) if "cannot match" in e.message]


def test_a_failed_channel_stays_failed_across_a_reconnect() -> None:
    core = SubscriptionCore(heartbeat=False)
    core.connection_opened()
    nope: ChannelKey = (MARKET_DATA, "NOPEUSD")
    send_all(core, core.subscribe("NOPEUSD", [MARKET_DATA]))
    core.on_subscribe_result(subscribed(entry(nope, False, "UNKNOWN_CHANNEL")), 0.0)
    core.connection_dropped()
    assert core.connection_opened() == []
    assert state(core, nope) is SubState.FAILED


def test_no_request_is_asked_for_without_a_connection() -> None:
    core = live_core("BTCUSD")
    core.connection_dropped()
    effects = (
        core.subscribe("ETHUSD")
        + core.resync("BTCUSD")
        + core.on_subscription_list(listing(ETH_MD, (MARKET_DATA, "XRPUSD")))
        + core.on_subscribe_result(subscribed(entry(ETH_MD)), 0.0)
    )
    assert sends(effects) == []
    assert core.next_deadline() is None  # nor a list check


# --------------------------------------------------------------------------- replay


def test_adopted_channels_are_taken_from_the_servers_answers() -> None:
    """Replay: the recording's answers say which channels were ours."""
    core = SubscriptionCore(heartbeat=False, adopt_channels=True)
    effects = core.on_subscribe_result(
        subscribed(entry(ETH_MD), entry(ETH_ED), entry(BTC_MD, False, "UNKNOWN_CHANNEL")), 0.0
    )
    assert [(c.key, c.state) for c in changes(effects)] == [
        (ETH_MD, SubState.ACTIVE),
        (ETH_ED, SubState.ACTIVE),
    ]
    assert core.markets() == ["ETHUSD"]
    assert BTC_MD not in core.subscriptions  # refused: never ours


def test_without_adoption_answers_for_channels_we_never_asked_for_are_ignored() -> None:
    core = SubscriptionCore(heartbeat=False)
    assert core.on_subscribe_result(subscribed(entry(ETH_MD)), 0.0) == []
    assert core.subscriptions == {} and core.markets() == []


# --------------------------------------------------------------------------- purity

PROBE = """
import json, sys
import app.subscriptions
loaded = {m.split(".")[0] for m in sys.modules}
print(json.dumps(sorted(loaded & {"asyncio", "aiohttp", "textual"})))
"""
"""Import the core in a fresh interpreter: what this test process loaded cannot hide it."""


def test_the_core_loads_no_event_loop_network_or_screen_code() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


# --------------------------------------------------------------------------- the queue shown


def test_what_waits_for_a_connection_and_what_waits_for_its_answer() -> None:
    """The watchlist's queue: without a connection every pending market waits for one;
    once out, a request's markets wait for its answer until it comes."""
    core = SubscriptionCore(heartbeat=True)
    core.subscribe("BTCUSD")
    core.subscribe("ETHUSD")
    assert core.waiting_for_connection() == ["BTCUSD", "ETHUSD"]  # the heartbeat is no market
    requests = send_all(core, core.connection_opened())
    assert core.waiting_for_connection() == []
    assert core.subscribes_unanswered() == ["BTCUSD", "ETHUSD"]
    answer(core, requests)
    assert core.subscribes_unanswered() == []
