"""Recording from the dashboard's key, recordings that stop on a full disk or a broken file,
and ``sordash stream --replay`` on files that cannot be replayed.

Real parts throughout: the DashboardApp driven by Pilot on a feed connected to the real
simulator over loopback, real files (a symlink to ``/dev/full``, a file size limit set on a
real ``sordash stream`` process), and the CLI as a subprocess.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import os
import re
import resource
import signal
from pathlib import Path

import pytest

from app.config import Config, DashboardConfig
from app.dashboard import DashboardApp
from app.events import ConnectionState
from app.feed import FeedClient
from app.live_recording import default_record_dir, format_size, recording_name
from app.recording import Frame, Recorder, RecordingReader, TapeStart
from app.replay import ReplayIndex, replay_twin
from app.session import Session, SessionOptions
from app.stream import run_stream
from tests.feedkit import (
    CLI,
    ROOT,
    cli_environ,
    live,
    make_feed,
    plain,
    run_cli,
    running_sim,
    until,
)
from tests.replaykit import everything, replay_feed, straight_to
from tests.test_dashboard_failures import toasts
from tests.uikit import press
from widgets.status_bar import StatusBar

SIZE = (120, 40)
MARKETS = ["BTCUSD", "ETHUSD"]
RECORD_KEY = "ctrl+r"


def status_text(app: DashboardApp) -> str:
    """The status bar as painted."""
    return str(app.dashboard.query_one(StatusBar).render())


def shown(feed: FeedClient) -> dict[str, object]:
    """What a trader sees of each market: the book level by level and its state, the tape
    trade by trade with its inferred side and the session figures, the channels' states."""
    view: dict[str, object] = {}
    for market in MARKETS:
        book = feed.store.get(market)
        tape = feed.tape.get(market)
        assert book is not None and tape is not None
        view[market] = (
            book.state,
            book.last_update_text,
            [(lv.price, lv.amount) for lv in book.bids.all()],
            [(lv.price, lv.amount) for lv in book.asks.all()],
            [(t.seq, t.executed_at, t.price, t.amount, t.side) for t in tape.trades],
            (tape.count, tape.volume, tape.vwap_units, tape.high_units, tape.low_units),
            [(s.key, s.state, s.error) for s in feed.channels_for(market)],
        )
    return view


def record_config(directory: Path) -> Config:
    return Config(dashboard=DashboardConfig(record_dir=str(directory)))


