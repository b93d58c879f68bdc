"""The depth ladder on the real app (a Scene: frozen clocks, crafted frames): columns that
stay put while data flows, the optional columns, the fixed-tick mode and its repaints.

Each test moves the screen's clock by hand and repaints through the screen
(``repaint_now``) or its refresh clock, then reads the ladder's painted lines.
"""

from __future__ import annotations

import re
from itertools import pairwise
from typing import Any

import pytest
from textual.geometry import Region

from app.config import Config, LadderConfig
from app.protocol import format_scaled, to_scaled
from app.view_settings import ViewSettings, view_settings_file
from tests.dashboard_data import (
    MONO,
    FrozenClock,
    Scene,
    book_levels,
    snapshot_frame,
    update_frame,
)
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


async def test_the_ladders_columns_and_mode_set_by_key_are_remembered_over_the_config() -> None:
    """``n`` and ``f`` are kept in view.json (the state directory; a temporary one in
    tests): the next dashboard starts with them, whatever ``[ladder]`` says."""
    scene = Scene()
    async with scene.app.run_test(size=(320, 50)) as pilot:
        await painted(scene)
        await pilot.press("n", "f")
    saved = view_settings_file().load(ViewSettings()).ladder
    assert saved == LadderConfig(columns=["cumulative", "notional"], mode="fixed")
    again = Scene(Config(ladder=LadderConfig(columns=["volume"], mode="list")))
    async with again.app.run_test(size=(320, 50)):
        ladders = await painted(again)
        assert again.app.dashboard.ladder_settings == saved
        assert all("Notional" in ladder_lines(ladder)[0] for ladder in ladders.values())
        assert all(view.fixed for view in again.app.dashboard.views.values())


# ------------------------------------------------------------------ the fixed-tick mode


def prices_of(ladder: DepthLadder) -> list[str]:
    """The prices on the ladder's rows, top to bottom."""
    return [
        words[0]
        for words in (line.split() for line in ladder_lines(ladder)[1:])
        if words and re.fullmatch(r"\d+\.\d+", words[0])
    ]


def spy_refreshes(ladder: DepthLadder) -> list[int | None]:
    """Record the lines ``ladder`` asks to repaint from now on (None: all of them)."""
    seen: list[int | None] = []
    original = ladder.refresh

    def refresh(*regions: Region, **kwargs: Any) -> Any:
        if regions:
            seen.extend(region.y for region in regions)
        else:
            seen.append(None)
        return original(*regions, **kwargs)

    ladder.refresh = refresh  # type: ignore[method-assign]
    return seen


def shifted_book(by: str) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """The scene's BTCUSD book with every price ``by`` higher."""
    bids, asks = book_levels("BTCUSD")
    shift = to_scaled(by)

    def moved(side: list[dict[str, str]]) -> list[dict[str, str]]:
        return [level(format_scaled(to_scaled(x["price"]) + shift, 2), x["amount"]) for x in side]

    return moved(bids), moved(asks)


async def test_f_shows_every_price_on_the_tick_and_c_recentres() -> None:
    scene = Scene()
    clock = scene.app.clock
    assert isinstance(clock, FrozenClock)
    async with scene.app.run_test(size=(200, 60)) as pilot:  # two tall ladders side by side
        ladders = await painted(scene)
        dashboard = scene.app.dashboard
        btc = ladders["BTCUSD"]
        listed = prices_of(btc)
        await pilot.press("f")
        assert dashboard.ladder_mode == "fixed" and dashboard.ladder_settings.mode == "fixed"
        assert all(dashboard.views[m].fixed for m in FOUR), "every market's ladder"
        fixed = prices_of(btc)
        assert len(fixed) == 2 * btc.depth + 1
        steps = {round(float(a) - float(b), 2) for a, b in pairwise(fixed)}
        assert steps == {0.01}, "one row per tick, empty ones included"
        assert fixed[btc.depth] == "50000.00", "centred on the mid"
        assert "fixed · tick 0.01" in ladder_lines(btc)[0]
        assert "50000.00" not in listed, "a price with no level has its row"
        assert ladder_lines(btc)[len(fixed) + 1].startswith(" spread 0.04"), "the spread under"

        # The touch moves inside the window: the window stands still.
        scene.ingest(update_frame("BTCUSD", 960, bids=[level("50000.01", "1.5")]), MONO)
        clock.now += 1.0
        dashboard.repaint_now()
        assert prices_of(btc) == fixed
        # c centres it on the touch now (the mid 50000.015, on the tick below).
        await pilot.press("c")
        assert prices_of(btc)[btc.depth] == "50000.01"
        # The touch leaves the window (the book moves 20.00 up): it re-centres by itself.
        scene.ingest(snapshot_frame("BTCUSD", *shifted_book("20.00"), offset_ms=2000), MONO)
        clock.now += 1.0
        dashboard.repaint_now()
        assert prices_of(btc)[btc.depth] == "50020.00"
        # f goes back to the list of levels.
        await pilot.press("f")
        assert dashboard.ladder_mode == "list" and not dashboard.views["BTCUSD"].fixed
        title = ladder_lines(btc)[0]
        assert "depth" in title and "fixed" not in title
        assert prices_of(btc)[btc.depth - 1 : btc.depth + 1] == ["50020.02", "50019.98"]


