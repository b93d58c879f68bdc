"""Snapshots of the watchlist (sorted two ways, and on an 80-column terminal) and of the
grid's paged tab bar, from crafted frames and frozen clocks (tests/dashboard_data.py).

The mid history behind the sparklines and the change column is crafted too: a seeded
walk per market ending at its book's mid, one market with a gap where its book was
STALE, and a session open a seeded step away from the mid.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable

import pytest
from textual.pilot import Pilot

from app.history import MidRing
from app.protocol import ONE
from app.watchlist import COLUMNS, SPARK_SAMPLES
from tests.dashboard_data import MONO, Scene
from widgets.watchlist import Watchlist

SnapCompare = Callable[..., bool]
LIVE = ["BTCUSD", "ETHUSD", "LTCUSD", "BCHUSD"]


def craft_history(scene: Scene) -> None:
    """Two minutes of mids for each LIVE market (BCHUSD with a STALE stretch)."""
    history = scene.app.dashboard.history
    slot = int(MONO // history.interval)  # the screen's own first sample is this slot's
    for market in LIVE:
        book = scene.feed.store.get(market)
        assert book is not None and book.mid_units is not None
        rng = random.Random(f"watch-{market}")
        step = book.mid_units // 4000
        mids = [book.mid_units]
        for _ in range(SPARK_SAMPLES - 1):
            mids.append(mids[-1] + rng.randrange(-3, 4) * step)
        mids.reverse()
        ring = MidRing(history.capacity)
        for n, mid in enumerate(mids):
            stale = market == "BCHUSD" and 9 <= n < 13
            ring.put(slot - len(mids) + 1 + n, None if stale else mid)
        ring.open = book.mid_units + rng.randrange(-40, 41) * step // 2
        history.rings[market] = ring


def watch_scene(scene: Scene) -> None:
    """Four LIVE markets, LINKUSD SYNCING (five subscribed: the watchlist by itself),
    UNIUSD and AAVEUSD known and not subscribed, and the crafted history."""
    for seed, market in enumerate(LIVE, start=1):
        scene.live_market(market, seed=seed)
    scene.subscribe("LINKUSD")
    scene.heartbeat_ok()
    scene.confirm([*LIVE, "LINKUSD"])
    scene.connected()
    craft_history(scene)


def paged_scene(scene: Scene) -> None:
    """Four LIVE markets and two SYNCING: the grid has two pages."""
    for seed, market in enumerate(LIVE, start=1):
        scene.live_market(market, seed=seed)
    for market in ("LINKUSD", "UNIUSD"):
        scene.subscribe(market)
    scene.heartbeat_ok()
    scene.connected()


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


CHANGE_DESCENDING = ["o"] * COLUMNS.index("change") + ["O"]
"""From the default sort (market): ``o`` to the change column, ``O`` to reverse it."""


@pytest.mark.parametrize(
    ("press", "size"),
    [([], (160, 30)), (CHANGE_DESCENDING, (160, 30)), (["o"], (80, 24))],
    ids=["by-market", "by-change-descending", "by-state-80x24"],
)
def test_watchlist(snap_compare: SnapCompare, press: list[str], size: tuple[int, int]) -> None:
    """Five markets subscribed: the watchlist by itself. Sorted by market, highlighted on
    the current one; by change, largest first (rows without a change last); at 80
    columns, sorted by state, the least needed columns left out."""
    scene = Scene()
    assert snap_compare(
        scene.app, terminal_size=size, press=press, run_before=settle(watch_scene, scene)
    )


def test_paged_tab_bar(snap_compare: SnapCompare) -> None:
    """Six markets in the grid (``l`` from the watchlist), on its second page (PgDn): the
    tabs say ``[grid · page 2/2]`` and mute the first page's markets."""
    scene = Scene()
    assert snap_compare(
        scene.app,
        terminal_size=(160, 40),
        press=["l", "pagedown"],
        run_before=settle(paged_scene, scene),
    )


async def test_the_crafted_history_is_what_the_rows_read() -> None:
    """The sparklines are the crafted walk's: BCHUSD's has its STALE gap, and the
    screen's own sample at the frozen time adds nothing to a slot already held."""
    scene = Scene()
    async with scene.app.run_test(size=(160, 30)) as pilot:
        await settle(watch_scene, scene)(pilot)
        values = list(scene.app.dashboard.history.values("BCHUSD"))
        assert len(values) == SPARK_SAMPLES and values[9:13] == [None] * 4
        assert all(v is not None and v > ONE for v in values[13:])
        row = next(r for r in scene.app.dashboard.query_one(Watchlist).rows if r.market == "BCHUSD")
        assert row.spark == tuple(values) and row.change is not None