async def test_the_record_key_records_mid_session_and_the_file_replays_exactly(
    tmp_path: Path,
) -> None:
    """Started while the books are LIVE and the tapes hold trades, through a dropped
    connection, stopped from the keyboard: the file, replayed alone through the same
    Session path, ends with the books, tapes and channel states the live client had."""
    async with running_sim(markets=MARKETS) as sim:
        feed = make_feed(sim)
        for market in MARKETS:
            feed.subscribe(market)
        app = DashboardApp(feed=feed, config=record_config(tmp_path))
        async with app.run_test(size=SIZE, notifications=True):
            await until(
                lambda: all(live(feed, m) and feed.tape.tape(m).count for m in MARKETS),
                "both markets LIVE with trades",
            )
            await until(lambda: feed.recording_blocked() is None, "nothing under way")
            press(app, RECORD_KEY)
            await until(lambda: "Recording to" in toasts(app), "the key says where it records")
            first = app.recording.recorder
            assert first is not None
            path = first.path
            assert path.parent == tmp_path
            assert re.fullmatch(r"sordash-\d{8}T\d{6}Z\.rec\.zst", path.name)
            assert str(path) in toasts(app)
            assert app.recording.waiting is None, "it began at once: nothing was under way"
            await until(lambda: f"REC {path.name}" in status_text(app), "the status bar says REC")
            await until(lambda: first.size > 0, "a block reached the disk")
            await until(
                lambda: format_size(first.size) in status_text(app), "the status bar shows its size"
            )
            grown = first.size
            await until(lambda: first.size > grown, "the file grows")
            await until(
                lambda: format_size(first.size) in status_text(app), "and so does the size shown"
            )
            reconnects = feed.stats.reconnects
            await sim.drop_connections(1011)
            await until(
                lambda: feed.stats.reconnects > reconnects and all(live(feed, m) for m in MARKETS),
                "LIVE again after the drop",
            )
            await until(lambda: feed.tape.tape("BTCUSD").count > 3, "more trades")
            await app.stop_feed()  # the live client's last word: what the file must replay to
            press(app, RECORD_KEY)
            await until(lambda: "Recorded" in toasts(app), "the key stops and says what it wrote")
            await until(lambda: "REC" not in status_text(app), "REC leaves the status bar")
        live_view = shown(feed)

    reader = RecordingReader(path)
    records = list(reader)
    assert reader.header is not None and reader.header.mid_session
    assert reader.header.markets == tuple(MARKETS) and reader.cut_short == ""
    assert any(isinstance(r, Frame) and r.prelude for r in records), "a starting point"
    assert {r.state.market for r in records if isinstance(r, TapeStart)} == set(MARKETS)
    assert sim.client_secret.encode() not in plain(path)

    session = Session.create(SessionOptions(replay=path, replay_speed=0))
    assert await run_stream(session, interval=0.05, out=io.BytesIO()) == 0
    assert shown(session.feed) == live_view

    # The dashboard's transport reads the same file into its chunks (the starting tapes
    # too) and a seek, from its checkpoints, ends where the straight replay did.
    index = ReplayIndex(path, replay_twin(replay_feed(path)), chunk_records=50)
    index.build()
    assert index.error == "" and index.complete
    end = records[-1].t
    state, position = index.rebuild(index.checkpoint_for(end), end, replay_twin(replay_feed(path)))
    assert position == len(records)
    seeked = replay_feed(path)
    seeked.start_replay()
    seeked.adopt_replay_state(state)
    assert everything(seeked) == everything(straight_to(path, end))
    assert shown(seeked) == live_view
    index.close()


async def test_the_record_key_waits_for_a_quiet_instant_when_something_is_under_way(
    tmp_path: Path,
) -> None:
    """Pressed while a market is still syncing, the recording begins once it is LIVE (the
    status bar says what it waits for meanwhile), and still replays on its own."""
    async with running_sim(markets=MARKETS) as sim:
        feed = make_feed(sim)
        feed.subscribe("BTCUSD")
        app = DashboardApp(feed=feed, config=record_config(tmp_path))
        async with app.run_test(size=SIZE, notifications=True):
            await until(lambda: live(feed, "BTCUSD"), "BTCUSD LIVE")
            feed.subscribe("ETHUSD")  # a subscribe goes out: an answer and a snapshot to come
            assert feed.recording_blocked() is not None
            press(app, RECORD_KEY)
            await until(lambda: "begins when nothing is under way" in toasts(app), "it says so")
            await until(lambda: app.recording.waiting is None, "it begins once all is quiet")
            assert live(feed, "ETHUSD")
            await until(lambda: "REC sordash-" in status_text(app), "REC in the status bar")
            recorder = app.recording.recorder
            assert recorder is not None
            await until(lambda: recorder.frames > 50, "frames recorded")
            await app.stop_feed()
            press(app, RECORD_KEY)
            await until(lambda: "Recorded" in toasts(app), "stopped")
        live_view = shown(feed)
    session = Session.create(SessionOptions(replay=recorder.path, replay_speed=0))
    assert await run_stream(session, interval=0.05, out=io.BytesIO()) == 0
    assert shown(session.feed) == live_view


