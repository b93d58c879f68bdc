"""Screenshots of the real dashboard on the embedded simulator: ``make screenshots``.

``python -m app.screenshots DIR`` runs the app headless on a seeded simulator (the same
path as ``sordash --demo``), waits until every book is LIVE and trades have printed, and
writes SVGs into DIR: one market, four markets, the subscribe dialog, the help screen, and
cost to fill beside the fixed-tick ladder.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from app.books import BookState
from app.config import Config
from app.dashboard import DashboardApp
from app.session import Session, SessionOptions

SEED = 7
WAIT_LIMIT = 30.0


@dataclass(frozen=True)
class Shot:
    """One screenshot: file name, markets subscribed, terminal size, keys pressed first."""

    name: str
    markets: tuple[str, ...]
    size: tuple[int, int]
    keys: tuple[str, ...] = ()
    opens_screen: bool = True
    """Whether the keys open a screen of their own (else: they change the dashboard)."""


SHOTS = (
    Shot("one_market", ("BTCUSD",), (120, 40)),
    Shot("four_markets", ("BTCUSD", "ETHUSD", "LTCUSD", "BCHUSD"), (160, 48)),
    Shot("subscribe_dialog", ("BTCUSD", "ETHUSD"), (100, 30), ("s", "l", "t")),
    Shot("help", ("BTCUSD",), (100, 30), ("question_mark",)),
    Shot(
        "cost_to_fill_fixed_tick", ("BTCUSD",), (120, 44), ("f", "g", "g", "z"), opens_screen=False
    ),
)


def _ready(app: DashboardApp, markets: tuple[str, ...]) -> bool:
    feed = app.feed
    for market in markets:
        book = feed.store.get(market)
        tape = feed.tape.get(market)
        if book is None or book.state is not BookState.LIVE or tape is None or tape.count < 8:
            return False
    return all(market in app.dashboard.views for market in markets)


async def take(shot: Shot, directory: Path) -> Path:
    """Run the app for one shot and save its SVG; returns the file written."""
    config = Config()
    options = SessionOptions(demo=True, seed=SEED, markets=list(shot.markets))
    app = DashboardApp(Session.create(options, config), config=config)
    target = directory / f"{shot.name}.svg"
    async with app.run_test(size=shot.size) as pilot:

        async def wait_for(condition: Callable[[], bool], what: str) -> None:
            deadline = time.monotonic() + WAIT_LIMIT
            while not condition():
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{shot.name}: timed out waiting for {what}")
                await pilot.pause(0.02)

        await wait_for(lambda: _ready(app, shot.markets), "the markets to go live")
        painted = app.dashboard.repaints
        await wait_for(lambda: app.dashboard.repaints >= painted + 3, "a few repaints after that")
        if shot.keys:
            await pilot.press(*shot.keys)
            if shot.opens_screen:
                await wait_for(lambda: app.screen is not app.dashboard, "the keys' screen")
            else:
                painted = app.dashboard.repaints
                await wait_for(lambda: app.dashboard.repaints >= painted + 3, "their repaints")
            await pilot.pause()  # its first paint
        app.save_screenshot(filename=target.name, path=str(directory))
        await app.stop_feed()
    return target


async def main_async(directory: Path) -> list[Path]:
    """Every shot in turn (``directory`` must exist)."""
    return [await take(shot, directory) for shot in SHOTS]


def main(argv: list[str] | None = None) -> int:
    """``python -m app.screenshots [DIR]`` (default ``screenshots``)."""
    args = sys.argv[1:] if argv is None else argv
    directory = Path(args[0] if args else "screenshots")
    directory.mkdir(parents=True, exist_ok=True)
    # The pictures show the defaults, not what this machine's user set with keys (the
    # view settings and alerts files live in the state directory).
    with tempfile.TemporaryDirectory() as state:
        os.environ["XDG_STATE_HOME"] = state
        for path in asyncio.run(main_async(directory)):
            print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
