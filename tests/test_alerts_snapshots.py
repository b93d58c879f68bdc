"""Snapshots of alerts as a trader sees them: a fired alert's notification with the status
bar's count, and the alerts panel with a rule in each state. Crafted frames, frozen clocks
(the wall clock too: the panel's fired time is 10:30:01.250 UTC), rules from the config and
one made at runtime (:mod:`tests.test_dashboard_snapshots` for the rest of the screen)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from textual.pilot import Pilot

from app.alerts import TradeAlert
from app.config import Config
from tests.dashboard_data import T0_NS, Scene
from tests.feedkit import until
from tests.test_dashboard_failures import toasts
from tests.test_dashboard_snapshots import SnapCompare, one_market, settle

RULES = [
    {"kind": "price", "market": "BTCUSD", "field": "bid", "above": "49000"},
    {"kind": "spread", "market": "ETHUSD", "above_bps": 5},
    {"kind": "stale", "market": "*", "seconds": 10},
]
"""c1 fires on the crafted BTCUSD book (its bid is 49999.99); c2 and c3 stay armed."""
FIRED_AT = T0_NS + 1_250_000_000
"""The wall clock when c1 fires: 2024-01-15 10:30:01.250 UTC."""


def fired(scene: Scene, *, runtime: bool = False) -> Callable[[Pilot[None]], Awaitable[None]]:
    """A ``run_before``: one live market, c1 fired and painted; with ``runtime``, a muted
    runtime rule (a1) besides, and the notifications cleared (the panel alone is shown)."""

    async def run_before(pilot: Pilot[None]) -> None:
        dashboard = scene.app.dashboard
        dashboard.wall_clock = lambda: FIRED_AT
        await pilot.pause()
        if runtime:
            dashboard.alerts.mute(dashboard.alerts.add(TradeAlert("BTCUSD", "5")))
        one_market(scene)
        await until(lambda: "crossed above 49000" in toasts(scene.app), "c1 fires, a toast")
        if runtime:
            scene.app.clear_notifications()
            await until(lambda: not toasts(scene.app), "the toast cleared")
        dashboard.repaint_now()
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("size", [(120, 40), (80, 24)], ids=["120x40", "80x24"])
def test_a_fired_alert(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    """c1 fired: a warning toast names the rule and the price, the status bar says
    ``▲ 1 alert (A)`` right after the connection's state (still there at 80 columns)."""
    scene = Scene(Config(alerts=RULES))
    assert snap_compare(scene.app, terminal_size=size, run_before=fired(scene))


@pytest.mark.parametrize("size", [(120, 40), (80, 24)], ids=["120x40", "80x24"])
def test_the_alerts_panel(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    """``A``: c1 ▲ fired at 10:30:01.250 with its bid, c2 and c3 ● armed, the runtime a1
    ○ muted; the keys under the table. Opening it clears the status bar's count."""
    scene = Scene(Config(alerts=RULES))
    assert snap_compare(
        scene.app, terminal_size=size, press=["A"], run_before=fired(scene, runtime=True)
    )


@pytest.mark.parametrize("press", [["a"], ["a", "tab", "tab", "tab", "tab", "x", "enter"]],
                         ids=["price", "refused"])  # fmt: skip
def test_the_new_alert_dialog(snap_compare: SnapCompare, press: list[str]) -> None:
    """``a`` on BTCUSD: a price rule's fields, the market filled in, the touch as the
    level's hint; a level that is no price is refused with the reason, the dialog open."""
    scene = Scene()
    assert snap_compare(
        scene.app, terminal_size=(80, 24), press=press, run_before=settle(one_market, scene)
    )