async def test_the_record_key_says_why_not_during_record_and_in_a_replay(tmp_path: Path) -> None:
    path = tmp_path / "by-flag.rec.zst"
    session = Session.create(SessionOptions(demo=True, record=path, markets=["BTCUSD"]))
    app = DashboardApp(session, config=record_config(tmp_path / "key"))
    async with app.run_test(size=SIZE, notifications=True):
        await until(lambda: live(app.feed, "BTCUSD"), "BTCUSD LIVE")
        await until(lambda: "REC by-flag.rec.zst" in status_text(app), "--record shows as REC")
        press(app, RECORD_KEY)
        await until(lambda: f"Already recording to {path} (--record)" in toasts(app), "says so")
        await app.stop_feed()
    assert not (tmp_path / "key").exists(), "no second recording"

    session = Session.create(SessionOptions(replay=path, replay_speed=0))
    app = DashboardApp(session, config=record_config(tmp_path / "key"))
    async with app.run_test(size=SIZE, notifications=True):
        await until(lambda: app.feed.state is ConnectionState.STOPPED, "the replay ran")
        press(app, RECORD_KEY)
        await until(lambda: "Nothing to record: this is a replay" in toasts(app), "says why")
        await app.stop_feed()
    assert not (tmp_path / "key").exists()


async def test_a_full_disk_stops_the_key_s_recording_with_a_message_on_screen(
    tmp_path: Path,
) -> None:
    """The recording's file is a symlink to /dev/full: every write fails with ENOSPC. The
    status bar and a toast say so; the feed goes on."""
    moment = dt.datetime(2026, 12, 3, 14, 5, 12, tzinfo=dt.UTC)
    (tmp_path / recording_name(moment)).symlink_to("/dev/full")
    async with running_sim(markets=MARKETS) as sim:
        feed = make_feed(sim)
        feed.subscribe("BTCUSD")
        app = DashboardApp(feed=feed, config=record_config(tmp_path))
        app.recording.now = lambda: moment
        async with app.run_test(size=SIZE, notifications=True):
            await until(lambda: live(feed, "BTCUSD"), "BTCUSD LIVE")
            await until(lambda: feed.recording_blocked() is None, "nothing under way")
            press(app, RECORD_KEY)
            await until(lambda: "No space left on device" in toasts(app), "a toast says why")
            assert "sordash-20261203T140512Z.rec.zst" in toasts(app)
            await until(
                lambda: (
                    "REC STOPPED sordash-20261203T140512Z.rec.zst: No space left on device"
                    in status_text(app)
                ),
                "the status bar says the recording stopped, and why",
            )
            assert feed.recorder is None, "the feed hands the recorder nothing more"
            frames = feed.stats.frames
            await until(lambda: feed.stats.frames > frames + 10, "the feed goes on")
            assert live(feed, "BTCUSD")
            await app.stop_feed()


