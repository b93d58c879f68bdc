"""The replay transport's core: checkpoints, seeks that end exactly where a straight replay
does, bounded memory, a transport that plays to the same end, and times of day.

Every recording here was made by the real Recorder; the shared one
(``recorded_session``) by the real simulator and the real FeedClient over loopback.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from app.recording import RecordingError, RecordingReader, read_recording
from app.replay import (
    ReplayIndex,
    ReplayTransport,
    TransportState,
    begin_replay,
    format_clock,
    parse_time_of_day,
    replay_twin,
)
from app.session import Session, SessionOptions
from tests.feedkit import until
from tests.replaykit import everything, replay_feed, straight_to


def built(path: Path, **options: int) -> ReplayIndex:
    index = ReplayIndex(path, replay_twin(replay_feed(path)), **options)  # type: ignore[arg-type]
    index.build()
    assert index.error == "" and index.complete
    return index


def state_at(index: ReplayIndex, path: Path, target: int) -> object:
    """What the transport's seek to ``target`` leaves in the dashboard's feed (checking
    that it stands after as many records as a straight replay)."""
    checkpoint = index.checkpoint_for(target)
    state, position = index.rebuild(checkpoint, target, replay_twin(replay_feed(path)))
    assert position == sum(1 for r in read_recording(path) if r.t <= target)
    feed = replay_feed(path)
    feed.start_replay()
    feed.adopt_replay_state(state)
    return everything(feed)


def test_a_seek_ends_exactly_where_a_straight_replay_does(recorded_session: Path) -> None:
    """From a checkpoint plus the records after it: the same books, tapes, buffered updates,
    states, counters and subscription core as replaying every record from the start, at
    times all through the recording (around the drop and the bad frame too) and on record
    times themselves."""
    path = recorded_session
    index = built(path, chunk_records=100, checkpoint_records=250)
    assert index.checkpoints > 4, "several checkpoints to seek from"
    records = list(read_recording(path))
    first, last = records[0].t, records[-1].t
    targets = [first + (last - first) * k // 17 for k in range(18)]
    targets += [records[n].t for n in (0, 1, 99, 100, 250, 251, len(records) // 2)]
    for target in targets:
        assert state_at(index, path, target) == everything(straight_to(path, target)), target
    index.close()


def test_a_feed_that_adopted_a_seek_holds_no_instance_dicts(recorded_session: Path) -> None:
    """What a seek hands the dashboard's feed (unpickled books, tapes, subscriptions,
    counters, the core's state) keeps ``__slots__``: on Python 3.11 an object whose
    ``__dict__`` was asked for keeps a real dict, and ingesting into such objects ran
    8-12 % slower, every frame of the rest of the replay."""
    path = recorded_session
    index = built(path, chunk_records=100, checkpoint_records=250)
    records = list(read_recording(path))
    target = records[len(records) // 2].t
    state, _ = index.rebuild(index.checkpoint_for(target), target, replay_twin(replay_feed(path)))
    feed = replay_feed(path)
    feed.start_replay()
    feed.adopt_replay_state(state)
    held: list[object] = [feed.stats, feed._core, *feed._core.subscriptions.values()]
    held += [*feed.store.items.values(), *feed.tape.items.values()]
    assert feed.store.items and feed.tape.items and len(held) > 6
    assert [type(obj).__name__ for obj in held if hasattr(obj, "__dict__")] == []
    index.close()


def test_checkpoints_stay_within_their_budget_and_seeks_stay_exact(
    recorded_session: Path,
) -> None:
    """A budget of a few checkpoints: every other one is dropped as it fills, the interval
    doubles, the total stays under the budget, and seeks are as exact as before."""
    path = recorded_session
    generous = built(path, chunk_records=100, checkpoint_records=50)
    one = generous.checkpoint_bytes // generous.checkpoints
    budget = one * 5
    index = built(path, chunk_records=100, checkpoint_records=50, checkpoint_budget=budget)
    assert index.checkpoint_bytes <= budget + one  # within a checkpoint of the budget
    assert 2 <= index.checkpoints < generous.checkpoints
    assert index.checkpoint_records > 50, "the interval grew"
    assert index.spill_bytes > 0
    last = index.last_t
    assert last is not None and index.first_t is not None
    for target in (index.first_t, (index.first_t + last) // 2, last):
        assert state_at(index, path, target) == everything(straight_to(path, target))
    generous.close()
    index.close()


def test_a_run_of_records_replays_as_its_records_one_by_one(recorded_session: Path) -> None:
    """``FeedClient.replay_run`` (frames as bytes, slices of any length) ends where
    ``FeedClient.replay`` of each record does, and a run holds the reader's records."""
    path = recorded_session
    records = list(read_recording(path))
    reader = RecordingReader(path)
    runs = list(reader.runs(37))  # runs that end anywhere: in blocks, between them
    assert [r for run in runs for r in run] == records
    assert reader.header is not None
    feed = replay_feed(path)
    begin_replay(feed, reader.header, path)
    for run in runs:
        for start in range(0, len(run), 5):
            feed.replay_run(run, start, start + 5)
    assert everything(feed) == everything(straight_to(path, max(r.t for r in records)))