async def test_a_spread_too_wide_for_the_window_takes_a_coarser_grid_by_itself() -> None:
    """BTCUSD's asks 4.00 higher: 404 ticks of spread on a 31-row window would show only
    empty prices between the sides. The grid takes 0.50 steps by itself (the finest of 1,
    2, 5, 10, 20, 50 ticks leaving the spread half the window's inner 26 rows), both sides'
    amounts show, the title says so; with the spread back to 0.04 for a while (not at
    once: a spread that opens and closes would lay the window out each time), the tick."""
    scene = Scene(Config(ladder=LadderConfig(mode="fixed")))
    clock = scene.app.clock
    assert isinstance(clock, FrozenClock)
    async with scene.app.run_test(size=(200, 60)):
        ladders = await painted(scene)
        dashboard, btc = scene.app.dashboard, ladders["BTCUSD"]
        assert btc.window_rows == 31
        assert "fixed · tick 0.01" in ladder_lines(btc)[0]
        bids, asks = book_levels("BTCUSD")
        wide_asks = shifted_book("4.00")[1]
        scene.ingest(snapshot_frame("BTCUSD", bids, wide_asks, offset_ms=2000), MONO)
        clock.now += 1.0
        dashboard.repaint_now()
        lines = ladder_lines(btc)
        assert "fixed · auto 0.5 " in lines[0]
        prices = prices_of(btc)
        assert {round(float(a) - float(b), 2) for a, b in pairwise(prices)} == {0.5}
        with_amounts = [line.split() for line in lines[1:] if len(line.split()) >= 2]
        rows = [words for words in with_amounts if re.fullmatch(r"\d+\.\d+", words[0])]
        best_ask = min(float(a["price"]) for a in wide_asks)
        best_bid = max(float(b["price"]) for b in bids)
        assert any(float(w[0]) >= best_ask for w in rows), "ask rows with amounts"
        assert any(float(w[0]) <= best_bid for w in rows), "bid rows with amounts"
        scene.ingest(snapshot_frame("BTCUSD", bids, asks, offset_ms=4000), MONO)
        clock.now += 1.0
        dashboard.repaint_now()
        assert "fixed · auto 0.5 " in ladder_lines(btc)[0], "narrow for a moment: as it was"
        clock.now += DepthLadder.AUTO_FINER_SECONDS
        dashboard.repaint_now()
        assert "fixed · tick 0.01" in ladder_lines(btc)[0], "narrow for a while: the tick"
        assert prices_of(btc)[btc.depth] == "50000.00"


def side_totals(lines: list[str]) -> tuple[list[float], list[float]]:
    """(asks, bids) running totals as painted, each from the touch outwards."""
    spread = next(y for y, line in enumerate(lines) if "spread" in line)
    rows = [
        (y, words)
        for y, words in enumerate(line.split() for line in lines)
        if len(words) >= 3 and re.fullmatch(r"\d+\.\d+", words[0])
    ]
    asks = [float(words[2]) for y, words in reversed(rows) if y < spread]
    bids = [float(words[2]) for y, words in rows if y > spread]
    return asks, bids


def grows(totals: list[float]) -> bool:
    return all(a <= b for a, b in pairwise(totals))


@pytest.mark.parametrize("change", ["touch", "deep"])
async def test_running_totals_never_shrink_away_from_the_touch_between_slow_passes(
    change: str,
) -> None:
    """Totals and bars repaint at their slow pace, but a row repainted sooner (the touch on
    every tick; a level inserted deep in the book when the rows behind are due) must not
    show a total beside older ones that no book can have: larger than the next row's out.
    The best ask grows from 17.94 to 39.5 (past the next row's 38.39), or a level of 30
    appears between the first and second asks; in both, the column still grows from the touch."""
    scene = Scene()
    clock = scene.app.clock
    assert isinstance(clock, FrozenClock)
    async with scene.app.run_test(size=(200, 60)):
        ladders = await painted(scene)
        btc, view = ladders["BTCUSD"], scene.app.dashboard.views["BTCUSD"]
        assert "Total" in ladder_lines(btc)[0], "the totals column is shown"
        assert all(grows(side) for side in side_totals(ladder_lines(btc))), "as painted"
        if change == "touch":
            scene.ingest(update_frame("BTCUSD", 960, asks=[level("50000.02", "39.5")]))
            clock.now += 0.01  # a tick: the rows behind the touch are not due
        else:
            scene.ingest(update_frame("BTCUSD", 960, asks=[level("50000.03", "30")]))
            assert DepthLadder.DEEP_SECONDS < DepthLadder.SLOW_SECONDS
            clock.now += DepthLadder.DEEP_SECONDS * btc.pace  # the rows are due, totals not
        view.refresh_data(clock.now, urgent=False)
        asks, bids = side_totals(ladder_lines(btc))
        assert grows(asks), f"ask totals from the touch up: {asks}"
        assert grows(bids)
        if change == "touch":
            assert asks[0] == 39.5, "the touch's new amount is shown at once"
        else:
            assert asks[1] == asks[0] + 30, "the new level is counted"


