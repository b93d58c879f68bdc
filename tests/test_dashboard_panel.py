"""Chrome that must keep up with the data: the subscription panel and the market tabs.

The subscription panel repaints state changes at once and bare counters at most once a
second; the ladder's touch and the header agree while a move of the touch waits its turn.

Driven through the real app on a Scene (frozen clocks, crafted frames): the clock is moved
by hand, so "at most once a second" is checked without waiting for anything.
"""

from __future__ import annotations

from tests.dashboard_data import (
    MONO,
    FrozenClock,
    Scene,
    book_levels,
    execution_frames,
    snapshot_frame,
    subscription_list,
    update_frame,
)
from tests.feedkit import until
from widgets.depth_ladder import DepthLadder
from widgets.market_tabs import MarketTabs
from widgets.status_bar import StatusBar
from widgets.subscription_panel import SubscriptionPanel


def panel_text(scene: Scene, market: str) -> str:
    return str(scene.app.dashboard.views[market].panel.render())


def text_of(scene: Scene) -> str:
    return panel_text(scene, "BTCUSD")


def tabs_text(scene: Scene) -> str:
    return str(scene.app.dashboard.query_one(MarketTabs).render())


async def test_counts_repaint_at_most_once_a_second_state_changes_at_once() -> None:
    scene = Scene()
    async with scene.app.run_test(size=(120, 40)) as pilot:
        scene.live_market("BTCUSD")
        scene.connected()
        await pilot.pause()
        clock = scene.app.clock
        assert hasattr(clock, "now")
        scene.app.dashboard.repaint_now()
        before = panel_text(scene, "BTCUSD")
        assert "14 msg" in before  # the scene's 14 executions

        for data in execution_frames("BTCUSD", count=5, seed=9):
            scene.ingest(data, MONO)
        clock.now = MONO + SubscriptionPanel.COUNTER_PERIOD / 2
        scene.app.dashboard.repaint_now()
        assert panel_text(scene, "BTCUSD") == before, "a bare count change waits"

        clock.now = MONO + SubscriptionPanel.COUNTER_PERIOD * 1.5
        scene.app.dashboard.repaint_now()
        assert "19 msg" in panel_text(scene, "BTCUSD"), "and shows within the period"

        # A state change is news: the server's subscription_list confirming the channels
        # shows on the very next repaint, within the same second.
        assert "listed" in text_of(scene) and "✓" not in text_of(scene)
        scene.ingest(subscription_list(["BTCUSD"]), MONO)
        clock.now += 0.01
        scene.app.dashboard.repaint_now()
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
        await until(lambda: scene.app.dashboard.views["BTCUSD"].badge == "LIVE", "the view LIVE")
        await pilot.pause()
        assert "LIVE" in tabs_text(scene) and "STALE" not in tabs_text(scene)


async def test_status_bar_counts_the_token_down_then_says_what_expiry_means() -> None:
    scene = Scene()
    async with scene.app.run_test(size=(160, 40)) as pilot:
        scene.live_market("BTCUSD")
        scene.connected()  # a token with 3312 s left
        scene.app.dashboard.repaint_now()
        await pilot.pause()
        bar = scene.app.dashboard.query_one(StatusBar)
        assert "token 55:12" in str(bar.render())
        scene.feed.stats.token_expires_at = MONO - 1.0
        scene.app.dashboard.repaint_now()
        await pilot.pause()
        assert "token expired, renewed on reconnect" in str(bar.render())


def two_live_markets(scene: Scene) -> None:
    scene.live_market("BTCUSD")
    scene.live_market("ETHUSD", seed=2)
    scene.connected()


def take_btc_best_bid(scene: Scene) -> None:
    """An UPDATE that deletes BTCUSD's best bid: the ladder's top bid row changes."""
    bids, _ = book_levels("BTCUSD")
    scene.ingest(update_frame("BTCUSD", 950, bids=[dict(bids[0], amount="0")]), MONO)


async def live_ladder(scene: Scene) -> DepthLadder:
    """BTCUSD LIVE and connected, its ladder laid out and painted."""
    scene.live_market("BTCUSD")
    scene.connected()
    await until(lambda: "LIVE" in tabs_text(scene), "BTCUSD LIVE")
    await until(lambda: "spread" in ladder_text(scene, "BTCUSD"), "the ladder laid out")
    return scene.app.dashboard.views["BTCUSD"].ladder


def ladder_text(scene: Scene, market: str) -> str:
    ladder = scene.app.dashboard.views[market].ladder
    return "\n".join(ladder.render_line(y).text for y in range(ladder.size.height))


