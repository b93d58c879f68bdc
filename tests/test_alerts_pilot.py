"""Alerts on the dashboard, against the real simulator over loopback (Textual Pilot).

A config rule that fires is a notification, the bell, a log record and a count in the
status bar; the dialog (``a``) makes a rule that the panel (``A``) lists and the alerts
file keeps; the panel's keys mute, re-arm and delete; a value the dialog cannot use keeps
it open with the reason. The alerts file is in a temporary state directory
(``XDG_STATE_HOME``, set for every test by ``tests/conftest.py``). Waits are on conditions.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable, Input, Select

from app.alerts import AlertState
from app.config import Config, DashboardConfig
from app.dashboard import DashboardApp
from app.feed import FeedClient
from tests.dashboard_data import Scene
from tests.feedkit import live, make_feed, running_sim, until
from tests.test_dashboard_failures import toasts
from tests.uikit import press
from widgets.alert_dialog import AlertDialog
from widgets.alerts_panel import AlertsPanel
from widgets.status_bar import StatusBar

SIZE = (120, 40)
BID_ABOVE_ONE = {"kind": "price", "market": "BTCUSD", "field": "bid", "above": "1"}
"""A config rule that fires on the first LIVE reading of BTCUSD (its bid is far above 1)."""


def state_file() -> Path:
    """The alerts file of this test (the temporary state directory's)."""
    return Path(os.environ["XDG_STATE_HOME"]) / "sordash" / "alerts.json"


def status_text(app: DashboardApp) -> str:
    return str(app.dashboard.query_one(StatusBar).render())


@asynccontextmanager
async def dashboard(
    config: Config, *markets: str
) -> AsyncIterator[tuple[DashboardApp, FeedClient, list[int]]]:
    """A simulator, a feed on it with ``markets``, the app with toasts shown; the list
    counts the bells rung."""
    async with running_sim() as sim:
        feed = make_feed(sim, known_markets=["BTCUSD", "ETHUSD", "LTCUSD"])
        for market in markets:
            feed.subscribe(market)
        app = DashboardApp(feed=feed, config=config)
        bells: list[int] = []
        app.bell = lambda: bells.append(1)  # type: ignore[method-assign]
        async with app.run_test(size=SIZE, notifications=True):
            yield app, feed, bells
            await app.stop_feed()


def panel(app: DashboardApp) -> AlertsPanel:
    screen = app.screen
    assert isinstance(screen, AlertsPanel)
    return screen


async def open_panel(app: DashboardApp) -> AlertsPanel:
    """Press ``A`` and wait until the panel is up, its table filled and focused."""
    press(app, "A")
    wanted = [s.id for s in app.dashboard.alerts.statuses()]
    await until(
        lambda: isinstance(app.focused, DataTable) and list(rows(app)) == wanted,
        "A opens the panel",
    )
    return panel(app)


def rows(app: DashboardApp) -> dict[str, list[str]]:
    """The panel's table: rule id -> the row's cells as text."""
    table: DataTable[Any] = panel(app).query_one(DataTable)
    return {str(key.value): [str(cell) for cell in table.get_row(key)] for key in table.rows}


async def test_a_config_price_alert_fires_a_toast_the_bell_a_log_line_and_the_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="app.dashboard")
    async with dashboard(Config(alerts=[BID_ABOVE_ONE]), "BTCUSD") as (app, feed, bells):
        await until(lambda: live(feed, "BTCUSD"), "BTCUSD LIVE")
        await until(lambda: "crossed above 1" in toasts(app), "the alert's notification")
        assert "Alert c1" in toasts(app) and "BTCUSD bid" in toasts(app)
        await until(lambda: "▲ 1 alert (A)" in status_text(app), "the status bar counts it")
        assert bells == [1]
        assert any("alert c1 fired: BTCUSD bid" in r.getMessage() for r in caplog.records)
        assert app.dashboard.alerts.status("c1").state is AlertState.FIRED
        await open_panel(app)
        await until(lambda: "alert" not in status_text(app), "seen: the count goes")
        (row,) = rows(app).values()
        assert row[:4] == ["c1", "config", "▲ fired", "BTCUSD bid above 1"]
        assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3}", row[4]), row[4]
        assert row[5].startswith("BTCUSD ") and row[6] == "1"


async def test_without_the_bell_the_toast_still_shows() -> None:
    config = Config(alerts=[BID_ABOVE_ONE], dashboard=DashboardConfig(alert_bell=False))
    async with dashboard(config, "BTCUSD") as (app, _feed, bells):
        await until(lambda: "crossed above 1" in toasts(app), "the alert's notification")
        assert bells == []


async def open_dialog(app: DashboardApp) -> AlertDialog:
    """Press ``a`` once BTCUSD is the current market; the dialog, its kind focused."""
    await until(lambda: app.dashboard.current == "BTCUSD", "BTCUSD current")
    press(app, "a")
    await until(lambda: isinstance(app.screen, AlertDialog), "a opens the dialog")
    dialog = app.screen
    assert isinstance(dialog, AlertDialog)
    await until(lambda: isinstance(app.focused, Select), "the kind chosen first")
    return dialog


