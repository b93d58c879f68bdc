"""Truth under failure: what the feed does when the exchange, the network or a file misbehaves.

Each test drives the real FeedClient against the real simulator over loopback (with the
simulator's fault modes), or the real CLI as a subprocess, and checks what a trader or a
script would notice: no resubscribe storm, bounded frames and buffers, no secret in any
output, a garbled token answer retried instead of taken for refused credentials, a book that
comes back LIVE after a drifting ``subscription_list``, failures that are shown and logged.
"""

from __future__ import annotations

import asyncio
import io
import logging
from itertools import pairwise
from pathlib import Path

import pytest

from app.auth import UNREADABLE, Credentials
from app.books import Book, BookState, BookStore
from app.events import (
    BookResynced,
    ConnectionChanged,
    ConnectionState,
    FeedError,
    SubState,
)
from app.feed import MAX_FRAME_BYTES, FeedClient, _Throttle
from app.protocol import MARKET_DATA, BookMessage
from app.redact import REDACTOR
from app.session import Session, SessionOptions
from app.stream import EXIT_FAILED, run_stream
from app.subscriptions import DRIFT_REPAIRS, RESYNC_ATTEMPTS
from tests.feedkit import (
    CLI,
    WAIT,
    assert_books_match,
    cli_environ,
    live,
    make_feed,
    parse_lines,
    plain,
    run_cli,
    running,
    running_sim,
    sim_credentials,
    stream_args,
    until,
)

# --------------------------------------------------------------------------- storms


def max_rate_ok(times: list[float], interval: float = 1.0, slack: float = 0.25) -> bool:
    """No two subscribe requests reached the server closer than ``interval`` apart, less
    ``slack``: the simulator shares the test's event loop, so a busy loop can handle one
    request late and the next on time (a storm is hundreds a second, not 0.75 s apart)."""
    return all(b - a >= interval - slack for a, b in pairwise(times))


async def test_an_unreadable_level_backs_off_and_fails_the_market_without_a_storm() -> None:
    """Every BTCUSD snapshot carries an amount with 19 decimals: the feed resyncs a few times,
    backing off, then shows BTCUSD FAILED naming the level; ETHUSD is untouched, and the
    server never sees more than one subscribe request a second (it saw 360-1,250 before)."""
    async with running_sim(unreadable_markets=["BTCUSD"]) as sim:
        feed = make_feed(sim)
        feed.resync_backoff = (0.05, 0.2)  # the rate limit, not the backoff, is under test
        feed.subscribe("BTCUSD")
        feed.subscribe("ETHUSD")
        async with running(feed) as rec:
            md = feed.subscriptions[(MARKET_DATA, "BTCUSD")]
            await until(lambda: md.state is SubState.FAILED, "BTCUSD FAILED", limit=30)
            assert md.error is not None and "gave up after 5 resyncs" in md.error
            # Which level, and why, in words to check against the exchange.
            assert "BTCUSD ask at price" in md.error
            assert "'0.1234567890123456789' has 19 significant fraction digits" in md.error
            resyncs = [e for e in rec.events if isinstance(e, BookResynced)]
            assert len(resyncs) == RESYNC_ATTEMPTS
            assert [e for e in rec.events if isinstance(e, FeedError) and "4 of 5" in e.message]
            requests = sim.subscribe_requests
            assert requests <= 1 + RESYNC_ATTEMPTS
            assert max_rate_ok(sim.subscribe_times), sim.subscribe_times
            assert live(feed, "ETHUSD")
            await assert_books_match(feed, sim, ["ETHUSD"])
            # Given up means given up: no more requests while the data would still be bad.
            book = feed.store.get("BTCUSD")
            assert book is not None and book.state is not BookState.LIVE
            await sim.step(20)
            await until(lambda: feed.stats.frames > 0, "frames still flow")
            assert sim.subscribe_requests == requests
            # `r` tries again, from a fresh count; the book comes back once the level does.
            sim.set_unreadable("BTCUSD", False)
            feed.resync("BTCUSD", "requested from the keyboard")
            await until(lambda: live(feed, "BTCUSD"), "BTCUSD LIVE after the level is fixed")
            assert md.state is SubState.ACTIVE and md.error is None
            await assert_books_match(feed, sim, ["BTCUSD", "ETHUSD"])