async def test_a_hidden_markets_tab_follows_its_state_on_the_next_tick() -> None:
    """At 80x24 one market shows; the tabs are the other market's only sign."""
    scene = Scene()
    async with scene.app.run_test(size=(80, 24)) as pilot:
        two_live_markets(scene)
        await until(lambda: "ETHUSD ● LIVE" in tabs_text(scene), "ETHUSD's tab LIVE")
        assert not scene.app.dashboard.views["ETHUSD"].display
        await pilot.pause()  # the feed events of the setup handled (each asks for chrome)
        ticks = scene.app.dashboard.repaints
        take_btc_best_bid(scene)
        await until(lambda: scene.app.dashboard.repaints > ticks, "a tick after the setup's chrome")
        scene.feed.store.reset("ETHUSD")
        # The app's clock is frozen: only the repaint tick can change the tabs now.
        await until(lambda: "ETHUSD ○ STALE" in tabs_text(scene), "the hidden tab says STALE")


async def test_a_frozen_display_keeps_its_ladder_when_a_key_moves_the_highlight() -> None:
    scene = Scene()
    async with scene.app.run_test(size=(160, 50)) as pilot:
        two_live_markets(scene)
        await until(
            lambda: (
                "ETHUSD" in scene.app.dashboard.views
                and scene.app.dashboard.views["ETHUSD"].display
            ),
            "the grid shows both",
        )
        scene.app.dashboard.repaint_now()
        await pilot.press("p")
        before = ladder_text(scene, "BTCUSD")
        take_btc_best_bid(scene)
        await pilot.press("tab")
        await until(lambda: scene.app.dashboard.current == "ETHUSD", "tab moved the highlight")
        assert ladder_text(scene, "BTCUSD") == before, "frozen, yet repainted"
        await pilot.press("p")
        await until(lambda: ladder_text(scene, "BTCUSD") != before, "resumed: the new book")


async def test_depth_keys_repaint_a_ladder_with_fewer_levels_than_its_depth() -> None:
    scene = Scene()
    async with scene.app.run_test(size=(120, 40)) as pilot:
        scene.subscribe("BTCUSD")
        bids, asks = book_levels("BTCUSD", levels=3)
        scene.ingest(snapshot_frame("BTCUSD", bids, asks), MONO - 2.0)
        scene.connected()
        await until(lambda: "LIVE" in tabs_text(scene), "BTCUSD LIVE")
        ladder = scene.app.dashboard.views["BTCUSD"].ladder
        await until(lambda: "depth" in ladder_text(scene, "BTCUSD"), "the ladder laid out")
        while ladder.depth > 5:  # the book has 3 levels a side: the rows never change
            await pilot.press("minus")
        assert "depth 5" in ladder_text(scene, "BTCUSD")
        await pilot.press("plus")
        assert "depth 6" in ladder_text(scene, "BTCUSD")


async def test_a_ladder_repainted_line_by_line_ends_equal_to_a_full_repaint() -> None:
    """The refresh clock repaints the touch at once and the rows behind it later, line by
    line; once those are due, what is on screen is exactly what a full repaint shows."""
    scene = Scene()
    clock = scene.app.clock
    assert isinstance(clock, FrozenClock)
    async with scene.app.run_test(size=(120, 40)):
        ladder = await live_ladder(scene)
        bids, asks = book_levels("BTCUSD")
        # A change behind the touch (the 6th bid), then one at the touch (the best ask).
        scene.ingest(update_frame("BTCUSD", 960, bids=[dict(bids[5], amount="3.5")]), MONO)
        clock.now += 0.01
        scene.feed.activity.set()
        await until(
            lambda: ladder.due_at is not None or "3.5" in ladder_text(scene, "BTCUSD"),
            "the deep change held back, or painted",
        )
        scene.ingest(update_frame("BTCUSD", 970, asks=[dict(asks[0], amount="7.25")]), MONO)
        clock.now += 0.01
        scene.feed.activity.set()
        await until(lambda: "7.25" in ladder_text(scene, "BTCUSD"), "the touch painted at once")
        clock.now += 1.0  # every held-back row and slow column is due
        scene.feed.activity.set()
        await until(lambda: ladder.due_at is None, "the held-back rows painted")
        painted = ladder_text(scene, "BTCUSD")
        assert "3.5" in painted
        ladder._strips = None  # a full repaint of the same book
        assert ladder_text(scene, "BTCUSD") == painted


