"""The watchlist, grid paging and resizing against the real simulator (Textual Pilot).

Each test runs the real DashboardApp with its feed connected to a real Simulator over
loopback and checks what a trader sees: every known market in a row, sorted by a key or
a click, Enter opening a market's ladder, ``s`` / ``u`` acting on the highlighted row
with the subscribe queue named while requests wait their turn, the grid's pages, and a
layout that follows the terminal's size. Waits are on conditions, never fixed sleeps.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from textual import events
from textual.pilot import Pilot

from app.config import Config
from app.dashboard import DashboardApp
from app.feed import FeedClient
from app.watchlist import COLUMNS, sort_rows
from tests.feedkit import live, make_feed, running_sim, until
from tests.uikit import press
from widgets.market_tabs import MarketTabs
from widgets.watchlist import HEAD_LINES, Watchlist

EIGHT = ["BTCUSD", "ETHUSD", "BCHUSD", "LTCUSD", "LINKUSD", "MATICUSD", "AAVEUSD", "UNIUSD"]


@asynccontextmanager
async def dashboard(
    *markets: str, size: tuple[int, int] = (160, 40), known: list[str] | None = None
) -> AsyncIterator[tuple[DashboardApp, FeedClient, Pilot[None]]]:
    """A simulator of eight markets, a feed on it with ``markets`` subscribed, the app."""
    async with running_sim(markets=EIGHT) as sim:
        feed = make_feed(sim, known_markets=known or EIGHT[:5])
        for market in markets:
            feed.subscribe(market)
        app = DashboardApp(feed=feed, config=Config())
        async with app.run_test(size=size) as pilot:
            yield app, feed, pilot
            await app.stop_feed()


def watchlist(app: DashboardApp) -> Watchlist:
    return app.dashboard.query_one(Watchlist)


def lines(app: DashboardApp) -> list[str]:
    """The watchlist as painted, line by line."""
    widget = watchlist(app)
    return [widget.render_line(y).text for y in range(widget.size.height)]


def row_line(app: DashboardApp, market: str) -> str:
    """The painted line of ``market``'s row ("" if it is not on screen)."""
    return next((line for line in lines(app) if line.split()[:1] == [market]), "")


def order(app: DashboardApp) -> list[str]:
    """The markets down the watchlist as painted."""
    names = {row.market for row in watchlist(app).rows}
    painted = [line.split()[0] for line in lines(app)[HEAD_LINES:] if line.split()]
    return [name for name in painted if name in names]


def shown(app: DashboardApp) -> list[str]:
    """The markets whose views are on screen."""
    return [m for m, view in app.dashboard.views.items() if view.display]


def tabs(app: DashboardApp) -> str:
    return str(app.dashboard.query_one(MarketTabs).render())


def click(widget: Watchlist, x: int, y: int, chain: int = 1) -> None:
    """A click on ``widget`` at (x, y), as the terminal would send it (chain 2: double)."""
    widget.post_message(events.Click(widget, x, y, 0, 0, 1, False, False, False, chain=chain))


async def test_w_shows_every_known_market_subscribed_or_not_and_goes_back() -> None:
    async with dashboard("BTCUSD", "ETHUSD") as (app, feed, _pilot):
        screen = app.dashboard
        await until(lambda: live(feed, "BTCUSD") and live(feed, "ETHUSD"), "both LIVE")
        await until(lambda: screen.layout_mode == "grid", "the grid first")
        press(app, "w")
        await until(lambda: screen.layout_mode == "watchlist", "w shows the watchlist")
        assert shown(app) == [] and screen.focused is watchlist(app)
        await until(lambda: "● LIVE" in row_line(app, "BTCUSD"), "BTCUSD's row LIVE")
        book = feed.store.get("BTCUSD")
        assert book is not None
        row = {r.market: r for r in watchlist(app).rows}["BTCUSD"]
        assert row.bid is not None and row.bid_text in row_line(app, "BTCUSD")
        assert row_line(app, "LTCUSD").split()[:2] == ["LTCUSD", "—"]  # known, not subscribed
        assert [r.market for r in watchlist(app).rows] == sorted(EIGHT[:5])
        press(app, "w")
        await until(lambda: screen.layout_mode == "grid", "w goes back to the ladders")
        assert shown(app) == ["BTCUSD", "ETHUSD"] and screen.focused is None


