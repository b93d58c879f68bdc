"""The cost-to-fill panel: sizes as a trader types them, figures worked out by hand, keys.

The book (BTCUSD, mid 50000.00):

    asks 50001.00 x 0.3, 50002.00 x 0.5, 50005.00 x 1.0     (1.8 in all)
    bids 49999.00 x 0.4, 49998.00 x 0.2, 49990.00 x 2.0     (2.6 in all)

- buy 0.5: 0.3 @ 50001 + 0.2 @ 50002 = 25000.70, avg 50001.40, worst 50002.00,
  slippage 1.40 / 50000 = 0.28 bps, 2 levels.
- sell 0.5: 0.4 @ 49999 + 0.1 @ 49998 = 24999.40, avg 49998.80, 0.24 bps, 2 levels.
- buy 5: too thin, 1.8 fillable: 90006.30 / 1.8 = 50003.50, worst 50005.00, 3 levels.
- sell 5: too thin, 2.6 fillable: 129979.20 / 2.6 = 49992.00, worst 49990.00.
- buy $25000.70 (lots of 0.1, the finest amount near the touch): the same 0.5 as above.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from textual.widgets import Input, Label

from app.config import Config
from app.fills import FillSize, SizeKind
from app.protocol import to_scaled
from tests.dashboard_data import MONO, Scene, snapshot_frame
from tests.feedkit import until
from tests.uikit import press
from widgets.fill_panel import compact, parse_size, size_label, split_market
from widgets.market_view import MarketView
from widgets.size_dialog import SizeDialog

ASKS = [("50001.00", "0.3"), ("50002.00", "0.5"), ("50005.00", "1.0")]
BIDS = [("49999.00", "0.4"), ("49998.00", "0.2"), ("49990.00", "2.0")]


def levels(pairs: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"price": p, "amount": a} for p, a in pairs]


def hand_book(scene: Scene) -> None:
    """BTCUSD live on the module's book."""
    scene.subscribe("BTCUSD")
    scene.ingest(snapshot_frame("BTCUSD", levels(BIDS), levels(ASKS)), MONO - 2.0)
    scene.heartbeat_ok()
    scene.confirm(["BTCUSD"])
    scene.connected()


def sized_config() -> Config:
    return Config(sizes={"BTCUSD": ["0.5", "5"]})


def panel_text(view: MarketView) -> list[str]:
    """The panel's lines, runs of spaces as one."""
    return [" ".join(line.split()) for line in str(view.fills.render()).split("\n")]


@asynccontextmanager
async def hand_dashboard() -> AsyncIterator[tuple[Scene, MarketView]]:
    scene = Scene(sized_config())
    async with scene.app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        hand_book(scene)
        await pilot.pause()
        scene.app.dashboard.repaint_now()
        await pilot.pause()
        yield scene, scene.app.dashboard.views["BTCUSD"]


def test_market_names_split_into_base_and_quote() -> None:
    assert split_market("BTCUSD") == ("BTC", "USD")
    assert split_market("PAXGUSD") == ("PAXG", "USD")
    assert split_market("ETHBTC") == ("ETH", "BTC")
    assert split_market("XYZ") == ("", "")


@pytest.mark.parametrize(
    ("text", "kind", "units"),
    [
        ("5", SizeKind.BASE, "5"),
        ("0.25 BTC", SizeKind.BASE, "0.25"),
        ("0.25 btc", SizeKind.BASE, "0.25"),
        ("$250000", SizeKind.NOTIONAL, "250000"),
        ("$250,000", SizeKind.NOTIONAL, "250000"),
        ("250000 USD", SizeKind.NOTIONAL, "250000"),
        ("10000 notional", SizeKind.NOTIONAL, "10000"),
    ],
)
def test_a_typed_size_is_base_or_quote(text: str, kind: SizeKind, units: str) -> None:
    size = parse_size(text, "BTCUSD")
    assert (size.kind, size.units) == (kind, to_scaled(units))


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "type a size"),
        ("abc", "abc"),
        ("0", "more than zero"),
        ("-1", "-1"),
        ("5 ETH", "ETH is not BTC or USD"),
        ("$5 BTC", "$ sizes are in USD"),
    ],
)
def test_a_size_that_is_not_one_says_why(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=re.escape(why)):
        parse_size(text, "BTCUSD")