async def test_under_load_the_slow_parts_back_off_before_the_refresh_rate() -> None:
    """Cycles costing more than the budget slow the rows behind the touch and the tape
    first (up to MAX_PACE), then the refresh period (never below MIN_REFRESH_HZ); cheap
    cycles bring both back, the period first."""
    from app.dashboard import CPU_BUDGET, MAX_PACE, MIN_REFRESH_HZ

    scene = Scene()
    async with scene.app.run_test(size=(120, 40)):
        scene.live_market("BTCUSD")
        await until(lambda: "BTCUSD" in scene.app.dashboard.views, "a view")
        app, view = scene.app, scene.app.dashboard.views["BTCUSD"]
        base = 1 / 30
        app.dashboard.refresh_period = base
        app.dashboard._adapt(base, CPU_BUDGET + 0.1)
        assert 1.0 < app.dashboard.pace == view.ladder.pace == view.trades.pace
        assert app.dashboard.refresh_period == base  # the touch keeps its rate while the rest slows
        for _ in range(20):
            app.dashboard._adapt(base, CPU_BUDGET + 0.1)
        assert app.dashboard.pace == MAX_PACE and app.dashboard.refresh_period == 1 / MIN_REFRESH_HZ
        for _ in range(40):
            app.dashboard._adapt(base, CPU_BUDGET / 4)
        assert app.dashboard.pace == 1.0 and app.dashboard.refresh_period == base


def levels_of(ladder: str) -> list[list[str]]:
    """Each ladder line's price and amount (the totals and bars have a slower pace)."""
    return [line.split()[:2] for line in ladder.split("\n")]


def touch_shown(scene: Scene, market: str) -> tuple[str, str]:
    """(the header's Ask, the ladder's best ask: the line above its spread line)."""
    view = scene.app.dashboard.views[market]
    header = str(view.header.render()).split("\n")[0]
    ask = header.split("Ask ")[1].split()[0]
    lines = ladder_text(scene, market).split("\n")
    spread = next(y for y, line in enumerate(lines) if "spread" in line)
    return ask, lines[spread - 1].split()[0]


async def test_a_touch_move_waits_its_turn_whole_and_the_header_shows_the_same_touch() -> None:
    """The best ask moves twice within DepthLadder.MOVE_SECONDS: the first move is painted on
    the next tick, the second waits for its turn with the ladder's old picture kept whole
    (not a new touch over old rows), and the header shows the ladder's touch all along;
    once due, both show the new one."""
    from app.dashboard import MAX_PACE

    scene = Scene()
    clock = scene.app.clock
    assert isinstance(clock, FrozenClock)
    async with scene.app.run_test(size=(120, 40)):
        ladder = await live_ladder(scene)
        book = scene.feed.store.get("BTCUSD")
        assert book is not None

        def best_ask() -> str:
            assert book is not None and book.best_ask is not None
            return book.best_ask.price

        def take_best_ask(offset_ms: int) -> None:
            assert book is not None and book.best_ask is not None
            level = {"price": book.best_ask.price, "amount": "0"}
            scene.ingest(update_frame("BTCUSD", offset_ms, asks=[level]), MONO)

        first = best_ask()
        assert touch_shown(scene, "BTCUSD") == (first, first)
        take_best_ask(960)
        second = best_ask()
        clock.now += 1.0
        scene.feed.activity.set()
        await until(lambda: touch_shown(scene, "BTCUSD") == (second, second), "the first move")
        before = ladder_text(scene, "BTCUSD")

        take_best_ask(970)
        third = best_ask()
        clock.now += DepthLadder.MOVE_SECONDS / 4
        ticks = scene.app.dashboard.repaints
        scene.feed.activity.set()
        await until(lambda: scene.app.dashboard.repaints > ticks, "a tick with the second move")
        shown, ask = ladder_text(scene, "BTCUSD"), touch_shown(scene, "BTCUSD")
        if ask == (second, second):  # held (the usual case): the old picture, whole
            assert shown == before
        else:  # painted at once (its turn had come): the new prices and amounts, whole
            assert ask == (third, third)
            ladder._strips = None  # a full repaint of the same book
            assert levels_of(ladder_text(scene, "BTCUSD")) == levels_of(shown)

        clock.now += DepthLadder.MOVE_SECONDS * MAX_PACE  # (a loaded test machine slows the pace)
        scene.feed.activity.set()
        await until(lambda: touch_shown(scene, "BTCUSD") == (third, third), "then both move")
        assert second not in ladder_text(scene, "BTCUSD").split()