async def test_the_client_never_subscribes_faster_than_once_a_second() -> None:
    """A user adding markets as fast as keys go, a server whose lists drift and whose books
    are unreadable: the requests still go out at most one a second, merged when waiting."""
    async with running_sim(list_drift="omit", unreadable_markets=["LTCUSD"]) as sim:
        feed = make_feed(sim)
        feed.resync_backoff = (0.01, 0.02)
        feed.subscribe("BTCUSD")
        async with running(feed):
            await until(lambda: live(feed, "BTCUSD"), "BTCUSD LIVE")
            for market in ("ETHUSD", "LTCUSD"):
                feed.subscribe(market)
            md = feed.subscriptions[(MARKET_DATA, "LTCUSD")]
            await until(lambda: md.state is SubState.FAILED, "LTCUSD given up", limit=30)
            await until(lambda: live(feed, "ETHUSD"), "ETHUSD LIVE")
            assert sim.subscribe_requests >= 4
            assert max_rate_ok(sim.subscribe_times), sim.subscribe_times


# --------------------------------------------------------------------------- frames and buffers


async def test_an_oversized_frame_is_refused_and_the_connection_made_again() -> None:
    """A frame past the limit never reaches memory: a clear error, a reconnect, books LIVE."""
    async with running_sim() as sim:
        feed = make_feed(sim)
        feed.subscribe("BTCUSD")
        async with running(feed) as rec:
            await until(lambda: live(feed, "BTCUSD"), "BTCUSD LIVE")
            await sim.send_oversized(MAX_FRAME_BYTES + 1024)
            event = await rec.wait_for(
                lambda e: isinstance(e, FeedError) and "larger than the 16 MiB" in e.message,
                "the frame refused",
            )
            assert isinstance(event, FeedError)
            await rec.wait_for(
                lambda e: (
                    isinstance(e, ConnectionChanged)
                    and e.state is ConnectionState.RECONNECTING
                    and "16 MiB" in e.detail
                ),
                "a reconnect that says why",
            )
            await until(lambda: feed.stats.reconnects == 1 and live(feed, "BTCUSD"), "LIVE again")
            await assert_books_match(feed, sim, ["BTCUSD"])


async def test_a_100000_level_snapshot_is_accepted() -> None:
    """The frame limit still admits a 100,000-level book (about 5 MB)."""
    async with running_sim(snapshot_extra_levels=50_000) as sim:
        feed = make_feed(sim)
        feed.subscribe("BTCUSD")
        async with running(feed):
            await until(lambda: live(feed, "BTCUSD"), "BTCUSD LIVE", limit=30)
            book = feed.store.get("BTCUSD")
            assert book is not None and len(book.bids) + len(book.asks) >= 100_000
            assert feed.stats.reconnects == 0


async def test_a_pre_snapshot_flood_is_bounded_by_levels() -> None:
    """Few UPDATEs of many levels before the SNAPSHOT overflow the level bound, not memory."""
    async with running_sim(pre_snapshot_updates=12, flood_levels=300) as sim:
        feed = make_feed(sim)
        feed.store.buffer_levels = 2_000
        feed.resync_backoff = (0.05, 0.1)
        feed.subscribe("BTCUSD")
        async with running(feed) as rec:
            event = await rec.wait_for(lambda e: isinstance(e, BookResynced), "overflow")
            assert isinstance(event, BookResynced)
            assert "more than 2000 levels" in event.reason
            book = feed.store.book("BTCUSD")
            assert book.buffered * 300 <= 2_000


# --------------------------------------------------------------------------- token endpoint


