"""Snapshots of the trade tape's views: scrolled back while trades arrive, filtered by a
minimum size, aggregated (and filtered). Crafted seeded trades, frozen clocks, keys pressed
as a trader would (:mod:`tests.test_dashboard_snapshots` for the rest of the screen)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from textual.pilot import Pilot

from tests.dashboard_data import Scene
from tests.tapekit import add_trades
from tests.test_dashboard_snapshots import SnapCompare, one_market

Keys = tuple[str, ...]


def busy(scene: Scene) -> None:
    """One live market with far more trades than a page, sweeps among them."""
    one_market(scene)
    add_trades(scene, "BTCUSD", 120)


def after(
    scene: Scene, keys: Keys, *, then: Callable[[Scene], None] | None = None
) -> Callable[[Pilot[None]], Awaitable[None]]:
    """A ``run_before``: the busy tape painted, ``keys`` pressed, then ``then`` (more
    trades) and a repaint."""

    async def run_before(pilot: Pilot[None]) -> None:
        await pilot.pause()
        busy(scene)
        await pilot.pause()
        scene.app.dashboard.repaint_now()
        await pilot.pause()
        await pilot.press(*keys)
        if then is not None:
            then(scene)
        scene.app.dashboard.repaint_now()
        await pilot.pause()

    return run_before


def more_trades(scene: Scene) -> None:
    add_trades(scene, "BTCUSD", 9, seed=8, start_ms=60_000)


def test_tape_scrolled_back(snap_compare: SnapCompare) -> None:
    """Focused (e) and a page back: new trades came meanwhile; the view stayed where it was
    and the top line counts them, saying End follows again. The tape's rule is the focus
    colour, the footer shows its keys."""
    scene = Scene()
    run_before = after(scene, ("e", "pagedown"), then=more_trades)
    assert snap_compare(scene.app, terminal_size=(120, 40), run_before=run_before)


def test_tape_filtered(snap_compare: SnapCompare) -> None:
    """m, 1.5, Enter: only trades of 1.5 or more, named in the title line (80x24)."""
    scene = Scene()
    run_before = after(scene, ("m", "1", "full_stop", "5", "enter"))
    assert snap_compare(scene.app, terminal_size=(80, 24), run_before=run_before)


def test_tape_aggregated_and_filtered(snap_compare: SnapCompare) -> None:
    """x and a minimum of 2: the sweeps summed into one row with their count of prints, the
    filter applied to the sum, the time shortened to make room."""
    scene = Scene()
    run_before = after(scene, ("x", "m", "2", "enter"))
    assert snap_compare(scene.app, terminal_size=(120, 40), run_before=run_before)
