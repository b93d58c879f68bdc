"""Keyboard flows of the dashboard against the real simulator over loopback (Textual Pilot).

Each test runs the real DashboardApp with its feed worker connected to a real Simulator and
asserts what a trader would notice on screen: a ladder that fills, a market that goes, a
failure shown on its own market, a fresh snapshot, a clean quit. Waits are on conditions
(:func:`tests.feedkit.until`), never fixed sleeps.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from app.books import BookState
from app.config import Config
from app.dashboard import DashboardApp
from app.events import ConnectionState
from app.feed import FeedClient
from app.protocol import UNKNOWN_CHANNEL_PARAMS_CONFIGURATION
from tests.feedkit import make_feed, running_sim, until
from tests.uikit import press
from widgets.depth_ladder import DepthLadder
from widgets.market_tabs import MarketTabs
from widgets.market_view import MarketView

SIZE = (120, 40)


def lines(widget: DepthLadder) -> list[str]:
    """The ladder's text as painted, line by line."""
    return [widget.render_line(y).text for y in range(widget.size.height)]


def screen_text(app: DashboardApp, market: str) -> str:
    """Header, ladder and panel of a market view as plain text."""
    view = app.dashboard.views[market]
    header = str(view.header.render())
    panel = str(view.panel.render())
    return "\n".join([header, *lines(view.ladder), panel])


def ladder_shows_touch(app: DashboardApp, market: str) -> bool:
    """The market's ladder paints its current best bid and ask."""
    view = app.dashboard.views.get(market)
    book = app.feed.store.get(market)
    if view is None or book is None or book.state is not BookState.LIVE:
        return False
    bid, ask = book.best_bid, book.best_ask
    if bid is None or ask is None or not view.display:
        return False
    painted = "\n".join(lines(view.ladder))
    return bid.price in painted and ask.price in painted and view.badge == "LIVE"


async def dialog_field(app: DashboardApp) -> Input:
    """Wait until the subscribe dialog is open, composed and its market field has focus
    (keys typed before that would go elsewhere); the field."""

    def ready() -> bool:
        return app.screen is not app.dashboard and isinstance(app.focused, Input)

    await until(ready, "the subscribe dialog open, its field focused")
    assert isinstance(app.focused, Input)
    return app.focused


@asynccontextmanager
async def dashboard(*markets: str) -> AsyncIterator[tuple[DashboardApp, Pilot[None], FeedClient]]:
    """A simulator, a feed on it with ``markets`` subscribed, and the app running it."""
    async with running_sim() as sim:
        feed = make_feed(sim, known_markets=["BTCUSD", "ETHUSD", "LTCUSD"])
        for market in markets:
            feed.subscribe(market)
        app = DashboardApp(feed=feed, config=Config())
        async with app.run_test(size=SIZE) as pilot:
            yield app, pilot, feed
            await app.stop_feed()


async def test_subscribe_through_the_dialog_fills_the_ladder() -> None:
    async with dashboard() as (app, _pilot, _feed):
        empty = app.dashboard.query_one("#empty")
        assert empty.display
        press(app, "s")
        field = await dialog_field(app)
        press(app, *"ethusd")
        await until(lambda: field.value.upper() == "ETHUSD", "the market typed")
        press(app, "enter")
        await until(lambda: app.screen is app.dashboard, "the dialog closes")
        await until(lambda: "ETHUSD" in app.dashboard.views, "a view for ETHUSD appears")
        await until(lambda: not empty.display, "the empty state goes")
        await until(lambda: ladder_shows_touch(app, "ETHUSD"), "the ETHUSD ladder fills")
        assert app.dashboard.current == "ETHUSD"
        await until(lambda: "✓ listed" in screen_text(app, "ETHUSD"), "subscription_list confirms")


async def test_the_dialog_refuses_an_invalid_form_and_escape_cancels() -> None:
    async with dashboard() as (app, _pilot, feed):
        press(app, "s")
        await dialog_field(app)
        error = app.screen.query_one("#subscribe-error")
        press(app, "enter")
        await until(lambda: "type a market" in str(error.render()), "the form refused")
        press(app, "escape")
        await until(lambda: app.screen is app.dashboard, "escape closes the dialog")
        assert feed.markets() == []


async def test_unsubscribe_removes_the_market_once_the_server_confirms() -> None:
    async with dashboard("BTCUSD", "ETHUSD") as (app, _pilot, feed):
        await until(lambda: ladder_shows_touch(app, "BTCUSD"), "BTCUSD live")
        assert app.dashboard.current == "BTCUSD"
        press(app, "u")
        await until(lambda: "BTCUSD" not in app.dashboard.views, "the BTCUSD view goes")
        tabs = app.dashboard.query_one(MarketTabs)
        await until(lambda: "BTCUSD" not in str(tabs.render()), "the tabs forget BTCUSD")
        assert app.dashboard.current == "ETHUSD"
        await until(lambda: ladder_shows_touch(app, "ETHUSD"), "ETHUSD still live")
        assert "BTCUSD" not in feed.markets()