@pytest.mark.parametrize("mode", ["html", "string-expiry"])
async def test_a_garbled_token_answer_is_retried_not_taken_for_refused_credentials(
    mode: str,
) -> None:
    """A captive portal's HTML or ``"expires_in": "3600"``: retried with backoff and named
    as unreadable; the feed connects once the endpoint answers properly."""
    async with running_sim(token_rate_limit=False) as sim:
        sim.garble_tokens(mode, count=2)
        feed = make_feed(sim)
        feed.subscribe("BTCUSD")
        async with running(feed) as rec:
            event = await rec.token_retry()
            assert UNREADABLE in event.detail
            await until(lambda: live(feed, "BTCUSD"), "LIVE once the endpoint answers", limit=15)
            assert ConnectionState.AUTH_FAILED not in rec.states()
            assert sim.token_requests == 3


# --------------------------------------------------------------------------- secrets


def test_the_redactor_masks_every_spelling_of_a_secret_and_the_recent_tokens() -> None:
    secret = "s3cr3t+/value="
    REDACTOR.add_secret(secret)
    REDACTOR.add_token("token-number-one")
    REDACTOR.add_token("token-number-two")
    text = (
        "body grant_type=client_credentials&client_secret=s3cr3t%2B%2Fvalue%3D and "
        f"{secret} and s3cr3t%2B%2Fvalue%3D; Bearer token-number-one, token-number-two"
    )
    masked = REDACTOR.redact(text)
    assert "s3cr3t" not in masked and "token-number" not in masked
    assert masked.count("***") == 5
    assert REDACTOR.redact_bytes(text.encode()) == masked.encode()
    REDACTOR.add_secret("abc")  # too short to mask without garbling every screen
    assert REDACTOR.redact("abc") == "abc"


def test_the_byte_searched_first_moves_and_never_lets_a_secret_through() -> None:
    """Bytes are searched for one byte of each secret before the secret itself; texts that
    hold that byte but not the secret move the search to another byte. Whichever byte it
    has come to, a text with the secret gets it masked, and a text without is returned as
    it is (the same object: the recorder tests that with ``is``)."""
    token = "QzX9-token-value"
    REDACTOR.add_token(token)
    common = b'{"market":"BTCUSD","price":"100.5","value":"9"}'  # "e" and more, not the token
    for turn in range(3 * len(token)):  # round every byte of the token, and again
        assert REDACTOR.redact_bytes(common) is common
        text = b'{"error":"bad %s","n":%d}' % (token.encode(), turn)
        assert REDACTOR.redact_bytes(text) == b'{"error":"bad ***","n":%d}' % turn
    quiet = b"nothing of it here"
    assert REDACTOR.redact_bytes(quiet) is quiet


async def test_an_echoing_400_never_shows_the_secret() -> None:
    """The token endpoint's 400 echoes the request body, secret included: ``sordash stream``
    exits 3 with the endpoint's words, and the secret is on neither stdout nor stderr."""
    async with running_sim(client_secret="the-real-client-secret+42") as sim:
        sim.echo_bad_requests(True)
        code, out, err = await run_cli(
            *stream_args(sim, "--duration", "20"), env=sim_credentials(sim)
        )
        assert code == 3, err.decode()
        assert b"refused the request (400)" in err and b"client_secret=***" in err
        for leak in (b"the-real-client-secret", b"the-real-client-secret%2B42"):
            assert leak not in out + err


