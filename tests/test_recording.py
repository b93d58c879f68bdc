"""Recording raw frames and replaying them through the same pipeline."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import zstandard

from app.books import BookState
from app.feed import FeedClient
from app.recording import (
    Connection,
    Frame,
    Record,
    Recorder,
    RecordingError,
    RecordingReader,
    Sent,
    read_recording,
    segment_path,
)
from app.redact import REDACTOR
from app.session import Session, SessionOptions
from app.simulator import Simulator
from app.stream import run_stream
from tests.feedkit import assert_books_match, live, make_feed, plain, running, running_sim, until


async def test_a_recording_replays_to_the_same_books_and_holds_no_secret(tmp_path: Path) -> None:
    path = tmp_path / "btc.rec"
    async with running_sim() as sim:
        feed = make_feed(sim)
        recorder = Recorder(path, source="test")
        feed.recorder = recorder
        feed.subscribe("BTCUSD")
        async with running(feed):
            await until(
                lambda: live(feed, "BTCUSD") and bool(feed.tape.get("BTCUSD")), "LIVE with trades"
            )
            await assert_books_match(feed, sim, ["BTCUSD"], resume=False)
            token = feed._provider.token if feed._provider else None
            assert token is not None
            secret, token_value = sim.client_secret, token.value
        recorder.close()
    live_book = feed.store.get("BTCUSD")
    assert live_book is not None
    text = plain(path)
    assert b'"sordash_recording":3' in text, "the file's text, decompressed"
    assert secret.encode() not in text and token_value.encode() not in text
    assert recorder.frames > 0 and recorder.error is None

    session = Session.create(SessionOptions(replay=path, replay_speed=0))
    out = io.BytesIO()
    assert await run_stream(session, interval=0.05, out=out) == 0
    replayed = session.feed.store.get("BTCUSD")
    # The live client ended by closing the connection: its book is STALE, and so is the
    # replayed one (a replay that said LIVE here would be claiming a connection still open).
    assert live_book.state is BookState.STALE
    assert replayed is not None and replayed.state is live_book.state
    assert [(lv.price, lv.amount) for lv in replayed.bids.all()] == [
        (lv.price, lv.amount) for lv in live_book.bids.all()
    ]
    assert [(lv.price, lv.amount) for lv in replayed.asks.all()] == [
        (lv.price, lv.amount) for lv in live_book.asks.all()
    ]
    tape = session.feed.tape.get("BTCUSD")
    assert tape is not None and tape.count == feed.tape.tape("BTCUSD").count


def test_a_full_disk_stops_recording_once_and_loses_nothing_else() -> None:
    errors: list[str] = []
    recorder = Recorder(Path("/dev/full"), on_error=errors.append)
    frame = b'{"channel":"heartbeat","payload":{"timestamp":"2024-01-15T10:30:00Z"}}'
    for _ in range(2000):
        recorder(frame)  # never raises into the feed
    recorder.close()
    assert len(errors) == 1
    assert "/dev/full" in errors[0] and "No space left on device" in errors[0]
    assert "the feed goes on" in errors[0]


def test_an_existing_file_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "taken.rec"
    path.write_text("precious")
    with pytest.raises(RecordingError, match="already exists"):
        Recorder(path)
    assert path.read_text() == "precious"


def test_a_bad_recording_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.rec"
    path.write_text('{"sordash_recording": 1}\n{"t": 1, "frame": "{}"}\nnot json\n')
    with pytest.raises(RecordingError, match=r"bad\.rec:3"):
        list(read_recording(path))
    other = tmp_path / "other.txt"
    other.write_text('{"hello": 1}\n')
    with pytest.raises(RecordingError, match="not a sordash recording"):
        list(read_recording(other))


def _records(path: Path) -> list[Record]:
    return list(read_recording(path))


def test_every_kind_of_record_comes_back_in_order(tmp_path: Path) -> None:
    path = tmp_path / "s.rec.zst"
    ticks = iter(range(1, 100))
    recorder = Recorder(path, source="unit", markets=["BTCUSD"], clock_ns=lambda: next(ticks))
    recorder.connection("connecting")
    recorder.connection("connected")
    recorder.sent('{"type":"subscribe"}')
    recorder(b'{"channel":"heartbeat"}')
    recorder(b"\xff\xfe not text")
    recorder.connection("closed", "connection closed by the server (code 1006)")
    recorder.close()
    assert path.read_bytes()[:4] == b"\x28\xb5\x2f\xfd", "the file is zstd-compressed"
    reader = RecordingReader(path)
    records = list(reader)
    assert records == [
        Connection(records[0].t, "connecting"),
        Connection(records[1].t, "connected"),
        Sent(records[2].t, '{"type":"subscribe"}'),
        Frame(records[3].t, b'{"channel":"heartbeat"}'),
        Frame(records[4].t, b"\xff\xfe not text"),
        Connection(records[5].t, "closed", "connection closed by the server (code 1006)"),
    ]
    assert [r.t for r in records] == sorted(r.t for r in records)
    assert reader.header is not None and reader.header.markets == ("BTCUSD",)
    assert reader.header.version == 3 and reader.cut_short == ""


def test_a_killed_recorder_leaves_a_file_that_replays_to_its_last_whole_record(
    tmp_path: Path,
) -> None:
    path = tmp_path / "killed.rec.zst"
    recorder = Recorder(path, flush_seconds=0.001)
    for n in range(250):
        recorder(b'{"n": %d}' % n)
    wait_until(lambda: recorder.flushes > 0)
    for n in range(250, 500):
        recorder(b'{"n": %d}' % n)
    recorder.close()
    whole = path.read_bytes()
    for cut in (whole[:-3], whole[: len(whole) * 3 // 4]):  # killed before the end
        path.write_bytes(cut)
        reader = RecordingReader(path)
        frames = list(reader)
        assert 250 <= len(frames) < 500
        assert frames == [Frame(f.t, b'{"n": %d}' % i) for i, f in enumerate(frames)]
        assert "killed.rec.zst" in reader.cut_short and "last whole record" in reader.cut_short


def test_a_damaged_tail_replays_the_whole_batches_before_it(tmp_path: Path) -> None:
    """Format 3 is a zstd frame per batch: bytes after the last good batch that are not a
    zstd frame (garbage, or a batch with a damaged byte), read in the same piece of the
    file as the good batches, cost the replay nothing before them."""
    path = tmp_path / "damaged.rec.zst"
    recorder = Recorder(path, flush_seconds=0.001)
    for n in range(250):
        recorder(b'{"n": %d}' % n)
    wait_until(lambda: recorder.flushes > 0)
    for n in range(250, 500):
        recorder(b'{"n": %d}' % n)
    recorder.close()
    assert recorder.flushes >= 2
    whole = path.read_bytes()
    broken = bytearray(whole)
    broken[-20] ^= 0xFF  # the last batch's data, damaged
    for damaged, least in ((whole + b"junk", 500), (bytes(broken), 250)):
        path.write_bytes(damaged)
        reader = RecordingReader(path)
        frames = list(reader)
        assert least <= len(frames) <= 500
        assert frames == [Frame(f.t, b'{"n": %d}' % i) for i, f in enumerate(frames)]
        assert "the data is damaged" in reader.cut_short


def test_a_format_1_recording_still_replays(tmp_path: Path) -> None:
    path = tmp_path / "old.rec"
    path.write_text(
        '{"sordash_recording": 1, "source": "x", "started": "2024-01-15T10:30:00Z"}\n'
        '{"t": 5, "frame": "{\\"a\\": 1}"}\n'
        '{"t": 6, "b64": "/w=="}\n'
        '{"t": 7, "frame": "{\\"cut'  # killed mid-line
    )
    reader = RecordingReader(path)
    assert list(reader) == [Frame(5, b'{"a": 1}'), Frame(6, b"\xff")]
    assert "old.rec:4" in reader.cut_short


def test_a_format_2_recording_one_zstd_stream_still_replays(tmp_path: Path) -> None:
    """Format 2 is the same lines in one zstd stream (format 3 writes a zstd frame per
    batch): a file of earlier builds, flushed block by block, reads as it did."""
    path = tmp_path / "v2.rec.zst"
    with path.open("wb") as file:
        stream = zstandard.ZstdCompressor(level=1).stream_writer(file, closefd=False)
        stream.write(b'{"sordash_recording":2,"source":"x","started":"","session":"a"}\n')
        stream.write(b'{"t":4,"c":"connected"}\n{"ts":[5,6]}\n{"r":{"a":1}}\n{"r":[2]}\n')
        stream.flush(zstandard.FLUSH_BLOCK)
        stream.write(b'{"t":7,"r":{"b":3}}\n')  # the per-frame line of builds before blocks
        stream.flush(zstandard.FLUSH_FRAME)
    reader = RecordingReader(path)
    assert list(reader) == [
        Connection(4, "connected"),
        Frame(5, b'{"a":1}'),
        Frame(6, b"[2]"),
        Frame(7, b'{"b":3}'),
    ]
    assert reader.header is not None and reader.header.version == 2
    assert reader.cut_short == ""


def test_recordings_rotate_and_replay_through_their_segments(tmp_path: Path) -> None:
    path = tmp_path / "long.rec.zst"
    (tmp_path / "long.9.rec.zst").write_bytes(b"someone else's")
    recorder = Recorder(path, rotate_bytes=1, flush_seconds=0.001)  # a segment per flush
    frames = [b'{"n": %d}' % n for n in range(5)]
    for frame in frames:
        recorder(frame)
        wait_for_flush(recorder)
    recorder.close()
    assert recorder.segments >= 3 and recorder.error is None
    assert segment_path(path, 1).name == "long.1.rec.zst" and segment_path(path, 1).exists()
    assert [r.data for r in _records(path) if isinstance(r, Frame)] == frames


def wait_for_flush(recorder: Recorder) -> None:
    """Until the recorder thread has flushed what was queued (a segment per flush here)."""
    before = recorder.segments
    wait_until(lambda: recorder.segments > before)


def wait_until(condition: Callable[[], bool], limit: float = 10.0) -> None:
    """Until ``condition`` holds (the recorder's thread makes it so); fails after ``limit``."""
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, "the recorder thread did not get there"
        time.sleep(0.005)


def test_no_secret_reaches_a_recording_even_when_the_server_quotes_it(tmp_path: Path) -> None:
    secret = "s3cr3t-client-secret-value"
    REDACTOR.add_secret(secret)
    path = tmp_path / "quoted.rec.zst"
    recorder = Recorder(path, source=f"demo {secret}")
    recorder(f'{{"error": "bad token {secret}"}}'.encode())
    recorder.sent(f'{{"echo": "{secret}"}}')
    recorder.connection("closed", f"refused {secret}")
    recorder.close()
    text = plain(path)
    assert b"refused" in text and secret.encode() not in text
    assert len(_records(path)) == 3


MARKETS = ["BTCUSD", "ETHUSD"]


def crossed_after_each_frame(feed: FeedClient, into: list[tuple[str, ...]]) -> None:
    """Note, after every frame ``feed`` takes, which markets' books are crossed."""
    ingest = feed.ingest

    def noting(data: bytes) -> None:
        ingest(data)
        into.append(
            tuple(
                m
                for m in MARKETS
                if (b := feed.store.get(m)) is not None and b.has_data and b.crossed
            )
        )

    feed.ingest = noting  # type: ignore[method-assign]


def everything_shown(feed: FeedClient) -> dict[str, object]:
    """What a screen shows of a feed: books level by level, states, tapes, counters."""
    shown: dict[str, object] = {
        "reconnects": feed.stats.reconnects,
        "bad frames": feed.stats.decode_errors,
        "frames": feed.stats.frames,
    }
    for market in MARKETS:
        book = feed.store.get(market)
        assert book is not None
        tape = feed.tape.tape(market)
        shown[market] = (
            book.state,
            [(lv.price, lv.amount) for lv in book.bids.all()],
            [(lv.price, lv.amount) for lv in book.asks.all()],
            book.snapshots,
            [(t.executed_at, t.price, t.amount, t.side) for t in tape.trades],
            (tape.count, tape.volume, tape.vwap_units),
            [(s.key, s.state) for s in feed.channels_for(market)],
        )
    return shown


async def fault_and_recover(sim: Simulator, feed: FeedClient, *, cut: bool) -> None:
    """A malformed frame, then a dropped (or cut) connection; back when all are LIVE."""
    bad, reconnects = feed.stats.decode_errors, feed.stats.reconnects
    await sim.send_malformed()
    await until(lambda: feed.stats.decode_errors > bad, "the bad frame counted")
    if cut:
        await sim.cut_connections()
    else:
        await sim.drop_connections(1011)
    await until(
        lambda: feed.stats.reconnects > reconnects and all(live(feed, m) for m in MARKETS),
        "back LIVE after the drop",
    )


async def test_a_faulty_session_replays_to_exactly_what_the_live_client_saw(
    tmp_path: Path,
) -> None:
    """Drops, malformed frames and expiring tokens live; the replay ends with the same books,
    tapes, states and counters, and leaves a book crossed after exactly the frames the live
    client's was (none: the UPDATEs of a new connection no longer land on the old book)."""
    path = tmp_path / "faulty.rec.zst"
    live_crossed: list[tuple[str, ...]] = []
    async with running_sim(token_ttl=1.0, token_rate_limit=False, markets=MARKETS) as sim:
        feed = make_feed(sim)
        recorder = Recorder(path, source="test", markets=MARKETS)
        feed.recorder = recorder
        crossed_after_each_frame(feed, live_crossed)
        for market in MARKETS:
            feed.subscribe(market)
        async with running(feed):
            await until(lambda: all(live(feed, m) for m in MARKETS), "LIVE")
            for n in range(3):
                await fault_and_recover(sim, feed, cut=n == 1)
            await until(lambda: bool(feed.tape.tape("BTCUSD").count), "trades")
        recorder.close()
    live_view = everything_shown(feed)

    session = Session.create(SessionOptions(replay=path, replay_speed=0))
    replay_crossed: list[tuple[str, ...]] = []
    crossed_after_each_frame(session.feed, replay_crossed)
    assert await run_stream(session, interval=0.05, out=io.BytesIO()) == 0
    assert everything_shown(session.feed) == live_view
    assert replay_crossed == live_crossed
    assert not any(live_crossed), "the simulator never sends a crossed book"