def test_sizes_are_labelled_in_the_markets_currencies() -> None:
    assert size_label(FillSize.base("0.5"), "BTCUSD") == "0.5 BTC"
    assert size_label(FillSize.notional("10000"), "BTCUSD") == "10000 USD"


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("0", "0"),
        ("0.0123456", "0.0123"),
        ("0.155", "0.155"),
        ("25.34863", "25.3"),
        ("308.9", "308"),
        ("999.99", "999"),
        ("12345.6", "12.3k"),
        ("1629999", "1.62M"),
        ("4560000000", "4.56B"),
    ],
)
def test_depth_figures_are_three_digits_rounded_down(value: str, shown: str) -> None:
    assert compact(to_scaled(value)) == shown


async def test_the_panel_costs_the_configured_size_both_ways() -> None:
    async with hand_dashboard() as (_scene, view):
        title, buy, sell, bands = panel_text(view)
        assert title.startswith("Cost to fill 0.5 BTC (1/2, z next)")
        assert buy == "Buy avg 50001.40 worst 50002.00 slip 0.28 bps 2 lvls"
        assert sell == "Sell avg 49998.80 worst 49998.00 slip 0.24 bps 2 lvls"
        # ±10 bps of 50000 is 49950 to 50050: every level; notionals 129979.2 / 90006.3.
        assert bands.startswith("±10bps 2.6/1.8 (129k/90k) ±50bps")
        header = str(view.header.render())
        # (2.6 - 1.8) / 4.4 = +18 %: 6 of 10 cells bid.
        assert "Imb±10bps ██████░░░░ +18%" in header


async def test_z_cycles_the_sizes_and_a_size_the_book_cannot_fill_is_too_thin() -> None:
    async with hand_dashboard() as (scene, view):
        press(scene.app, "z")
        await until(lambda: panel_text(view)[0].startswith("Cost to fill 5 BTC"), "5 BTC costed")
        _, buy, sell, _ = panel_text(view)
        assert buy == (
            "Buy too thin: 1.8 fillable of 5 BTC avg 50003.50 worst 50005.00 slip 0.70 bps 3 lvls"
        )
        assert sell.startswith("Sell too thin: 2.6 fillable of 5 BTC avg 49992.00 worst 49990.00")
        press(scene.app, "z")
        await until(lambda: "0.5 BTC" in panel_text(view)[0], "back to the first size")


async def test_figures_are_at_the_markets_decimals_not_the_touchs() -> None:
    """A deep level spelt to eight places: the touch's amounts have one, but the fillable
    amount (1.8 + 0.12345678) is shown whole, at the decimals the ladder has seen."""
    scene = Scene(Config(sizes={"BTCUSD": ["5"]}))
    deep_asks = [*ASKS, ("50010.00", "0.12345678")]
    async with scene.app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        scene.subscribe("BTCUSD")
        scene.ingest(snapshot_frame("BTCUSD", levels(BIDS), levels(deep_asks)), MONO - 2.0)
        scene.heartbeat_ok()
        scene.confirm(["BTCUSD"])
        scene.connected()
        await pilot.pause()
        scene.app.dashboard.repaint_now()
        view = scene.app.dashboard.views["BTCUSD"]
        await until(lambda: "fillable" in panel_text(view)[1], "5 BTC costed, too thin")
        assert "too thin: 1.92345678 fillable of 5 BTC" in panel_text(view)[1]
        assert "2.60000000 fillable" in panel_text(view)[2], "the other side at those places"


async def test_Z_costs_any_size_typed_and_refuses_text_that_is_not_one() -> None:
    async with hand_dashboard() as (scene, view):
        app = scene.app
        press(app, "Z")
        await until(lambda: isinstance(app.screen, SizeDialog), "the size dialog")
        field = app.screen.query_one("#size-value", Input)
        field.value = "5 ETH"
        press(app, "enter")
        error = app.screen.query_one("#size-error", Label)
        await until(lambda: "ETH is not BTC or USD" in str(error.render()), "refused, saying why")
        assert isinstance(app.screen, SizeDialog), "the dialog stays open"
        field.value = "$25000.70"
        press(app, "enter")
        await until(lambda: not isinstance(app.screen, SizeDialog), "dialog closed")
        title, buy, *_ = panel_text(view)
        assert title.startswith("Cost to fill 25000.70 USD (3/3, z next)")
        assert buy == "Buy avg 50001.40 worst 50002.00 slip 0.28 bps 2 lvls = 0.5 BTC"
        press(app, "Z")
        await until(lambda: isinstance(app.screen, SizeDialog), "the size dialog again")
        press(app, "escape")
        await until(lambda: not isinstance(app.screen, SizeDialog), "escape closes it")
        assert panel_text(view)[0].startswith("Cost to fill 25000.70 USD"), "size unchanged"