async def test_an_unknown_market_fails_alone() -> None:
    async with dashboard("BTCUSD") as (app, _pilot, _feed):
        await until(lambda: ladder_shows_touch(app, "BTCUSD"), "BTCUSD live")
        press(app, "s")
        field = await dialog_field(app)
        press(app, *"NOPEUSD")
        await until(lambda: field.value == "NOPEUSD", "the market typed")
        press(app, "enter")
        await until(lambda: "NOPEUSD" in app.dashboard.views, "a view for NOPEUSD appears")
        nope = app.dashboard.views["NOPEUSD"]
        await until(lambda: nope.badge == "FAILED", "NOPEUSD shows FAILED")
        await until(
            lambda: UNKNOWN_CHANNEL_PARAMS_CONFIGURATION in screen_text(app, "NOPEUSD"),
            "the server's code on the NOPEUSD view",
        )
        btc = app.dashboard.views["BTCUSD"]
        assert btc.badge == "LIVE"
        assert btc.error == ""
        assert UNKNOWN_CHANNEL_PARAMS_CONFIGURATION not in screen_text(app, "BTCUSD")
        await until(lambda: ladder_shows_touch(app, "BTCUSD"), "BTCUSD keeps painting")


async def test_resync_takes_a_fresh_snapshot() -> None:
    async with dashboard("BTCUSD") as (app, _pilot, feed):
        await until(lambda: ladder_shows_touch(app, "BTCUSD"), "BTCUSD live")
        book = feed.store.get("BTCUSD")
        assert book is not None
        before = book.snapshots
        press(app, "r")
        await until(lambda: book.snapshots > before, "a new snapshot arrives")
        await until(lambda: ladder_shows_touch(app, "BTCUSD"), "BTCUSD live again")


async def test_keys_move_between_markets_and_change_depth() -> None:
    async with dashboard("BTCUSD", "ETHUSD", "LTCUSD") as (app, _pilot, _feed):
        await until(lambda: "LTCUSD" in app.dashboard.views, "three views")
        press(app, "3")
        await until(lambda: app.dashboard.current == "LTCUSD", "3 selects the third market")
        press(app, "tab")
        await until(lambda: app.dashboard.current == "BTCUSD", "tab wraps to the first")
        press(app, "shift+tab")
        await until(lambda: app.dashboard.current == "LTCUSD", "shift+tab goes back")
        view: MarketView = app.dashboard.views["LTCUSD"]
        depth = view.ladder.depth
        press(app, "minus")
        await until(lambda: view.ladder.depth == depth - 1, "minus takes a level off")
        press(app, "l")
        await until(lambda: app.dashboard.layout_mode == "single", "l toggles the layout")
        assert [m for m, v in app.dashboard.views.items() if v.display] == ["LTCUSD"]


async def test_freeze_keeps_data_flowing_into_the_store() -> None:
    async with dashboard("BTCUSD") as (app, _pilot, feed):
        await until(lambda: ladder_shows_touch(app, "BTCUSD"), "BTCUSD live")
        press(app, "p")
        await until(lambda: app.dashboard.frozen, "p freezes the display")
        book = feed.store.get("BTCUSD")
        assert book is not None
        applied = book.updates_applied
        repaints = app.dashboard.repaints
        await until(lambda: book.updates_applied > applied + 20, "updates keep arriving")
        assert app.dashboard.repaints == repaints
        press(app, "p")
        await until(lambda: app.dashboard.repaints > repaints, "repainting resumes")


def ladder_prices(view: MarketView) -> list[str]:
    """The prices the ladder paints, top to bottom."""
    return [
        words[0]
        for words in (line.split() for line in lines(view.ladder)[1:])
        if words and re.fullmatch(r"\d+(\.\d+)?", words[0])
    ]


async def test_the_screens_view_state_drives_what_is_shown() -> None:
    """The view state is the screen's reactives: setting one (as a key, the palette or a
    later feature would) changes the screen by itself, with no other call."""
    async with dashboard("BTCUSD", "ETHUSD") as (app, _pilot, _feed):
        screen = app.dashboard
        await until(lambda: ladder_shows_touch(app, "BTCUSD"), "BTCUSD live")
        assert screen.layout_mode == "grid"  # two markets on a terminal large enough
        screen.layout_choice = "single"
        assert [m for m, v in screen.views.items() if v.display] == ["BTCUSD"]
        screen.current = "ETHUSD"
        await until(lambda: ladder_shows_touch(app, "ETHUSD"), "ETHUSD shown when current")
        assert [m for m, v in screen.views.items() if v.display] == ["ETHUSD"]
        screen.layout_choice = "grid"
        assert screen.layout_mode == "grid"
        await until(lambda: ladder_shows_touch(app, "BTCUSD"), "the grid shows BTCUSD too")
        screen.layout_choice = "single"  # a ladder wide enough for its title's depth
        view = screen.views["ETHUSD"]
        view.depth = 2
        assert len(ladder_prices(view)) == 4, "the ladder repaints at once: 2 levels a side"
        view.grouping = 1000  # a thousand ticks of 0.01 or finer: whole prices only
        prices = ladder_prices(view)
        assert prices, "the grouped ladder shows levels"
        assert all(float(p).is_integer() for p in prices), f"regrouped at once: {prices}"
        view.depth = 0
        assert view.depth == 1, "the depth never goes below one level"


