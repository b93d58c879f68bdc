"""The depth ladder on the real app (a Scene: frozen clocks, crafted frames): columns that
stay put while data flows, the optional columns, the fixed-tick mode and its repaints.

Each test moves the screen's clock by hand and repaints through the screen
(``repaint_now``) or its refresh clock, then reads the ladder's painted lines.
"""

from __future__ import annotations

import re

from tests.dashboard_data import MONO, Scene, snapshot_frame, update_frame
from tests.feedkit import until
from widgets.depth_ladder import DepthLadder


def ladder_lines(ladder: DepthLadder) -> list[str]:
    """The ladder's text as painted, line by line."""
    return [ladder.render_line(y).text for y in range(ladder.size.height)]


def level(price: str, amount: str) -> dict[str, str]:
    return {"price": price, "amount": amount}


def trimmed_book() -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """A book spelt as the simulator spells it (amounts without trailing zeros): near the
    touch the amounts are short (``0.5``, ``2``), deeper ones have all eight decimals."""
    bids = [
        level(f"{49999 - i}.{i * 7 % 100:02d}", "0.5" if i < 6 else "1.23456789") for i in range(30)
    ]
    asks = [
        level(f"{50001 + i}.{i * 3 % 100:02d}", "2" if i < 6 else "10.00000001") for i in range(30)
    ]
    return bids, asks


def dot_columns(lines: list[str]) -> set[tuple[int, ...]]:
    """For every row line (a price first), where its decimal points are."""
    found = set()
    for line in lines:
        if re.match(r"\s*\d+\.\d+\s", line):
            found.add(tuple(m.start() for m in re.finditer(r"\.", line)))
    return found


async def test_no_column_moves_while_the_book_changes() -> None:
    """Short amounts at the touch, long ones deeper, levels coming and going, the deep ones
    coming into view: every row's decimal points stay in the same columns throughout, and
    so does the title (decimals from the market's whole snapshot, widths that only grow)."""
    scene = Scene()
    clock = scene.app.clock
    async with scene.app.run_test(size=(120, 40)) as pilot:
        scene.subscribe("BTCUSD")
        bids, asks = trimmed_book()
        scene.ingest(snapshot_frame("BTCUSD", bids, asks), MONO - 2.0)
        scene.connected()
        await until(lambda: "BTCUSD" in scene.app.dashboard.views, "a view")
        ladder = scene.app.dashboard.views["BTCUSD"].ladder
        scene.app.dashboard.repaint_now()
        await until(lambda: "spread" in "\n".join(ladder_lines(ladder)), "the ladder painted")
        first = ladder_lines(ladder)
        assert "0.50000000" in "\n".join(first), "amounts written with the market's decimals"
        title = first[0]
        columns = dot_columns(first)
        assert len(columns) == 1, columns
        changes = [
            update_frame("BTCUSD", 100, bids=[level(bids[0]["price"], "3")]),
            update_frame("BTCUSD", 110, asks=[level(asks[1]["price"], "0.1")]),
            update_frame("BTCUSD", 120, bids=[level("49999.5", "7.25")]),  # a new best bid
            # The touch's short levels go: the 8-decimal ones come into view.
            update_frame("BTCUSD", 130, bids=[level(b["price"], "0") for b in bids[:6]]),
            update_frame("BTCUSD", 140, asks=[level(a["price"], "0") for a in asks[:6]]),
            update_frame("BTCUSD", 150, asks=[level("50000.5", "1")]),
        ]
        for offset, data in enumerate(changes, start=1):
            scene.ingest(data, MONO)
            assert hasattr(clock, "now")
            clock.now = MONO + offset
            scene.app.dashboard.repaint_now()
            await pilot.pause()
            lines = ladder_lines(ladder)
            assert lines[0] == title, f"after change {offset}: the title moved"
            assert dot_columns(lines) == columns, f"after change {offset}: a column moved"


# ------------------------------------------------------------------ the optional columns


def two_markets(scene: Scene) -> None:
    scene.live_market("BTCUSD")
    scene.live_market("ETHUSD", seed=2)
    scene.connected()


async def painted(scene: Scene) -> dict[str, DepthLadder]:
    """Both markets live and their ladders painted (the grid shows both)."""
    two_markets(scene)
    dashboard = scene.app.dashboard
    await until(
        lambda: all(m in dashboard.views and dashboard.views[m].display for m in FOUR[:2]),
        "both markets shown",
    )
    dashboard.repaint_now()
    ladders = {m: dashboard.views[m].ladder for m in FOUR[:2]}
    await until(
        lambda: all("spread" in "\n".join(ladder_lines(x)) for x in ladders.values()),
        "both ladders painted",
    )
    return ladders


FOUR = ["BTCUSD", "ETHUSD"]


async def test_n_v_and_shift_c_toggle_the_columns_of_every_ladder() -> None:
    scene = Scene()
    async with scene.app.run_test(size=(320, 50)) as pilot:  # room for every column
        ladders = await painted(scene)
        dashboard = scene.app.dashboard

        def titles() -> list[str]:
            return [ladder_lines(ladder)[0] for ladder in ladders.values()]

        assert all("Total" in t and "Notional" not in t and "Vol b*" not in t for t in titles())
        await pilot.press("n")
        assert dashboard.ladder_columns == {"cumulative", "notional"}
        assert all("Notional" in t for t in titles()), "every market's ladder"
        btc = "\n".join(ladder_lines(ladders["BTCUSD"]))
        assert "897,211.76" in btc, "the best ask's 50000.02 x 17.94422806, cut to cents"
        await pilot.press("v")
        assert all("Vol b*" in t and "Vol s*" in t for t in titles())
        btc = "\n".join(ladder_lines(ladders["BTCUSD"]))
        best_bid = next(line for line in btc.split("\n") if line.startswith(" 49999.98"))
        assert best_bid.split()[-2] == "16.88949256", "the sells at the best bid, this session"
        await pilot.press("C")
        assert all("Total" not in t and "Notional" in t for t in titles())
        assert dashboard.ladder_settings.columns == ["notional", "volume"]
        await pilot.press("n", "v", "C")
        assert dashboard.ladder_settings.columns == ["cumulative"]
        assert all("Notional" not in t and "Vol b*" not in t and "Total" in t for t in titles())
        assert [dashboard.views[m].columns for m in FOUR] == [{"cumulative"}] * 2
