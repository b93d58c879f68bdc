"""Chrome that must keep up with the data: the subscription panel and the market tabs.

The subscription panel repaints state changes at once and bare counters at most 4x/s.

Driven through the real app on a Scene (frozen clocks, crafted frames): the clock is moved
by hand, so "at most every 0.25 s" is checked without waiting for anything.
"""

from __future__ import annotations

from tests.dashboard_data import (
    MONO,
    Scene,
    book_levels,
    execution_frames,
    snapshot_frame,
    subscription_list,
)
from tests.feedkit import until
from widgets.market_tabs import MarketTabs
from widgets.status_bar import StatusBar
from widgets.subscription_panel import SubscriptionPanel


def panel_text(scene: Scene, market: str) -> str:
    return str(scene.app.views[market].panel.render())


def text_of(scene: Scene) -> str:
    return panel_text(scene, "BTCUSD")


def tabs_text(scene: Scene) -> str:
    return str(scene.app.dashboard.query_one(MarketTabs).render())


async def test_counts_repaint_at_most_every_quarter_second_state_changes_at_once() -> None:
    scene = Scene()
    async with scene.app.run_test(size=(120, 40)) as pilot:
        scene.live_market("BTCUSD")
        scene.connected()
        await pilot.pause()
        clock = scene.app.clock
        assert hasattr(clock, "now")
        scene.app.repaint_now()
        before = panel_text(scene, "BTCUSD")
        assert "14 msg" in before  # the scene's 14 executions

        for data in execution_frames("BTCUSD", count=5, seed=9):
            scene.ingest(data, MONO)
        clock.now = MONO + SubscriptionPanel.COUNTER_PERIOD / 2
        scene.app.repaint_now()
        assert panel_text(scene, "BTCUSD") == before, "a bare count change waits"

        clock.now = MONO + SubscriptionPanel.COUNTER_PERIOD * 1.5
        scene.app.repaint_now()
        assert "19 msg" in panel_text(scene, "BTCUSD"), "and shows within the period"

        # A state change is news: the server's subscription_list confirming the channels
        # shows on the very next repaint, within the same quarter second.
        assert "listed" in text_of(scene) and "✓" not in text_of(scene)
        scene.ingest(subscription_list(["BTCUSD"]), MONO)
        clock.now += 0.01
        scene.app.repaint_now()
        assert "✓ listed" in text_of(scene)


async def test_tabs_follow_a_market_back_to_live_on_the_next_tick() -> None:
    """A resync's SNAPSHOT turns the tab LIVE with the view, not at the next clock second."""
    scene = Scene()
    async with scene.app.run_test(size=(120, 40)) as pilot:
        scene.live_market("BTCUSD")
        scene.connected()
        await until(lambda: "LIVE" in tabs_text(scene), "BTCUSD's tab LIVE")
        scene.feed.store.reset("BTCUSD")  # what a resync does to the book
        await until(lambda: "STALE" in tabs_text(scene), "the tab says STALE")
        bids, asks = book_levels("BTCUSD")
        scene.ingest(snapshot_frame("BTCUSD", bids, asks, offset_ms=5000), MONO)
        # The app's clock is frozen: only the repaint tick can change the tabs now.
        await until(lambda: scene.app.views["BTCUSD"].badge == "LIVE", "the view LIVE")
        await pilot.pause()
        assert "LIVE" in tabs_text(scene) and "STALE" not in tabs_text(scene)


async def test_status_bar_counts_the_token_down_then_says_what_expiry_means() -> None:
    scene = Scene()
    async with scene.app.run_test(size=(160, 40)) as pilot:
        scene.live_market("BTCUSD")
        scene.connected()  # a token with 3312 s left
        scene.app.repaint_now()
        await pilot.pause()
        bar = scene.app.dashboard.query_one(StatusBar)
        assert "token 55:12" in str(bar.render())
        scene.feed.stats.token_expires_at = MONO - 1.0
        scene.app.repaint_now()
        await pilot.pause()
        assert "token expired, renewed on reconnect" in str(bar.render())
