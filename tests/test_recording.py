"""Recording raw frames and replaying them through the same pipeline."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from app.books import BookState
from app.recording import Recorder, RecordingError, read_recording
from app.session import Session, SessionOptions
from app.stream import run_stream
from tests.feedkit import assert_books_match, live, make_feed, running, running_sim, until


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
    text = path.read_bytes()
    assert secret.encode() not in text and token_value.encode() not in text
    assert recorder.frames > 0 and recorder.error is None

    session = Session.create(SessionOptions(replay=path, replay_speed=0))
    out = io.BytesIO()
    assert await run_stream(session, interval=0.05, out=out) == 0
    replayed = session.feed.store.get("BTCUSD")
    assert replayed is not None and replayed.state is BookState.LIVE
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
