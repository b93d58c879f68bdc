"""Pacing shared between processes (``app.pacing``): what ``sordash serve``'s sessions use to
keep the API's per-IP limits together, one token request and one subscription a second."""

from __future__ import annotations

import asyncio
import itertools
import logging
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.pacing import PACE_DIR_ENV, SharedPace, shared_pace
from tests.feedkit import ROOT, live, make_feed, running, running_sim, until


def test_each_request_takes_the_next_free_slot_whoever_asks(tmp_path: Path) -> None:
    now = [100.0]
    first = SharedPace(tmp_path / "token.pace", 1.05, clock=lambda: now[0])
    second = SharedPace(tmp_path / "token.pace", 1.05, clock=lambda: now[0])
    assert first.reserve() == 0.0
    assert second.reserve() == pytest.approx(1.05)
    assert first.reserve() == pytest.approx(2.10)
    now[0] = 110.0  # long after the last slot: no wait
    assert second.reserve() == 0.0


def test_an_unreadable_pace_file_starts_afresh(tmp_path: Path) -> None:
    path = tmp_path / "token.pace"
    path.write_text("not a time")
    assert SharedPace(path, 1.0, clock=lambda: 5.0).reserve() == 0.0
    assert SharedPace(path, 1.0, clock=lambda: 5.0).reserve() == 1.0


def test_no_folder_no_shared_pace(tmp_path: Path) -> None:
    assert shared_pace("token", 1.0, {}) is None
    pace = shared_pace("token", 1.0, {PACE_DIR_ENV: str(tmp_path)})
    assert pace is not None and pace.path == tmp_path / "token.pace"


def test_processes_asking_at_once_get_slots_an_interval_apart(tmp_path: Path) -> None:
    """Four processes reserve at one instant (a start time they all wait for): they get four
    consecutive slots, each the interval after the one before."""
    program = (
        "import sys, time; from pathlib import Path; from app.pacing import SharedPace; "
        "seen = []; clock = lambda: seen.append(time.monotonic()) or seen[-1]; "
        "p = SharedPace(Path(sys.argv[1]), 0.5, clock); "
        "time.sleep(max(0.0, float(sys.argv[2]) - time.monotonic())); "
        "wait = p.reserve(); print(seen[-1] + wait)"  # the slot it was given
    )
    start = str(time.monotonic() + 2.0)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", program, str(tmp_path / "s.pace"), start],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    slots = sorted(float(p.communicate(timeout=60)[0]) for p in procs)
    gaps = [b - a for a, b in itertools.pairwise(slots)]
    assert all(0.5 - 1e-6 <= gap < 0.75 for gap in gaps), gaps


def _first_subscribed(records: list[logging.LogRecord], market: str) -> list[float]:
    """When the simulator first subscribed each client to ``market``, in order."""
    firsts: dict[object, float] = {}
    for record in records:
        args = record.args
        subscribed = record.msg == "client %d: subscribed %s" and isinstance(args, tuple)
        if subscribed and isinstance(args, tuple) and market in str(args[1]):
            firsts.setdefault(args[0], record.created)
    return sorted(firsts.values())


async def _two_feeds(caplog: pytest.LogCaptureFixture) -> tuple[int, list[float]]:
    """Two feeds from one IP started together on BTCUSD, then both asked for ETHUSD at
    once: the token requests refused 429, and when each ETHUSD subscription arrived."""
    async with running_sim() as sim:
        feeds = [make_feed(sim) for _ in range(2)]
        for feed in feeds:
            feed.subscribe("BTCUSD")
        async with running(feeds[0]), running(feeds[1]):
            await until(lambda: all(live(f, "BTCUSD") for f in feeds), "both LIVE", 20)
            loop = asyncio.get_running_loop()
            # Each feed's own pace has let go: only a shared one can hold a request back.
            await until(
                lambda: loop.time() > max(f._next_subscribe_at for f in feeds) + 0.05,
                "the feeds' own subscribe pace to pass",
            )
            caplog.clear()
            for feed in feeds:
                feed.subscribe("ETHUSD")
            await until(lambda: all(live(f, "ETHUSD") for f in feeds), "both on ETHUSD", 20)
        return sim.token_requests_refused_429, _first_subscribed(caplog.records, "ETHUSD")


@pytest.mark.slow
async def test_two_dashboards_sharing_a_pace_keep_the_per_ip_limits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Two feeds of one IP (as two browser sessions of ``sordash serve`` are): each pacing
    only itself, the second's token request is refused (429, retried a second later) and
    their subscriptions reach the exchange together; sharing a pace folder, no 429, and the
    subscriptions arrive a second apart."""
    caplog.set_level(logging.INFO, logger="sordash.sim")
    refused, subscribed = await _two_feeds(caplog)
    assert refused >= 1
    assert len(subscribed) == 2 and subscribed[1] - subscribed[0] < 0.5, subscribed
    monkeypatch.setenv(PACE_DIR_ENV, str(tmp_path))
    refused, subscribed = await _two_feeds(caplog)
    assert refused == 0
    assert len(subscribed) == 2 and subscribed[1] - subscribed[0] >= 0.95, subscribed
