"""The real FeedClient against the real simulator over loopback: one test per situation.

Every test that ends with books checks them against the simulator's own books, level by
level, after pausing the simulator and waiting for the feed to apply the last frame sent.
"""

from __future__ import annotations

from collections.abc import Callable

from app.auth import Credentials
from app.books import BookState
from app.events import (
    BookResynced,
    ConnectionChanged,
    ConnectionState,
    FeedError,
    FeedEvent,
    Subscription,
    SubscriptionChanged,
    SubState,
)
from app.protocol import (
    EXECUTION_DATA,
    MARKET_DATA,
    UNKNOWN_CHANNEL_PARAMS_CONFIGURATION,
)
from tests.feedkit import (
    assert_books_match,
    live,
    live_feed,
    make_feed,
    offline_feed,
    running,
    running_sim,
    until,
)


def is_state(state: ConnectionState) -> Callable[[FeedEvent], bool]:
    return lambda e: isinstance(e, ConnectionChanged) and e.state is state


def failed(sub: Subscription) -> Callable[[], bool]:
    return lambda: sub.state is SubState.FAILED


async def test_normal_sync_books_match_and_subscriptions_confirmed() -> None:
    async with live_feed("BTCUSD", "ETHUSD") as (sim, feed, _rec):
        await assert_books_match(feed, sim, ["BTCUSD", "ETHUSD"])
        await until(
            lambda: all(s.confirmed for s in feed.subscriptions.values()),
            "subscription_list confirms every channel",
        )
        assert {s.state for s in feed.subscriptions.values()} == {SubState.ACTIVE}
        assert feed.markets() == ["BTCUSD", "ETHUSD"]
        await until(lambda: bool(feed.tape.get("BTCUSD")), "BTCUSD trades arrive")
        await until(lambda: feed.stats.clock_offset_ns is not None, "a heartbeat arrives")


async def test_updates_before_the_snapshot_are_buffered_and_reconciled() -> None:
    async with running_sim(pre_snapshot_updates=6) as sim:
        feed = make_feed(sim)
        feed.subscribe("BTCUSD", [MARKET_DATA])
        async with running(feed):
            await until(lambda: live(feed, "BTCUSD"), "BTCUSD LIVE")
            book = feed.store.get("BTCUSD")
            assert book is not None
            assert book.updates_buffered >= 6
            # Some were at or before the snapshot time (dropped), some after (applied).
            assert book.updates_dropped >= 1
            await assert_books_match(feed, sim, ["BTCUSD"])


async def test_drop_marks_books_stale_then_reconnects_resubscribes_and_resyncs() -> None:
    async with live_feed("BTCUSD", "ETHUSD") as (sim, feed, rec):
        seen_at_drop: list[BookState] = []
        feed.add_listener(
            lambda e: (
                seen_at_drop.extend(b.state for b in feed.store.books.values())
                if isinstance(e, ConnectionChanged) and e.state is ConnectionState.RECONNECTING
                else None
            )
        )
        start = len(rec.events)
        await sim.drop_connections(code=1011)
        await rec.wait_for(is_state(ConnectionState.RECONNECTING), "drop noticed", start=start)
        assert seen_at_drop and set(seen_at_drop) == {BookState.STALE}
        book = feed.store.get("BTCUSD")
        assert book is not None and len(book.bids) > 0  # kept visible while stale
        await until(lambda: live(feed, "BTCUSD") and live(feed, "ETHUSD"), "LIVE again")
        await assert_books_match(feed, sim, ["BTCUSD", "ETHUSD"])
        assert feed.stats.reconnects == 1
        assert book.snapshots == 2


async def test_tcp_cut_is_survived_the_same_way() -> None:
    async with live_feed("BTCUSD") as (sim, feed, rec):
        start = len(rec.events)
        await sim.cut_connections()
        await rec.wait_for(is_state(ConnectionState.RECONNECTING), "cut noticed", start=start)
        await until(lambda: live(feed, "BTCUSD"), "LIVE again")
        await assert_books_match(feed, sim, ["BTCUSD"])


async def test_token_expiry_across_a_reconnect_fetches_a_fresh_token_once() -> None:
    async with live_feed("BTCUSD") as (sim, feed, rec):
        assert sim.token_requests == 1
        sim.expire_tokens()
        # The open socket stays open (docs/protocol.md §7): still live, no new token.
        await assert_books_match(feed, sim, ["BTCUSD"])
        assert feed.state is ConnectionState.CONNECTED
        start = len(rec.events)
        await sim.drop_connections(code=1011)
        await rec.wait_for(is_state(ConnectionState.RECONNECTING), "drop", start=start)
        await until(lambda: live(feed, "BTCUSD"), "LIVE with a new token")
        assert sim.token_requests == 2
        await assert_books_match(feed, sim, ["BTCUSD"])