async def test_the_dialog_makes_a_rule_the_panel_lists_and_the_file_keeps() -> None:
    async with dashboard(Config(alerts=[BID_ABOVE_ONE]), "BTCUSD") as (app, feed, _bells):
        await until(lambda: live(feed, "BTCUSD"), "BTCUSD LIVE")
        dialog = await open_dialog(app)
        market = dialog.query_one("#alert-market", Input)
        assert market.value == "BTCUSD", "the current market"
        level = dialog.query_one("#alert-level", Input)
        press(app, "tab", "tab", "tab", "tab")  # kind, market, price field, way: the level
        await until(lambda: app.focused is level, "tab reaches the level")
        press(app, *"1000000", "enter")  # bid above a million: armed, not fired
        await until(lambda: app.screen is app.dashboard, "the dialog closes")
        await until(lambda: "Alert a1: BTCUSD bid above 1000000" in toasts(app), "it says so")
        saved = json.loads(state_file().read_text())
        assert saved["alerts"] == [
            {"id": "a1", "rule": {"kind": "price", "market": "BTCUSD", "field": "bid",
                                  "above": "1000000"}}
        ]  # fmt: skip
        await open_panel(app)
        listed = rows(app)
        assert list(listed) == ["c1", "a1"]
        assert listed["a1"][:4] == ["a1", "runtime", "● armed", "BTCUSD bid above 1000000"]
        assert listed["a1"][4] == "—"


async def test_the_panel_keys_mute_re_arm_and_delete() -> None:
    async with dashboard(Config(alerts=[BID_ABOVE_ONE]), "BTCUSD") as (app, _feed, _bells):
        engine = app.dashboard.alerts
        engine.add(app.dashboard.alerts.status("c1").rule)  # a runtime twin: a1
        await until(lambda: engine.status("a1").fired == 1, "both fire")
        await open_panel(app)
        message = panel(app).query_one("#alerts-message")

        def said(text: str) -> bool:
            return text in str(message.render())

        press(app, "d")  # on c1: refused, it is the config's
        await until(lambda: said("defined in the config file"), "the engine's reason")
        assert list(rows(app)) == ["c1", "a1"]
        press(app, "m")
        await until(lambda: rows(app)["c1"][2] == "○ muted", "m mutes")
        assert json.loads(state_file().read_text())["muted_config"], "the mute is kept"
        press(app, "m")
        await until(lambda: rows(app)["c1"][2] != "○ muted", "m again unmutes")
        await until(lambda: engine.status("c1").fired == 2, "unmuted afresh: it fires again")
        press(app, "down")
        table: DataTable[Any] = panel(app).query_one(DataTable)
        await until(lambda: table.cursor_row == 1, "down: the a1 row")
        assert rows(app)["a1"][2] == "▲ fired"
        press(app, "r")
        await until(lambda: said("a1 re-armed"), "r re-arms")
        await until(lambda: engine.status("a1").fired == 2, "re-armed: the bid is there, it fires")
        await until(lambda: rows(app)["a1"][6] == "2", "the panel follows the engine")
        press(app, "d")
        await until(lambda: list(rows(app)) == ["c1"], "d deletes a1")
        assert said("a1 deleted")
        assert json.loads(state_file().read_text()).get("alerts", []) == []
        press(app, "escape")
        await until(lambda: app.screen is app.dashboard, "escape closes the panel")


async def test_a_bad_value_keeps_the_dialog_open_with_the_reason() -> None:
    async with dashboard(Config(), "BTCUSD") as (app, _feed, _bells):
        dialog = await open_dialog(app)
        kind = dialog.query_one("#alert-kind", Select)
        press(app, "enter")  # the kind's list opens
        await until(lambda: kind.expanded, "the kinds listed")
        press(app, "down", "enter")  # the second: spread
        await until(lambda: kind.value == "spread", "spread chosen")
        bps = dialog.query_one("#alert-above_bps", Input)
        await until(lambda: bps.display and bps.parent is not None and bps.parent.display, "shown")
        assert not dialog.query_one("#alert-row-level").display, "a price's fields hidden"
        bps.focus()
        await until(lambda: app.focused is bps, "the field focused")
        press(app, *"lots", "enter")
        error = dialog.query_one("#alert-error")
        await until(lambda: "is not a number" in str(error.render()), "the reason")
        assert "above_bps = 'lots'" in str(error.render())
        assert app.screen is dialog, "the dialog stays open"
        bps.value = ""
        press(app, "enter")
        await until(lambda: "type the spread" in str(error.render()), "an empty field named")
        dialog.query_one("#alert-market", Input).value = "BTC-USD"
        bps.value = "5"
        press(app, "enter")
        await until(lambda: "not a market name" in str(error.render()), "the engine's check")
        press(app, "escape")
        await until(lambda: app.screen is app.dashboard, "escape cancels")
        assert [s.id for s in app.dashboard.alerts.statuses()] == []


async def test_an_alerts_file_that_cannot_be_written_keeps_the_rule_for_the_session() -> None:
    async with dashboard(Config(), "BTCUSD") as (app, _feed, _bells):
        state_file().parent.parent.mkdir(parents=True, exist_ok=True)
        state_file().parent.write_text("")  # a file where the folder should be
        dialog = await open_dialog(app)
        level = dialog.query_one("#alert-level", Input)
        level.focus()
        await until(lambda: app.focused is level, "the level focused")
        press(app, *"70000", "enter")
        await until(lambda: "holds for this session only" in toasts(app), "it says so")
        assert [s.id for s in app.dashboard.alerts.statuses()] == ["a1"]


async def test_a_bad_alerts_file_is_shown_once_and_kept_aside() -> None:
    state_file().parent.mkdir(parents=True, exist_ok=True)
    state_file().write_text("{not json")
    scene = Scene()
    async with scene.app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.pause()
        await until(lambda: "not a sordash settings file" in toasts(scene.app), "the problem")
        assert "alerts.json.bad" in toasts(scene.app)
    assert state_file().with_name("alerts.json.bad").read_text() == "{not json"
    assert not state_file().exists(), "moved aside, and nothing written over it"
