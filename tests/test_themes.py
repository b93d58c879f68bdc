"""Themes: every colour from the theme, the theme from the config, states told without colour.

The dashboard's colours come from theme variables only (``styles/dashboard.tcss``, the
palette in ``widgets/palette.py``): a test here reads the widgets' and the dashboard's
source and fails on any colour written into it, so hard-coded colours cannot come back.
The rest run the real app on a :class:`~tests.dashboard_data.Scene` and look at what is
painted: the configured theme at start, a theme change recolouring a bid and a badge, a
glyph on every state and on a large trade.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.cells import cell_len
from rich.color import Color as RichColor
from rich.errors import StyleSyntaxError
from rich.style import Style
from textual.color import Color, ColorParseError
from textual.geometry import Region
from textual.pilot import Pilot
from textual.strip import Strip
from textual.widget import Widget

from app.books import BookState
from app.config import Config, DashboardConfig
from app.events import ConnectionState, SubState
from tests.dashboard_data import Scene
from tests.feedkit import ROOT
from tests.test_dashboard_snapshots import many_states, one_market
from widgets.market_tabs import MarketTabs
from widgets.market_view import _WAITING_BADGE
from widgets.palette import BADGE_CLASS, GLYPH, badge_label
from widgets.status_bar import StatusBar
from widgets.trade_tape import LARGE_MARK

# ------------------------------------------------------------------ no colour in the code

SOURCES = [*sorted((ROOT / "widgets").glob("*.py")), ROOT / "app" / "dashboard.py"]
"""Where no colour may be written: every colour there comes from the theme."""

HEX = re.compile(r"#[0-9a-fA-F]{3,8}\b")
MARKUP_TAG = re.compile(r"\[([^\[\]/][^\[\]]*)\]")
CSS_COLOUR = re.compile(
    r"\b(?:color|background|border[a-z-]*|outline[a-z-]*|tint|scrollbar[a-z-]*)\s*:\s*([^;}\n]+)"
)
CSS_WORDS_OK = {"auto", "transparent", "initial", "inherit", "none", "round", "solid", "tall"}


def _colour_in_style(text: str) -> bool:
    """Whether ``text``, read as a Rich style, names a colour (``"bold red"``,
    ``"on grey42"``); prose does not parse as a style and is left alone."""
    try:
        style = Style.parse(text)
    except StyleSyntaxError:
        return False
    return any(c is not None and not c.is_default for c in (style.color, style.bgcolor))


def _colour_in_css(value: str) -> bool:
    """Whether a CSS colour property's value names a colour instead of a ``$variable``."""
    for word in value.split():
        if word.startswith("$") or word.endswith("%") or word in CSS_WORDS_OK:
            continue
        try:
            Color.parse(word)
        except ColorParseError:
            continue
        return True
    return False


def hard_coded_colours(source: str) -> list[str]:
    """Every string constant in Python ``source`` that writes a colour: a hex literal, a
    Rich style or markup tag with a colour, or a CSS colour that is not a variable."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
            continue
        text: str = node.value
        styles = [text, *MARKUP_TAG.findall(text)]
        if (
            HEX.search(text)
            or any(_colour_in_style(style) for style in styles)
            or any(_colour_in_css(value) for value in CSS_COLOUR.findall(text))
        ):
            found.append(f"line {node.lineno}: {text!r}")
    return found


def test_the_colour_check_sees_a_written_colour() -> None:
    """The check itself: each way of writing a colour in code is caught, prose is not."""
    caught = [
        'text.append("LIVE", style="bold black on yellow")',
        'STYLE = {"LIVE": "green"}',
        'x = "#3fb950"',
        'label.update("[bold red]FAILED[/]")',
        'DEFAULT_CSS = "Widget { background: grey; }"',
        'segment = Segment("x", Style.parse("on #101010"))',
    ]
    for source in caught:
        assert hard_coded_colours(source), source
    clean = [
        'text.append("LIVE", style="badge--good")',
        'text.append(label, style="bold reverse")',
        'x = "the asks are red above the spread"',
        'DEFAULT_CSS = "Widget { height: 1fr; background: $panel 40%; }"',
        'empty.update("Press [b]s[/b] to subscribe")',
    ]
    for source in clean:
        assert not hard_coded_colours(source), source


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_colour_is_written_in_the_widgets_or_the_dashboard(path: Path) -> None:
    """Colours come from theme variables (component classes in styles/dashboard.tcss):
    a colour written in the code would not follow the theme."""
    assert hard_coded_colours(path.read_text()) == []


@pytest.mark.parametrize(
    "path", sorted((ROOT / "styles").glob("*.tcss")), ids=lambda p: str(p.relative_to(ROOT))
)
def test_the_stylesheet_takes_every_colour_from_the_theme(path: Path) -> None:
    """No hex literal or named colour in any TCSS either: variables made from the theme's."""
    css = path.read_text()
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.DOTALL)
    assert not HEX.search(css)
    bad = [value for value in CSS_COLOUR.findall(css) if _colour_in_css(value)]
    assert bad == []


