"""The dashboard's compositor sends the terminal exactly what Textual's own would.

``LeanCompositor`` asks fewer widgets for their lines on a partial update (issue 10); what
reaches the terminal must not change. Four live markets at 200x60 (the grid), and for each
set of changed regions (one ladder line, a line in each corner, whole widgets, a region
across a border, the footer, the tabs) the bytes of both compositors' updates are compared.
"""

from __future__ import annotations

import pytest
from textual._compositor import Compositor
from textual.geometry import Region

from tests.dashboard_data import Scene
from widgets.depth_ladder import DepthLadder
from widgets.lean_compositor import LeanCompositor
from widgets.text_lines import TextLines
from widgets.trade_tape import TradeTape

MARKETS = ["BTCUSD", "ETHUSD", "LTCUSD", "BCHUSD"]


def _regions(
    case: str, ladders: list[Region], tapes: list[Region], headers: list[Region]
) -> list[Region]:
    """Screen regions that changed, for each case."""

    def line(region: Region, y: int, height: int = 1) -> Region:
        return Region(region.x, region.y + y, region.width, height)

    match case:
        case "one ladder line":
            return [line(ladders[0], 4)]
        case "a line in each corner":
            return [line(r, 7) for r in ladders]
        case "touch lines, headers and tapes":
            return [
                *(line(r, 6, 3) for r in ladders),
                *(line(r, 0) for r in headers),
                *(line(r, 0, 5) for r in tapes),
            ]
        case "whole ladders":
            return ladders
        case "across a border":
            first = ladders[0]
            return [Region(first.x + first.width - 3, first.y + 2, 12, 4)]
        case "the footer and the tabs":
            return [Region(0, 59, 200, 1), Region(0, 1, 200, 1)]
        case "the whole screen but one cell":
            return [Region(0, 0, 200, 59), Region(0, 59, 199, 1)]
    raise AssertionError(case)


CASES = [
    "one ladder line",
    "a line in each corner",
    "touch lines, headers and tapes",
    "whole ladders",
    "across a border",
    "the footer and the tabs",
    "the whole screen but one cell",
]


@pytest.mark.parametrize("case", CASES)
async def test_a_partial_update_writes_what_textuals_compositor_writes(case: str) -> None:
    scene = Scene()
    scene.connected()
    for seed, market in enumerate(MARKETS, 1):
        scene.live_market(market, seed=seed)
    app = scene.app
    async with app.run_test(size=(200, 60)) as pilot:
        app.dashboard.repaint_now()
        await pilot.pause()
        screen = app.screen
        lean = screen._compositor
        assert isinstance(lean, LeanCompositor)
        plain = Compositor()
        plain.reflow(screen, screen.size)
        ladders = [w.region for w in screen.query(DepthLadder)]
        tapes = [w.region for w in screen.query(TradeTape)]
        headers = [w.region for w in screen.query(TextLines).filter(".market-header")]
        assert len(ladders) == len(tapes) == len(headers) == 4
        regions = _regions(case, ladders, tapes, headers)
        written = []
        for compositor in (plain, lean):
            compositor._dirty_regions.clear()
            compositor._dirty_regions.update(regions)
            update = compositor.render_partial_update()
            assert update is not None
            written.append(update.render_segments(app.console))
        assert written[0] == written[1]
        assert len(written[1]) > 100  # the lines were written, not nothing on both sides