async def test_c_in_the_list_mode_says_what_it_is_for() -> None:
    scene = Scene()
    async with scene.app.run_test(size=(120, 40)) as pilot:
        await painted(scene)
        await pilot.press("c")
        await until(
            lambda: any("fixed-tick" in str(n.message) for n in scene.app._notifications),
            "a note naming the fixed-tick ladder",
        )


@pytest.mark.parametrize("mode", ["list", "fixed"])
async def test_a_touch_move_repaints_only_the_rows_it_crosses_in_fixed_mode(mode: str) -> None:
    """The best ask is taken (50000.02 -> 50000.04). A list ladder shifts its ask side: every
    ask line is repainted. A fixed-tick ladder repaints the two rows the touch crossed
    (50000.02 emptied, 50000.04 now the touch) and the spread line, nothing else (the
    totals above follow at their slow pace)."""
    scene = Scene(Config(ladder=LadderConfig(mode=mode)))
    clock = scene.app.clock
    assert isinstance(clock, FrozenClock)
    async with scene.app.run_test(size=(120, 40)):
        ladders = await painted(scene)
        btc, view = ladders["BTCUSD"], scene.app.dashboard.views["BTCUSD"]
        before = ladder_lines(btc)
        seen = spy_refreshes(btc)
        scene.ingest(update_frame("BTCUSD", 960, asks=[level("50000.02", "0")]), MONO)
        # A refresh tick once a move may be shown (the painting above may have been one:
        # the touch appearing), before the rows behind the touch are due (at their pace,
        # raised on a loaded machine; nothing awaits from here, so it cannot change).
        assert DepthLadder.MOVE_SECONDS < DepthLadder.DEEP_SECONDS
        clock.now += DepthLadder.MOVE_SECONDS * btc.pace
        view.refresh_data(clock.now, urgent=False)
        after = ladder_lines(btc)
        changed = {y for y, (a, b) in enumerate(zip(before, after, strict=True)) if a != b}
        assert None not in seen, "no full repaint"
        if mode == "fixed":
            prices = prices_of(btc)
            old_y, new_y = 1 + prices.index("50000.02"), 1 + prices.index("50000.04")
            spread_y = next(y for y, line in enumerate(after) if "spread" in line)
            assert set(seen) == {new_y, old_y, spread_y}, "50000.03 stays as it was: empty"
            assert changed == set(seen)
        else:
            assert len(set(seen)) >= btc.levels_per_side, "the ask side shifted"


async def test_a_fixed_tick_move_waits_its_turn_whole_as_a_list_move_does() -> None:
    """Moves of the touch keep the list's pace (DepthLadder.MOVE_SECONDS): a second move
    within it, here one that re-centres the window, leaves the picture and the header's
    touch as they were until its turn, then both move."""
    from app.dashboard import MAX_PACE

    scene = Scene(Config(ladder=LadderConfig(mode="fixed")))
    clock = scene.app.clock
    assert isinstance(clock, FrozenClock)
    async with scene.app.run_test(size=(120, 40)):
        ladders = await painted(scene)
        btc, view = ladders["BTCUSD"], scene.app.dashboard.views["BTCUSD"]
        scene.ingest(update_frame("BTCUSD", 960, asks=[level("50000.02", "0")]), MONO)
        clock.now += 1.0
        view.refresh_data(clock.now, urgent=False)  # the first move: painted at once
        assert btc.painted_touch is not None and btc.painted_touch[1] is not None
        assert btc.painted_touch[1].price == "50000.04"
        before = ladder_lines(btc)
        scene.ingest(snapshot_frame("BTCUSD", *shifted_book("0.25"), offset_ms=2000), MONO)
        clock.now += DepthLadder.MOVE_SECONDS / 4
        view.refresh_data(clock.now, urgent=False)
        assert ladder_lines(btc) == before, "held whole"
        assert btc.painted_touch[1].price == "50000.04", "the header's touch with it"
        # (a loaded test machine slows the pace: the screen's adaptive pace, up to MAX_PACE)
        assert btc.due_at is not None
        assert btc.due_at <= clock.now + DepthLadder.MOVE_SECONDS * MAX_PACE
        clock.now += DepthLadder.MOVE_SECONDS * MAX_PACE
        view.refresh_data(clock.now, urgent=False)
        assert btc.painted_touch is not None and btc.painted_touch[1] is not None
        assert btc.painted_touch[1].price == "50000.27"
        assert prices_of(btc)[btc.window_rows // 2] == "50000.25", "re-centred"