def _limit_file_size(limit: int) -> None:
    """In the child: regular files stop growing at ``limit`` bytes (EFBIG, not a signal)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


@pytest.mark.slow
async def test_a_file_that_stops_growing_stops_the_stream_s_recording_and_keeps_what_was_written(
    tmp_path: Path,
) -> None:
    """A real ``sordash stream --demo --record FILE`` whose files may not grow past 24 KiB:
    the write that crosses it fails (EFBIG). One clear line on stderr, the stream goes on,
    and the file replays up to its last whole record."""
    path = tmp_path / "limited.rec.zst"
    limit = 24 * 1024
    env = cli_environ({"PYTHONDONTWRITEBYTECODE": "1"})
    proc = await asyncio.create_subprocess_exec(
        *CLI,
        "stream",
        "--demo",
        "--markets",
        "BTCUSD,ETHUSD",
        "--record",
        str(path),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        preexec_fn=lambda: _limit_file_size(limit),
    )
    assert proc.stdout is not None and proc.stderr is not None
    stdout_task = asyncio.ensure_future(proc.stdout.read())
    try:
        line = await asyncio.wait_for(proc.stderr.readline(), 60)
    finally:
        proc.send_signal(signal.SIGTERM)
    rest = await asyncio.wait_for(proc.stderr.read(), 30)
    out = await asyncio.wait_for(stdout_task, 30)
    assert await proc.wait() == 0, "the stream itself went on to the end"
    message = line.decode().strip()
    assert re.fullmatch(
        rf"sordash: recording to {re.escape(str(path))} stopped after \d+ frames: "
        "File too large; the feed goes on, what was written is kept",
        message,
    ), message
    assert rest == b"", "one line"
    assert b'"kind":"book"' in out, "books kept coming on stdout"
    assert path.stat().st_size <= limit

    reader = RecordingReader(path)
    frames = [r for r in reader if isinstance(r, Frame)]
    written = int(re.findall(r"after (\d+) frames", message)[0])
    assert len(frames) >= written > 0, "every frame flushed before the failure replays"
    assert "last whole record" in reader.cut_short
    code, _, err = await run_cli("stream", "--replay", str(path), "--replay-speed", "0")
    assert code == 0, err


def test_the_record_directory_defaults_to_the_user_data_directory(tmp_path: Path) -> None:
    """XDG_DATA_HOME is a temporary directory in every test (conftest): the default lands
    under it, never in the real home."""
    assert default_record_dir() == Path(os.environ["XDG_DATA_HOME"]) / "sordash" / "recordings"
    moment = dt.datetime(2026, 12, 3, 14, 5, 12, tzinfo=dt.UTC)
    assert recording_name(moment) == "sordash-20261203T140512Z.rec.zst"
    assert recording_name(moment, 1) == "sordash-20261203T140512Z-2.rec.zst"
    assert [format_size(n) for n in (512, 12_600, 1_258_291)] == ["512 B", "12.3 KiB", "1.20 MiB"]


def _bad_files(tmp: Path) -> list[tuple[Path, str]]:
    """Files ``stream --replay`` must refuse, each with the one line it must print."""
    garbage = tmp / "garbage.rec"
    garbage.write_bytes(b"GIF89a not a recording at all\n\x00\x01")
    empty = tmp / "empty.rec"
    empty.write_bytes(b"")
    noise = tmp / "noise.bin"
    noise.write_bytes(bytes(range(1, 10)) * 40)  # no newline: not even a line of text
    recorder = Recorder(tmp / "whole.rec.zst")
    recorder(b'{"channel":"heartbeat","payload":{"timestamp":"2024-01-15T10:30:00Z"}}')
    recorder.close()
    cut = tmp / "cut.rec.zst"
    cut.write_bytes(recorder.path.read_bytes()[:12])  # killed before its header was whole
    loop = tmp / "loop.rec"
    loop.symlink_to(loop)
    folder = tmp / "folder.rec"
    folder.mkdir()
    missing = tmp / "missing.rec"
    return [
        (missing, f"sordash: cannot read recording {missing}: No such file or directory"),
        (folder, f"sordash: cannot read recording {folder}: Is a directory"),
        (loop, f"sordash: cannot read recording {loop}: Too many levels of symbolic links"),
        (garbage, f"sordash: {garbage} is not a sordash recording"),
        (empty, f"sordash: {empty} is empty: not a sordash recording"),
        (noise, f"sordash: {noise} is not a sordash recording (not a line of text)"),
        (
            cut,
            f"sordash: {cut} holds no whole record, not even its header: the recording was "
            "not closed (cut short)",
        ),
    ]


@pytest.mark.slow
async def test_stream_replay_of_a_bad_file_exits_1_with_one_line_naming_file_and_fault(
    tmp_path: Path,
) -> None:
    for path, expected in _bad_files(tmp_path):
        code, _, err = await run_cli("stream", "--replay", str(path), "--replay-speed", "0")
        assert (code, err.decode().splitlines()) == (1, [expected]), path.name


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
async def test_stream_replay_of_an_unreadable_file_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "locked.rec"
    path.write_text('{"sordash_recording": 1}\n')
    path.chmod(0)
    session = Session.create(SessionOptions(replay=path, replay_speed=0))
    err = io.StringIO()
    assert await run_stream(session, out=io.BytesIO(), err=err) == 1
    assert err.getvalue() == f"sordash: cannot read recording {path}: Permission denied\n"