async def test_the_transport_plays_to_the_end_a_straight_replay_reaches(
    recorded_session: Path,
) -> None:
    """At full speed, then back to the start and to the end again: what ``sordash stream
    --replay`` ends with (the same records through Session._run_replay)."""
    path = recorded_session
    straight = Session.create(SessionOptions(replay=path, replay_speed=0))
    await straight.run()
    feed = replay_feed(path)
    transport = ReplayTransport(feed, path, speed=0)
    task = asyncio.create_task(transport.run())
    try:
        await until(lambda: transport.state is TransportState.ENDED, "the end")
        assert everything(feed) == everything(straight.feed)
        total = transport.index.records
        assert transport.position == total == len(list(read_recording(path)))
        transport.to_start()
        await until(lambda: transport.idle and transport.position == 0, "back at the start")
        assert everything(feed) == everything(straight_to(path, None))
        transport.to_end()
        await until(lambda: transport.state is TransportState.ENDED, "at the end again")
        assert everything(feed) == everything(straight.feed)
    finally:
        await transport.stop()
        await asyncio.wait_for(task, 10)


async def test_a_file_that_is_no_recording_fails_the_transport_with_its_name(
    tmp_path: Path,
) -> None:
    bad = tmp_path / "garbage.rec"
    bad.write_bytes(b"not a recording at all\n")
    transport = ReplayTransport(replay_feed(bad), bad)
    with pytest.raises(RecordingError, match=r"garbage\.rec is not a sordash recording"):
        await asyncio.wait_for(transport.run(), 10)


def cut_copy(path: Path, into: Path) -> Path:
    """A copy of the first two thirds of ``path``'s bytes (a recorder killed midway)."""
    whole = path.read_bytes()
    into.write_bytes(whole[: len(whole) * 2 // 3])
    return into


async def test_a_recording_cut_short_plays_to_its_last_record_and_says_so(
    recorded_session: Path, tmp_path: Path
) -> None:
    path = cut_copy(recorded_session, tmp_path / "cut.rec.zst")
    feed = replay_feed(path)
    errors: list[str] = []
    feed.add_listener(lambda e: errors.append(str(getattr(e, "message", ""))))
    transport = ReplayTransport(feed, path, speed=0)
    task = asyncio.create_task(transport.run())
    try:
        await until(lambda: transport.state is TransportState.ENDED, "the end")
        assert 0 < transport.position < len(list(read_recording(recorded_session)))
        assert any("cut.rec.zst" in e and "last whole record" in e for e in errors)
    finally:
        await transport.stop()
        await asyncio.wait_for(task, 10)


FIRST = 1_705_314_605_123_456_789  # 2024-01-15T10:30:05.123456789Z
LAST = FIRST + 90 * 10**9  # 10:31:35.123


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10:30:30", FIRST - 5_123_456_789 + 30 * 10**9),
        ("10:30:30.5", FIRST - 5_123_456_789 + 30_500_000_000),
        (" 10:31:35.123 ", FIRST - 5_123_456_789 + 95_123_000_000),
        ("10:30:05.123", FIRST),  # the first record's millisecond: the first record
    ],
)
def test_a_time_of_day_within_the_recording_is_taken(text: str, expected: int) -> None:
    assert parse_time_of_day(text, FIRST, LAST) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "nothing is not a time: type HH:MM:SS or HH:MM:SS.mmm (UTC)"),
        ("10:30", "'10:30' is not a time: type HH:MM:SS"),
        ("10:30:3x", "'10:30:3x' is not a time"),
        ("10:30:30.1234", "'10:30:30.1234' is not a time"),
        ("25:00:00", "25:00:00 is not a time of day: hours 00-23"),
        ("10:61:00", "minutes and seconds 00-59"),
        (
            "10:29:59",
            "10:29:59 is outside the recording: it runs from 10:30:05.123 to 10:31:35.123",
        ),
        ("10:31:36", "outside the recording"),
    ],
)
def test_a_bad_or_outside_time_is_refused_with_the_reason(text: str, reason: str) -> None:
    result = parse_time_of_day(text, FIRST, LAST)
    assert isinstance(result, str) and reason in result


def test_a_recording_past_midnight_takes_the_day_the_time_falls_on() -> None:
    day = 86_400 * 10**9
    first = FIRST - FIRST % day + day - 60 * 10**9  # 23:59:00
    last = first + 120 * 10**9  # 00:01:00 the next day
    result = parse_time_of_day("00:00:30", first, last)
    assert result == first + 90 * 10**9
    assert isinstance(result, int) and format_clock(result, date=True) == (
        "2024-01-16 00:00:30.000"
    )