async def test_a_grouped_ladder_states_the_touch_spread_the_header_shows() -> None:
    """Grouped to whole prices, the ladder's rows are the grouped view, yet its spread line
    says the book's own touch spread at the touch's decimals, the header's figure (it
    used to round 0.77 to ``spread 0`` beside a header saying 0.77)."""
    async with dashboard("ETHUSD") as (app, _pilot, feed):
        await until(lambda: ladder_shows_touch(app, "ETHUSD"), "ETHUSD live")
        view = app.dashboard.views["ETHUSD"]
        view.grouping = 1000  # whole prices

        def spreads() -> tuple[str, str] | None:
            ladder = re.search(r"touch spread (\S+) ·", "\n".join(lines(view.ladder)))
            header = re.search(r"Sprd (\S+) ", str(view.header.render()))
            book = feed.store.get("ETHUSD")
            if ladder is None or header is None or book is None or not book.spread_units:
                return None
            return ladder[1], header[1]

        def agree() -> bool:
            both = spreads()
            return both is not None and both[0] == both[1] and float(both[0]) % 1 != 0

        await until(agree, f"grouped ladder and header show one fractional spread: {spreads()}")


@pytest.mark.parametrize("how", ["q", "exit"])
async def test_quit_closes_the_connection_cleanly(how: str) -> None:
    """``q``, and any other end of the app (``exit``: a signal, ctrl+q), stop the feed."""
    async with running_sim() as sim:
        feed = make_feed(sim)
        feed.subscribe("BTCUSD")
        app = DashboardApp(feed=feed, config=Config())
        async with app.run_test(size=SIZE):
            await until(lambda: feed.state is ConnectionState.CONNECTED, "connected")
            if how == "q":
                press(app, "q")
            else:
                app.exit()
            await until(lambda: not app.is_running, "the app exits")
        assert feed.state is ConnectionState.STOPPED
        assert app.return_code in (0, None)


def repainted(app: DashboardApp) -> Callable[[], bool]:
    """True once the dashboard repainted after now."""
    ticks = app.dashboard.repaints
    return lambda: app.dashboard.repaints > ticks


async def test_ladder_keys_on_a_live_feed() -> None:
    """f and v on a live market: the fixed-tick ladder fills with the book as it flows, the
    volume traded at its prices appears, C takes the totals off, c re-centres; the
    columns never move while the data flows."""
    async with dashboard("LTCUSD") as (app, _pilot, _feed):
        await until(lambda: ladder_shows_touch(app, "LTCUSD"), "LTCUSD live")
        view = app.dashboard.views["LTCUSD"]
        press(app, "f", "v")
        await until(lambda: view.fixed and "volume" in view.columns, "f and v taken")
        await until(lambda: view.ladder._fixed_rows is not None, "the fixed-tick ladder painted")
        prices = [float(p) for p in ladder_prices(view)]
        assert len(prices) == view.ladder.window.rows, "a row for every price in the window"
        assert {round(a - b, 2) for a, b in itertools.pairwise(prices)} == {0.01}

        def volume_shown() -> bool:
            rows = view.ladder._fixed_rows or []
            return any(row.bought or row.sold for row in rows)

        await until(volume_shown, "volume traded at the window's prices")
        title = lines(view.ladder)[0]
        assert "Vol b*" in title and "Total" in title

        def places() -> tuple[int, int]:
            precision = view.ladder.precision
            return precision.price_places, precision.amount_places

        seen = places()
        for count in range(5):  # a few repaints with data flowing: the title stays as it was
            await until(repainted(app), "a repaint")
            if places() != seen:
                # The first amount with more significant decimals than any before (the
                # simulator rests round amounts; a partial fill leaves all eight) widens
                # its column once, as the README says; then it holds again.
                seen = places()
                await until(repainted(app), "a repaint at the new decimals")
                title = lines(view.ladder)[0]
                continue
            assert lines(view.ladder)[0] == title, f"after {count + 1} repaints"
        press(app, "C")
        await until(lambda: "Total" not in lines(view.ladder)[0], "C takes the totals off")
        press(app, "c")
        await until(lambda: view.ladder.window.top is not None, "re-centred on the touch")
        assert app.dashboard.ladder_settings.columns == ["volume"]
        assert app.dashboard.ladder_settings.mode == "fixed"