async def test_a_server_error_code_carrying_the_token_is_redacted_everywhere(
    tmp_path: Path,
) -> None:
    """The server quotes our bearer token in an error code: stream lines, stderr, the log
    file and the recording show ``***`` instead."""
    log_file, recording = tmp_path / "sordash.log", tmp_path / "session.rec"
    async with running_sim(heartbeat_interval=0.05) as sim:
        proc = await asyncio.create_subprocess_exec(
            *CLI,
            *stream_args(
                sim, "--interval", "0.1", "--log-file", str(log_file), "--record", str(recording)
            ),
            env=cli_environ(sim_credentials(sim)),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        await until(lambda: bool(sim.clients) and bool(sim.clients[0].channels), "subscribed")
        token = sim.clients[0].token
        assert token
        await sim.send_token_error()
        assert proc.stdout is not None
        seen = b""
        while b"INVALID_TOKEN" not in seen:
            seen += await asyncio.wait_for(proc.stdout.readline(), WAIT)
        proc.terminate()
        out, err = await asyncio.wait_for(proc.communicate(), WAIT)
        out = seen + out
    assert b"INVALID_TOKEN ***" in out
    logged, recorded = log_file.read_bytes(), plain(recording)
    assert b"INVALID_TOKEN ***" in logged and b"INVALID_TOKEN ***" in recorded
    for where in (out, err, logged, recorded):
        assert token.encode() not in where
        assert sim.client_secret.encode() not in where


# --------------------------------------------------------------------------- subscription_list


async def test_a_list_that_leaves_out_a_served_channel_does_not_freeze_the_book() -> None:
    """The server serves BTCUSD but leaves it out of every subscription_list: the feed
    repairs it with unsubscribe + subscribe (a fresh SNAPSHOT, so the book is LIVE again, not
    STALE for ever), then stops repairing a list that is plainly wrong."""
    async with running_sim(list_drift="omit") as sim:
        feed = make_feed(sim)
        feed.subscribe("BTCUSD")
        async with running(feed) as rec:
            await rec.wait_for(
                lambda e: (
                    isinstance(e, FeedError) and "keeps leaving out market_data:BTCUSD" in e.message
                ),
                "the wrong list reported",
                limit=20,
            )
            await until(lambda: live(feed, "BTCUSD"), "BTCUSD LIVE after the repairs")
            book = feed.store.get("BTCUSD")
            assert book is not None and book.snapshots == 1 + DRIFT_REPAIRS
            await assert_books_match(feed, sim, ["BTCUSD"])
            assert sim.paramless_unsubscribes == 0


async def test_a_list_without_params_is_not_acted_on() -> None:
    """Market channels listed without params name no market: nothing is resubscribed, no
    unsubscribe without params is ever sent, the book stays LIVE."""
    async with running_sim(list_drift="no-params") as sim:
        feed = make_feed(sim)
        feed.subscribe("BTCUSD")
        async with running(feed) as rec:
            await rec.wait_for(
                lambda e: isinstance(e, FeedError) and "without their markets" in e.message,
                "the list reported as uncheckable",
            )
            await until(lambda: live(feed, "BTCUSD"), "BTCUSD LIVE")
            feed.subscribe("ETHUSD")
            await until(lambda: live(feed, "ETHUSD"), "ETHUSD LIVE")
            book = feed.store.get("BTCUSD")
            assert book is not None and book.snapshots == 1
            assert sim.paramless_unsubscribes == 0
            assert not [e for e in rec.events if isinstance(e, BookResynced)]
            await assert_books_match(feed, sim, ["BTCUSD", "ETHUSD"])


async def test_a_list_with_a_channel_we_never_asked_for_is_cleaned_up_once() -> None:
    """The server lists a channel we never asked for: it is unsubscribed, once."""
    async with running_sim(list_drift="extra") as sim:
        feed = make_feed(sim)
        feed.subscribe("BTCUSD")
        async with running(feed) as rec:
            await rec.wait_for(
                lambda e: isinstance(e, FeedError) and "did not ask for" in e.message, "extra"
            )
            feed.subscribe("ETHUSD")  # another subscribe, another list with the extra
            await until(lambda: live(feed, "BTCUSD") and live(feed, "ETHUSD"), "both LIVE")
            await until(lambda: all(s.confirmed for s in feed.subscriptions.values()), "confirmed")
            extras = [
                e for e in rec.events if isinstance(e, FeedError) and "did not ask" in e.message
            ]
            # Each channel the server invents is asked away once, not on every list (the
            # simulator names another once ETHUSD is ours).
            assert len({e.message for e in extras}) == len(extras) >= 1
            assert sim.paramless_unsubscribes == 0


# --------------------------------------------------------------------------- lifecycle


async def test_a_stop_before_run_is_kept() -> None:
    feed = FeedClient(Credentials("id", "secret-value"), "http://127.0.0.1:9/", "ws://127.0.0.1:9/")
    await feed.stop()
    await asyncio.wait_for(feed.run(), WAIT)
    assert feed.state is ConnectionState.STOPPED


async def test_a_bug_in_a_frame_handler_is_counted_shown_and_survived() -> None:
    """An unexpected exception while handling one frame does not end the feed, nor take
    down another market: here applying every ETHUSD book frame raises."""

    class BuggyBooks(BookStore):
        def apply(self, msg: BookMessage) -> Book:
            if msg.market == "ETHUSD":
                raise ZeroDivisionError("a bug")
            return super().apply(msg)

    async with running_sim() as sim:
        feed = make_feed(sim, store=BuggyBooks())
        feed.subscribe("BTCUSD")
        feed.subscribe("ETHUSD")
        async with running(feed) as rec:
            await rec.wait_for(
                lambda e: isinstance(e, FeedError) and "ZeroDivisionError" in e.message, "shown"
            )
            await until(lambda: feed.internal_errors >= 3 and live(feed, "BTCUSD"), "goes on")
            assert feed.state is ConnectionState.CONNECTED
            await assert_books_match(feed, sim, ["BTCUSD"])


async def test_a_failed_stream_is_one_line_and_exit_1(tmp_path: Path) -> None:
    """A replay file that is not a recording: one line on stderr, an error line, exit 1."""
    bad = tmp_path / "garbage.rec"
    bad.write_bytes(b"this is not a recording\n")
    session = Session.create(SessionOptions(replay=bad))
    out, err = io.BytesIO(), io.StringIO()
    code = await asyncio.wait_for(run_stream(session, out=out, err=err), WAIT)
    assert code == EXIT_FAILED
    assert err.getvalue() == f"sordash: {bad} is not a sordash recording\n"
    errors = [o for o in parse_lines(out.getvalue()) if o["kind"] == "error"]
    assert errors and "is not a sordash recording" in errors[-1]["message"]


async def test_cli_a_bad_url_or_port_is_a_usage_error() -> None:
    code, _, err = await run_cli("stream", "--ws-url", "notaurl", "--duration", "1")
    assert code == 2 and b"--ws-url" in err and b"not a ws:// or wss:// URL" in err
    code, _, err = await run_cli("--token-url", "ftp://example.com/x", "--demo")
    assert code == 2 and b"--token-url" in err
    code, _, err = await run_cli("stream", "--ws-url", "wss://host:99999/", "--duration", "1")
    assert code == 2 and b"port" in err
    assert b"Traceback" not in err


# --------------------------------------------------------------------------- logging


async def test_misbehaviour_is_logged_and_malformed_frames_are_throttled(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Reconnects with their reason, server errors, resyncs, and the first few malformed
    frames go to the log; the rest are one summary line with the count."""
    caplog.set_level(logging.INFO, logger="app.feed")
    async with running_sim() as sim:
        feed = make_feed(sim)
        feed._bad_frames = _Throttle(3, 0.5)
        feed.subscribe("BTCUSD")
        async with running(feed):
            await until(lambda: live(feed, "BTCUSD"), "LIVE")
            for _ in range(10):
                await sim.send_malformed()
            await until(lambda: feed.stats.decode_errors == 10, "all counted")
            await until(
                lambda: "7 more unreadable frames" in caplog.text, "the summary", limit=WAIT
            )
            await sim.send_error("SOMETHING_ODD")
            feed.resync("BTCUSD", "requested")
            await sim.drop_connections()
            await until(lambda: feed.stats.reconnects == 1 and live(feed, "BTCUSD"), "back")
    text = caplog.text
    assert text.count("unreadable frame (") == 3
    assert "the server reported SOMETHING_ODD" in text
    assert "resync BTCUSD: requested" in text
    assert "connection reconnecting: connection closed by the server (code 1011)" in text
    assert "connection connected" in text
