"""Snapshots of every screen and state a trader sees, from crafted frames and frozen clocks.

Each test builds a :class:`~tests.dashboard_data.Scene` (a FeedClient that is not running,
fed protocol JSON through ``ingest``, and a DashboardApp on it with fixed clocks), then
compares the screen at a fixed terminal size with the accepted SVG in ``__snapshots__``.
Look at a changed snapshot (``rsvg-convert`` it to PNG) before accepting it with
``--snapshot-update``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot

from app.config import Config, DashboardConfig, LadderConfig
from app.dashboard import DashboardApp
from app.events import ConnectionState, SubState
from app.feed import FeedClient
from app.protocol import UNKNOWN_CHANNEL_PARAMS_CONFIGURATION, format_scaled, to_scaled
from app.replay import ReplayTransport
from tests.dashboard_data import (
    MONO,
    FrozenClock,
    Scene,
    book_levels,
    snapshot_frame,
    subscribe_result,
    update_frame,
)
from tests.feedkit import until
from tests.replaykit import craft_recording
from tests.test_fill_panel import hand_book

SnapCompare = Callable[..., bool]
FOUR = ["BTCUSD", "ETHUSD", "LTCUSD", "BCHUSD"]


def settle(
    build: Callable[[Scene], None], scene: Scene
) -> Callable[[Pilot[None]], Awaitable[None]]:
    """A ``run_before`` that feeds the scene's frames once the app is up, then repaints."""

    async def run_before(pilot: Pilot[None]) -> None:
        await pilot.pause()
        build(scene)
        await pilot.pause()
        scene.app.dashboard.repaint_now()
        await pilot.pause()

    return run_before


def one_market(scene: Scene) -> None:
    scene.live_market("BTCUSD")
    scene.heartbeat_ok()
    scene.confirm(["BTCUSD"])
    scene.connected()


def four_markets(scene: Scene) -> None:
    for seed, market in enumerate(FOUR, start=1):
        scene.live_market(market, seed=seed)
    scene.heartbeat_ok()
    scene.confirm(FOUR)
    scene.connected()


