"""The dashboard when nothing works: offline, refused credentials, a feed that stopped.

Pilot drives the real DashboardApp; the feed talks to the real simulator or to a port where
nothing listens. Each test checks what a trader sees: the wanted markets with a state that
says why there is no book, a countdown that counts, a failure on screen instead of a stale
CONNECTED.
"""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Static

from app.auth import Credentials
from app.config import Config
from app.dashboard import DashboardApp
from app.events import ConnectionState
from app.recording import Recorder
from app.session import Session, SessionOptions
from tests.dashboard_data import book_levels, snapshot_frame, subscribe_result, update_frame
from tests.feedkit import make_feed, offline_feed, running_sim, until
from tests.uikit import press
from widgets.market_tabs import MarketTabs
from widgets.status_bar import StatusBar
from widgets.text_lines import TextLines

SIZE = (140, 40)


class FakeClock:
    """The app's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


def text_of(widget: Static | TextLines) -> str:
    return str(widget.render())


def banner(app: DashboardApp) -> str:
    return text_of(app.dashboard.query_one("#banner", Static))


def tabs(app: DashboardApp) -> str:
    return text_of(app.dashboard.query_one(MarketTabs))


def header(app: DashboardApp, market: str) -> str:
    return text_of(app.dashboard.views[market].header)


async def test_offline_start_shows_the_markets_and_a_countdown_that_counts() -> None:
    """The token endpoint is unreachable: both wanted markets are on screen, AUTHENTICATING
    with the reason, and the banner's wait goes down as time passes with no new event."""
    feed = offline_feed("BTCUSD", "ETHUSD")
    clock = FakeClock()
    app = DashboardApp(feed=feed, config=Config(), clock=clock)
    async with app.run_test(size=SIZE):
        await until(lambda: "next in" in banner(app), "the retry announced")
        assert "1 BTCUSD ◐ AUTHENTICATING" in tabs(app) and "2 ETHUSD ◐ AUTHENTICATING" in tabs(app)
        await until(
            lambda: (
                "not connected (authenticating): token endpoint unreachable"
                in header(app, "BTCUSD")
            ),
            "the market says why",
        )
        assert "R tries now" in banner(app)
        attempt = feed.token_retries
        assert f"Attempt {attempt} failed" in banner(app)
        clock.now = app.dashboard.retry_at + 0.1  # the wait is over on the app's clock
        await until(lambda: "asking again now" in banner(app), "the countdown reached zero")
        press(app, "R")  # tries now, and keeps saying where it stands
        await until(
            lambda: (
                feed.token_retries > attempt
                and f"Attempt {feed.token_retries} failed" in banner(app)
            ),
            "a later attempt shown",
        )
        await app.stop_feed()


async def test_refused_credentials_show_the_markets_failed_with_the_reason() -> None:
    async with running_sim() as sim:
        feed = make_feed(sim, credentials=Credentials(sim.client_id, "not-the-secret"))
        feed.subscribe("BTCUSD")
        app = DashboardApp(feed=feed, config=Config())
        async with app.run_test(size=SIZE):
            await until(lambda: feed.state is ConnectionState.AUTH_FAILED, "refused")
            await until(lambda: "1 BTCUSD ✗ FAILED" in tabs(app), "the tab says FAILED")
            await until(
                lambda: "rejected the client id or secret" in header(app, "BTCUSD"),
                "the market says why",
            )
            assert "Authentication failed" in banner(app) and "Press R to retry" in banner(app)
            await app.stop_feed()


async def test_a_feed_that_stopped_on_an_error_says_so(tmp_path: Path) -> None:
    """A replay file that is not a recording: the status bar says FEED FAILED (it said
    CONNECTED on an empty screen) and the banner names the file's problem."""
    bad = tmp_path / "garbage.rec"
    bad.write_bytes(b"not a recording at all\n")
    session = Session.create(SessionOptions(replay=bad))
    app = DashboardApp(session, config=Config())
    async with app.run_test(size=SIZE):
        status = app.dashboard.query_one(StatusBar)
        await until(lambda: "FEED FAILED" in text_of(status), "the status bar says so")
        assert "garbage.rec is not a sordash recording" in banner(app)
        assert app.feed.state is ConnectionState.FAILED


def big_recording(path: Path, frames: int) -> None:
    """A recording of one BTCUSD session: subscribed, a snapshot, then ``frames`` updates."""
    ticks = iter(range(1, frames + 100))
    recorder = Recorder(path, markets=["BTCUSD"], clock_ns=lambda: next(ticks) * 1000)
    recorder.connection("connected")
    recorder.sent(
        '{"type":"subscribe","channels":[{"type":"market_data","params":{"market":"BTCUSD"}}]}'
    )
    recorder(subscribe_result("BTCUSD", ("market_data",)))
    bids, asks = book_levels("BTCUSD")
    recorder(snapshot_frame("BTCUSD", bids, asks))
    for n in range(frames):
        level = {"price": bids[n % 20]["price"], "amount": f"{n % 97 + 1}.5"}
        recorder(update_frame("BTCUSD", 1 + n // 100, bids=[level]))
    recorder.close()


async def test_a_replay_at_full_speed_keeps_repainting_and_quits_on_q(tmp_path: Path) -> None:
    """200k frames as fast as possible: the screen repaints meanwhile and q ends it long
    before the file does (the replay hands the loop back between batches)."""
    path = tmp_path / "big.rec.zst"
    big_recording(path, 200_000)
    session = Session.create(SessionOptions(replay=path, replay_speed=0))
    app = DashboardApp(session, config=Config())
    async with app.run_test(size=SIZE):
        feed = app.feed
        await until(lambda: feed.stats.frames > 1000, "the replay is running")
        painted = app.dashboard.repaints
        await until(lambda: app.dashboard.repaints > painted + 2, "the screen repaints meanwhile")
        assert feed.stats.frames < 200_000, "still replaying"
        press(app, "q")
        await until(lambda: not app.is_running, "q quits")
    assert feed.stats.frames < 200_000, "before the file ended"


async def test_a_replay_says_replay_and_live_only_keys_say_why_they_do_nothing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "small.rec.zst"
    big_recording(path, 500)
    session = Session.create(SessionOptions(replay=path, replay_speed=0))
    app = DashboardApp(session, config=Config())
    async with app.run_test(size=SIZE, notifications=True):  # toasts shown, as live
        status = app.dashboard.query_one(StatusBar)
        await until(lambda: app.feed.stats.frames >= 502, "the replay has run")
        await until(lambda: "REPLAY" in text_of(status), "the status bar says REPLAY")
        assert "CONNECTED" not in text_of(status)
        # r acts on the current market: wait for its view (the replay can end before the
        # screen has mounted it, and r then had no market to say anything about).
        await until(lambda: app.dashboard.current == "BTCUSD", "BTCUSD is the current market")
        book = app.feed.store.get("BTCUSD")
        assert book is not None
        snapshots = book.snapshots
        press(app, "r")
        await until(lambda: "does nothing in a replay" in toasts(app), "r says why")
        assert book.snapshots == snapshots
        press(app, "R")
        await until(lambda: "there is no connection" in toasts(app), "R says why")
        await app.stop_feed()


def toasts(app: DashboardApp) -> str:
    """The text of the notifications on screen."""
    return " ".join(str(toast.render()) for toast in app.screen.query("Toast"))