async def test_bad_credentials_fail_clearly_without_hammering_the_token_endpoint() -> None:
    async with running_sim() as sim:
        feed = make_feed(sim, credentials=Credentials(sim.client_id, "wrong-secret"))
        feed.subscribe("BTCUSD")
        async with running(feed) as rec:
            event = await rec.wait_for(is_state(ConnectionState.AUTH_FAILED), "auth failure")
            assert isinstance(event, ConnectionChanged)
            assert "client id or secret" in event.detail
            assert "wrong-secret" not in event.detail
            assert sim.token_requests == 1
            assert sim.connections == 0


async def test_handshake_401_refetches_once_then_backs_off() -> None:
    async with live_feed("BTCUSD", backoff_initial=0.3, backoff_max=0.3) as (sim, feed, rec):
        sim.refuse_handshakes(401)
        start = len(rec.events)
        await sim.drop_connections(code=1011)
        for _ in range(3):  # three refused attempts after the drop
            await rec.wait_for(is_state(ConnectionState.RECONNECTING), "attempt", start=start)
            start = len(rec.events)
        # One new token after the first 401, then at most one per backoff period
        # (never a tight loop): 1 initial + at most 1 per attempt.
        assert 2 <= sim.token_requests <= 4
        sim.refuse_handshakes(None)
        await until(lambda: live(feed, "BTCUSD"), "LIVE once the server accepts again")
        await assert_books_match(feed, sim, ["BTCUSD"])


async def test_handshake_403_is_final_and_names_the_scope() -> None:
    async with running_sim() as sim:
        sim.refuse_handshakes(403)
        feed = make_feed(sim)
        feed.subscribe("BTCUSD")
        async with running(feed) as rec:
            event = await rec.wait_for(is_state(ConnectionState.AUTH_FAILED), "403")
            assert isinstance(event, ConnectionChanged) and "scope" in event.detail
            refused = sim.handshakes_refused
            assert refused == 1
            assert ConnectionState.RECONNECTING not in rec.states()


async def test_silent_socket_is_caught_by_the_watchdog() -> None:
    async with live_feed("BTCUSD", watchdog_timeout=0.6, ping_interval=30.0) as (sim, feed, rec):
        start = len(rec.events)
        sim.set_silent(True)
        event = await rec.wait_for(is_state(ConnectionState.RECONNECTING), "watchdog", start=start)
        assert isinstance(event, ConnectionChanged) and "no frames" in event.detail
        book = feed.store.get("BTCUSD")
        assert book is not None and book.state is BookState.STALE
        sim.set_silent(False)
        await until(lambda: live(feed, "BTCUSD"), "LIVE after the silence")
        await assert_books_match(feed, sim, ["BTCUSD"])


async def test_malformed_frames_and_unknown_error_codes_are_survived() -> None:
    async with live_feed("BTCUSD") as (sim, feed, rec):
        await sim.send_malformed()
        await until(lambda: feed.stats.decode_errors == 1, "malformed frame counted")
        await sim.send_error("SOMETHING_NEW")
        err = await rec.wait_for(
            lambda e: isinstance(e, FeedError) and e.code == "SOMETHING_NEW",
            "unknown code shown as-is",
        )
        assert isinstance(err, FeedError) and "SOMETHING_NEW" in err.message
        assert feed.stats.reconnects == 0
        assert feed.state is ConnectionState.CONNECTED
        await assert_books_match(feed, sim, ["BTCUSD"])


async def test_internal_server_error_triggers_a_reconnect() -> None:
    async with live_feed("BTCUSD") as (sim, feed, rec):
        start = len(rec.events)
        await sim.send_error("INTERNAL_SERVER_ERROR")
        await rec.wait_for(is_state(ConnectionState.RECONNECTING), "reconnect", start=start)
        await until(lambda: live(feed, "BTCUSD"), "LIVE again")
        await assert_books_match(feed, sim, ["BTCUSD"])


async def test_unknown_market_fails_alone() -> None:
    async with running_sim() as sim:
        feed = make_feed(sim)
        feed.subscribe("BTCUSD")
        feed.subscribe("NOPEUSD")
        async with running(feed) as rec:
            await rec.wait_for(
                lambda e: (
                    isinstance(e, SubscriptionChanged)
                    and e.key == (MARKET_DATA, "NOPEUSD")
                    and e.state is SubState.FAILED
                ),
                "NOPEUSD fails",
            )
            assert len(feed.channels_for("NOPEUSD")) == 2
            for sub in feed.channels_for("NOPEUSD"):
                await until(failed(sub), "both channels fail")
                assert sub.error == UNKNOWN_CHANNEL_PARAMS_CONFIGURATION
            errors = [e for e in rec.events if isinstance(e, FeedError)]
            assert errors and all(e.market == "NOPEUSD" for e in errors)
            await until(lambda: live(feed, "BTCUSD"), "BTCUSD LIVE")
            await assert_books_match(feed, sim, ["BTCUSD"])


