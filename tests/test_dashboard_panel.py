"""The subscription panel repaints state changes at once and bare counters at most 4x/s.

Driven through the real app on a Scene (frozen clocks, crafted frames): the clock is moved
by hand, so "at most every 0.25 s" is checked without waiting for anything.
"""

from __future__ import annotations

from tests.dashboard_data import MONO, Scene, execution_frames, subscription_list
from widgets.subscription_panel import SubscriptionPanel


def panel_text(scene: Scene, market: str) -> str:
    return str(scene.app.views[market].panel.render())


def text_of(scene: Scene) -> str:
    return panel_text(scene, "BTCUSD")


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
