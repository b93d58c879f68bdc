"""The replay transport from the keyboard: every key against a recording of a real
simulator session (``recorded_session``), in the real DashboardApp.

Each test waits on what a key causes (the transport done with it, the bar's text) and
checks what a trader sees: the replay bar's time, position, speed and state, and books,
tapes and states exactly as a straight replay to that time leaves them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from textual.widgets import Input, Label

from app.config import Config
from app.dashboard import DashboardApp
from app.replay import ReplayTransport, TransportState, format_clock
from app.session import Session, SessionOptions
from tests.feedkit import offline_feed, until
from tests.replaykit import everything, straight_to
from tests.uikit import press
from widgets.goto_time_dialog import GoToTimeDialog
from widgets.replay_bar import ReplayBar

SIZE = (160, 40)
S = 10**9


def replay_app(path: Path, speed: float = 1.0) -> DashboardApp:
    return DashboardApp(Session.create(SessionOptions(replay=path, replay_speed=speed)))


def bar(app: DashboardApp) -> str:
    return str(app.dashboard.query_one(ReplayBar).render())


def transport_of(app: DashboardApp) -> ReplayTransport:
    transport = app.transport
    assert transport is not None
    return transport


async def paused(app: DashboardApp) -> ReplayTransport:
    """Wait for the replay to start playing, then pause it with space."""
    transport = transport_of(app)
    await until(lambda: transport.idle and transport.position > 0, "the replay playing")
    press(app, "space")
    await until(lambda: "PAUSED" in bar(app), "space pauses: the bar says PAUSED")
    return transport


async def stands_at(app: DashboardApp, transport: ReplayTransport, t: int, what: str) -> None:
    """The key took the replay to recording time ``t``: the bar shows it, and the feed holds
    exactly what a straight replay to ``t`` gives."""
    shown = format_clock(t, date=True)
    await until(lambda: transport.idle and transport.position_ns() == t and shown in bar(app), what)
    assert everything(app.feed) == everything(straight_to(transport.path, t)), what


async def test_space_plays_and_pauses_and_the_bar_follows(recorded_session: Path) -> None:
    app = replay_app(recorded_session)
    async with app.run_test(size=SIZE):
        transport = await paused(app)
        at = transport.position_ns()
        assert at is not None and format_clock(at, date=True) in bar(app)
        assert "1x" in bar(app) and "frame " in bar(app)
        await until(lambda: transport.index.complete and "(indexing)" not in bar(app), "indexed")
        frames = transport.index.records
        assert f"of {frames:,}" in bar(app), "frame N of M"
        assert transport.position_ns() == at, "paused: the time stands still"
        press(app, "space")
        await until(lambda: "● REPLAY" in bar(app), "space plays again")
        await until(lambda: (transport.position_ns() or 0) > at, "the time moves on")
        await app.stop_feed()


async def test_speed_keys_step_through_the_speeds(recorded_session: Path) -> None:
    app = replay_app(recorded_session)
    async with app.run_test(size=SIZE):
        transport = await paused(app)
        press(app, "]")
        await until(lambda: " 2x " in bar(app), "] doubles the speed")
        press(app, "[", "[", "[")
        await until(lambda: " 0.25x " in bar(app), "[ down to 0.25x")
        press(app, "[")
        await until(lambda: transport.speed == 0.25, "never below 0.25x")
        press(app, *["]"] * 9)
        await until(lambda: "max speed" in bar(app), "past 64x: as fast as possible")
        press(app, "[")
        await until(lambda: " 64x " in bar(app), "[ from max: 64x")
        await app.stop_feed()


async def test_seek_keys_move_by_ten_seconds_and_a_minute_exactly(recorded_session: Path) -> None:
    """Left and right move 10 s, shift with them a minute; back or on, the books are those
    of a straight replay to the new time."""
    app = replay_app(recorded_session)
    async with app.run_test(size=SIZE):
        transport = await paused(app)
        start = transport.position_ns()
        assert start is not None
        press(app, "shift+right")
        await stands_at(app, transport, start + 60 * S, "shift+right: a minute on")
        press(app, "right")
        await stands_at(app, transport, start + 70 * S, "right: 10 s on")
        press(app, "left")
        await stands_at(app, transport, start + 60 * S, "left: 10 s back")
        press(app, "shift+left")
        await stands_at(app, transport, start, "shift+left: a minute back")
        assert "PAUSED" in bar(app), "seeking keeps the replay paused"
        await app.stop_feed()


async def test_home_and_end_go_to_the_start_and_the_end(recorded_session: Path) -> None:
    app = replay_app(recorded_session)
    async with app.run_test(size=SIZE):
        transport = await paused(app)
        press(app, "end")
        await until(lambda: "ENDED" in bar(app), "end: the bar says ENDED")
        total = transport.index.records
        assert transport.position == total and f"frame {total:,} of {total:,}" in bar(app)
        end = straight_to(transport.path, transport.index.last_t)
        assert app.feed.state.value == "stopped", "as the straight replay's end: finished"
        assert everything(app.feed)["books"] == everything(end)["books"]
        press(app, "home")
        await until(lambda: "PAUSED" in bar(app) and transport.position == 0, "home: the start")
        assert f"frame 0 of {total:,}" in bar(app)
        assert everything(app.feed) == everything(straight_to(transport.path, None))
        await app.stop_feed()


async def test_step_keys_move_one_frame_and_one_second(recorded_session: Path) -> None:
    app = replay_app(recorded_session)
    async with app.run_test(size=SIZE):
        transport = await paused(app)
        await until(lambda: transport.idle, "settled")
        position, at = transport.position, transport.position_ns()
        assert at is not None
        press(app, ".")
        await until(lambda: transport.position == position + 1, ". replays one frame")
        stepped = transport.position_ns()
        assert stepped is not None and stepped >= at
        await until(lambda: f"frame {position + 1:,} of" in bar(app), "the bar counts it")
        assert everything(app.feed) == everything(straight_to(transport.path, stepped))
        press(app, ">")
        await stands_at(app, transport, stepped + S, "> steps one second")
        assert "PAUSED" in bar(app)
        await app.stop_feed()


async def test_go_to_time_takes_a_good_time_and_refuses_bad_ones(recorded_session: Path) -> None:
    app = replay_app(recorded_session)
    async with app.run_test(size=SIZE):
        transport = await paused(app)
        await until(lambda: transport.index.complete, "indexed")
        first, last = transport.index.first_t, transport.index.last_t
        assert first is not None and last is not None
        press(app, "t")
        await until(
            lambda: isinstance(app.screen, GoToTimeDialog) and bool(app.screen.query("#goto-time")),
            "t opens the dialog",
        )
        field = app.screen.query_one("#goto-time", Input)
        await until(lambda: field.has_focus, "the time field has focus")
        error = app.screen.query_one("#goto-error", Label)

        def error_text() -> str:
            return str(error.render())

        press(app, *"12:3")
        await until(lambda: field.value == "12:3", "typed")
        press(app, "enter")
        await until(lambda: "'12:3' is not a time" in error_text(), "bad text: why")
        assert isinstance(app.screen, GoToTimeDialog), "the dialog stays open"
        field.value = format_clock(last + 3600 * S)
        press(app, "enter")
        await until(lambda: "outside the recording" in error_text(), "out of range: why")
        assert f"runs from {format_clock(first)} to {format_clock(last)}" in error_text()
        target = first + 42 * S + 250_000_000
        field.value = format_clock(target)  # HH:MM:SS.mmm
        press(app, "enter")
        await until(lambda: not isinstance(app.screen, GoToTimeDialog), "a good time: closed")
        await stands_at(app, transport, target - target % 10**6, "went to the time typed")
        await app.stop_feed()


async def test_in_a_live_session_transport_keys_say_they_need_a_replay() -> None:
    feed = offline_feed("BTCUSD")
    app = DashboardApp(feed=feed, config=Config())
    async with app.run_test(size=SIZE, notifications=True):
        for key, what in (("space", "Play/pause"), ("left", "Seeking"), ("t", "Going to a time")):
            press(app, key)
            await until(said(app, f"{what} works only in a replay"), f"{key} says so")
        assert not app.dashboard.query(ReplayBar), "no replay bar in a live session"
        assert not isinstance(app.screen, GoToTimeDialog)
        await app.stop_feed()


def said(app: DashboardApp, text: str) -> Callable[[], bool]:
    """Whether a notification on screen says ``text``."""
    return lambda: text in toasts(app)


def toasts(app: DashboardApp) -> str:
    return " ".join(str(toast.render()) for toast in app.screen.query("Toast"))


async def test_the_replay_ends_by_itself_and_plays_again_from_the_start(
    recorded_session: Path,
) -> None:
    app = replay_app(recorded_session, speed=0)
    async with app.run_test(size=SIZE):
        transport = transport_of(app)
        await until(lambda: "ENDED" in bar(app), "at full speed it reaches the end")
        assert transport.state is TransportState.ENDED
        jumps, played = transport.jumps, transport.position
        press(app, "space")
        # The jump back to the start is counted as it is made; at full speed the replay may
        # be at the end again before the bar is painted, so the bar is not sampled for it.
        await until(lambda: transport.jumps > jumps, "space at the end goes back to the start")
        await until(lambda: transport.state is TransportState.ENDED, "and plays to the end again")
        assert transport.position == played, "every record replayed again, none twice"
        await app.stop_feed()
