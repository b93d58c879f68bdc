"""The tape's keys against the real DashboardApp (Textual Pilot): ``e`` and the focused tape's
scroll keys and wheel, ``m`` (minimum size) and ``x`` (aggregation), ``[tape]`` in the config.

Most run on a crafted scene (the feed not running, every clock frozen), so what each key
does can be checked row by row; the last runs the real feed on the real simulator, with
trades arriving while the tape is scrolled back.
"""

from __future__ import annotations

from collections.abc import Callable
from statistics import median_low

from textual import events
from textual.pilot import Pilot
from textual.widgets import Input

from app.config import Config, DashboardConfig, TapeConfig
from app.dashboard import DashboardApp
from app.protocol import format_scaled, to_scaled
from app.tape import TapeSettings
from app.view_settings import ViewSettings, view_settings_file
from tests.dashboard_data import Scene
from tests.feedkit import make_feed, running_sim, until
from tests.tapekit import add_trades, tape_of, tape_text
from tests.test_dashboard_failures import toasts
from tests.test_dashboard_snapshots import FOUR, four_markets, one_market
from tests.uikit import press
from widgets.min_size_dialog import MinSizeDialog
from widgets.trade_tape import LARGE_MARK, NEWER_MARK, PRINTS_MARK

SIZE = (120, 40)


def busy(scene: Scene) -> None:
    """One live market with far more trades than the tape's page."""
    one_market(scene)
    add_trades(scene, "BTCUSD", 120)


async def started(scene: Scene, pilot: Pilot[None], fill: Callable[[Scene], None] = busy) -> None:
    """Fill the scene once the app is up, and paint it."""
    await pilot.pause()
    fill(scene)
    await pilot.pause()
    scene.app.dashboard.repaint_now()
    await pilot.pause()


def on_dashboard(app: DashboardApp) -> bool:
    """No dialog is open."""
    return app.screen is app.dashboard


async def test_e_focuses_the_current_tape_and_escape_gives_focus_back() -> None:
    scene = Scene()
    app = scene.app
    async with app.run_test(size=SIZE) as pilot:
        await started(scene, pilot)
        tape = tape_of(app)
        assert app.dashboard.focused is None  # nothing takes focus by itself
        await pilot.press("e")
        assert app.dashboard.focused is tape
        await pilot.press("down")
        assert tape.scrolled_back
        await pilot.press("escape")
        assert app.dashboard.focused is None and not tape.scrolled_back


async def test_scrolled_back_new_trades_do_not_move_the_view_and_a_line_says_so() -> None:
    scene = Scene()
    app = scene.app
    async with app.run_test(size=SIZE) as pilot:
        await started(scene, pilot)
        tape = tape_of(app)
        newest = tape.rows[0]
        await pilot.press("e", "down", "down", "down")
        assert tape.newer == 3 and tape.rows[0] != newest
        top = tape.rows[0]
        assert f"{NEWER_MARK} 3 newer — End to follow" in tape_text(tape)
        add_trades(scene, "BTCUSD", 9, seed=8, start_ms=60_000)
        app.dashboard.repaint_now()
        await pilot.pause()
        assert tape.rows[0] == top and tape.newer == 12  # the same trades, 9 more above
        assert f"{NEWER_MARK} 12 newer — End to follow" in tape_text(tape)
        # the header follows the tape's newest trade, not the view
        last = app.feed.tape.tape("BTCUSD").last
        assert last is not None and f"Last {last.price}" in str(
            app.dashboard.views["BTCUSD"].header.render()
        )
        await pilot.press("up")
        assert tape.newer == 11
        await pilot.press("end")
        assert not tape.scrolled_back and tape.rows[0].key == (last.executed_ns, last.seq)
        assert not any(NEWER_MARK in line for line in tape_text(tape))


async def test_page_keys_home_and_the_ends_of_the_tape() -> None:
    scene = Scene()
    app = scene.app
    async with app.run_test(size=SIZE) as pilot:
        await started(scene, pilot)
        tape = tape_of(app)
        trades = app.feed.tape.tape("BTCUSD").trades
        await pilot.press("e", "pagedown")
        page = len(tape.rows)
        assert tape.newer == page
        await pilot.press("pagedown", "pagedown", "pagedown", "pagedown")
        oldest = trades[0]
        assert tape.rows[-1].key == (oldest.executed_ns, oldest.seq)  # stops at the oldest
        await pilot.press("pageup")
        assert tape.rows[-1].key != (oldest.executed_ns, oldest.seq)
        await pilot.press("home")
        assert tape.rows[-1].key == (oldest.executed_ns, oldest.seq)
        assert tape.newer == len(trades) - page
        await pilot.press("pageup", "pageup", "pageup", "pageup", "pageup", "pageup")
        assert not tape.scrolled_back  # up past the newest: following again


async def test_home_and_end_are_the_replays_again_once_the_tape_lets_go() -> None:
    """The focused tape's keys take precedence only while it has focus."""
    scene = Scene()
    app = scene.app
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await started(scene, pilot)
        await pilot.press("e", "home")
        await pilot.pause()
        assert tape_of(app).scrolled_back and "replay" not in toasts(app)
        await pilot.press("escape", "home")
        await until(lambda: "only in a replay" in toasts(app), "home is the replay's key again")