# ------------------------------------------------------------------ the theme from the config


@pytest.mark.parametrize("theme", ["sordash-light", "sordash-high-contrast", "nord"])
async def test_the_configured_theme_is_applied_at_start(theme: str) -> None:
    scene = Scene(Config(dashboard=DashboardConfig(theme=theme)))
    async with scene.app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert scene.app.theme == theme
        assert scene.app.current_theme.name == theme


async def test_without_a_theme_the_dashboard_looks_as_before() -> None:
    scene = Scene()
    async with scene.app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert scene.app.theme == "textual-dark"
        # sordash's themes are offered by the command palette's "Theme" beside Textual's
        assert {"sordash-light", "sordash-high-contrast"} <= set(scene.app.available_themes)


def painted(widget: Widget) -> list[Strip]:
    """The widget's lines as the screen asks for them (kept lines included), border and
    padding too."""
    width, height = widget.outer_size
    return widget.render_lines(Region(0, 0, width, height))


def style_of(widget: Widget, text: str) -> Style:
    """The style of the first painted segment that contains ``text``."""
    for strip in painted(widget):
        for segment in strip:
            if text in segment.text and segment.style is not None:
                return segment.style
    raise AssertionError(f"{text!r} not painted in {widget!r}")


def hex_of(color: RichColor | None) -> str:
    assert color is not None
    return color.get_truecolor().hex.lower()


def theme_hex(scene: Scene, variable: str) -> str:
    return Color.parse(scene.app.theme_variables[variable]).hex.lower()


async def fill_and_paint(scene: Scene, pilot: Pilot[None], fill: Callable[[Scene], object]) -> None:
    """Once the app runs: ``fill`` the scene's feed, then paint everything."""
    await pilot.pause()
    fill(scene)
    await pilot.pause()
    scene.app.dashboard.repaint_now()
    await pilot.pause()


async def test_a_theme_change_recolours_bids_asks_and_badges_at_once() -> None:
    """What a user sees on picking a theme in the palette: the bid price, the LIVE badges,
    the ladder's best bid and the tape's sells take the new theme's colours, with no new
    data (the ladder's and the tape's built lines used to keep the old ones)."""
    scene = Scene()
    async with scene.app.run_test(size=(120, 40)) as pilot:
        await fill_and_paint(scene, pilot, one_market)
        view = scene.app.dashboard.views["BTCUSD"]
        tabs = scene.app.dashboard.query_one(MarketTabs)

        def painted_colours() -> list[str]:
            return [
                hex_of(style_of(view.header, "49999.98").color),
                hex_of(style_of(view.ladder, "49999.98").color),
                hex_of(style_of(view.header, "● LIVE").bgcolor),
                hex_of(style_of(tabs, "● LIVE").bgcolor),
                hex_of(style_of(view.trades, "49999.97").color),
            ]

        def theme_colours() -> list[str]:
            names = ["text-success", "text-success", "success", "success", "text-error"]
            return [theme_hex(scene, name) for name in names]

        dark = painted_colours()
        assert dark == theme_colours()
        scene.app.theme = "sordash-light"
        await pilot.pause()
        await pilot.pause()
        light = painted_colours()
        assert light == theme_colours()
        assert light == ["#1a7f37"] * 4 + ["#cf222e"]  # sordash-light's green and red
        assert all(a != b for a, b in zip(dark, light, strict=True))
        # the badge's text follows its fill: white on the dark green (black on the light one)
        assert hex_of(style_of(view.header, "● LIVE").color) == "#ffffff"