async def test_sort_keys_and_header_clicks_order_the_rows() -> None:
    async with dashboard("BTCUSD", "ETHUSD", "LTCUSD") as (app, feed, _pilot):
        await until(lambda: all(live(feed, m) for m in ("BTCUSD", "ETHUSD", "LTCUSD")), "LIVE")
        press(app, "w")
        widget = watchlist(app)
        await until(lambda: "● LIVE" in row_line(app, "LTCUSD"), "the rows painted")
        press(app, "o")
        await until(lambda: widget.sort_column == "state", "o sorts by the next column")
        assert "State▲" in lines(app)[1]
        # LIVE markets first, the two not subscribed last.
        await until(lambda: order(app)[3:] == ["BCHUSD", "LINKUSD"], f"by state: {order(app)}")
        press(app, "o", "o", "o")
        await until(lambda: widget.sort_column == "spread", "three more columns on")
        press(app, "O")
        await until(lambda: widget.descending, "O reverses")
        assert "Spread▼" in lines(app)[1]

        def by_spread_descending() -> bool:
            expected = [r.market for r in sort_rows(widget.rows, "spread", descending=True)]
            return order(app) == expected and order(app)[3:] == ["BCHUSD", "LINKUSD"]

        await until(by_spread_descending, "widest spread first, no spread last")
        start, end = next((s, e) for c, s, e in widget._spans if c == "mid")
        click(widget, (start + end) // 2, HEAD_LINES - 1)
        await until(lambda: widget.sort_column == "mid", "a click on Mid sorts by it")
        assert not widget.descending and "Mid▲" in lines(app)[1]
        click(widget, (start + end) // 2, HEAD_LINES - 1)
        await until(lambda: widget.descending, "a second click reverses")
        mids = [r.mid for r in widget.rows if r.mid is not None]
        assert mids == sorted(mids, reverse=True)
        for _ in COLUMNS:  # round every column and back: each one sorts
            press(app, "o")
        await until(lambda: widget.sort_column == "mid", "the cycle comes round")


async def test_enter_and_a_double_click_open_the_highlighted_market_alone() -> None:
    async with dashboard("BTCUSD", "ETHUSD") as (app, feed, _pilot):
        screen = app.dashboard
        await until(lambda: live(feed, "BTCUSD") and live(feed, "ETHUSD"), "both LIVE")
        press(app, "w")
        widget = watchlist(app)
        await until(lambda: widget.cursor == "BTCUSD", "the current market highlighted")
        press(app, "down")  # sorted by market: BCHUSD BTCUSD ETHUSD LINKUSD LTCUSD
        await until(lambda: widget.cursor == "ETHUSD", "down moves the highlight")
        await until(lambda: screen.current == "ETHUSD", "a subscribed row becomes current")
        press(app, "down")
        await until(lambda: widget.cursor == "LINKUSD", "down again")
        assert screen.current == "ETHUSD"  # LINKUSD is not subscribed: nothing to act on
        press(app, "up")
        await until(lambda: widget.cursor == "ETHUSD", "up moves it back")
        press(app, "enter")
        await until(lambda: screen.layout_mode == "single", "Enter opens one market")
        assert screen.current == "ETHUSD" and shown(app) == ["ETHUSD"]
        press(app, "w")
        await until(lambda: screen.layout_mode == "watchlist", "back to the watchlist")
        index = [r.market for r in widget.rows].index("BTCUSD")
        click(widget, 3, HEAD_LINES + index, chain=2)
        await until(lambda: screen.layout_mode == "single", "a double click opens")
        assert screen.current == "BTCUSD" and shown(app) == ["BTCUSD"]


async def test_s_and_u_act_on_the_highlighted_row_and_the_queue_is_shown() -> None:
    async with dashboard("BTCUSD") as (app, feed, _pilot):
        feed.subscribe_interval = 3.0  # the pace, slowed so that the queue can be seen
        screen = app.dashboard
        await until(lambda: live(feed, "BTCUSD"), "BTCUSD LIVE")
        press(app, "w")
        widget = watchlist(app)
        await until(lambda: widget.cursor == "BTCUSD", "BTCUSD highlighted")
        press(app, "down", "s")  # sorted by market: BCHUSD BTCUSD ETHUSD LINKUSD LTCUSD
        await until(lambda: "ETHUSD" in feed.markets(), "s subscribes the highlighted row")
        press(app, "down", "s")
        await until(lambda: "LINKUSD" in feed.markets(), "and the next one")

        def queued() -> bool:
            title = lines(app)[0]
            return "2 waiting" in title and "ETHUSD, LINKUSD" in title

        def both_queued() -> bool:
            return all(
                row_line(app, m).split()[1:3] == ["◐", "QUEUED"] for m in ("ETHUSD", "LINKUSD")
            )

        await until(lambda: queued() and both_queued(), f"the queue named: {lines(app)[:1]}")
        assert "next request in" in lines(app)[0]
        await until(lambda: live(feed, "ETHUSD") and live(feed, "LINKUSD"), "both go LIVE")
        await until(lambda: "waiting" not in lines(app)[0], "the queue empties")
        await until(lambda: "● LIVE" in row_line(app, "LINKUSD"), "LINKUSD's row LIVE")
        assert screen.layout_mode == "watchlist" and widget.cursor == "LINKUSD"
        press(app, "u")  # the highlighted LINKUSD, not the current market
        await until(lambda: "LINKUSD" not in feed.markets(), "u unsubscribes the row")
        assert "BTCUSD" in feed.markets() and "ETHUSD" in feed.markets()
        await until(lambda: row_line(app, "LINKUSD").split()[1:2] == ["—"], "the row says so")
        press(app, "u")
        await until(lambda: "LINKUSD is not subscribed" in toasts(app), "u on it again")


def toasts(app: DashboardApp) -> str:
    return " ".join(str(n.message) for n in app._notifications)


async def test_more_markets_than_the_grid_holds_show_the_watchlist_then_pages() -> None:
    async with dashboard(*EIGHT[:6], size=(200, 60), known=EIGHT) as (app, feed, _pilot):
        screen = app.dashboard
        await until(lambda: all(live(feed, m) for m in EIGHT[:6]), "six markets LIVE")
        await until(lambda: screen.layout_mode == "watchlist", "six markets: the watchlist")
        assert "[watchlist]" in tabs(app)
        press(app, "l")  # the ladders: the grid, on the current market's page
        await until(lambda: screen.layout_mode == "grid", "l shows the grid")
        assert shown(app) == EIGHT[:4] and "[grid · page 1/2]" in tabs(app)
        press(app, "pagedown")
        await until(lambda: shown(app) == EIGHT[4:6], "PgDn: the second page")
        assert screen.current == EIGHT[4] and "[grid · page 2/2]" in tabs(app)
        press(app, "pagedown")
        await until(lambda: shown(app) == EIGHT[:4], "PgDn wraps to the first")
        press(app, "pageup")
        await until(lambda: shown(app) == EIGHT[4:6], "PgUp: the last page")
        press(app, "l")
        await until(lambda: screen.layout_mode == "single", "l: one market")
        assert "page" not in tabs(app)
        press(app, "w")
        await until(lambda: screen.layout_mode == "watchlist", "w: the watchlist again")
        press(app, "w")
        await until(lambda: screen.layout_mode == "single", "w: back to the layout chosen")


async def test_paging_says_so_when_one_page_holds_every_market() -> None:
    async with dashboard("BTCUSD", "ETHUSD") as (app, feed, _pilot):
        await until(lambda: live(feed, "BTCUSD"), "BTCUSD LIVE")
        press(app, "pagedown")
        await until(lambda: "fit one page" in toasts(app), "one page only")


async def test_the_layout_follows_the_terminal_and_an_explicit_choice_holds_on_its_side() -> None:
    """Auto: single below 120x36, the grid above. ``l``'s choice holds while the terminal
    stays on the same side of that size; crossing it gives the choice back to the size."""
    async with dashboard("BTCUSD", "ETHUSD", size=(100, 30)) as (app, feed, pilot):
        screen = app.dashboard
        await until(lambda: live(feed, "BTCUSD") and live(feed, "ETHUSD"), "both LIVE")
        await until(lambda: screen.layout_mode == "single", "100x30: one market")
        await pilot.resize_terminal(200, 60)
        await until(lambda: screen.layout_mode == "grid", "grown to 200x60: the grid")
        assert shown(app) == ["BTCUSD", "ETHUSD"]
        press(app, "l")
        await until(lambda: screen.layout_mode == "single", "l: one market, chosen")
        await pilot.resize_terminal(180, 50)
        await until(lambda: screen.size.width == 180, "resized")
        assert screen.layout_mode == "single", "a resize on the same side keeps the choice"
        await pilot.resize_terminal(100, 30)
        await until(lambda: screen.size.width == 100, "shrunk")
        assert screen.layout_mode == "single" and screen.layout_choice is None
        await pilot.resize_terminal(200, 60)
        await until(lambda: screen.layout_mode == "grid", "grown again: the size decides")
        press(app, "w")
        await until(lambda: screen.layout_mode == "watchlist", "the watchlist chosen")
        await pilot.resize_terminal(100, 30)
        await until(lambda: screen.size.width == 100, "shrunk")
        assert screen.layout_mode == "watchlist", "the watchlist is no matter of size"