async def test_the_mouse_wheel_scrolls_the_tape_and_focuses_it() -> None:
    scene = Scene()
    app = scene.app
    async with app.run_test(size=SIZE) as pilot:
        await started(scene, pilot)
        tape = tape_of(app)
        # Pilot has no wheel of its own: the events a terminal's wheel gives, at the tape
        await pilot._post_mouse_events([events.MouseScrollDown], tape, offset=(5, 8))
        await pilot.pause()
        assert app.dashboard.focused is tape and tape.newer == 3
        await pilot._post_mouse_events([events.MouseScrollUp], tape, offset=(5, 8))
        await pilot.pause()
        assert not tape.scrolled_back


async def test_the_focused_tape_belongs_to_the_current_market() -> None:
    """In the grid: the wheel over another market's tape makes that market current; moving
    to another market takes focus from the tape (and it follows its newest again)."""
    scene = Scene()
    app = scene.app
    async with app.run_test(size=SIZE) as pilot:
        await started(scene, pilot, four_markets)
        assert app.dashboard.layout_mode == "grid" and app.dashboard.current == FOUR[0]
        eth = tape_of(app, "ETHUSD")
        await pilot._post_mouse_events([events.MouseScrollDown], eth, offset=(5, 4))
        await until(lambda: app.dashboard.current == "ETHUSD", "ETHUSD current")
        assert app.dashboard.focused is eth
        await pilot.press("tab")
        assert app.dashboard.current == FOUR[2] and app.dashboard.focused is None
        assert not eth.scrolled_back


async def test_m_sets_the_minimum_size_empty_clears_and_bad_text_is_refused() -> None:
    scene = Scene()
    app = scene.app
    async with app.run_test(size=SIZE) as pilot:
        await started(scene, pilot)
        tape = tape_of(app)
        await pilot.press("m")
        assert isinstance(app.screen, MinSizeDialog)
        await pilot.press(*"abc", "enter")
        error = app.screen.query_one("#min-size-error")
        assert "not a size" in str(error.render()) and isinstance(app.screen, MinSizeDialog)
        field = app.screen.query_one("#min-size", Input)
        field.value = ""
        await pilot.press(*"1.5", "enter")
        assert on_dashboard(app)
        assert app.dashboard.tape_settings["BTCUSD"] == TapeSettings("1.5")
        assert tape_text(tape)[0] == "Trades ≥ 1.5"
        assert tape.rows and all(row.amount_units >= 15 * 10**17 for row in tape.rows)
        await pilot.press("m")
        field = app.screen.query_one("#min-size", Input)
        assert field.value == "1.5"  # the size in effect
        await pilot.press("escape")
        assert app.dashboard.tape_settings["BTCUSD"].min_size == "1.5"  # cancelled: kept
        await pilot.press("m")
        app.screen.query_one("#min-size", Input).value = ""
        await pilot.press("enter")
        assert app.dashboard.tape_settings["BTCUSD"] == TapeSettings()
        assert tape_text(tape)[0].lstrip().startswith("Time UTC")


async def test_x_aggregates_prints_of_one_time_and_price_and_back() -> None:
    scene = Scene()
    app = scene.app
    async with app.run_test(size=SIZE) as pilot:
        await started(scene, pilot)
        tape = tape_of(app)
        prints = len(tape.rows)
        await pilot.press("x")
        assert app.dashboard.tape_settings["BTCUSD"] == TapeSettings(aggregate=True)
        text = tape_text(tape)
        assert text[0] == "Trades aggregated"
        summed = [row for row in tape.rows if row.prints == 3]
        assert summed and any(f"{PRINTS_MARK}3" in line for line in text)
        assert len(tape.rows) == prints - 1  # the title line takes a row
        await pilot.press("x")
        assert app.dashboard.tape_settings["BTCUSD"] == TapeSettings()
        assert all(row.prints == 1 for row in tape.rows)


async def test_tape_settings_start_from_the_config_per_market_and_outlive_the_view() -> None:
    config = Config(tape=TapeConfig(min_size=".25", min_sizes={"ETHUSD": "2"}, aggregate=True))
    scene = Scene(config)
    app = scene.app
    async with app.run_test(size=SIZE) as pilot:
        await started(scene, pilot, four_markets)
        settings = app.dashboard.tape_settings
        assert settings["BTCUSD"] == TapeSettings("0.25", True)
        assert settings["ETHUSD"] == TapeSettings("2", True)
        assert tape_of(app, "ETHUSD").settings == settings["ETHUSD"]
        await pilot.press("x")
        assert settings["BTCUSD"] == TapeSettings("0.25", False)
        assert settings["ETHUSD"] == TapeSettings("2", True)  # keys act on the current one