@pytest.mark.parametrize("size", [(120, 40), (80, 24)], ids=["120x40", "80x24"])
def test_one_market(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    """One live market: header figures, ladder with depth bars, tape with inferred sides."""
    scene = Scene()
    assert snap_compare(scene.app, terminal_size=size, run_before=settle(one_market, scene))


@pytest.mark.parametrize("size", [(120, 40), (80, 24)], ids=["120x40", "80x24"])
def test_four_markets(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    """Four markets: a 2x2 grid at 120x40, one market with numbered tabs at 80x24."""
    scene = Scene()
    assert snap_compare(scene.app, terminal_size=size, run_before=settle(four_markets, scene))


def test_syncing(snap_compare: SnapCompare) -> None:
    """Subscribed, updates buffered, no snapshot yet: SYNCING says so, nothing invented."""
    scene = Scene()

    def build(scene: Scene) -> None:
        scene.subscribe("ETHUSD")
        bids, _ = book_levels("ETHUSD")
        for i in range(3):
            scene.ingest(update_frame("ETHUSD", 100 + i, bids=[bids[i]]), MONO - 1.0)
        scene.heartbeat_ok()
        scene.connected()

    assert snap_compare(scene.app, terminal_size=(80, 24), run_before=settle(build, scene))


def test_stale_after_drop(snap_compare: SnapCompare) -> None:
    """The socket dropped: both books STALE (dimmed, still visible), a banner says why."""
    scene = Scene()

    def build(scene: Scene) -> None:
        one_market(scene)
        scene.live_market("ETHUSD", seed=2)
        feed = scene.feed
        feed.store.mark_stale()
        for sub in feed.subscriptions.values():
            sub.state = SubState.PENDING
            sub.confirmed = None
        feed.stats.reconnects = 1
        feed.attempts = 2
        feed.set_connection_state(
            ConnectionState.RECONNECTING, "connection closed by the server (code 1006)", 4.0
        )

    assert snap_compare(scene.app, terminal_size=(120, 40), run_before=settle(build, scene))


def test_failed_subscription(snap_compare: SnapCompare) -> None:
    """An unknown market fails with the server's code on its own view; BTCUSD is unharmed."""
    scene = Scene()

    def build(scene: Scene) -> None:
        one_market(scene)
        scene.feed.subscribe("NOPEUSD")
        channels = ["market_data", "execution_data"]
        scene.ingest(
            subscribe_result("NOPEUSD", channels, UNKNOWN_CHANNEL_PARAMS_CONFIGURATION), MONO - 1
        )

    assert snap_compare(scene.app, terminal_size=(120, 40), run_before=settle(build, scene))


def test_crossed_book(snap_compare: SnapCompare) -> None:
    """A crossed book is shown as it is and flagged, never repaired."""
    scene = Scene()

    def build(scene: Scene) -> None:
        scene.subscribe("BTCUSD")
        bids, asks = book_levels("BTCUSD")
        scene.ingest(snapshot_frame("BTCUSD", bids, asks), MONO - 2.0)
        crossing = {"price": "50004.00", "amount": "0.75000000"}
        scene.ingest(update_frame("BTCUSD", 500, bids=[crossing]), MONO - 0.5)
        scene.heartbeat_ok()
        scene.connected()

    assert snap_compare(scene.app, terminal_size=(80, 24), run_before=settle(build, scene))


@pytest.mark.parametrize("press", [[], ["z"]], ids=["fills", "too-thin"])
def test_cost_to_fill(snap_compare: SnapCompare, press: list[str]) -> None:
    """The cost-to-fill panel on a hand-worked book (tests/test_fill_panel.py): 0.5 BTC
    fills both ways; after ``z``, 5 BTC is more than either side holds."""
    scene = Scene(Config(sizes={"BTCUSD": ["0.5", "5"]}))
    assert snap_compare(
        scene.app, terminal_size=(120, 40), press=press, run_before=settle(hand_book, scene)
    )


def test_subscribe_dialog(snap_compare: SnapCompare) -> None:
    """``s`` opens the dialog; typing completes a known market."""
    scene = Scene()
    assert snap_compare(
        scene.app,
        terminal_size=(80, 24),
        press=["s", "e", "t"],
        run_before=settle(one_market, scene),
    )


def test_help_screen(snap_compare: SnapCompare) -> None:
    """``?`` lists every binding."""
    scene = Scene()
    assert snap_compare(
        scene.app,
        terminal_size=(80, 24),
        press=["question_mark"],
        run_before=settle(one_market, scene),
    )


def test_no_subscriptions(snap_compare: SnapCompare) -> None:
    """Nothing subscribed: a friendly empty state that says to press ``s``."""
    scene = Scene()

    def build(scene: Scene) -> None:
        scene.heartbeat_ok()
        scene.connected()

    assert snap_compare(scene.app, terminal_size=(80, 24), run_before=settle(build, scene))


def test_auth_failed(snap_compare: SnapCompare) -> None:
    """Credentials refused: the banner says what to fix and how to retry."""
    scene = Scene()

    def build(scene: Scene) -> None:
        scene.feed.subscribe("BTCUSD")
        scene.feed.set_connection_state(
            ConnectionState.AUTH_FAILED,
            "the token endpoint refused the credentials (401 invalid_client)",
        )

    assert snap_compare(scene.app, terminal_size=(80, 24), run_before=settle(build, scene))


def many_states(scene: Scene) -> None:
    """One market LIVE (with a large trade), one SYNCING, one FAILED: most of the palette."""
    one_market(scene)
    scene.subscribe("ETHUSD")
    bids, _ = book_levels("ETHUSD")
    for i in range(3):
        scene.ingest(update_frame("ETHUSD", 100 + i, bids=[bids[i]]), MONO - 1.0)
    scene.feed.subscribe("NOPEUSD")
    channels = ["market_data", "execution_data"]
    scene.ingest(
        subscribe_result("NOPEUSD", channels, UNKNOWN_CHANNEL_PARAMS_CONFIGURATION), MONO - 1
    )


@pytest.mark.parametrize("theme", ["sordash-light", "sordash-high-contrast"])
def test_theme(snap_compare: SnapCompare, theme: str) -> None:
    """sordash's own themes, chosen in the config: bids, asks, badges and labels recoloured,
    each state still marked by its glyph (● ◐ ✗) and the large trade by ▮."""
    scene = Scene(Config(dashboard=DashboardConfig(theme=theme)))
    assert snap_compare(scene.app, terminal_size=(120, 40), run_before=settle(many_states, scene))


# ------------------------------------------------------------------ the ladder's columns


@pytest.mark.parametrize(
    ("columns", "size"),
    [
        (["notional"], (120, 40)),
        (["volume"], (120, 40)),
        (["cumulative", "notional", "volume"], (160, 40)),
    ],
    ids=["notional", "volume", "all"],
)
def test_ladder_columns(
    snap_compare: SnapCompare, columns: list[str], size: tuple[int, int]
) -> None:
    """The ladder's optional columns from the config: notional (price x amount, cut to the
    price's decimals), the session's volume at each price by inferred side (b*, s*), and
    all three with the cumulative total (on a wider terminal: a column is shown when it
    fits); every column aligned on the market's decimals."""
    scene = Scene(Config(ladder=LadderConfig(columns=columns)))
    assert snap_compare(scene.app, terminal_size=size, run_before=settle(one_market, scene))


# ------------------------------------------------------------------ the fixed-tick ladder


def fixed_tick() -> Config:
    return Config(ladder=LadderConfig(mode="fixed"))


def test_fixed_tick_ladder(snap_compare: SnapCompare) -> None:
    """``[ladder] mode = "fixed"``: every price on the 0.01 tick, centred on the mid, empty
    prices dimmed, the spread line under the window."""
    scene = Scene(fixed_tick())
    assert snap_compare(scene.app, terminal_size=(120, 40), run_before=settle(one_market, scene))


@pytest.mark.parametrize(
    "shift", ["0.06", "0.25"], ids=["touch-moved-inside", "touch-left-recentred"]
)
def test_fixed_tick_ladder_after_a_move(snap_compare: SnapCompare, shift: str) -> None:
    """The book painted centred on 50000.00, then moved up by ``shift`` (a new snapshot):
    by 0.06 the touch stays inside the window, which stands still (the mid off centre);
    by 0.25 the touch left it, and the window re-centred on the new mid, 50000.25."""
    scene = Scene(fixed_tick())

    async def run_before(pilot: Pilot[None]) -> None:
        await settle(one_market, scene)(pilot)
        bids, asks = book_levels("BTCUSD")
        up = [
            [
                dict(x, price=format_scaled(to_scaled(x["price"]) + to_scaled(shift), 2))
                for x in side
            ]
            for side in (bids, asks)
        ]
        scene.ingest(snapshot_frame("BTCUSD", up[0], up[1], offset_ms=2000), MONO - 0.3)
        scene.app.dashboard.repaint_now()
        await pilot.pause()

    assert snap_compare(scene.app, terminal_size=(120, 40), run_before=run_before)


def test_fixed_tick_ladder_grouped(snap_compare: SnapCompare) -> None:
    """Grouped by 10 ticks (``g``) in fixed mode: one row per 0.10, bids rounded down and
    asks up into their rows; the volume at price counts the trades nearest each row (every
    trade here was within 0.05 of 50000.00: its column adds up to the header's Vol)."""
    scene = Scene(Config(ladder=LadderConfig(columns=["cumulative", "volume"], mode="fixed")))
    assert snap_compare(
        scene.app, terminal_size=(120, 40), press=["g"], run_before=settle(one_market, scene)
    )


# ------------------------------------------------------------------ the replay transport


def replay_scene(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[DashboardApp, ReplayTransport]:
    """A dashboard replaying a crafted two-minute recording, every clock frozen (the file
    named as a relative path, so the screen names no temporary directory)."""
    monkeypatch.chdir(tmp_path)
    path = Path("crafted.rec.zst")
    craft_recording(path)
    feed = FeedClient(
        label="replay crafted.rec.zst",
        adopt_channels=True,
        heartbeat_channel=False,
        clock=FrozenClock(MONO - 0.5),
    )
    transport = ReplayTransport(feed, path, clock=FrozenClock(MONO))
    app = DashboardApp(feed=feed, transport=transport, clock=FrozenClock(MONO - 2.0))
    return app, transport


def replay_at(
    transport: ReplayTransport, act: Callable[[ReplayTransport], None]
) -> Callable[[Pilot[None]], Awaitable[None]]:
    """A ``run_before`` that waits for the replay to start, does ``act``, waits until the
    transport is done with it, then repaints."""

    async def run_before(pilot: Pilot[None]) -> None:
        await until(lambda: transport.idle and transport.index.complete, "the replay ready")
        act(transport)
        await until(lambda: transport.idle, "the transport done")
        await pilot.pause()
        app = pilot.app
        assert isinstance(app, DashboardApp) and isinstance(app.clock, FrozenClock)
        # The screen's clock moves on past the channel counters' period: what they show
        # is then the state sought to, whether or not a tick painted the start first.
        app.clock.now = MONO
        app.dashboard.repaint_now()
        await pilot.pause()

    return run_before


def _go_to(seconds: int) -> Callable[[ReplayTransport], None]:
    def act(transport: ReplayTransport) -> None:
        assert transport.index.first_t is not None
        transport.seek_to(transport.index.first_t + seconds * 10**9 + 123_000_000)

    return act


def _pause_at(transport: ReplayTransport) -> None:
    transport.toggle()
    _go_to(47)(transport)


def test_replay_playing(
    snap_compare: SnapCompare, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replaying at 1x: the bar says ● REPLAY, the recording's time to the millisecond,
    elapsed / total, frame N of M, the speed and the keys."""
    app, transport = replay_scene(tmp_path, monkeypatch)
    assert snap_compare(app, terminal_size=(120, 30), run_before=replay_at(transport, _go_to(30)))


def test_replay_paused(
    snap_compare: SnapCompare, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Paused at a time sought to: ◐ PAUSED, and the books as they were then."""
    app, transport = replay_scene(tmp_path, monkeypatch)
    assert snap_compare(app, terminal_size=(120, 30), run_before=replay_at(transport, _pause_at))


def test_replay_ended(
    snap_compare: SnapCompare, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At the end: ○ ENDED, every frame replayed, the recorded connection stopped."""
    app, transport = replay_scene(tmp_path, monkeypatch)
    assert snap_compare(
        app, terminal_size=(120, 30), run_before=replay_at(transport, ReplayTransport.to_end)
    )