async def test_unsubscribe_removes_the_market_and_keeps_the_others() -> None:
    async with live_feed("BTCUSD", "ETHUSD") as (sim, feed, _rec):
        feed.unsubscribe("ETHUSD")
        await until(lambda: feed.markets() == ["BTCUSD"], "ETHUSD gone")
        assert feed.store.get("ETHUSD") is None
        assert (EXECUTION_DATA, "ETHUSD") not in feed.subscriptions
        await assert_books_match(feed, sim, ["BTCUSD"])


async def test_resync_gets_a_fresh_snapshot() -> None:
    async with live_feed("BTCUSD") as (sim, feed, rec):
        book = feed.store.get("BTCUSD")
        assert book is not None and book.snapshots == 1
        feed.resync("BTCUSD")
        assert book.state is BookState.STALE  # at once, still readable
        assert any(isinstance(e, BookResynced) for e in rec.events)
        await until(lambda: book.snapshots == 2 and live(feed, "BTCUSD"), "resynced")
        await assert_books_match(feed, sim, ["BTCUSD"])


async def test_quirks_mode_spellings_give_the_same_books() -> None:
    async with live_feed("BTCUSD", "ETHUSD", sim_options=dict(quirks=True)) as (sim, feed, _rec):
        await assert_books_match(feed, sim, ["BTCUSD", "ETHUSD"])


async def test_subscribe_while_connected_and_before_connecting() -> None:
    async with running_sim() as sim:
        feed = make_feed(sim)
        feed.subscribe("BTCUSD")  # before connecting: sent on connect
        async with running(feed):
            await until(lambda: live(feed, "BTCUSD"), "BTCUSD LIVE")
            feed.subscribe("LTCUSD")  # while connected
            await until(lambda: live(feed, "LTCUSD"), "LTCUSD LIVE")
            await assert_books_match(feed, sim, ["BTCUSD", "LTCUSD"])


async def test_the_subscribe_queue_names_what_waits_for_the_pace_and_for_answers() -> None:
    """Subscribes go one request a second (here one in 5 s): what waits is named, in
    order, with the time until the next request; a market left before its turn drops out;
    the rest goes in one request, is answered and leaves the queue."""
    async with running_sim() as sim:
        feed = make_feed(sim)
        feed.subscribe_interval = 5.0
        assert feed.subscribe_queue() == ([], [], None)
        feed.subscribe("BTCUSD")
        assert feed.subscribe_queue().waiting == ["BTCUSD"]  # waiting for a connection
        async with running(feed):
            await until(lambda: live(feed, "BTCUSD"), "BTCUSD LIVE")
            feed.subscribe("LTCUSD")
            feed.subscribe("ETHUSD")
            queue = feed.subscribe_queue()
            assert queue.waiting == ["LTCUSD", "ETHUSD"]
            assert queue.next_in is not None and 0 < queue.next_in <= 5.0
            feed.unsubscribe("ETHUSD")  # left before its request went
            assert feed.subscribe_queue().waiting == ["LTCUSD"]
            await until(lambda: not feed.subscribe_queue().waiting, "the request out")
            await until(lambda: live(feed, "LTCUSD"), "LTCUSD LIVE")
            assert feed.subscribe_queue() == ([], [], None)
            assert "ETHUSD" not in feed.markets()


async def test_drift_found_by_subscription_list_is_repaired_and_reported() -> None:
    """The server says success but never serves ETHUSD: the list check finds and fixes it."""
    async with running_sim() as sim:
        sim.lose_next_subscribe("ETHUSD")
        feed = make_feed(sim)
        feed.subscribe("BTCUSD")
        feed.subscribe("ETHUSD")
        async with running(feed) as rec:
            event = await rec.wait_for(
                lambda e: isinstance(e, FeedError) and "lost" in e.message, "drift reported"
            )
            assert isinstance(event, FeedError) and "ETHUSD" in event.message
            await until(lambda: live(feed, "BTCUSD") and live(feed, "ETHUSD"), "both LIVE")
            await until(
                lambda: all(s.confirmed for s in feed.subscriptions.values()),
                "every channel confirmed by subscription_list",
            )
            await assert_books_match(feed, sim, ["BTCUSD", "ETHUSD"])