async def test_the_tape_keys_with_the_real_feed_trades_flowing() -> None:
    """Against the simulator: m and x apply to the flowing tape; scrolled back, trades keep
    coming and the view holds; Escape follows the newest again."""
    async with running_sim() as sim:
        feed = make_feed(sim)
        feed.subscribe("BTCUSD")
        app = DashboardApp(feed=feed, config=Config())
        async with app.run_test(size=SIZE):
            await until(lambda: "BTCUSD" in app.dashboard.views, "a view for BTCUSD")
            tape = tape_of(app)
            market = feed.tape.tape("BTCUSD")
            await until(lambda: len(market.trades) > 150, "a few pages of trades")
            press(app, "m")
            await until(lambda: isinstance(app.focused, Input), "m opens the dialog, focused")
            field = app.focused
            assert isinstance(field, Input)
            # the median print: about half the tape is shown, more than a page
            size = format_scaled(median_low(t.amount_units for t in market.trades))
            press(app, *size)
            await until(lambda: field.value == size, "the size typed")
            press(app, "enter")
            await until(lambda: on_dashboard(app), "the dialog closes")
            minimum = to_scaled(size)
            await until(lambda: all(r.amount_units >= minimum for r in tape.rows), "filtered")
            press(app, "x")
            await until(lambda: tape.settings.aggregate, "x aggregates")
            assert app.dashboard.tape_settings["BTCUSD"] == TapeSettings(size, True)
            press(app, "e")
            await until(lambda: app.dashboard.focused is tape, "e focuses the tape")
            press(app, "down", "down", "down")
            await until(lambda: tape.newer >= 3, "scrolled back three rows")
            top, newer = tape.rows[0], tape.newer
            await until(lambda: tape.newer > newer + 2, "newer trades counted, not shown")
            assert tape.rows[0] == top
            press(app, "escape")
            await until(lambda: not tape.scrolled_back, "escape follows the newest")
            assert app.dashboard.focused is None
            await app.stop_feed()


async def test_the_header_shows_the_sessions_high_and_low() -> None:
    scene = Scene()
    app = scene.app
    async with app.run_test(size=SIZE) as pilot:
        await started(scene, pilot, one_market)
        header = app.dashboard.views["BTCUSD"].header
        assert "Hi 50000.04 Lo 49999.97" in str(header.render()).splitlines()[2]
        add_trades(scene, "BTCUSD", 30)
        app.dashboard.repaint_now()
        trades = app.feed.tape.tape("BTCUSD").trades  # every trade is still kept here
        high = format_scaled(max(t.price_units for t in trades), 2)
        low = format_scaled(min(t.price_units for t in trades), 2)
        assert (high, low) != ("50000.04", "49999.97")
        assert f"Hi {high} Lo {low}" in str(header.render()).splitlines()[2]


async def test_aggregated_a_sweep_that_sums_to_a_large_trade_is_marked() -> None:
    """The large-trade threshold stays the median print's multiple; a summed row reaching it
    carries the mark (and the highlight) as a single large print does."""
    scene = Scene(Config(dashboard=DashboardConfig(large_trade_multiple=2.5)))
    app = scene.app
    async with app.run_test(size=SIZE) as pilot:
        await started(scene, pilot)
        await pilot.press("x")
        tape = tape_of(app)
        threshold = tape.large_units
        assert threshold is not None
        lines = tape_text(tape)[2:]  # under the title and the column header
        for row, line in zip(tape.rows, lines, strict=False):
            assert line.endswith(LARGE_MARK) == (row.amount_units >= threshold), line
        assert any(row.prints > 1 and row.amount_units >= threshold for row in tape.rows)


async def test_tape_settings_made_with_keys_are_remembered_across_restarts() -> None:
    """``x`` and ``m`` on BTCUSD are kept in view.json (in the state directory, a temporary
    one in tests): a new dashboard starts with them, over what the config says."""
    scene = Scene()
    async with scene.app.run_test(size=SIZE) as pilot:
        await started(scene, pilot)
        await pilot.press("x")
    saved = view_settings_file().load(ViewSettings())
    assert saved.tape == {"BTCUSD": TapeSettings(aggregate=True)}
    again = Scene(Config(tape=TapeConfig(min_size="1")))
    async with again.app.run_test(size=SIZE) as pilot:
        await started(again, pilot)
        assert again.app.dashboard.tape_settings["BTCUSD"] == TapeSettings(aggregate=True)
        assert tape_text(tape_of(again.app))[0] == "Trades aggregated"


async def test_a_view_settings_file_that_is_not_one_is_named_and_kept() -> None:
    path = view_settings_file().path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"tape": {"BTCUSD": {"aggregate": "yes"}}}')
    scene = Scene()
    async with scene.app.run_test(size=SIZE) as pilot:
        await started(scene, pilot)
        assert "view.json: not a sordash settings file" in scene.app.dashboard.general_error
        assert scene.app.dashboard.tape_settings == {"BTCUSD": TapeSettings()}
        await pilot.press("x")
    assert path.with_name("view.json.bad").read_text().startswith('{"tape"'), "kept aside"
    assert view_settings_file().load(ViewSettings()).tape["BTCUSD"].aggregate