# ------------------------------------------------------------------ readable without colour


def test_every_state_has_a_class_and_a_one_cell_glyph() -> None:
    states = {state.value for state in BookState}
    states |= {state.value.upper() for state in ConnectionState}
    states |= {state.value.upper() for state in SubState}
    states |= set(_WAITING_BADGE.values()) | {"NO BOOK", "LEAVING", "FAILED"}
    assert states - set(BADGE_CLASS) == set(), "a state without its place in the palette"
    assert len(set(GLYPH.values())) == len(GLYPH), "one glyph per kind of state"
    assert all(cell_len(glyph) == 1 for glyph in GLYPH.values())
    assert badge_label("LIVE") == "● LIVE" and badge_label("FAILED") == "✗ FAILED"
    assert badge_label("SYNCING") == "◐ SYNCING" and badge_label("STALE") == "○ STALE"


async def test_states_are_marked_by_glyphs_in_header_tabs_panel_and_status() -> None:
    scene = Scene()
    async with scene.app.run_test(size=(120, 40)) as pilot:
        await fill_and_paint(scene, pilot, many_states)
        app = scene.app
        headers = {m: str(view.header.render()) for m, view in app.dashboard.views.items()}
        assert "● LIVE" in headers["BTCUSD"]
        assert "◐ SYNCING" in headers["ETHUSD"]
        assert "✗ FAILED" in headers["NOPEUSD"]
        tabs = str(app.dashboard.query_one(MarketTabs).render())
        assert "1 BTCUSD ● LIVE" in tabs and "2 ETHUSD ◐ SYNCING" in tabs
        assert "3 NOPEUSD ✗ FAILED" in tabs
        assert "● ACTIVE" in str(app.dashboard.views["BTCUSD"].panel.render())
        assert "● CONNECTED" in str(app.dashboard.query_one(StatusBar).render())

        scene.feed.store.mark_stale()
        scene.feed.set_connection_state(ConnectionState.RECONNECTING, "dropped", 4.0)
        await pilot.pause()
        app.dashboard.repaint_now()
        assert "○ STALE" in str(app.dashboard.views["BTCUSD"].header.render())
        assert "◐ RECONNECTING" in str(app.dashboard.query_one(StatusBar).render())


def tape_rows(scene: Scene) -> list[str]:
    tape = scene.app.dashboard.views["BTCUSD"].trades
    return [strip.text.rstrip() for strip in painted(tape)]


@pytest.mark.parametrize("size", [(120, 40), (80, 24)], ids=["120x40", "80x24"])
async def test_a_large_trade_is_marked_without_colour_and_no_column_moves(
    size: tuple[int, int],
) -> None:
    scene = Scene()
    async with scene.app.run_test(size=size) as pilot:
        await fill_and_paint(scene, pilot, one_market)
        rows = [row for row in tape_rows(scene) if row.endswith(("b*", "s*", LARGE_MARK))]
        assert len(rows) > 5
        marked = [row for row in rows if LARGE_MARK in row]
        assert len(marked) == 1 and "16.38187992" in marked[0]  # the scene's block trade
        # every row's side sits in the same column, the large one's too
        sides = {row.rstrip(f" {LARGE_MARK}").rfind("*") for row in rows}
        assert len(sides) == 1


async def test_no_mark_column_when_large_trades_are_not_highlighted() -> None:
    scene = Scene(Config(dashboard=DashboardConfig(large_trade_multiple=0)))
    async with scene.app.run_test(size=(120, 40)) as pilot:
        await fill_and_paint(scene, pilot, one_market)
        assert not any(LARGE_MARK in row for row in tape_rows(scene))
