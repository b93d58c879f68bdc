"""Crafted busy tapes for the tape's Pilot and snapshot tests: more trades than a page, of
many sizes, with sweeps (several prints of one ``executed_at`` at one price) to aggregate."""

from __future__ import annotations

import random

from app.dashboard import DashboardApp
from tests.dashboard_data import MARKET_PRICES, MONO, Scene, _fixed, at, frame
from widgets.trade_tape import TradeTape


def tape_frames(market: str, count: int, *, seed: int = 7, start_ms: int = 2_000) -> list[bytes]:
    """``count`` executions after ``start_ms``, seeded; every seventh a sweep of three prints
    at one time and price (counted as three)."""
    mid, price_dp, amount_dp = MARKET_PRICES[market]
    rng = random.Random(f"{market}-tape-{seed}")
    mid_units = int(mid.replace(".", ""))
    frames: list[bytes] = []
    t = start_ms
    while len(frames) < count:
        t += rng.choice([10, 40, 90, 130])
        price = _fixed(mid_units + rng.randrange(-6, 7), price_dp)
        sweep = 3 if len(frames) % 7 == 6 else 1
        for _ in range(min(sweep, count - len(frames))):
            amount = rng.randrange(10 ** (amount_dp - 2), 3 * 10**amount_dp)
            payload = {
                "market": market,
                "price": price,
                "amount": _fixed(amount, amount_dp),
                "executed_at": at(t),
            }
            frames.append(frame({"channel": "execution_data", "payload": payload}))
    return frames


def add_trades(
    scene: Scene, market: str, count: int, *, seed: int = 7, start_ms: int = 2_000
) -> None:
    """Deliver ``count`` crafted executions to ``market``."""
    for data in tape_frames(market, count, seed=seed, start_ms=start_ms):
        scene.ingest(data, MONO - 0.5)


def tape_of(app: DashboardApp, market: str = "BTCUSD") -> TradeTape:
    """The market's tape widget."""
    return app.dashboard.views[market].trades


def tape_text(tape: TradeTape) -> list[str]:
    """The tape's lines as painted, right-trimmed."""
    return [tape.render_line(y).text.rstrip() for y in range(tape.size.height)]