async def test_results_without_params_from_the_server() -> None:
    async with running_sim(params_in_results=False) as sim:
        feed = make_feed(sim)
        feed.subscribe("BTCUSD")
        feed.subscribe("NOPEUSD")
        feed.subscribe("LTCUSD")
        async with running(feed):
            await until(lambda: live(feed, "BTCUSD") and live(feed, "LTCUSD"), "both LIVE")
            assert len(feed.channels_for("NOPEUSD")) == 2
            for sub in feed.channels_for("NOPEUSD"):
                await until(failed(sub), "NOPEUSD fails")
            for market in ("BTCUSD", "LTCUSD"):
                assert all(s.state is SubState.ACTIVE for s in feed.channels_for(market))
            await assert_books_match(feed, sim, ["BTCUSD", "LTCUSD"])


async def test_one_subscription_a_second_only_delays_data() -> None:
    """The server paces data for later subscriptions; the feed waits, no error, no retry."""
    async with live_feed("BTCUSD", sim_options=dict(sub_rate_limit=True)) as (sim, feed, rec):
        feed.subscribe("ETHUSD")
        await until(lambda: live(feed, "ETHUSD"), "ETHUSD LIVE, later")
        assert not [e for e in rec.events if isinstance(e, FeedError)]
        await assert_books_match(feed, sim, ["BTCUSD", "ETHUSD"])


async def test_buffer_overflow_resyncs_that_market_only() -> None:
    """BTCUSD's pre-snapshot buffer overflows: it alone resyncs; ETHUSD is untouched."""
    async with running_sim(pre_snapshot_updates=40, rate=400.0) as sim:
        feed = make_feed(sim)
        feed.subscribe("BTCUSD")
        feed.subscribe("ETHUSD")
        btc = feed.store.book("BTCUSD")
        btc.buffer_limit = 8
        async with running(feed) as rec:
            event = await rec.wait_for(
                lambda e: isinstance(e, BookResynced), "BTCUSD overflows and resyncs"
            )
            assert isinstance(event, BookResynced) and event.market == "BTCUSD"
            assert "before the snapshot" in event.reason
            await until(lambda: live(feed, "ETHUSD"), "ETHUSD LIVE")
            btc.buffer_limit = 1000  # let the resync succeed
            await until(lambda: live(feed, "BTCUSD"), "BTCUSD LIVE after its resync")
            assert all(
                e.market == "BTCUSD" for e in rec.events if isinstance(e, (BookResynced, FeedError))
            )
            eth = feed.store.get("ETHUSD")
            assert eth is not None and eth.snapshots == 1
            await assert_books_match(feed, sim, ["BTCUSD", "ETHUSD"])


class ManualClock:
    """The feed's monotonic clock, moved by the test (asyncio's own timers stay real)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def _drops(clock: ManualClock, lasted: float) -> list[float]:
    """Three server drops, each after the connection was LIVE for ``lasted`` feed seconds;
    the ``retry_in`` the feed announced after each."""
    waits: list[float] = []
    async with live_feed(
        "BTCUSD", backoff_initial=0.05, backoff_max=5.0, healthy_after=10.0, clock=clock
    ) as (sim, feed, rec):
        for _ in range(3):
            await until(lambda: live(feed, "BTCUSD"), "LIVE")
            clock.now += lasted
            start = len(rec.events)
            await sim.drop_connections(code=1011)
            event = await rec.wait_for(is_state(ConnectionState.RECONNECTING), "drop", start=start)
            assert isinstance(event, ConnectionChanged) and event.retry_in is not None
            waits.append(event.retry_in)
    return waits


async def test_a_connection_that_lasted_resets_the_backoff() -> None:
    """A server that drops a working connection now and then: a quick reconnect every time."""
    waits = await _drops(ManualClock(), lasted=10.0)
    assert all(0.025 <= w <= 0.05 for w in waits), waits


async def test_connections_dropped_at_once_back_off_longer_each_time() -> None:
    """A server that drops every connection at once: the waits grow (full jitter over the
    upper half of a doubling ceiling: [0.025, 0.05], [0.05, 0.1], [0.1, 0.2])."""
    waits = await _drops(ManualClock(), lasted=0.0)
    assert waits[0] <= 0.05 <= waits[1] <= 0.1 <= waits[2] <= 0.2, waits


async def test_an_unreachable_token_endpoint_is_reported_with_the_retry() -> None:
    """Nothing listens at the token URL: the state says so and when the next try is."""
    feed = offline_feed("BTCUSD")
    async with running(feed) as rec:
        event = await rec.token_retry()
        assert "token endpoint unreachable" in event.detail
        # The wait is retry_in, for screens to count down: a "retrying in 36s" frozen into
        # the text stayed at 36 s for 36 s.
        assert "retrying in" not in event.detail
        assert event.retry_in is not None and 0.8 <= event.retry_in <= 1.2
